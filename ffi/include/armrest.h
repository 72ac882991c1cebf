/*
 * armrest: fast on-device inference on Arm CPUs inside TFLite/LiteRT.
 *
 * libarmrest.so is a TFLite external delegate. From Python:
 *   load_delegate("libarmrest.so", {"num_threads": 2, "report": True})
 * which calls tflite_plugin_create_delegate below. C and C++ applications
 * use the options struct and armrest_delegate_create instead, then hand the
 * delegate to the interpreter (ModifyGraphWithDelegate or
 * TfLiteInterpreterOptionsAddDelegate) and delete it after the interpreter.
 *
 * Options (string keys for load_delegate; the same names as struct fields):
 *   num_threads  threads for armrest's kernels; default (0): the
 *                interpreter's recommended_num_threads.
 *   kernels      "auto" (default) or an instruction-set tier: "scalar",
 *                "neon" (aarch64), "avx2" (x86-64 AVX2+FMA), "avx512"
 *                (x86-64 AVX-512 F+VL with AVX2+FMA). A tier the CPU lacks
 *                is an error.
 *   log          "error", "warn" (default), "info", "debug".
 *   report       print the claim report to stderr when the delegate is
 *                applied: partitions, and the reason for every node left to
 *                the runtime, and which claimed nodes run on tract.
 *   fallback     "tract" (default, when built with tract) or "none": who runs
 *                the nodes armrest's kernels lack inside a partition; with
 *                "none" they are left to the runtime and split partitions.
 *   verify       "off" (default), "on" (every partition also runs on tract
 *                and each output's error is logged; see
 *                armrest_delegate_verify_error) or "strict" (also fails the
 *                invoke when an output exceeds verify_tolerance).
 *   verify_tolerance  relative error verify accepts (default 1e-4): max
 *                |armrest - tract| / max(1, max |tract|) per output.
 */
#ifndef ARMREST_H_
#define ARMREST_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* TFLite's delegate struct (tensorflow/lite/core/c/common.h). */
typedef struct TfLiteDelegate TfLiteDelegate;

typedef struct ArmrestDelegateOptions {
  /* Threads for armrest's kernels; 0 takes the interpreter's
   * recommended_num_threads. Negative values are an error. */
  int32_t num_threads;
  /* NULL or "auto", "scalar", "neon", "avx2", "avx512". */
  const char* kernels;
  /* NULL (warn) or "error", "warn", "info", "debug". */
  const char* log;
  /* Nonzero: print the claim report to stderr. */
  int32_t report;
  /* NULL (the default: "tract" when built with tract) or "tract", "none". */
  const char* fallback;
  /* NULL ("off") or "off", "on", "strict". */
  const char* verify;
  /* The relative error verify accepts; 0 takes the default 1e-4. */
  float verify_tolerance;
} ArmrestDelegateOptions;

/* The defaults: num_threads 0, kernels "auto", log "warn", report 0,
 * fallback NULL, verify NULL, verify_tolerance 1e-4. */
ArmrestDelegateOptions armrest_delegate_options_default(void);

/* Creates a delegate. options may be NULL (defaults). Returns NULL on a bad
 * option; armrest_last_error() then says which and what is accepted. */
TfLiteDelegate* armrest_delegate_create(const ArmrestDelegateOptions* options);

/* Deletes a delegate made by armrest_delegate_create (after the interpreter
 * that uses it is gone). NULL is a no-op. */
void armrest_delegate_delete(TfLiteDelegate* delegate);

/* What the delegate claimed the last time it was applied to a graph.
 * Returns 0 and fills the counts, or -1 if the delegate is NULL, not
 * armrest's, or not applied yet. Any out pointer may be NULL. */
int32_t armrest_delegate_claim_counts(const TfLiteDelegate* delegate,
                                      int32_t* claimed_nodes,
                                      int32_t* total_nodes,
                                      int32_t* partitions);

/* Verify mode's error of the last invoke of partition `partition` (in the
 * order the runtime built them), output `output`: max |armrest - tract| and
 * that relative to max(1, max |tract|). partition -1 gives the worst over every
 * partition and output (output is then ignored). Returns 0, or -1 if verify
 * is off, nothing was verified yet, or the indices are out of range, or
 * ARMREST_VERIFY_NOT_VERIFIABLE if the partition (for -1: every partition)
 * has an op tract lacks (MediaPipe's tensor warp and landmark ops), with
 * armrest_last_error() naming it. Out pointers may be NULL. */
#define ARMREST_VERIFY_NOT_VERIFIABLE (-2)

int32_t armrest_delegate_verify_error(const TfLiteDelegate* delegate,
                                      int32_t partition, int32_t output,
                                      float* max_abs_error,
                                      float* max_rel_error);

/* The kernel tier a delegate runs ("scalar", "neon", "avx2", "avx512"), or NULL. */
const char* armrest_delegate_kernels(const TfLiteDelegate* delegate);

/* The best tier this CPU runs (what kernels="auto" selects). */
const char* armrest_best_kernels(void);

/* The last error on this thread ("" if none); valid until the next armrest
 * call on this thread. */
const char* armrest_last_error(void);

/* The library's version, e.g. "0.1.0". */
const char* armrest_version(void);

/* The TFLite external-delegate entry points, as load_delegate calls them. */
TfLiteDelegate* tflite_plugin_create_delegate(const char* const* keys,
                                              const char* const* values,
                                              size_t num_options,
                                              void (*report_error)(const char*));
void tflite_plugin_destroy_delegate(TfLiteDelegate* delegate);

#ifdef __cplusplus
}
#endif

#endif /* ARMREST_H_ */
