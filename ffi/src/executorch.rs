//! The Rust side of the ExecuTorch backend: a small C ABI the C++ shim
//! (`integrations/executorch/shim/armrest_backend.cpp`, compiled with the
//! cargo feature `executorch`) calls from `BackendInterface::init`,
//! `execute` and `destroy`, and the runtime knobs ExecuTorch's Python API
//! cannot pass (`armrest_executorch_set_option`). Declared in
//! `ffi/include/armrest_executorch.h`.

use crate::guard::{guard, set_last_error};
use crate::engine::Engine;
use armrest_delegate::executorch::{self as et, BlobError};
use armrest_delegate::options::{self, KernelChoice};
use armrest_delegate::qexec::{TensorData, TensorDataMut};
use armrest_delegate::Options;
use armrest_kernels::ThreadPool;
use std::ffi::{c_char, c_void, CStr};
use std::sync::{Arc, Mutex};

pub const ARMREST_ET_OK: i32 = 0;
// 1..=5: BlobError::code (not a blob, version, truncated, invalid, missing named data).
pub const ARMREST_ET_BAD_ARGUMENT: i32 = 10;
pub const ARMREST_ET_PREPARE_FAILED: i32 = 11;
pub const ARMREST_ET_EXECUTE_FAILED: i32 = 12;
pub const ARMREST_ET_INTERNAL: i32 = 13;
pub const ARMREST_ET_VERIFY_FAILED: i32 = 14;

/// Process-wide settings for the ExecuTorch backend.
#[derive(Clone, Debug)]
struct EtConfig {
    options: Options,
    /// Check every output for non-finite values the inputs do not explain.
    verify: bool,
}

static CONFIG: Mutex<Option<EtConfig>> = Mutex::new(None);
/// The pool shared by every delegate instance (resized when `num_threads` changes).
static POOL: Mutex<Option<Arc<ThreadPool>>> = Mutex::new(None);

fn config() -> EtConfig {
    CONFIG.lock().unwrap_or_else(|e| e.into_inner()).clone().unwrap_or(EtConfig { options: Options::default(), verify: false })
}

fn threads_of(o: &Options) -> usize {
    o.num_threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).clamp(1, options::MAX_THREADS)
}

fn pool_for(threads: usize) -> Arc<ThreadPool> {
    let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    match &*pool {
        Some(p) if p.num_threads() == threads => p.clone(),
        _ => {
            let p = Arc::new(ThreadPool::new(threads));
            *pool = Some(p.clone());
            p
        }
    }
}

/// One delegate instance (one partition of one loaded method).
pub struct EtHandle {
    /// The fp32 executor, or the typed one for partitions with int8 ops (blob version 2).
    exec: Mutex<Engine>,
    /// The input shapes of the last successful plan: an execute with the
    /// same shapes (the common case) skips re-planning.
    planned: Mutex<Option<Vec<Vec<usize>>>>,
    verify: bool,
}

/// Looks up a named constant: on success sets `*data`/`*len` to bytes that
/// stay valid until `armrest_et_init` returns, and returns 0.
pub type EtLookup = Option<unsafe extern "C" fn(ctx: *mut c_void, key: *const c_char, key_len: usize, data: *mut *const c_void, len: *mut usize) -> i32>;

fn fail(code: i32, msg: &str) -> i32 {
    set_last_error(&format!("armrest: {msg}"));
    code
}

