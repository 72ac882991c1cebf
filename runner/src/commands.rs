//! `run`, `bench` and `report`.

use crate::cli::{Command, Common};
use crate::engine::{self, Plan};
use crate::npy::{self, Array};
use crate::regions::{Hosted, Placement};
use armrest_delegate::accuracy::OutputError;
use armrest_delegate::options::KernelChoice;
use armrest_kernels::Isa;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tract_core::internal::TypedModel;

pub fn execute(cmd: Command) -> Result<(), String> {
    match cmd {
        Command::Help => Ok(()),
        Command::Run { common, outputs, tract } => run(&common, &outputs, tract),
        Command::Bench { common, runs } => bench(&common, runs),
        Command::Report { common } => report(&common),
    }
}

fn isa(k: KernelChoice) -> Isa {
    match k {
        KernelChoice::Auto => Isa::best(),
        KernelChoice::Tier(i) => i,
    }
}

/// Loads the model and its inputs (from files, or random).
fn prepare(common: &Common) -> Result<(TypedModel, Vec<Array>), String> {
    let files = common.inputs.iter().map(|p| npy::read(p)).collect::<Result<Vec<_>, _>>()?;
    let shapes: Vec<Vec<usize>> = files.iter().map(|a| a.shape.clone()).collect();
    // Shapes from the files fix symbolic inputs; the model's own are checked below.
    let (_, model) = crate::load::load(&common.model, None).or_else(|e| if files.is_empty() { Err(e) } else { crate::load::load(&common.model, Some(&shapes)) })?;
    let want = crate::load::input_shapes(&model);
    if files.is_empty() {
        return Ok((model, engine::random_inputs(&want)));
    }
    if files.len() != want.len() {
        return Err(format!("{} --input files for a model with {} inputs", files.len(), want.len()));
    }
    for (k, (a, s)) in files.iter().zip(&want).enumerate() {
        if &a.shape != s {
            return Err(format!("--input '{}' has shape {:?}, model input {k} ('{}') needs {:?}", common.inputs[k].display(), a.shape, model.node(model.inputs[k].node).name, s));
        }
    }
    Ok((model, files))
}

fn describe(a: &Array) -> String {
    let n = a.data.len().max(1) as f64;
    let (mut lo, mut hi, mut sum) = (f32::INFINITY, f32::NEG_INFINITY, 0f64);
    for &v in &a.data {
        lo = lo.min(v);
        hi = hi.max(v);
        sum += v as f64;
    }
    let head: Vec<String> = a.data.iter().take(8).map(|v| format!("{v:.6}")).collect();
    format!("shape {:?}  min {lo:.6}  max {hi:.6}  mean {:.6}  first [{}{}]", a.shape, sum / n, head.join(", "), if a.data.len() > 8 { ", ..." } else { "" })
}

