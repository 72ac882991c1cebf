//! Verify mode in the delegate: each partition keeps a tract twin, runs it
//! after armrest at every invoke and records the error per output (queried
//! through `armrest_delegate_verify_error`); `strict` fails the invoke when
//! an output exceeds `verify_tolerance`. Also the claim report's lines that
//! say which claimed nodes run on armrest's kernels and which on tract.

pub use armrest_delegate::accuracy::OutputError;
use armrest_delegate::tflite::{ClaimReport, TflModel};
use std::ffi::c_int;

/// What verify knows of one partition.
#[derive(Clone, Debug, Default)]
pub struct Record {
    /// Per output, the error of the last invoke (empty before the first).
    pub errors: Vec<OutputError>,
    /// Why the partition has no tract twin (an op tract lacks), if it has none.
    pub unverifiable: Option<String>,
}

/// Report lines: per partition, its native and tract node counts; per tract node, its op.
pub fn report_lines(model: &dyn TflModel, claims: &ClaimReport, partitions: &[Vec<c_int>]) -> String {
    let mut text = String::new();
    for (p, nodes) in partitions.iter().enumerate() {
        let on_tract = nodes.iter().filter(|&&n| usize::try_from(n).is_ok_and(|n| claims.on_tract.contains(&n))).count();
        text.push_str(&format!("armrest: partition {p} runs {} nodes native, {on_tract} on tract\n", nodes.len() - on_tract));
    }
    for &n in &claims.on_tract {
        let name = model.node(n).map_or_else(|| "?".into(), |node| node.op_name());
        text.push_str(&format!("armrest: node {n} {name} runs on tract\n"));
    }
    text
}

#[cfg(feature = "tract")]
mod with_tract {
    use super::{OutputError, Record};
    use crate::tflite_delegate::DelegateState;
    use armrest_delegate::ir::Graph;
    use armrest_delegate::log::Logger;
    use armrest_delegate::options::Verify;
    use armrest_delegate::tract_bridge::Verifier;
    use std::sync::{Arc, Mutex};

    /// A partition's tract twin and where its errors go.
    pub struct PartitionCheck {
        verifier: Verifier,
        index: usize,
        tolerance: f32,
        strict: bool,
        results: Arc<Mutex<Vec<Record>>>,
    }

    impl PartitionCheck {
        /// `None` when verify is off. A partition with an op tract lacks has
        /// no twin: it is recorded and logged as not verifiable (verify=on
        /// runs it unchecked; verify=strict fails its prepare).
        pub fn new(state: &DelegateState, graph: &Graph) -> Result<Option<PartitionCheck>, String> {
            if state.options.verify == Verify::Off {
                return Ok(None);
            }
            let verifier = Verifier::new(graph.clone());
            let results = state.verify.clone();
            let index = {
                let mut r = results.lock().map_err(|_| "verify lock poisoned")?;
                r.push(Record { errors: Vec::new(), unverifiable: verifier.unverifiable().map(str::to_string) });
                r.len() - 1
            };
            if let Some(why) = verifier.unverifiable() {
                // Shown at the default log level: the user asked for verify.
                state.logger.warn(&format!("verify: partition {index} is not verifiable: {why}"));
            }
            Ok(Some(PartitionCheck { verifier, index, tolerance: state.options.verify_tolerance, strict: state.options.verify == Verify::Strict, results }))
        }

        pub fn prepare(&mut self, input_shapes: &[Vec<usize>]) -> Result<(), String> {
            if self.verifier.unverifiable().is_some() && !self.strict {
                return Ok(());
            }
            self.verifier.prepare(input_shapes).map_err(|e| format!("verify: partition {}: {e}", self.index))
        }

        /// Runs tract, records and logs the errors; in strict mode fails past the tolerance.
        pub fn check(&self, logger: &Logger, inputs: &[&[f32]], outputs: &[&[f32]]) -> Result<(), String> {
            if self.verifier.unverifiable().is_some() {
                return Ok(()); // logged when built; strict never gets here (its prepare fails)
            }
            let errors = self.verifier.check(inputs, outputs).map_err(|e| format!("verify: partition {}: {e}", self.index))?;
            if let Ok(mut r) = self.results.lock() {
                r[self.index].errors = errors.clone();
            }
            let mut worst: Option<(usize, OutputError)> = None;
            for (k, e) in errors.iter().enumerate() {
                let line = format!("verify: partition {} output {k}: max abs error {:.3e}, max rel error {:.3e}", self.index, e.max_abs, e.max_rel);
                // Shown at the default log level: the user asked for verify.
                if e.within(self.tolerance) {
                    logger.warn(&line);
                } else {
                    logger.warn(&format!("{line} exceeds the tolerance {:.1e}", self.tolerance));
                    worst = worst.or(Some((k, *e)));
                }
            }
            match worst {
                Some((k, e)) if self.strict => Err(format!(
                    "verify: partition {} output {k} differs from tract by {:.3e} relative (tolerance {:.1e})",
                    self.index, e.max_rel, self.tolerance
                )),
                _ => Ok(()),
            }
        }
    }
}

#[cfg(feature = "tract")]
pub use with_tract::PartitionCheck;

/// Verify mode on a partition tract cannot twin (quantized): says so once and
/// records an empty result for it, so partition numbers stay aligned.
pub fn not_verifiable(state: &crate::tflite_delegate::DelegateState, why: &str) -> Result<Option<PartitionCheck>, String> {
    if state.options.verify == armrest_delegate::options::Verify::Off {
        return Ok(None);
    }
    let mut r = state.verify.lock().map_err(|_| "verify lock poisoned")?;
    r.push(Record { errors: Vec::new(), unverifiable: Some(why.to_string()) });
    let index = r.len() - 1;
    if state.options.verify == armrest_delegate::options::Verify::Strict {
        return Err(format!("verify=strict: partition {index} is not verifiable: {why}"));
    }
    state.logger.warn(&format!("verify: partition {index} is not verifiable: {why}"));
    Ok(None)
}

/// Without tract there is no twin: verify can only be off.
#[cfg(not(feature = "tract"))]
pub enum PartitionCheck {}

#[cfg(not(feature = "tract"))]
impl PartitionCheck {
    pub fn new(_state: &crate::tflite_delegate::DelegateState, _graph: &armrest_delegate::ir::Graph) -> Result<Option<PartitionCheck>, String> {
        Ok(None)
    }

    pub fn prepare(&mut self, _input_shapes: &[Vec<usize>]) -> Result<(), String> {
        match *self {}
    }

    pub fn check(&self, _logger: &armrest_delegate::log::Logger, _inputs: &[&[f32]], _outputs: &[&[f32]]) -> Result<(), String> {
        match *self {}
    }
}
