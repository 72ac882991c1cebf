//! armrest's C API, declared in `ffi/include/armrest.h`.

use crate::abi::TfLiteDelegate;
use crate::guard::{guard, last_error_ptr, set_last_error};
use crate::tflite_delegate;
use armrest_delegate::options::{self, LogLevel, Options};
use armrest_kernels::Isa;
use std::ffi::{c_char, CStr};

/// Mirrors `ArmrestDelegateOptions` in armrest.h.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ArmrestDelegateOptions {
    pub num_threads: i32,
    pub kernels: *const c_char,
    pub log: *const c_char,
    pub report: i32,
    pub fallback: *const c_char,
    pub verify: *const c_char,
    pub verify_tolerance: f32,
}

/// The static C string naming a tier.
pub(crate) fn tier_name(isa: Isa) -> &'static CStr {
    tier_cstr(isa)
}

/// Static C strings for tier names (the header promises stable pointers).
fn tier_cstr(isa: Isa) -> &'static CStr {
    match isa {
        Isa::Scalar => c"scalar",
        Isa::Neon => c"neon",
        Isa::Avx2 => c"avx2",
        Isa::Avx512 => c"avx512",
    }
}

#[no_mangle]
pub extern "C" fn armrest_delegate_options_default() -> ArmrestDelegateOptions {
    ArmrestDelegateOptions {
        num_threads: 0,
        kernels: std::ptr::null(),
        log: std::ptr::null(),
        report: 0,
        fallback: std::ptr::null(),
        verify: std::ptr::null(),
        verify_tolerance: options::DEFAULT_VERIFY_TOLERANCE,
    }
}

/// Converts the C struct into validated options.
///
/// # Safety
/// The string fields are NULL or NUL-terminated.
unsafe fn to_options(o: &ArmrestDelegateOptions) -> Result<Options, String> {
    let mut options = Options::default();
    if o.num_threads < 0 {
        return Err(format!("armrest: option 'num_threads' = {} is not valid; accepted: 0 (the interpreter's) or 1 to {}", o.num_threads, options::MAX_THREADS));
    }
    if o.num_threads > 0 {
        options.set("num_threads", &o.num_threads.to_string()).map_err(|e| e.0)?;
    }
    for (key, ptr) in [("kernels", o.kernels), ("log", o.log), ("fallback", o.fallback), ("verify", o.verify)] {
        if ptr.is_null() {
            continue;
        }
        // SAFETY: non-NULL string fields are NUL-terminated per the contract.
        let v = unsafe { CStr::from_ptr(ptr) }.to_str().map_err(|_| format!("armrest: option '{key}' is not UTF-8"))?;
        options.set(key, v).map_err(|e| e.0)?;
    }
    options.report = o.report != 0;
    if o.verify_tolerance != 0.0 {
        options.set("verify_tolerance", &o.verify_tolerance.to_string()).map_err(|e| e.0)?;
    }
    debug_assert!(options.log <= LogLevel::Debug);
    Ok(options)
}

/// # Safety
/// `options` is NULL or points to a valid `ArmrestDelegateOptions`.
#[no_mangle]
pub unsafe extern "C" fn armrest_delegate_create(options: *const ArmrestDelegateOptions) -> *mut TfLiteDelegate {
    guard(std::ptr::null_mut(), || {
        let o = if options.is_null() {
            armrest_delegate_options_default()
        } else {
            // SAFETY: non-NULL and valid per the contract.
            unsafe { *options }
        };
        // SAFETY: the struct's strings are valid per the contract.
        match unsafe { to_options(&o) } {
            Ok(options) => {
                set_last_error("");
                tflite_delegate::create(options)
            }
            Err(e) => {
                set_last_error(&e);
                std::ptr::null_mut()
            }
        }
    })
}

