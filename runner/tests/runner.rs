//! The `armrest` runner end to end: models built at test time by
//! integrations/onnx/build_models.py (ONNX, and .tflite through
//! armrest_tflite), run through armrest and through plain tract, compared;
//! the CLI's commands and its errors.
//!
//! The models are built once into `$ARMREST_RUNNER_MODELS` (default
//! `<target>/runner-models`) with `$ARMREST_PYTHON` (default the repo's
//! `.venv/bin/python`, made by scripts/setup.sh).

use armrest_runner::{engine, load, npy, regions::Placement};
use armrest_delegate::accuracy::OutputError;
use armrest_kernels::Isa;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const SMALL_MODELS: &[&str] = &["mobilenet_v2_small", "mixed", "tract_only", "two_inputs"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn models_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::var_os("ARMREST_RUNNER_MODELS").map(PathBuf::from).unwrap_or_else(|| repo().join("target/runner-models"));
        let all_there = SMALL_MODELS.iter().all(|m| dir.join(format!("{m}.onnx")).exists()) && ["mobilenet_v2_small", "mean"].iter().all(|m| dir.join(format!("{m}.tflite")).exists());
        if !all_there {
            let python = std::env::var_os("ARMREST_PYTHON").map(PathBuf::from).unwrap_or_else(|| repo().join(".venv/bin/python"));
            let out = Command::new(&python)
                .arg(repo().join("integrations/onnx/build_models.py"))
                .arg(&dir)
                .arg("--tflite")
                .arg("--only")
                .args(SMALL_MODELS)
                .output()
                .unwrap_or_else(|e| panic!("cannot start {} to build the test models (run scripts/setup.sh): {e}", python.display()));
            assert!(out.status.success(), "build_models.py failed:\n{}", String::from_utf8_lossy(&out.stderr));
        }
        dir
    })
}

fn model(name: &str) -> PathBuf {
    models_dir().join(name)
}

/// Runs the model through armrest and plain tract on the same random inputs;
/// returns the hosted model's report and each output's error.
fn compare(path: &Path, threads: usize) -> (armrest_runner::regions::Hosted, Vec<OutputError>) {
    let (_, m) = load::load(path, None).unwrap();
    let inputs = engine::random_inputs(&load::input_shapes(&m));
    let plain = engine::plain(&m).unwrap();
    let (hosted, fast) = engine::armrest(&m, Isa::best(), threads).unwrap();
    let want = engine::run(&plain, &inputs).unwrap();
    let got = engine::run(&fast, &inputs).unwrap();
    assert_eq!(got.len(), want.len());
    let errors = got
        .iter()
        .zip(&want)
        .map(|(g, w)| {
            assert_eq!(g.shape, w.shape);
            assert!(w.data.iter().any(|&v| v != 0.0), "an all-zero reference output proves nothing");
            OutputError::between(&g.data, &w.data)
        })
        .collect();
    (hosted, errors)
}

fn assert_close(name: &str, errors: &[OutputError]) {
    for (k, e) in errors.iter().enumerate() {
        assert!(e.within(1e-4), "{name} output {k}: {e:?}");
    }
}

#[test]
fn mobilenet_v2_small_onnx_runs_as_one_region_and_matches_tract() {
    for threads in [1, 2] {
        let (hosted, errors) = compare(&model("mobilenet_v2_small.onnx"), threads);
        assert_close("mobilenet_v2_small.onnx", &errors);
        assert_eq!(hosted.regions.len(), 1, "{:?}", hosted.nodes.iter().filter(|n| matches!(n.placement, Placement::Tract(_))).collect::<Vec<_>>());
        assert_eq!(hosted.armrest_nodes(), hosted.compute_nodes());
        assert!(hosted.nchw);
        // Transposes only at the region's boundary: the image in, nothing out (rank 2).
        assert_eq!(hosted.regions[0].transposes, 1);
    }
}

#[test]
fn mixed_model_alternates_armrest_and_tract_and_matches() {
    let (hosted, errors) = compare(&model("mixed.onnx"), 1);
    assert_close("mixed.onnx", &errors);
    assert!(hosted.regions.len() >= 3, "{} regions", hosted.regions.len());
    let on_tract: Vec<&str> = hosted.nodes.iter().filter(|n| matches!(n.placement, Placement::Tract(_))).map(|n| n.op.as_str()).collect();
    for op in ["Sin", "Exp"] {
        assert!(on_tract.contains(&op), "{op} should stay on tract: {on_tract:?}");
    }
    assert!(hosted.armrest_nodes() >= 10);
}