fn run(common: &Common, outputs: &[PathBuf], tract: bool) -> Result<(), String> {
    let (model, inputs) = prepare(common)?;
    if !outputs.is_empty() && outputs.len() != model.outputs.len() {
        return Err(format!("{} --output files for a model with {} outputs", outputs.len(), model.outputs.len()));
    }
    let plan = if tract { engine::plain(&model)? } else { engine::armrest(&model, isa(common.kernels), common.threads)?.1 };
    let results = engine::run(&plan, &inputs)?;
    for (k, r) in results.iter().enumerate() {
        match outputs.get(k) {
            Some(path) => {
                npy::write(path, r)?;
                println!("output {k}: {:?} written to {}", r.shape, path.display());
            }
            None => println!("output {k}: {}", describe(r)),
        }
    }
    Ok(())
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn bench(common: &Common, runs: usize) -> Result<(), String> {
    let (model, inputs) = prepare(common)?;
    let isa = isa(common.kernels);
    let plain = engine::plain(&model)?;
    let (hosted, fast) = engine::armrest(&model, isa, common.threads)?;
    // Same inputs, both engines: check they agree before timing them.
    let want = engine::run(&plain, &inputs)?;
    let got = engine::run(&fast, &inputs)?;
    let errors: Vec<OutputError> = got.iter().zip(&want).map(|(g, w)| if g.shape == w.shape { OutputError::between(&g.data, &w.data) } else { OutputError { max_abs: f32::INFINITY, max_rel: f32::INFINITY } }).collect();
    let time = |p: &Plan| -> Result<Duration, String> {
        let t0 = Instant::now();
        engine::run(p, &inputs)?;
        Ok(t0.elapsed())
    };
    // Warm-up, which also sizes the progress bar's need.
    let warm = time(&fast)? + time(&plain)?;
    let bar = if warm * runs as u32 > Duration::from_secs(2) {
        let bar = indicatif::ProgressBar::new(runs as u64);
        bar.set_style(indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} runs, eta {eta}").map_err(|e| e.to_string())?.progress_chars("=> "));
        bar.set_message("bench");
        Some(bar)
    } else {
        None
    };
    let (mut a, mut t) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    for i in 0..runs {
        // Interleaved, alternating which engine goes first.
        if i % 2 == 0 {
            a.push(time(&fast)?);
            t.push(time(&plain)?);
        } else {
            t.push(time(&plain)?);
            a.push(time(&fast)?);
        }
        if let Some(b) = &bar {
            b.inc(1);
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let (am, tm) = (median(&mut a), median(&mut t));
    println!("model     {}", common.model.display());
    println!("setup     {} thread(s) for armrest's kernels, kernels={}, tract single-threaded; {runs} interleaved runs each", common.threads, isa.name());
    println!("regions   {} of {} nodes on armrest in {} region(s)", hosted.armrest_nodes(), hosted.compute_nodes(), hosted.regions.len());
    println!("armrest   median {:9.3} ms   min {:9.3} ms", ms(am), ms(a[0]));
    println!("tract     median {:9.3} ms   min {:9.3} ms", ms(tm), ms(t[0]));
    println!("speed-up  {:.2}x (tract median / armrest median)", tm.as_secs_f64() / am.as_secs_f64());
    for (k, e) in errors.iter().enumerate() {
        println!("output {k}  max abs diff {:.3e}, max rel diff {:.3e} (armrest vs tract)", e.max_abs, e.max_rel);
    }
    Ok(())
}

/// The claim report: the delegate's format, with the runner's regions.
pub fn report_lines(hosted: &Hosted, isa: Isa, threads: usize) -> Vec<String> {
    let mut lines = vec![
        format!("armrest: claimed {} of {} nodes in {} partitions", hosted.armrest_nodes(), hosted.compute_nodes(), hosted.regions.len()),
        format!("armrest: kernels={}, threads={threads}, layout={}", isa.name(), if hosted.nchw { "NCHW model, NHWC in regions" } else { "NHWC" }),
    ];
    for (r, region) in hosted.regions.iter().enumerate() {
        let mut ops: Vec<(&str, usize)> = Vec::new();
        for n in &region.nodes {
            if let Some(Placement::Armrest { ops: names, .. }) = hosted.nodes.iter().find(|x| x.id == *n).map(|x| &x.placement) {
                for name in names {
                    match ops.iter_mut().find(|(o, _)| o == name) {
                        Some((_, c)) => *c += 1,
                        None => ops.push((name, 1)),
                    }
                }
            }
        }
        let ops: Vec<String> = ops.iter().map(|(o, c)| format!("{o} x{c}")).collect();
        lines.push(format!(
            "armrest: partition {r}: {} nodes ({}), {} inputs, {} outputs, {} boundary transposes",
            region.nodes.len(),
            ops.join(", "),
            region.inputs,
            region.outputs,
            region.transposes
        ));
    }
    for n in &hosted.nodes {
        if let Placement::Tract(reason) = &n.placement {
            lines.push(format!("armrest: node {} {} not claimed: {reason} (runs on tract) [{}]", n.id, n.op, n.name));
        }
    }
    lines
}

fn report(common: &Common) -> Result<(), String> {
    let (_, model) = crate::load::load(&common.model, None)?;
    let isa = isa(common.kernels);
    let (hosted, _) = engine::armrest(&model, isa, common.threads)?;
    for line in report_lines(&hosted, isa, common.threads) {
        println!("{line}");
    }
    for n in &hosted.nodes {
        if let Placement::Armrest { region, ops } = &n.placement {
            println!("armrest: node {} {} on armrest: partition {region} as {} [{}]", n.id, n.op, ops.join(" + "), n.name);
        }
    }
    Ok(())
}
