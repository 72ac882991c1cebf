// ArmrestBackend for ExecuTorch's runtime: a thin adapter from
// BackendInterface to libarmrest's C ABI (ffi/include/armrest_executorch.h).
// Everything of substance (blob parsing, validation, planning, kernels) is
// in Rust; this file only moves tensors and errors across.
// Compiled by ffi/build.rs with the cargo feature `executorch`.

#include <executorch/runtime/backend/interface.h>
#include <executorch/runtime/core/error.h>
#include <executorch/runtime/core/evalue.h>
#include <executorch/runtime/core/exec_aten/util/tensor_util.h>
#include <executorch/runtime/core/named_data_map.h>
#include <executorch/runtime/platform/log.h>

#include <armrest_executorch.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

extern "C" const char* armrest_last_error(void);

namespace {

using executorch::aten::ScalarType;
using executorch::aten::SizesType;
using executorch::aten::Tensor;
using executorch::runtime::ArrayRef;
using executorch::runtime::Backend;
using executorch::runtime::BackendExecutionContext;
using executorch::runtime::BackendInitContext;
using executorch::runtime::BackendInterface;
using executorch::runtime::CompileSpec;
using executorch::runtime::DelegateHandle;
using executorch::runtime::Error;
using executorch::runtime::EValue;
using executorch::runtime::FreeableBuffer;
using executorch::runtime::NamedDataMap;
using executorch::runtime::Result;
using executorch::runtime::Span;

constexpr size_t kMaxRank = 16;

// Keeps the named-data buffers alive while armrest_et_init copies them.
struct LookupCtx {
  const NamedDataMap* map;
  std::vector<FreeableBuffer> held;
};

int32_t lookup(void* ctx, const char* key, size_t key_len, const void** data, size_t* len) {
  auto* c = static_cast<LookupCtx*>(ctx);
  if (c->map == nullptr) {
    return 1;
  }
  std::string k(key, key_len);
  Result<FreeableBuffer> buf = c->map->get_data(k.c_str());
  if (!buf.ok()) {
    return 1;
  }
  c->held.push_back(std::move(buf.get()));
  *data = c->held.back().data();
  *len = c->held.back().size();
  return 0;
}

Error to_error(int32_t rc) {
  switch (rc) {
    case 0:
      return Error::Ok;
    case 1:
    case 2:
      return Error::DelegateInvalidCompatibility;
    case 3:
    case 4:
    case 5:
    case 10:
    case 11:
      return Error::InvalidArgument;
    default:
      return Error::Internal;
  }
}

class ArmrestBackend final : public BackendInterface {
 public:
  bool is_available() const override { return true; }

  Result<DelegateHandle*> init(BackendInitContext& context, FreeableBuffer* processed,
                               ArrayRef<CompileSpec> compile_specs) const override {
    (void)compile_specs;
    LookupCtx ctx{context.get_named_data_map(), {}};
    ArmrestEtHandle* handle = nullptr;
    int32_t rc = armrest_et_init(static_cast<const uint8_t*>(processed->data()), processed->size(),
                                 lookup, &ctx, &handle);
    for (auto& b : ctx.held) {
      b.Free();
    }
    processed->Free();
    if (rc != 0) {
      ET_LOG(Error, "ArmrestBackend init failed (code %d): %s", (int)rc, armrest_last_error());
      return to_error(rc);
    }
    return handle;
  }

