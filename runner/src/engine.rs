//! The two ways the runner runs a model: plain tract, and tract hosting
//! armrest regions. Both start from the same loaded model.

use crate::npy::Array;
use crate::regions::{self, Hosted};
use armrest_kernels::{Isa, ThreadPool};
use std::sync::Arc;
use tract_core::internal::*;

pub type Plan = Arc<TypedRunnableModel>;

fn err(e: TractError) -> String {
    format!("tract: {e:#}")
}

/// Plain tract: the model optimized and planned by tract alone.
pub fn plain(model: &TypedModel) -> Result<Plan, String> {
    model.clone().into_optimized().and_then(|m| m.into_runnable()).map_err(err)
}

/// tract with armrest's kernels running every region they support.
pub fn armrest(model: &TypedModel, isa: Isa, threads: usize) -> Result<(Hosted, Plan), String> {
    let pool = Arc::new(ThreadPool::new(threads));
    let mut hosted = regions::host(model, isa, pool)?;
    let patched = std::mem::take(&mut hosted.model);
    let plan = patched.into_optimized().and_then(|m| m.into_runnable()).map_err(err)?;
    Ok((hosted, plan))
}

/// Runs a plan on float32 inputs (through the delegate's tract bridge).
pub fn run(plan: &Plan, inputs: &[Array]) -> Result<Vec<Array>, String> {
    let ins: Vec<(&[usize], &[f32])> = inputs.iter().map(|a| (a.shape.as_slice(), a.data.as_slice())).collect();
    let outs = armrest_delegate::tract_bridge::run_plan(plan, &ins)?;
    Ok(outs.into_iter().map(|(shape, data)| Array { shape, data }).collect())
}

/// Inputs of the given shapes filled with values uniform in [-1, 1) from a
/// fixed seed (the same values at every call).
pub fn random_inputs(shapes: &[Vec<usize>]) -> Vec<Array> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    shapes
        .iter()
        .map(|s| {
            let n: usize = s.iter().product();
            let data = (0..n)
                .map(|_| {
                    // xorshift64*
                    state ^= state >> 12;
                    state ^= state << 25;
                    state ^= state >> 27;
                    let r = state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40; // 24 bits
                    r as f32 / (1u64 << 23) as f32 - 1.0
                })
                .collect();
            Array { shape: s.clone(), data }
        })
        .collect()
}