#[test]
fn tract_only_model_has_no_region_and_matches() {
    let (hosted, errors) = compare(&model("tract_only.onnx"), 1);
    assert_close("tract_only.onnx", &errors);
    assert_eq!(hosted.regions.len(), 0);
    assert_eq!(hosted.armrest_nodes(), 0);
}

#[test]
fn two_input_model_matches() {
    let (hosted, errors) = compare(&model("two_inputs.onnx"), 1);
    assert_close("two_inputs.onnx", &errors);
    assert_eq!(hosted.regions.len(), 1);
    // two NCHW inputs in, one NCHW output out.
    assert_eq!(hosted.regions[0].transposes, 3);
}

#[test]
fn mobilenet_v2_small_tflite_matches() {
    let (hosted, errors) = compare(&model("mobilenet_v2_small.tflite"), 1);
    assert_close("mobilenet_v2_small.tflite", &errors);
    assert!(!hosted.nchw);
    assert!(hosted.armrest_nodes() * 10 >= hosted.compute_nodes() * 9, "{} of {}", hosted.armrest_nodes(), hosted.compute_nodes());
}

#[test]
fn tflite_mean_is_a_mean_on_both_engines() {
    // tract-tflite alone rounds float MEANs to integers; the loader fixes it.
    let (_, m) = load::load(&model("mean.tflite"), None).unwrap();
    let inputs = engine::random_inputs(&load::input_shapes(&m));
    let x = &inputs[0];
    assert_eq!(x.shape, vec![1, 16, 16, 8]);
    let want: Vec<f32> = (0..8).map(|c| (0..256).map(|p| x.data[p * 8 + c]).sum::<f32>() / 256.0).collect();
    assert!(want.iter().all(|v| v.abs() < 0.5), "means of values in [-1, 1) round to 0: the check would prove nothing otherwise");
    assert!(want.iter().any(|v| v.abs() > 1e-3));
    let plain = engine::run(&engine::plain(&m).unwrap(), &inputs).unwrap();
    let fast = engine::run(&engine::armrest(&m, Isa::best(), 1).unwrap().1, &inputs).unwrap();
    for got in [&plain[0], &fast[0]] {
        assert_eq!(got.shape, vec![1, 8]);
        assert!(OutputError::between(&got.data, &want).within(1e-5), "{:?} vs {want:?}", got.data);
    }
}

// ---- the binary

