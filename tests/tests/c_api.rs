//! armrest's C API and plugin entry points, called through the bindgen
//! declarations of `armrest.h` against the built library.

use armrest_tests::header::{ArmrestDelegateOptions, ArmrestLib};
use std::ffi::{c_char, CStr, CString};
use std::sync::Mutex;

fn lib() -> &'static ArmrestLib {
    static LIB: std::sync::OnceLock<ArmrestLib> = std::sync::OnceLock::new();
    LIB.get_or_init(armrest_tests::load)
}

fn cstr(p: *const c_char) -> String {
    assert!(!p.is_null());
    // SAFETY: the library returns NUL-terminated strings valid until the next call on this thread.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

#[test]
fn defaults() {
    // SAFETY: plain call declared by the header.
    let o = unsafe { lib().armrest_delegate_options_default() };
    assert_eq!(o.num_threads, 0);
    assert!(o.kernels.is_null() && o.log.is_null());
    assert_eq!(o.report, 0);
    assert!(o.fallback.is_null() && o.verify.is_null());
    assert_eq!(o.verify_tolerance, 1e-4);
}

#[test]
fn version_is_the_crate_version() {
    // SAFETY: plain call declared by the header.
    assert_eq!(cstr(unsafe { lib().armrest_version() }), env!("CARGO_PKG_VERSION"));
}

#[test]
fn create_with_defaults_and_with_every_available_tier() {
    let l = lib();
    // SAFETY: NULL options mean defaults; the delegate is deleted once.
    unsafe {
        let d = l.armrest_delegate_create(std::ptr::null());
        assert!(!d.is_null(), "{}", cstr(l.armrest_last_error()));
        assert_eq!(cstr(l.armrest_delegate_kernels(d)), cstr(l.armrest_best_kernels()));
        assert_eq!(l.armrest_delegate_claim_counts(d, std::ptr::null_mut(), std::ptr::null_mut(), std::ptr::null_mut()), -1, "not applied yet");
        assert_eq!(l.armrest_delegate_verify_error(d, -1, 0, std::ptr::null_mut(), std::ptr::null_mut()), -1, "nothing verified");
        l.armrest_delegate_delete(d);
    }
    let best = cstr(unsafe { l.armrest_best_kernels() });
    let tiers: Vec<&str> = match best.as_str() {
        "avx512" => vec!["scalar", "avx2", "avx512"],
        "avx2" => vec!["scalar", "avx2"],
        b => vec!["scalar", b],
    };
    for tier in tiers {
        let name = CString::new(tier).unwrap();
        let log = CString::new("debug").unwrap();
        let fallback = CString::new("none").unwrap();
        let verify = CString::new("on").unwrap();
        let o = ArmrestDelegateOptions {
            num_threads: 2,
            kernels: name.as_ptr(),
            log: log.as_ptr(),
            report: 1,
            fallback: fallback.as_ptr(),
            verify: verify.as_ptr(),
            verify_tolerance: 1e-3,
        };
        // SAFETY: valid options whose strings outlive the call.
        unsafe {
            let d = l.armrest_delegate_create(&o);
            assert!(!d.is_null(), "{tier}: {}", cstr(l.armrest_last_error()));
            assert_eq!(cstr(l.armrest_delegate_kernels(d)), tier);
            l.armrest_delegate_delete(d);
        }
    }
}

#[test]
fn bad_struct_options_are_refused_with_a_message_naming_the_field() {
    let l = lib();
    let missing_tier = if cfg!(target_arch = "x86_64") { "neon" } else { "avx2" };
    // (num_threads, kernels, log, fallback, verify, verify_tolerance, the key the error names)
    type Case<'a> = (i32, Option<&'a str>, Option<&'a str>, Option<&'a str>, Option<&'a str>, f32, &'a str);
    let cases: [Case; 9] = [
        (-1, None, None, None, None, 0.0, "num_threads"),
        (100_000, None, None, None, None, 0.0, "num_threads"),
        (0, Some("sse9"), None, None, None, 0.0, "kernels"),
        (0, Some(missing_tier), None, None, None, 0.0, "kernels"),
        (0, None, Some("loud"), None, None, 0.0, "log"),
        (0, None, None, Some("onnx"), None, 0.0, "fallback"),
        (0, None, None, None, Some("maybe"), 0.0, "verify"),
        (0, None, None, None, None, -1.0, "verify_tolerance"),
        (0, None, None, None, None, f32::NAN, "verify_tolerance"),
    ];
    for (threads, kernels, log, fallback, verify, tolerance, key) in cases {
        let c = |v: Option<&str>| v.map(|s| CString::new(s).unwrap());
        let ptr = |v: &Option<CString>| v.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
        let (k, g, f, v) = (c(kernels), c(log), c(fallback), c(verify));
        let o = ArmrestDelegateOptions {
            num_threads: threads,
            kernels: ptr(&k),
            log: ptr(&g),
            report: 0,
            fallback: ptr(&f),
            verify: ptr(&v),
            verify_tolerance: tolerance,
        };
        // SAFETY: valid options whose strings outlive the call.
        unsafe {
            assert!(l.armrest_delegate_create(&o).is_null(), "{key} accepted");
            let e = cstr(l.armrest_last_error());
            assert!(e.contains(key), "{e}");
        }
    }
}

