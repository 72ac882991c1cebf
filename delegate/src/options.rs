//! The delegate's options: one definition shared by the string key/value
//! entry point (`tflite_plugin_create_delegate`) and the C struct API.

use armrest_kernels::Isa;
use std::fmt;

/// How chatty the delegate is on stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
}

impl LogLevel {
    pub const NAMES: [&'static str; 4] = ["error", "warn", "info", "debug"];

    pub fn parse(s: &str) -> Option<LogLevel> {
        match s.trim().to_ascii_lowercase().as_str() {
            "error" => Some(LogLevel::Error),
            "warn" | "warning" => Some(LogLevel::Warn),
            "info" => Some(LogLevel::Info),
            "debug" => Some(LogLevel::Debug),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// Which kernel tier to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelChoice {
    /// The best tier this CPU has.
    Auto,
    /// A named tier; creating the delegate fails if the CPU lacks it.
    Tier(Isa),
}

/// Every option the delegate takes.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// Threads for armrest's kernels; `None` takes the interpreter's
    /// `recommended_num_threads`.
    pub num_threads: Option<usize>,
    pub kernels: KernelChoice,
    pub log: LogLevel,
    /// Print the claim report to stderr when the delegate is applied.
    pub report: bool,
    /// Who runs the nodes armrest's kernels lack inside a partition.
    pub fallback: Fallback,
    /// Cross-check every partition against tract at every invoke.
    pub verify: Verify,
    /// The relative error (see `tract_bridge::OutputError`) verify mode accepts.
    pub verify_tolerance: f32,
}

/// The `fallback` option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fallback {
    /// Nodes armrest's kernels lack are left to the runtime (they split partitions).
    None,
    /// tract runs them inside the partition.
    Tract,
}

impl Fallback {
    /// `tract` when this build includes tract, `none` otherwise.
    pub const DEFAULT: Fallback = if cfg!(feature = "tract") { Fallback::Tract } else { Fallback::None };
}

/// The `verify` option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verify {
    Off,
    /// Log each partition's errors at every invoke.
    On,
    /// Also fail the invoke when an output exceeds `verify_tolerance`.
    Strict,
}

/// The default `verify_tolerance`.
pub const DEFAULT_VERIFY_TOLERANCE: f32 = 1e-4;

impl Default for Options {
    fn default() -> Self {
        Options {
            num_threads: None,
            kernels: KernelChoice::Auto,
            log: LogLevel::Warn,
            report: false,
            fallback: Fallback::DEFAULT,
            verify: Verify::Off,
            verify_tolerance: DEFAULT_VERIFY_TOLERANCE,
        }
    }
}

/// A rejected option, with a message that names the key and what it accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptionError(pub String);

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for OptionError {}

/// The keys `Options::set` accepts.
pub const KEYS: [&str; 7] = ["num_threads", "kernels", "log", "report", "fallback", "verify", "verify_tolerance"];

/// The most threads armrest accepts (guards against typos like 4000).
pub const MAX_THREADS: usize = 256;

impl Options {
    /// Parses options given as string pairs, the way `load_delegate` passes them.
    pub fn from_pairs<'a, I>(pairs: I) -> Result<Options, OptionError>
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut options = Options::default();
        for (key, value) in pairs {
            options.set(key, value)?;
        }
        Ok(options)
    }

    /// Sets one option from its string form.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), OptionError> {
        let v = value.trim();
        match key {
            "num_threads" => {
                self.num_threads = parse_threads(v)?;
            }
            "kernels" => {
                self.kernels = parse_kernels(v)?;
            }
            "log" => {
                self.log = LogLevel::parse(v).ok_or_else(|| {
                    OptionError(format!(
                        "armrest: option 'log' = '{value}' is not valid; accepted: {}",
                        LogLevel::NAMES.join("|")
                    ))
                })?;
            }
            "report" => {
                self.report = parse_bool(v).ok_or_else(|| {
                    OptionError(format!(
                        "armrest: option 'report' = '{value}' is not valid; accepted: true|false|1|0|on|off"
                    ))
                })?;
            }
            "fallback" => self.fallback = parse_fallback(v)?,
            "verify" => self.verify = parse_verify(v)?,
            "verify_tolerance" => self.verify_tolerance = parse_tolerance(v)?,
            _ => {
                return Err(OptionError(format!(
                    "armrest: unknown option '{key}'; accepted keys: {}",
                    KEYS.join(", ")
                )))
            }
        }
        Ok(())
    }

    /// The tier to run, checked against this CPU.
    pub fn isa(&self) -> Isa {
        match self.kernels {
            KernelChoice::Auto => Isa::best(),
            KernelChoice::Tier(isa) => isa,
        }
    }

    /// Threads to use given the interpreter's recommendation (≤ 0 means "unset").
    pub fn threads_for(&self, recommended: i32) -> usize {
        self.num_threads.unwrap_or(if recommended > 0 { recommended as usize } else { 1 }).clamp(1, MAX_THREADS)
    }
}