fn armrest(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_armrest")).args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("armrest-runner-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn run_writes_outputs_that_match_tract_from_given_inputs() {
    let m = model("two_inputs.onnx");
    // Inputs from files, not the random default.
    let (a, b) = (tmp("a.npy"), tmp("b.npy"));
    for (k, p) in [&a, &b].into_iter().enumerate() {
        let data = (0..4 * 17 * 13).map(|i| ((i * 7 + k * 3) % 11) as f32 / 5.0 - 1.0).collect();
        npy::write(p, &npy::Array { shape: vec![1, 4, 17, 13], data }).unwrap();
    }
    let (fast, slow) = (tmp("fast.npy"), tmp("slow.npy"));
    let (code, out, err) = armrest(&["run", s(&m), "--input", s(&a), "--input", s(&b), "--output", s(&fast)]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("written to"), "{out}");
    let (code, _, err) = armrest(&["run", s(&m), "--input", s(&a), "--input", s(&b), "--output", s(&slow), "--tract"]);
    assert_eq!(code, 0, "{err}");
    let (x, y) = (npy::read(&fast).unwrap(), npy::read(&slow).unwrap());
    assert_eq!(x.shape, vec![1, 8, 9, 7]);
    assert_eq!(x.shape, y.shape);
    assert!(OutputError::between(&x.data, &y.data).within(1e-4));
    // Without --output: printed.
    let (code, out, err) = armrest(&["run", s(&model("mixed.onnx")), "--threads", "2"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("output 0: shape [1, 10]") && out.contains("output 1: shape [1, 8, 32, 32]"), "{out}");
}

#[test]
fn report_lists_regions_and_reasons() {
    let (code, out, err) = armrest(&["report", s(&model("mixed.onnx"))]);
    assert_eq!(code, 0, "{err}");
    let first = out.lines().next().unwrap();
    assert!(first.starts_with("armrest: claimed ") && first.contains(" nodes in ") && first.ends_with(" partitions"), "{out}");
    assert!(out.contains("armrest: partition 0: "), "{out}");
    assert!(out.lines().any(|l| l.contains(" Sin not claimed: ") && l.contains("runs on tract")), "{out}");
    assert!(out.lines().any(|l| l.contains(" on armrest: partition ") && l.contains("conv2d")), "{out}");
    let (code, out, _) = armrest(&["report", s(&model("tract_only.onnx"))]);
    assert_eq!(code, 0);
    assert!(out.starts_with("armrest: claimed 0 of 3 nodes in 0 partitions"), "{out}");
}

#[test]
fn bench_compares_both_engines() {
    let (code, out, err) = armrest(&["bench", s(&model("mobilenet_v2_small.onnx")), "--runs", "3"]);
    assert_eq!(code, 0, "{err}");
    for want in ["armrest   median", "tract     median", "speed-up", "3 interleaved runs"] {
        assert!(out.contains(want), "{want} missing:\n{out}");
    }
    let rel: f32 = out.lines().find(|l| l.starts_with("output 0")).and_then(|l| l.rsplit("max rel diff ").next()).and_then(|r| r.split_whitespace().next()).unwrap().parse().unwrap();
    assert!(rel <= 1e-4, "{out}");
}

#[test]
fn bad_inputs_get_clear_errors() {
    let m = model("two_inputs.onnx");
    // Missing model file.
    let (code, _, err) = armrest(&["run", "/nonexistent/model.onnx"]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot read '/nonexistent/model.onnx'"), "{err}");
    // Unknown format.
    let (code, _, err) = armrest(&["report", "model.pb"]);
    assert_eq!(code, 1);
    assert!(err.contains("unknown model format"), "{err}");
    // Malformed models.
    for name in ["garbage.onnx", "garbage.tflite"] {
        let p = tmp(name);
        std::fs::write(&p, b"this is not a model at all").unwrap();
        let (code, _, err) = armrest(&["run", s(&p)]);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("cannot load") && err.contains(name), "{err}");
    }
    // Wrong shape.
    let wrong = tmp("wrong_shape.npy");
    npy::write(&wrong, &npy::Array { shape: vec![1, 4, 13, 17], data: vec![0.5; 4 * 13 * 17] }).unwrap();
    let (code, _, err) = armrest(&["run", s(&m), "--input", s(&wrong), "--input", s(&wrong)]);
    assert_eq!(code, 1);
    assert!(err.contains("has shape [1, 4, 13, 17]") && err.contains("needs [1, 4, 17, 13]"), "{err}");
    // Wrong number of inputs.
    let good = tmp("good.npy");
    npy::write(&good, &npy::Array { shape: vec![1, 4, 17, 13], data: vec![0.5; 4 * 17 * 13] }).unwrap();
    let (code, _, err) = armrest(&["run", s(&m), "--input", s(&good)]);
    assert_eq!(code, 1);
    assert!(err.contains("1 --input files for a model with 2 inputs"), "{err}");
    // Wrong dtype: a float64 .npy.
    let f64_file = tmp("f64.npy");
    let mut bytes = npy::to_bytes(&npy::Array { shape: vec![2], data: vec![1.0, 2.0] });
    let at = bytes.windows(3).position(|w| w == b"<f4").unwrap();
    bytes[at + 2] = b'8';
    bytes.extend_from_slice(&[0; 8]);
    std::fs::write(&f64_file, &bytes).unwrap();
    let (code, _, err) = armrest(&["run", s(&m), "--input", s(&f64_file), "--input", s(&good)]);
    assert_eq!(code, 1);
    assert!(err.contains("float64") && err.contains("astype(np.float32)"), "{err}");
    // Not an .npy at all.
    let (code, _, err) = armrest(&["run", s(&m), "--input", s(&m), "--input", s(&good)]);
    assert_eq!(code, 1);
    assert!(err.contains("not a usable .npy file"), "{err}");
    // Unknown flag, bad values: usage errors (exit 2).
    let (code, _, err) = armrest(&["bench", s(&m), "--frobnicate"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown flag '--frobnicate'") && err.contains("usage:"), "{err}");
    let (code, _, err) = armrest(&["run", s(&m), "--kernels", "sse9"]);
    assert_eq!(code, 2);
    assert!(err.contains("--kernels"), "{err}");
    // Too many --output files.
    let (code, _, err) = armrest(&["run", s(&m), "--output", "/tmp/x.npy", "--output", "/tmp/y.npy"]);
    assert_eq!(code, 1);
    assert!(err.contains("2 --output files for a model with 1 outputs"), "{err}");
}