  Error execute(BackendExecutionContext& context, DelegateHandle* handle,
                Span<EValue*> args) const override {
    (void)context;
    auto* h = static_cast<ArmrestEtHandle*>(handle);
    int32_t n_in = armrest_et_io_count(h, 0);
    int32_t n_out = armrest_et_io_count(h, 1);
    if (n_in < 0 || n_out < 0 || args.size() < static_cast<size_t>(n_out)) {
      ET_LOG(Error, "ArmrestBackend: %zu arguments for %d inputs and %d outputs", args.size(), (int)n_in, (int)n_out);
      return Error::InvalidArgument;
    }
    // Inputs come first, outputs last. Symbolic sizes the partition was given
    // as scalars are not armrest inputs: armrest derives shapes itself.
    const size_t first_out = args.size() - static_cast<size_t>(n_out);
    std::vector<EValue*> tensor_args;
    for (size_t i = 0; i < first_out; ++i) {
      if (args[i] != nullptr && args[i]->isTensor()) {
        tensor_args.push_back(args[i]);
      } else if (args[i] == nullptr || !args[i]->isInt()) {
        ET_LOG(Error, "ArmrestBackend: input %zu is neither a tensor nor a size", i);
        return Error::InvalidArgument;
      }
    }
    if (tensor_args.size() != static_cast<size_t>(n_in)) {
      ET_LOG(Error, "ArmrestBackend: %zu tensor inputs for a partition with %d", tensor_args.size(), (int)n_in);
      return Error::InvalidArgument;
    }
    std::vector<std::vector<int64_t>> shapes(n_in);
    std::vector<const int64_t*> shape_ptrs(n_in);
    std::vector<size_t> ranks(n_in);
    std::vector<const float*> ins(n_in);
    for (int32_t i = 0; i < n_in; ++i) {
      Error e = check_tensor(tensor_args[i], "input", i);
      if (e != Error::Ok) {
        return e;
      }
      const Tensor& t = tensor_args[i]->toTensor();
      shapes[i].assign(t.sizes().begin(), t.sizes().end());
      shape_ptrs[i] = shapes[i].data();
      ranks[i] = shapes[i].size();
      ins[i] = t.const_data_ptr<float>();
    }
    int32_t rc = armrest_et_prepare(h, shape_ptrs.data(), ranks.data(), n_in);
    if (rc != 0) {
      ET_LOG(Error, "ArmrestBackend prepare failed (code %d): %s", (int)rc, armrest_last_error());
      return to_error(rc);
    }
    std::vector<float*> outs(n_out);
    for (int32_t k = 0; k < n_out; ++k) {
      EValue* v = args[first_out + k];
      Error e = check_tensor(v, "output", k);
      if (e != Error::Ok) {
        return e;
      }
      int64_t dims[kMaxRank];
      size_t rank = 0;
      rc = armrest_et_output_shape(h, k, dims, kMaxRank, &rank);
      if (rc != 0) {
        return to_error(rc);
      }
      Tensor& t = v->toTensor();
      SizesType sizes[kMaxRank];
      for (size_t d = 0; d < rank; ++d) {
        sizes[d] = static_cast<SizesType>(dims[d]);
      }
      e = executorch::runtime::resize_tensor(t, ArrayRef<SizesType>(sizes, rank));
      if (e != Error::Ok) {
        ET_LOG(Error, "ArmrestBackend: cannot resize output %d", (int)k);
        return e;
      }
      outs[k] = t.mutable_data_ptr<float>();
    }
    rc = armrest_et_execute(h, ins.data(), n_in, outs.data(), n_out);
    if (rc != 0) {
      ET_LOG(Error, "ArmrestBackend execute failed (code %d): %s", (int)rc, armrest_last_error());
      return to_error(rc);
    }
    return Error::Ok;
  }

  void destroy(DelegateHandle* handle) const override {
    armrest_et_destroy(static_cast<ArmrestEtHandle*>(handle));
  }

 private:
  static Error check_tensor(EValue* v, const char* what, int32_t i) {
    if (v == nullptr || !v->isTensor()) {
      ET_LOG(Error, "ArmrestBackend: %s %d is not a tensor", what, (int)i);
      return Error::InvalidArgument;
    }
    const Tensor& t = v->toTensor();
    if (t.scalar_type() != ScalarType::Float) {
      ET_LOG(Error, "ArmrestBackend: %s %d is not fp32", what, (int)i);
      return Error::InvalidArgument;
    }
    if (t.dim() > static_cast<ssize_t>(kMaxRank) ||
        !executorch::runtime::is_contiguous_dim_order(t.dim_order().data(), t.dim())) {
      ET_LOG(Error, "ArmrestBackend: %s %d is not a contiguous tensor", what, (int)i);
      return Error::InvalidArgument;
    }
    return Error::Ok;
  }
};

ArmrestBackend g_backend;
// The registry keeps this pointer for the life of the process.
const Backend g_entry{"ArmrestBackend", &g_backend};
const Error g_registered = executorch::runtime::register_backend(g_entry);

}  // namespace

extern "C" int32_t armrest_et_shim_status(void) {
  return static_cast<int32_t>(g_registered);
}