/// Parses and validates a blob, packs its weights, and returns a handle.
///
/// # Safety
/// `blob` points to `len` readable bytes; `out` is writable; `lookup` is NULL
/// or a function honouring [`EtLookup`]'s contract for `ctx`.
#[no_mangle]
pub unsafe extern "C" fn armrest_et_init(blob: *const u8, len: usize, lookup: EtLookup, ctx: *mut c_void, out: *mut *mut EtHandle) -> i32 {
    guard(ARMREST_ET_INTERNAL, || {
        if out.is_null() || (blob.is_null() && len > 0) {
            return fail(ARMREST_ET_BAD_ARGUMENT, "armrest_et_init: NULL blob or out pointer");
        }
        // SAFETY: non-NULL `out` is writable per the contract.
        unsafe { *out = std::ptr::null_mut() };
        let bytes: &[u8] = if len == 0 {
            &[]
        } else {
            // SAFETY: `blob` holds `len` readable bytes per the contract.
            unsafe { std::slice::from_raw_parts(blob, len) }
        };
        let mut named = |key: &str| -> Option<Vec<u8>> {
            let f = lookup?;
            let (mut data, mut n): (*const c_void, usize) = (std::ptr::null(), 0);
            // SAFETY: `f` honours the lookup contract; key points to key.len() bytes.
            let rc = unsafe { f(ctx, key.as_ptr().cast(), key.len(), &mut data, &mut n) };
            if rc != 0 || (data.is_null() && n > 0) {
                return None;
            }
            if n == 0 {
                return Some(Vec::new());
            }
            // SAFETY: on success the shim returned `n` readable bytes, valid during this call.
            Some(unsafe { std::slice::from_raw_parts(data.cast::<u8>(), n) }.to_vec())
        };
        let parsed = match et::parse(bytes, &mut named) {
            Ok(p) => p,
            Err(e) => return fail(e.code(), &e.to_string()),
        };
        let cfg = config();
        let pool = pool_for(threads_of(&cfg.options));
        let mut exec = match Engine::new(parsed.graph, cfg.options.isa(), pool) {
            Ok(e) => e,
            Err(e) => return fail(BlobError::Invalid(String::new()).code(), &format!("invalid blob: {e}")),
        };
        // Plan once for the recorded shapes so a blob that cannot run is refused at init.
        let shapes: Vec<Vec<usize>> = exec.graph().inputs.iter().map(|&i| exec.graph().tensors[i].shape.clone()).collect();
        if let Err(e) = exec.prepare(&shapes) {
            return fail(BlobError::Invalid(String::new()).code(), &format!("invalid blob: {e}"));
        }
        match &mut exec {
            Engine::Float(e) => e.release_packed_weights(),
            Engine::Typed(e) => e.release_packed_weights(),
        };
        if cfg.options.report {
            let g = exec.graph();
            let (isa, int8) = match &exec {
                Engine::Float(e) => (e.isa(), String::new()),
                Engine::Typed(e) => (e.isa(), crate::engine::int8_kernels_label(e.isa())),
            };
            eprintln!("armrest: executorch partition: {} nodes, {} inputs, {} outputs, {} weight bytes from named data, kernels={isa}{int8}, threads={}", g.nodes.len(), g.inputs.len(), g.outputs.len(), parsed.named_bytes, threads_of(&cfg.options));
        }
        let handle = Box::new(EtHandle { exec: Mutex::new(exec), planned: Mutex::new(None), verify: cfg.verify });
        // SAFETY: `out` is writable per the contract.
        unsafe { *out = Box::into_raw(handle) };
        ARMREST_ET_OK
    })
}

/// # Safety
/// `h` is NULL or a live handle from `armrest_et_init`.
unsafe fn handle<'a>(h: *const EtHandle) -> Option<&'a EtHandle> {
    // SAFETY: per the contract.
    unsafe { h.as_ref() }
}

/// Number of inputs (`which` = 0) or outputs (`which` = 1) of the partition; -1 on a NULL handle.
///
/// # Safety
/// `h` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn armrest_et_io_count(h: *const EtHandle, which: i32) -> i32 {
    guard(-1, || {
        // SAFETY: per the contract.
        let Some(h) = (unsafe { handle(h) }) else { return -1 };
        let exec = h.exec.lock().unwrap_or_else(|e| e.into_inner());
        let g = exec.graph();
        (if which == 0 { g.inputs.len() } else { g.outputs.len() }) as i32
    })
}

