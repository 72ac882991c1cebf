//! The declarations bindgen generates from `ffi/include/armrest.h`, and a
//! loader for the built `libarmrest.so`.

#[allow(non_camel_case_types, non_snake_case, non_upper_case_globals, dead_code, unsafe_op_in_unsafe_fn, clippy::all)]
pub mod header {
    include!(concat!(env!("OUT_DIR"), "/armrest_h.rs"));
}

use std::path::PathBuf;

/// Where the built library is: `ARMREST_LIB`, else the workspace's
/// `target/release` or `target/debug` (whichever is newer).
pub fn library_path() -> PathBuf {
    if let Ok(p) = std::env::var("ARMREST_LIB") {
        return PathBuf::from(p);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")));
    let candidates = ["debug", "release"].map(|p| target.join(p).join("libarmrest.so"));
    candidates
        .iter()
        .filter_map(|p| Some((std::fs::metadata(p).ok()?.modified().ok()?, p.clone())))
        .max()
        .map(|(_, p)| p)
        .unwrap_or_else(|| panic!("libarmrest.so not found under {}: run `cargo build -p armrest-ffi` first or set ARMREST_LIB", target.display()))
}

/// Loads the built library through the header's declarations.
pub fn load() -> header::ArmrestLib {
    let path = library_path();
    // SAFETY: loading our own library runs no initialisers beyond Rust's std setup.
    unsafe { header::ArmrestLib::new(&path) }.unwrap_or_else(|e| panic!("loading {}: {e}", path.display()))
}
