// A minimal C++ runner for .pte programs, linked only against the
// executorch wheel's libexecutorch.so and libarmrest.so (no torch): loads
// the program, plans memory, feeds one fp32 input from a raw file, runs
// `forward`, writes output 0 as raw fp32 and prints its shape.
//
//   armrest_runner model.pte input.f32 d0 d1 ... -- output.f32 [iterations]

#include <executorch/extension/data_loader/file_data_loader.h>
#include <executorch/runtime/core/portable_type/tensor_impl.h>
#include <executorch/runtime/executor/memory_manager.h>
#include <executorch/runtime/executor/method.h>
#include <executorch/runtime/executor/program.h>
#include <executorch/runtime/platform/runtime.h>

#include <armrest_executorch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

using executorch::aten::DimOrderType;
using executorch::aten::ScalarType;
using executorch::aten::SizesType;
using executorch::aten::StridesType;
using executorch::aten::Tensor;
using executorch::aten::TensorImpl;
using executorch::extension::FileDataLoader;
using executorch::runtime::Error;
using executorch::runtime::EValue;
using executorch::runtime::HierarchicalAllocator;
using executorch::runtime::MemoryAllocator;
using executorch::runtime::MemoryManager;
using executorch::runtime::Method;
using executorch::runtime::Program;
using executorch::runtime::Span;

static int fail(const char* what, Error e) {
  std::fprintf(stderr, "armrest_runner: %s failed (error %#x)\n", what, static_cast<unsigned>(e));
  return 1;
}

int main(int argc, char** argv) {
  int sep = -1;
  for (int i = 3; i < argc; ++i) {
    if (std::strcmp(argv[i], "--") == 0) sep = i;
  }
  if (argc < 6 || sep < 0 || sep + 1 >= argc) {
    std::fprintf(stderr, "usage: %s model.pte input.f32 d0 d1 ... -- output.f32 [iterations]\n", argv[0]);
    return 2;
  }
  executorch::runtime::runtime_init();
  if (armrest_executorch_backend_status() != 0) {
    std::fprintf(stderr, "armrest_runner: ArmrestBackend is not registered\n");
    return 1;
  }
  auto loader = FileDataLoader::from(argv[1]);
  if (!loader.ok()) return fail("opening the program", loader.error());
  auto program = Program::load(&loader.get());
  if (!program.ok()) return fail("Program::load", program.error());
  auto meta = program->method_meta("forward");
  if (!meta.ok()) return fail("method_meta", meta.error());

  std::vector<std::unique_ptr<uint8_t[]>> planned;
  std::vector<Span<uint8_t>> spans;
  for (size_t i = 0; i < meta->num_memory_planned_buffers(); ++i) {
    size_t n = static_cast<size_t>(meta->memory_planned_buffer_size(i).get());
    planned.emplace_back(new uint8_t[n]);
    spans.emplace_back(planned.back().get(), n);
  }
  HierarchicalAllocator planned_alloc({spans.data(), spans.size()});
  static uint8_t method_pool[8 << 20];
  static uint8_t temp_pool[8 << 20];
  MemoryAllocator method_alloc(sizeof(method_pool), method_pool);
  MemoryAllocator temp_alloc(sizeof(temp_pool), temp_pool);
  MemoryManager memory(&method_alloc, &planned_alloc, &temp_alloc);
  auto method = program->load_method("forward", &memory);
  if (!method.ok()) return fail("load_method", method.error());

  std::vector<SizesType> sizes;
  size_t numel = 1;
  for (int i = 3; i < sep; ++i) {
    sizes.push_back(static_cast<SizesType>(std::atoi(argv[i])));
    numel *= static_cast<size_t>(sizes.back());
  }
  std::vector<float> input(numel);
  {
    std::ifstream f(argv[2], std::ios::binary);
    f.read(reinterpret_cast<char*>(input.data()), static_cast<std::streamsize>(numel * sizeof(float)));
    if (f.gcount() != static_cast<std::streamsize>(numel * sizeof(float))) {
      std::fprintf(stderr, "armrest_runner: %s holds fewer than %zu floats\n", argv[2], numel);
      return 1;
    }
  }
  std::vector<DimOrderType> dim_order(sizes.size());
  std::vector<StridesType> strides(sizes.size());
  for (size_t d = 0; d < sizes.size(); ++d) dim_order[d] = static_cast<DimOrderType>(d);
  StridesType s = 1;
  for (size_t d = sizes.size(); d-- > 0;) {
    strides[d] = s;
    s *= sizes[d];
  }
  TensorImpl impl(ScalarType::Float, static_cast<ssize_t>(sizes.size()), sizes.data(), input.data(), dim_order.data(), strides.data());
  Error e = method->set_input(EValue(Tensor(&impl)), 0);
  if (e != Error::Ok) return fail("set_input", e);

  int iterations = sep + 2 < argc ? std::atoi(argv[sep + 2]) : 1;
  auto t0 = std::chrono::steady_clock::now();
  for (int it = 0; it < iterations; ++it) {
    e = method->execute();
    if (e != Error::Ok) return fail("execute", e);
  }
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / iterations;

  const Tensor& out = method->get_output(0).toTensor();
  std::ofstream f(argv[sep + 1], std::ios::binary);
  f.write(reinterpret_cast<const char*>(out.const_data_ptr<float>()), static_cast<std::streamsize>(out.numel() * sizeof(float)));
  std::printf("output shape:");
  for (ssize_t d = 0; d < out.dim(); ++d) std::printf(" %d", static_cast<int>(out.size(d)));
  std::printf("\nms per run: %.3f\n", ms);
  return 0;
}