/// Plans for these input shapes (`shapes[i]` holds `ranks[i]` dims).
/// Afterwards `armrest_et_output_shape` gives each output's shape.
///
/// # Safety
/// `h` is a live handle; `shapes` and `ranks` hold `n` entries; `shapes[i]`
/// points to `ranks[i]` readable values.
#[no_mangle]
pub unsafe extern "C" fn armrest_et_prepare(h: *const EtHandle, shapes: *const *const i64, ranks: *const usize, n: usize) -> i32 {
    guard(ARMREST_ET_INTERNAL, || {
        // SAFETY: per the contract.
        let Some(h) = (unsafe { handle(h) }) else { return fail(ARMREST_ET_BAD_ARGUMENT, "NULL handle") };
        if n > 0 && (shapes.is_null() || ranks.is_null()) {
            return fail(ARMREST_ET_BAD_ARGUMENT, "NULL shapes");
        }
        let mut in_shapes = Vec::with_capacity(n);
        for i in 0..n {
            // SAFETY: both arrays hold `n` entries per the contract.
            let (p, r) = unsafe { (*shapes.add(i), *ranks.add(i)) };
            if r > 16 || (r > 0 && p.is_null()) {
                return fail(ARMREST_ET_BAD_ARGUMENT, &format!("input {i}: rank {r}"));
            }
            let dims: &[i64] = if r == 0 {
                &[]
            } else {
                // SAFETY: `p` holds `r` values per the contract.
                unsafe { std::slice::from_raw_parts(p, r) }
            };
            match dims.iter().map(|&d| usize::try_from(d)).collect::<Result<Vec<_>, _>>() {
                Ok(s) => in_shapes.push(s),
                Err(_) => return fail(ARMREST_ET_BAD_ARGUMENT, &format!("input {i}: negative dim in {dims:?}")),
            }
        }
        let mut exec = h.exec.lock().unwrap_or_else(|e| e.into_inner());
        let mut planned = h.planned.lock().unwrap_or_else(|e| e.into_inner());
        if planned.as_ref() == Some(&in_shapes) {
            return ARMREST_ET_OK;
        }
        *planned = None;
        match exec.prepare(&in_shapes) {
            Ok(_) => {
                *planned = Some(in_shapes);
                ARMREST_ET_OK
            }
            Err(e) => fail(ARMREST_ET_PREPARE_FAILED, &format!("cannot plan for input shapes {in_shapes:?}: {e}")),
        }
    })
}

/// Writes output `k`'s planned shape into `dims` (capacity `cap`) and its rank into `*rank`.
///
/// # Safety
/// `h` is a live handle; `dims` holds `cap` writable values; `rank` is writable.
#[no_mangle]
pub unsafe extern "C" fn armrest_et_output_shape(h: *const EtHandle, k: usize, dims: *mut i64, cap: usize, rank: *mut usize) -> i32 {
    guard(ARMREST_ET_INTERNAL, || {
        // SAFETY: per the contract.
        let Some(h) = (unsafe { handle(h) }) else { return fail(ARMREST_ET_BAD_ARGUMENT, "NULL handle") };
        let exec = h.exec.lock().unwrap_or_else(|e| e.into_inner());
        if k >= exec.graph().outputs.len() || rank.is_null() {
            return fail(ARMREST_ET_BAD_ARGUMENT, &format!("output {k} does not exist"));
        }
        let s = exec.output_shape(k);
        if s.len() > cap || (cap > 0 && dims.is_null()) {
            return fail(ARMREST_ET_BAD_ARGUMENT, &format!("output {k} has rank {}, room for {cap}", s.len()));
        }
        for (i, &d) in s.iter().enumerate() {
            // SAFETY: i < s.len() <= cap writable values.
            unsafe { *dims.add(i) = d as i64 };
        }
        // SAFETY: writable per the contract.
        unsafe { *rank = s.len() };
        ARMREST_ET_OK
    })
}

