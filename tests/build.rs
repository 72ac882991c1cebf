//! Generates Rust declarations for `ffi/include/armrest.h` with bindgen, as
//! a libloading-backed struct, so the tests call the built library exactly
//! through what the header declares.

fn main() {
    let header = concat!(env!("CARGO_MANIFEST_DIR"), "/../ffi/include/armrest.h");
    println!("cargo:rerun-if-changed={header}");
    let bindings = bindgen::Builder::default()
        .header(header)
        .dynamic_library_name("ArmrestLib")
        .dynamic_link_require_all(true)
        .allowlist_function("armrest_.*|tflite_plugin_.*")
        .allowlist_type("ArmrestDelegateOptions")
        .generate()
        .expect("bindgen could not read ffi/include/armrest.h");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("armrest_h.rs");
    bindings.write_to_file(out).expect("writing the bindings");
}
