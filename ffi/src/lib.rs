//! `libarmrest.so`: armrest as a TFLite/LiteRT external delegate
//! (`tflite_plugin_create_delegate` / `tflite_plugin_destroy_delegate`, as
//! `load_delegate` calls them) and armrest's C API (`ffi/include/armrest.h`).
//! Every `extern "C"` function catches panics and validates its pointers.

pub mod abi;
pub mod c_api;
pub mod engine;
pub mod executorch;
mod fallback_params;
mod guard;
mod lent;
mod memory;
pub mod tflite_delegate;
mod verify;

use abi::TfLiteDelegate;
use armrest_delegate::Options;
use guard::{guard, set_last_error};
use std::ffi::{c_char, CStr, CString};

/// The most option pairs accepted (a larger count is a corrupt call).
const MAX_OPTIONS: usize = 1024;

/// Calls the optional error callback of `tflite_plugin_create_delegate`.
fn report_to(report_error: Option<unsafe extern "C" fn(*const c_char)>, msg: &str) {
    set_last_error(msg);
    if let Some(cb) = report_error {
        let c = CString::new(msg.replace('\0', " ")).unwrap_or_default();
        // SAFETY: the caller's callback takes a NUL-terminated string for the duration of the call.
        unsafe { cb(c.as_ptr()) };
    }
}

/// Reads the `n` key/value pairs `load_delegate` passes.
///
/// # Safety
/// When `n > 0`, `keys` and `values` point to `n` C strings each (NULL entries are rejected).
unsafe fn read_pairs(keys: *const *const c_char, values: *const *const c_char, n: usize) -> Result<Vec<(String, String)>, String> {
    if n == 0 {
        return Ok(Vec::new());
    }
    if n > MAX_OPTIONS {
        return Err(format!("armrest: {n} options is not a valid count"));
    }
    if keys.is_null() || values.is_null() {
        return Err("armrest: option keys or values are NULL".into());
    }
    let mut pairs = Vec::with_capacity(n);
    for i in 0..n {
        // SAFETY: per the contract both arrays hold `n` entries.
        let (k, v) = unsafe { (*keys.add(i), *values.add(i)) };
        if k.is_null() || v.is_null() {
            return Err(format!("armrest: option {i} has a NULL key or value"));
        }
        // SAFETY: non-NULL entries are NUL-terminated strings owned by the caller.
        let (k, v) = unsafe { (CStr::from_ptr(k), CStr::from_ptr(v)) };
        let k = k.to_str().map_err(|_| format!("armrest: option {i}'s key is not UTF-8"))?;
        let v = v.to_str().map_err(|_| format!("armrest: option '{k}' has a value that is not UTF-8"))?;
        pairs.push((k.to_string(), v.to_string()));
    }
    Ok(pairs)
}

/// Creates the delegate from string options; NULL (after `report_error`) on a bad option.
///
/// # Safety
/// `keys`/`values` hold `num_options` C strings; `report_error` is NULL or callable.
#[no_mangle]
pub unsafe extern "C" fn tflite_plugin_create_delegate(
    keys: *const *const c_char,
    values: *const *const c_char,
    num_options: usize,
    report_error: Option<unsafe extern "C" fn(*const c_char)>,
) -> *mut TfLiteDelegate {
    guard(std::ptr::null_mut(), || {
        // Python passes the count as a C int: only the low 32 bits are meaningful.
        let n = num_options & 0xffff_ffff;
        // SAFETY: per this function's contract.
        let parsed = unsafe { read_pairs(keys, values, n) }
            .and_then(|pairs| Options::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))).map_err(|e| e.0));
        match parsed {
            Ok(options) => tflite_delegate::create(options),
            Err(msg) => {
                report_to(report_error, &msg);
                std::ptr::null_mut()
            }
        }
    })
}

/// Destroys a delegate made by `tflite_plugin_create_delegate`; NULL is a no-op.
///
/// # Safety
/// `delegate` is NULL or was made by this library and not yet destroyed.
#[no_mangle]
pub unsafe extern "C" fn tflite_plugin_destroy_delegate(delegate: *mut TfLiteDelegate) {
    // SAFETY: per this function's contract.
    guard((), || unsafe { tflite_delegate::destroy(delegate) })
}