/// Runs the partition on the last prepared shapes.
///
/// # Safety
/// `h` is a live, prepared handle; `inputs[i]` points to as many floats as
/// input `i`'s prepared shape holds, `outputs[k]` to as many writable floats
/// as output `k`'s; outputs do not overlap each other or the inputs.
#[no_mangle]
pub unsafe extern "C" fn armrest_et_execute(h: *const EtHandle, inputs: *const *const f32, n_in: usize, outputs: *const *mut f32, n_out: usize) -> i32 {
    guard(ARMREST_ET_INTERNAL, || {
        // SAFETY: per the contract.
        let Some(h) = (unsafe { handle(h) }) else { return fail(ARMREST_ET_BAD_ARGUMENT, "NULL handle") };
        let mut exec = h.exec.lock().unwrap_or_else(|e| e.into_inner());
        let g = exec.graph();
        if n_in != g.inputs.len() || n_out != g.outputs.len() || (n_in > 0 && inputs.is_null()) || (n_out > 0 && outputs.is_null()) {
            return fail(ARMREST_ET_BAD_ARGUMENT, &format!("{n_in} inputs and {n_out} outputs for a partition with {} and {}", g.inputs.len(), g.outputs.len()));
        }
        let in_lens: Vec<usize> = (0..n_in).map(|i| g.inputs[i]).map(|id| exec_shape_len(&exec, id)).collect();
        let out_lens: Vec<usize> = (0..n_out).map(|k| exec.output_shape(k).iter().product()).collect();
        let mut ins: Vec<&[f32]> = Vec::with_capacity(n_in);
        for (i, &len) in in_lens.iter().enumerate() {
            // SAFETY: `inputs` holds n_in pointers per the contract.
            let p = unsafe { *inputs.add(i) };
            if p.is_null() && len > 0 {
                return fail(ARMREST_ET_BAD_ARGUMENT, &format!("input {i} is NULL"));
            }
            // SAFETY: `p` holds `len` floats for the prepared shape per the contract.
            ins.push(if len == 0 { &[] } else { unsafe { std::slice::from_raw_parts(p, len) } });
        }
        let mut outs: Vec<&mut [f32]> = Vec::with_capacity(n_out);
        for (k, &len) in out_lens.iter().enumerate() {
            // SAFETY: `outputs` holds n_out pointers per the contract.
            let p = unsafe { *outputs.add(k) };
            if p.is_null() && len > 0 {
                return fail(ARMREST_ET_BAD_ARGUMENT, &format!("output {k} is NULL"));
            }
            // SAFETY: `p` holds `len` writable floats, disjoint from every other buffer, per the contract.
            outs.push(if len == 0 { &mut [] } else { unsafe { std::slice::from_raw_parts_mut(p, len) } });
        }
        let result = match &mut *exec {
            Engine::Float(e) => e.run(&ins, &mut outs),
            Engine::Typed(e) => {
                // Partitions take and give fp32 (the blob reader checks it).
                let typed_ins: Vec<TensorData> = ins.iter().map(|x| TensorData::F32(x)).collect();
                let mut typed_outs: Vec<TensorDataMut> = outs.iter_mut().map(|o| TensorDataMut::F32(o)).collect();
                e.run(&typed_ins, &mut typed_outs)
            }
        };
        if let Err(e) = result {
            return fail(ARMREST_ET_EXECUTE_FAILED, &e);
        }
        if h.verify {
            let inputs_finite = ins.iter().all(|x| x.iter().all(|v| v.is_finite()));
            if inputs_finite {
                for (k, o) in outs.iter().enumerate() {
                    if let Some(i) = o.iter().position(|v| !v.is_finite()) {
                        return fail(ARMREST_ET_VERIFY_FAILED, &format!("verify: output {k}[{i}] = {} from finite inputs", o[i]));
                    }
                }
            }
        }
        ARMREST_ET_OK
    })
}

fn exec_shape_len(exec: &Engine, id: usize) -> usize {
    match exec {
        Engine::Float(e) => e.tensor_shape(id).iter().product(),
        Engine::Typed(e) => e.tensor_shape(id).iter().product(),
    }
}

