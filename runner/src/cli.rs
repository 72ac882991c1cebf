//! Command-line parsing: a subcommand, a model path and flags.

use armrest_delegate::options::{parse_kernels, parse_threads, KernelChoice};
use std::path::PathBuf;

pub const USAGE: &str = "\
usage:
  armrest run MODEL [--input FILE.npy]... [--output FILE.npy]... [--threads N] [--kernels K] [--tract]
  armrest bench MODEL [--runs N] [--input FILE.npy]... [--threads N] [--kernels K]
  armrest report MODEL [--threads N] [--kernels K]

MODEL is a .onnx or .tflite file. tract hosts the model; armrest's kernels
run the nodes they support (`report` lists which, and why the others stay
on tract).
  --input FILE.npy   one float32 array per model input, in order (default:
                     random values in [-1, 1) from a fixed seed)
  --output FILE.npy  write each output (one flag per output); without it the
                     outputs' shapes and values are printed
  --threads N        threads for armrest's kernels (default 1)
  --kernels K        kernel tier: auto (default) or one this CPU has
  --tract            `run` on plain tract instead (for comparison)
  --runs N           timed runs of each engine for `bench` (default 20)
";

#[derive(Clone, Debug, PartialEq)]
pub struct Common {
    pub model: PathBuf,
    pub inputs: Vec<PathBuf>,
    pub threads: usize,
    pub kernels: KernelChoice,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Help,
    Run { common: Common, outputs: Vec<PathBuf>, tract: bool },
    Bench { common: Common, runs: usize },
    Report { common: Common },
}

pub fn parse(args: &[String]) -> Result<Command, String> {
    let Some(sub) = args.first() else { return Err("no command given".into()) };
    let sub = sub.as_str();
    if matches!(sub, "help" | "--help" | "-h") {
        return Ok(Command::Help);
    }
    if !matches!(sub, "run" | "bench" | "report") {
        return Err(format!("unknown command '{sub}' (expected run, bench or report)"));
    }
    let mut model = None;
    let mut common = Common { model: PathBuf::new(), inputs: Vec::new(), threads: 1, kernels: KernelChoice::Auto };
    let (mut outputs, mut tract, mut runs) = (Vec::new(), false, 20usize);
    let mut it = args[1..].iter();
    while let Some(arg) = it.next() {
        let mut value = |flag: &str| it.next().cloned().ok_or_else(|| format!("{flag} needs a value"));
        match arg.as_str() {
            "--help" | "-h" => return Ok(Command::Help),
            "--input" | "-i" if sub != "report" => common.inputs.push(value(arg)?.into()),
            "--output" | "-o" if sub == "run" => outputs.push(value(arg)?.into()),
            "--tract" if sub == "run" => tract = true,
            "--threads" | "-t" => {
                let v = value(arg)?;
                common.threads = parse_threads(&v).map_err(|e| e.0.replace("option 'num_threads'", "--threads"))?.unwrap_or(1);
            }
            "--kernels" | "-k" => {
                let v = value(arg)?;
                common.kernels = parse_kernels(&v).map_err(|e| e.0.replace("option 'kernels'", "--kernels"))?;
            }
            "--runs" | "-n" if sub == "bench" => {
                let v = value(arg)?;
                runs = v.parse().ok().filter(|&n| n >= 1).ok_or_else(|| format!("--runs '{v}' is not a positive integer"))?;
            }
            flag if flag.starts_with('-') && flag.len() > 1 => return Err(format!("unknown flag '{flag}' for '{sub}'")),
            path => {
                if model.is_some() {
                    return Err(format!("unexpected argument '{path}' (one MODEL only)"));
                }
                model = Some(PathBuf::from(path));
            }
        }
    }
    common.model = model.ok_or_else(|| format!("'{sub}' needs a MODEL path"))?;
    Ok(match sub {
        "run" => Command::Run { common, outputs, tract },
        "bench" => Command::Bench { common, runs },
        _ => Command::Report { common },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_and_rejects() {
        let Command::Run { common, outputs, tract } = parse(&args("run m.onnx --input a.npy -i b.npy --output o.npy --threads 2")).unwrap() else { panic!() };
        assert_eq!(common.inputs.len(), 2);
        assert_eq!(outputs, vec![PathBuf::from("o.npy")]);
        assert_eq!(common.threads, 2);
        assert!(!tract);
        assert_eq!(parse(&args("bench m.onnx --runs 5")).unwrap(), Command::Bench { common: Common { model: "m.onnx".into(), inputs: vec![], threads: 1, kernels: KernelChoice::Auto }, runs: 5 });
        assert!(parse(&args("run m.onnx --bogus")).unwrap_err().contains("unknown flag '--bogus'"));
        assert!(parse(&args("report m.onnx --runs 3")).unwrap_err().contains("unknown flag '--runs'"));
        assert!(parse(&args("bench m.onnx --runs 0")).unwrap_err().contains("positive"));
        assert!(parse(&args("run")).unwrap_err().contains("needs a MODEL"));
        assert!(parse(&args("fly m.onnx")).unwrap_err().contains("unknown command"));
        assert!(parse(&args("run a.onnx b.onnx")).unwrap_err().contains("one MODEL"));
        assert!(parse(&args("run a.onnx --threads")).unwrap_err().contains("needs a value"));
        assert!(parse(&args("run a.onnx --threads x")).unwrap_err().contains("--threads"));
    }
}
