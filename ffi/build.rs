//! With the `executorch` feature: compiles the C++ shim that registers
//! `ArmrestBackend` with ExecuTorch's runtime and links it whole (nothing in
//! Rust references its static registration object) against the wheel's
//! `libexecutorch.so`, with an rpath to it so the process holds one copy.
//! Without the feature this does nothing.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "executorch")]
    executorch::build();
}

#[cfg(feature = "executorch")]
mod executorch {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// The installed `executorch` package directory (holding `include/` and `lib/`).
    fn root() -> PathBuf {
        println!("cargo:rerun-if-env-changed=EXECUTORCH_ROOT");
        println!("cargo:rerun-if-env-changed=PYTHON");
        if let Ok(r) = std::env::var("EXECUTORCH_ROOT") {
            return PathBuf::from(r);
        }
        // The package's location without importing it (importing pulls in torch).
        let script = "import importlib.util as u; s = u.find_spec('executorch'); print(s.submodule_search_locations[0])";
        let mut candidates: Vec<String> = std::env::var("PYTHON").into_iter().collect();
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for venv in [".venv-et", ".venv"] {
            candidates.push(repo.join(venv).join("bin/python").to_string_lossy().into_owned());
        }
        candidates.push("python3".into());
        for py in &candidates {
            if let Ok(out) = Command::new(py).args(["-c", script]).output() {
                let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
                if out.status.success() && Path::new(&s).join("lib/libexecutorch.so").exists() {
                    return PathBuf::from(s);
                }
            }
        }
        panic!(
            "feature `executorch`: libexecutorch.so not found. Set EXECUTORCH_ROOT to the installed executorch package \
             (site-packages/executorch) or PYTHON to an interpreter with executorch==1.5.1 installed (tried {candidates:?})"
        );
    }

    pub fn build() {
        let et = root();
        let lib = et.join("lib");
        let shim = Path::new(env!("CARGO_MANIFEST_DIR")).join("../integrations/executorch/shim/armrest_backend.cpp");
        println!("cargo:rerun-if-changed={}", shim.display());
        cc::Build::new()
            .cpp(true)
            .file(&shim)
            // The wheel's headers as system headers: their warnings are not ours.
            .flag(format!("-isystem{}", et.join("include").display()))
            .flag(format!("-isystem{}", et.join("include/executorch/runtime/core/portable_type/c10").display()))
            .include(Path::new(env!("CARGO_MANIFEST_DIR")).join("include"))
            .define("C10_USING_CUSTOM_GENERATED_MACROS", None)
            .define("ET_EVENT_TRACER_ENABLED", None)
            .flag("-std=c++17")
            .flag("-fvisibility=hidden")
            .warnings(true)
            .cargo_metadata(false)
            .compile("armrest_et_shim");
        let out = std::env::var("OUT_DIR").expect("OUT_DIR");
        println!("cargo:rustc-link-search=native={out}");
        println!("cargo:rustc-link-lib=static:+whole-archive=armrest_et_shim");
        println!("cargo:rustc-link-search=native={}", lib.display());
        println!("cargo:rustc-link-lib=dylib=executorch");
        println!("cargo:rustc-link-lib=dylib=stdc++");
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
        println!("cargo:rustc-env=ARMREST_EXECUTORCH_ROOT={}", et.display());
    }
}