/// # Safety
/// `delegate` is NULL or was made by this library and not yet deleted.
#[no_mangle]
pub unsafe extern "C" fn armrest_delegate_delete(delegate: *mut TfLiteDelegate) {
    // SAFETY: per the contract.
    guard((), || unsafe { tflite_delegate::destroy(delegate) })
}

/// # Safety
/// `delegate` is NULL or a live delegate; out pointers are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn armrest_delegate_claim_counts(delegate: *const TfLiteDelegate, claimed: *mut i32, total: *mut i32, partitions: *mut i32) -> i32 {
    guard(-1, || {
        // SAFETY: per the contract; foreign delegates are recognised and rejected.
        let Some(state) = (unsafe { tflite_delegate::state(delegate) }) else { return -1 };
        let Some((c, t, p)) = state.last_claim.lock().ok().and_then(|g| *g) else { return -1 };
        for (ptr, v) in [(claimed, c), (total, t), (partitions, p)] {
            if !ptr.is_null() {
                // SAFETY: non-NULL out pointers are writable per the contract.
                unsafe { *ptr = v as i32 };
            }
        }
        0
    })
}

/// `armrest_delegate_verify_error`'s result for a partition with an op tract lacks.
pub const VERIFY_NOT_VERIFIABLE: i32 = -2;

/// # Safety
/// `delegate` is NULL or a live delegate; out pointers are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn armrest_delegate_verify_error(delegate: *const TfLiteDelegate, partition: i32, output: i32, max_abs: *mut f32, max_rel: *mut f32) -> i32 {
    guard(-1, || {
        // SAFETY: per the contract; foreign delegates are recognised and rejected.
        let Some(state) = (unsafe { tflite_delegate::state(delegate) }) else { return -1 };
        let Ok(results) = state.verify.lock() else { return -1 };
        let unverifiable = |p: usize, why: &str| {
            set_last_error(&format!("armrest: partition {p} is not verifiable: {why}"));
            VERIFY_NOT_VERIFIABLE
        };
        let found = if partition == -1 {
            // NaN compares as the worst.
            let worst = results.iter().flat_map(|r| r.errors.iter()).copied().reduce(|a, b| if b.max_rel > a.max_rel || b.max_rel.is_nan() { b } else { a });
            if worst.is_none() {
                if let Some((p, why)) = results.iter().enumerate().find_map(|(p, r)| r.unverifiable.as_deref().map(|w| (p, w))) {
                    return unverifiable(p, why);
                }
            }
            worst
        } else {
            let record = usize::try_from(partition).ok().and_then(|p| results.get(p).map(|r| (p, r)));
            if let Some((p, Some(why))) = record.map(|(p, r)| (p, r.unverifiable.as_deref())) {
                return unverifiable(p, why);
            }
            record.and_then(|(_, r)| usize::try_from(output).ok().and_then(|k| r.errors.get(k))).copied()
        };
        let Some(e) = found else { return -1 };
        for (ptr, v) in [(max_abs, e.max_abs), (max_rel, e.max_rel)] {
            if !ptr.is_null() {
                // SAFETY: non-NULL out pointers are writable per the contract.
                unsafe { *ptr = v };
            }
        }
        0
    })
}

/// # Safety
/// `delegate` is NULL or a live delegate.
#[no_mangle]
pub unsafe extern "C" fn armrest_delegate_kernels(delegate: *const TfLiteDelegate) -> *const c_char {
    guard(std::ptr::null(), || {
        // SAFETY: per the contract.
        unsafe { tflite_delegate::state(delegate) }.map_or(std::ptr::null(), |s| tier_cstr(s.isa).as_ptr())
    })
}

#[no_mangle]
pub extern "C" fn armrest_best_kernels() -> *const c_char {
    guard(std::ptr::null(), || tier_cstr(Isa::best()).as_ptr())
}

#[no_mangle]
pub extern "C" fn armrest_last_error() -> *const c_char {
    last_error_ptr()
}

#[no_mangle]
pub extern "C" fn armrest_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