/// Frees a handle; NULL is a no-op.
///
/// # Safety
/// `h` is NULL or a handle from `armrest_et_init` not yet destroyed.
#[no_mangle]
pub unsafe extern "C" fn armrest_et_destroy(h: *mut EtHandle) {
    guard((), || {
        if !h.is_null() {
            // SAFETY: made by Box::into_raw in armrest_et_init and not yet freed.
            drop(unsafe { Box::from_raw(h) });
        }
    })
}

/// Sets a process-wide option for partitions initialised afterwards:
/// `num_threads` (positive; "0" = all cores), `kernels` (auto|scalar|neon|avx2),
/// `log`, `report` (print one line per initialised partition), `verify`
/// (check outputs are finite when inputs are). Returns 0, or 10 with
/// `armrest_last_error()` naming the key and what it accepts.
///
/// # Safety
/// `key` and `value` are NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn armrest_executorch_set_option(key: *const c_char, value: *const c_char) -> i32 {
    guard(ARMREST_ET_INTERNAL, || {
        if key.is_null() || value.is_null() {
            return fail(ARMREST_ET_BAD_ARGUMENT, "NULL key or value");
        }
        // SAFETY: NUL-terminated per the contract.
        let (k, v) = unsafe { (CStr::from_ptr(key), CStr::from_ptr(value)) };
        let (Ok(k), Ok(v)) = (k.to_str(), v.to_str()) else { return fail(ARMREST_ET_BAD_ARGUMENT, "option is not UTF-8") };
        let mut guard = CONFIG.lock().unwrap_or_else(|e| e.into_inner());
        let mut cfg = guard.clone().unwrap_or(EtConfig { options: Options::default(), verify: false });
        let result = match k {
            "verify" => match v.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "on" => {
                    cfg.verify = true;
                    Ok(())
                }
                "0" | "false" | "off" => {
                    cfg.verify = false;
                    Ok(())
                }
                _ => Err(format!("armrest: option 'verify' = '{v}' is not valid; accepted: true|false|1|0|on|off")),
            },
            "num_threads" if v.trim() == "0" => {
                cfg.options.num_threads = None;
                Ok(())
            }
            _ => cfg.options.set(k, v).map_err(|e| if k == "verify" { e.0 } else { e.0.replace("accepted keys: ", "accepted keys: verify, ") }),
        };
        match result {
            Ok(()) => {
                *guard = Some(cfg);
                set_last_error("");
                ARMREST_ET_OK
            }
            Err(e) => {
                set_last_error(&e);
                ARMREST_ET_BAD_ARGUMENT
            }
        }
    })
}

/// The kernel tier and thread count new partitions get: writes the tier's
/// name (static) to `*kernels` and the threads to `*threads`.
///
/// # Safety
/// Out pointers are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn armrest_executorch_config(kernels: *mut *const c_char, threads: *mut i32) -> i32 {
    guard(ARMREST_ET_INTERNAL, || {
        let cfg = config();
        let isa = match cfg.options.kernels {
            KernelChoice::Auto => armrest_kernels::Isa::best(),
            KernelChoice::Tier(i) => i,
        };
        if !kernels.is_null() {
            // SAFETY: writable per the contract.
            unsafe { *kernels = crate::c_api::tier_name(isa).as_ptr() };
        }
        if !threads.is_null() {
            // SAFETY: writable per the contract.
            unsafe { *threads = threads_of(&cfg.options) as i32 };
        }
        ARMREST_ET_OK
    })
}

#[cfg(feature = "executorch")]
extern "C" {
    /// Defined by the C++ shim: ExecuTorch's `register_backend` result.
    fn armrest_et_shim_status() -> i32;
}

/// 0 when `ArmrestBackend` is registered with libexecutorch.so, else
/// ExecuTorch's error code (e.g. a second library already registered the name).
#[cfg(feature = "executorch")]
#[no_mangle]
pub extern "C" fn armrest_executorch_backend_status() -> i32 {
    // SAFETY: a plain C function of the shim with no arguments or preconditions.
    guard(ARMREST_ET_INTERNAL, || unsafe { armrest_et_shim_status() })
}