/// `num_threads`: a positive integer; `0` and `-1` mean "the interpreter's".
pub fn parse_threads(v: &str) -> Result<Option<usize>, OptionError> {
    let err = || {
        OptionError(format!(
            "armrest: option 'num_threads' = '{v}' is not valid; accepted: an integer from 1 to {MAX_THREADS}"
        ))
    };
    let n: i64 = v.parse().map_err(|_| err())?;
    if n < 1 || n > MAX_THREADS as i64 {
        return Err(err());
    }
    Ok(Some(n as usize))
}

/// `kernels`: `auto` or a tier this CPU runs.
pub fn parse_kernels(v: &str) -> Result<KernelChoice, OptionError> {
    let lower = v.to_ascii_lowercase();
    if lower == "auto" {
        return Ok(KernelChoice::Auto);
    }
    let accepted = std::iter::once("auto").chain(Isa::available_names()).collect::<Vec<_>>().join("|");
    match Isa::parse(&lower) {
        Some(isa) if isa.is_available() => Ok(KernelChoice::Tier(isa)),
        Some(isa) => Err(OptionError(format!(
            "armrest: option 'kernels' = '{v}': this CPU lacks the {isa} tier; accepted here: {accepted}"
        ))),
        None => Err(OptionError(format!("armrest: option 'kernels' = '{v}' is not valid; accepted here: {accepted}"))),
    }
}

/// `fallback`: `tract` (when built in) or `none`.
pub fn parse_fallback(v: &str) -> Result<Fallback, OptionError> {
    let accepted = if cfg!(feature = "tract") { "tract|none" } else { "none (this build leaves tract out)" };
    match v.to_ascii_lowercase().as_str() {
        "none" | "off" => Ok(Fallback::None),
        "tract" if cfg!(feature = "tract") => Ok(Fallback::Tract),
        _ => Err(OptionError(format!("armrest: option 'fallback' = '{v}' is not valid; accepted: {accepted}"))),
    }
}

/// `verify`: `off`, `on` or `strict` (needs tract).
pub fn parse_verify(v: &str) -> Result<Verify, OptionError> {
    let mode = match v.to_ascii_lowercase().as_str() {
        "off" | "false" | "0" => Verify::Off,
        "on" | "true" | "1" => Verify::On,
        "strict" => Verify::Strict,
        _ => return Err(OptionError(format!("armrest: option 'verify' = '{v}' is not valid; accepted: off|on|strict"))),
    };
    if mode != Verify::Off && !cfg!(feature = "tract") {
        return Err(OptionError(format!("armrest: option 'verify' = '{v}' needs tract, which this build leaves out; accepted: off")));
    }
    Ok(mode)
}

/// `verify_tolerance`: a finite, non-negative number.
pub fn parse_tolerance(v: &str) -> Result<f32, OptionError> {
    match v.parse::<f32>() {
        Ok(t) if t.is_finite() && t >= 0.0 => Ok(t),
        _ => Err(OptionError(format!("armrest: option 'verify_tolerance' = '{v}' is not valid; accepted: a number >= 0, e.g. 1e-4"))),
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "on" | "yes" => Some(true),
        "false" | "0" | "off" | "no" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_good_values() {
        let o = Options::from_pairs([("num_threads", "2"), ("kernels", "scalar"), ("log", "debug"), ("report", "True")]).unwrap();
        assert_eq!(o.num_threads, Some(2));
        assert_eq!(o.kernels, KernelChoice::Tier(Isa::Scalar));
        assert_eq!(o.log, LogLevel::Debug);
        assert!(o.report);
        assert_eq!(Options::default().threads_for(3), 3);
        assert_eq!(Options::default().threads_for(-1), 1);
        assert_eq!(o.threads_for(7), 2);
    }

    #[test]
    fn bad_values_name_the_key() {
        for (k, v) in [("num_threads", "0"), ("num_threads", "abc"), ("num_threads", "-3"), ("kernels", "sse9"), ("log", "loud"), ("report", "maybe"), ("colour", "red"), ("fallback", "onnx"), ("verify", "loud"), ("verify_tolerance", "-1"), ("verify_tolerance", "nan")] {
            let e = Options::from_pairs([(k, v)]).unwrap_err();
            assert!(e.0.contains(k), "{e}");
        }
    }

    #[test]
    fn fallback_and_verify() {
        let d = Options::default();
        assert_eq!((d.fallback, d.verify, d.verify_tolerance), (Fallback::DEFAULT, Verify::Off, 1e-4));
        let o = Options::from_pairs([("fallback", "none"), ("verify_tolerance", "0.5")]).unwrap();
        assert_eq!((o.fallback, o.verify_tolerance), (Fallback::None, 0.5));
        assert_eq!(Options::from_pairs([("fallback", "tract")]).is_ok(), cfg!(feature = "tract"));
        for (v, want) in [("on", Verify::On), ("strict", Verify::Strict), ("off", Verify::Off)] {
            let r = Options::from_pairs([("verify", v)]);
            assert_eq!(r.map(|o| o.verify).ok(), (cfg!(feature = "tract") || want == Verify::Off).then_some(want), "{v}");
        }
    }

    #[test]
    fn missing_tier_is_an_error() {
        for isa in Isa::ALL {
            let r = parse_kernels(isa.name());
            assert_eq!(r.is_ok(), isa.is_available(), "{isa}");
        }
    }
}
