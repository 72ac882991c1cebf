//! Verify mode: a whole partition also runs on tract and every output is
//! compared with armrest's.

use super::{plan, run_plan, to_tract, Plan};
use crate::accuracy::OutputError;
use crate::ir::Graph;
use crate::shapes::Shape;

/// The tract twin of a partition.
pub struct Verifier {
    graph: Graph,
    plan: Option<(Vec<Shape>, Plan)>,
    /// Why the partition has no tract twin (an op tract lacks), if so.
    unverifiable: Option<String>,
}

impl Verifier {
    pub fn new(graph: Graph) -> Verifier {
        let unverifiable = super::untranslatable(&graph);
        Verifier { graph, plan: None, unverifiable }
    }

    /// Why this partition cannot be verified ("node N (op) has no tract
    /// equivalent"), or None when it has a tract twin.
    pub fn unverifiable(&self) -> Option<&str> {
        self.unverifiable.as_deref()
    }

    /// Builds and plans the tract model for these input shapes (kept while they do not change).
    /// Fails for a partition that is `unverifiable`.
    pub fn prepare(&mut self, input_shapes: &[Shape]) -> Result<(), String> {
        if let Some(why) = &self.unverifiable {
            return Err(format!("not verifiable: {why}"));
        }
        if self.plan.as_ref().is_some_and(|(s, _)| s == input_shapes) {
            return Ok(());
        }
        self.plan = None;
        let model = to_tract(&self.graph, input_shapes)?;
        self.plan = Some((input_shapes.to_vec(), plan(model)?));
        Ok(())
    }

    /// Runs tract on `inputs` and compares each of `outputs` (armrest's) with it.
    pub fn check(&self, inputs: &[&[f32]], outputs: &[&[f32]]) -> Result<Vec<OutputError>, String> {
        let (shapes, plan) = self.plan.as_ref().ok_or("verify before prepare")?;
        let ins: Vec<(&[usize], &[f32])> = shapes.iter().map(Vec::as_slice).zip(inputs.iter().copied()).collect();
        let reference = run_plan(plan, &ins)?;
        if reference.len() != outputs.len() {
            return Err(format!("tract computes {} outputs, armrest {}", reference.len(), outputs.len()));
        }
        Ok(outputs.iter().zip(&reference).map(|(got, (_, want))| OutputError::between(got, want)).collect())
    }
}
