// ArmrestInferenceCalculator: MediaPipe's CPU inference with the armrest
// delegate. It takes and returns std::vector<Tensor> on "TENSORS" like
// InferenceCalculator, builds a TFLite interpreter with MediaPipe's op
// resolver (so any node armrest leaves still runs, custom ops included),
// loads libarmrest.so with dlopen and creates the delegate through its
// TFLite external-delegate entry point `tflite_plugin_create_delegate`, with
// the options from the graph.
//
// Not compiled in the armrest repository (MediaPipe is built with Bazel from
// source and is not on the package registries); see README.md.

#include <dlfcn.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "integrations/mediapipe/armrest_inference_calculator.pb.h"
#include "mediapipe/framework/api2/node.h"
#include "mediapipe/framework/calculator_framework.h"
#include "mediapipe/framework/formats/tensor.h"
#include "mediapipe/framework/port/ret_check.h"
#include "mediapipe/util/resource_util.h"
#include "mediapipe/util/tflite/op_resolver.h"
#include "tensorflow/lite/interpreter.h"
#include "tensorflow/lite/interpreter_builder.h"
#include "tensorflow/lite/model_builder.h"

namespace mediapipe {
namespace api2 {

namespace {
using CreateFn = TfLiteDelegate* (*)(const char* const*, const char* const*, size_t,
                                     void (*)(const char*));
using DestroyFn = void (*)(TfLiteDelegate*);
}  // namespace

class ArmrestInferenceCalculator : public Node {
 public:
  static constexpr Input<std::vector<Tensor>> kInTensors{"TENSORS"};
  static constexpr Output<std::vector<Tensor>> kOutTensors{"TENSORS"};
  MEDIAPIPE_NODE_CONTRACT(kInTensors, kOutTensors);

  absl::Status Open(CalculatorContext* cc) override {
    const auto& opts = cc->Options<ArmrestInferenceCalculatorOptions>();
    RET_CHECK(opts.has_model_path()) << "model_path is required";
    std::string path;
    MP_ASSIGN_OR_RETURN(path, PathToResourceAsFile(opts.model_path()));
    model_ = tflite::FlatBufferModel::BuildFromFile(path.c_str());
    RET_CHECK(model_) << "cannot load " << path;

    tflite_operations::MediaPipeBuiltinOpResolver resolver;
    tflite::InterpreterBuilder(*model_, resolver)(&interpreter_, opts.num_threads());
    RET_CHECK(interpreter_) << "cannot build the interpreter";

    library_ = dlopen(opts.library_path().c_str(), RTLD_NOW | RTLD_LOCAL);
    RET_CHECK(library_) << "dlopen(" << opts.library_path() << "): " << dlerror();
    auto create = reinterpret_cast<CreateFn>(dlsym(library_, "tflite_plugin_create_delegate"));
    destroy_ = reinterpret_cast<DestroyFn>(dlsym(library_, "tflite_plugin_destroy_delegate"));
    RET_CHECK(create && destroy_) << opts.library_path() << " is not a TFLite external delegate";

    std::vector<const char*> keys, values;
    for (const auto& o : opts.delegate_option()) {
      keys.push_back(o.key().c_str());
      values.push_back(o.value().c_str());
    }
    delegate_ = create(keys.data(), values.data(), keys.size(), nullptr);
    RET_CHECK(delegate_) << "armrest rejected its options";
    RET_CHECK_EQ(interpreter_->ModifyGraphWithDelegate(delegate_), kTfLiteOk);
    RET_CHECK_EQ(interpreter_->AllocateTensors(), kTfLiteOk);
    return absl::OkStatus();
  }

  absl::Status Process(CalculatorContext* cc) override {
    if (kInTensors(cc).IsEmpty()) return absl::OkStatus();
    const auto& inputs = *kInTensors(cc);
    RET_CHECK_EQ(inputs.size(), interpreter_->inputs().size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      TfLiteTensor* t = interpreter_->input_tensor(i);
      RET_CHECK_EQ(t->type, kTfLiteFloat32) << "armrest runs float32 models";
      auto view = inputs[i].GetCpuReadView();
      RET_CHECK_EQ(inputs[i].bytes(), t->bytes) << "input " << i << " size";
      std::memcpy(t->data.f, view.buffer<float>(), t->bytes);
    }
    RET_CHECK_EQ(interpreter_->Invoke(), kTfLiteOk);
    auto outputs = std::make_unique<std::vector<Tensor>>();
    for (size_t i = 0; i < interpreter_->outputs().size(); ++i) {
      const TfLiteTensor* t = interpreter_->output_tensor(i);
      Tensor::Shape shape(std::vector<int>(t->dims->data, t->dims->data + t->dims->size));
      outputs->emplace_back(Tensor::ElementType::kFloat32, shape);
      auto view = outputs->back().GetCpuWriteView();
      std::memcpy(view.buffer<float>(), t->data.f, t->bytes);
    }
    kOutTensors(cc).Send(std::move(outputs));
    return absl::OkStatus();
  }

  absl::Status Close(CalculatorContext* cc) override {
    interpreter_.reset();  // before the delegate it was modified with
    if (delegate_) destroy_(delegate_);
    delegate_ = nullptr;
    // libarmrest.so stays loaded: its thread pool may outlive this node.
    return absl::OkStatus();
  }

 private:
  std::unique_ptr<tflite::FlatBufferModel> model_;
  std::unique_ptr<tflite::Interpreter> interpreter_;
  void* library_ = nullptr;
  TfLiteDelegate* delegate_ = nullptr;
  DestroyFn destroy_ = nullptr;
};

MEDIAPIPE_REGISTER_NODE(ArmrestInferenceCalculator);

}  // namespace api2
}  // namespace mediapipe
