/*
 * armrest's ExecuTorch backend ABI: what the C++ shim
 * (integrations/executorch/shim/armrest_backend.cpp) calls in libarmrest.so,
 * and the runtime knobs an application sets before loading a program
 * (ExecuTorch's Python API passes no backend options).
 *
 * Return codes: 0 ok; 1 not an armrest blob; 2 unsupported blob version;
 * 3 truncated blob; 4 invalid blob; 5 missing named data; 10 bad argument;
 * 11 cannot plan for these input shapes; 12 execution failed; 13 internal
 * error; 14 verify failed. armrest_last_error() (armrest.h) says why.
 */
#ifndef ARMREST_EXECUTORCH_H_
#define ARMREST_EXECUTORCH_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ArmrestEtHandle ArmrestEtHandle;

/* Finds a named constant of the program; on success sets *data and *len to
 * bytes valid until armrest_et_init returns, and returns 0. */
typedef int32_t (*ArmrestEtLookup)(void* ctx, const char* key, size_t key_len,
                                   const void** data, size_t* len);

/* Parses and validates a delegate blob, packs its weights. */
int32_t armrest_et_init(const uint8_t* blob, size_t len, ArmrestEtLookup lookup,
                        void* ctx, ArmrestEtHandle** out);
/* which = 0: inputs, 1: outputs. -1 on a NULL handle. */
int32_t armrest_et_io_count(const ArmrestEtHandle* h, int32_t which);
/* Plans for these input shapes (shapes[i] has ranks[i] dims). */
int32_t armrest_et_prepare(const ArmrestEtHandle* h, const int64_t* const* shapes,
                           const size_t* ranks, size_t n);
/* Output k's planned shape. */
int32_t armrest_et_output_shape(const ArmrestEtHandle* h, size_t k, int64_t* dims,
                                size_t cap, size_t* rank);
/* Runs on the last planned shapes; contiguous fp32 buffers. */
int32_t armrest_et_execute(const ArmrestEtHandle* h, const float* const* inputs,
                           size_t n_in, float* const* outputs, size_t n_out);
void armrest_et_destroy(ArmrestEtHandle* h);

/* Process-wide options for partitions initialised afterwards:
 * "num_threads" (positive; "0": all cores, the default), "kernels"
 * (auto|scalar|neon|avx2), "log", "report" (one line per initialised
 * partition on stderr), "verify" (fail execute when finite inputs give a
 * non-finite output). */
int32_t armrest_executorch_set_option(const char* key, const char* value);
/* The tier and thread count new partitions get. */
int32_t armrest_executorch_config(const char** kernels, int32_t* threads);
/* With the executorch feature: 0 when ArmrestBackend is registered with
 * libexecutorch.so, else ExecuTorch's registration error. Without the
 * feature the symbol is absent. */
int32_t armrest_executorch_backend_status(void);

#ifdef __cplusplus
}
#endif

#endif /* ARMREST_EXECUTORCH_H_ */