static REPORTED: Mutex<Vec<String>> = Mutex::new(Vec::new());

unsafe extern "C" fn record(msg: *const c_char) {
    // SAFETY: the library passes a NUL-terminated message.
    REPORTED.lock().unwrap().push(unsafe { CStr::from_ptr(msg) }.to_string_lossy().into_owned());
}

fn plugin_create(pairs: &[(&str, &str)], n: usize, report: bool) -> *mut armrest_tests::header::TfLiteDelegate {
    let keys: Vec<CString> = pairs.iter().map(|(k, _)| CString::new(*k).unwrap()).collect();
    let values: Vec<CString> = pairs.iter().map(|(_, v)| CString::new(*v).unwrap()).collect();
    let kp: Vec<*const c_char> = keys.iter().map(|s| s.as_ptr()).collect();
    let vp: Vec<*const c_char> = values.iter().map(|s| s.as_ptr()).collect();
    // SAFETY: `n` never exceeds the arrays' length in its low 32 bits (checked by callers).
    unsafe { lib().tflite_plugin_create_delegate(kp.as_ptr(), vp.as_ptr(), n, if report { Some(record) } else { None }) }
}

#[test]
fn plugin_entry_points_parse_string_options() {
    let good = [("num_threads", "2"), ("kernels", "auto"), ("log", "info"), ("report", "True")];
    let d = plugin_create(&good, good.len(), true);
    assert!(!d.is_null());
    // SAFETY: a delegate made by the library, destroyed once.
    unsafe { lib().tflite_plugin_destroy_delegate(d) };

    // Python passes the count as a C int: garbage in the upper half is ignored.
    let d = plugin_create(&good, (0xdead_beef_usize << 32) | good.len(), false);
    assert!(!d.is_null());
    // SAFETY: as above.
    unsafe { lib().tflite_plugin_destroy_delegate(d) };

    for (pairs, key) in [
        (vec![("colour", "red")], "colour"),
        (vec![("num_threads", "0")], "num_threads"),
        (vec![("num_threads", "two")], "num_threads"),
        (vec![("kernels", "fast")], "kernels"),
        (vec![("log", "chatty")], "log"),
        (vec![("report", "perhaps")], "report"),
    ] {
        REPORTED.lock().unwrap().clear();
        assert!(plugin_create(&pairs, pairs.len(), true).is_null(), "{key}");
        let msgs = REPORTED.lock().unwrap().clone();
        assert_eq!(msgs.len(), 1, "{msgs:?}");
        assert!(msgs[0].contains(key), "{msgs:?}");
        // And with no callback at all (the C++ external-delegate wrapper passes NULL).
        assert!(plugin_create(&pairs, pairs.len(), false).is_null());
    }
}

#[test]
fn null_and_foreign_pointers_are_harmless() {
    let l = lib();
    // SAFETY: every call below is documented to accept NULL or foreign pointers.
    unsafe {
        assert!(l.tflite_plugin_create_delegate(std::ptr::null(), std::ptr::null(), 3, None).is_null());
        l.tflite_plugin_destroy_delegate(std::ptr::null_mut());
        l.armrest_delegate_delete(std::ptr::null_mut());
        let mut foreign = [0u64; 8];
        let fp = foreign.as_mut_ptr().cast();
        l.armrest_delegate_delete(fp);
        l.tflite_plugin_destroy_delegate(fp);
        assert!(l.armrest_delegate_kernels(fp).is_null());
        assert_eq!(l.armrest_delegate_claim_counts(fp, std::ptr::null_mut(), std::ptr::null_mut(), std::ptr::null_mut()), -1);
        assert_eq!(foreign, [0u64; 8], "a foreign delegate was written to");
        // A delegate deleted twice: the second delete is recognised and ignored.
        let d = l.armrest_delegate_create(std::ptr::null());
        l.armrest_delegate_delete(d);
        l.armrest_delegate_delete(d);
    }
}
