//! The tract op that runs one armrest region: tract hands it the region's
//! inputs in tract's layout, it runs the region's IR graph on armrest's
//! kernels (`armrest_delegate::Executor`) and hands back the outputs in
//! tract's layout. Tensors an NCHW model holds as rank 4 are transposed to
//! NHWC (armrest's layout) here, at the region's boundary only.

use armrest_delegate::Executor;
use std::sync::{Arc, Mutex};
use tract_core::internal::*;

/// Which boundary tensors change layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Same data order in tract and in armrest.
    Same,
    /// tract holds NCHW, armrest NHWC.
    NchwToNhwc,
}

/// One region as a tract op.
#[derive(Clone)]
pub struct RegionOp {
    pub index: usize,
    pub inputs: Vec<(Vec<usize>, Layout)>,
    /// tract shapes of the outputs and their layouts.
    pub outputs: Vec<(Vec<usize>, Layout)>,
    pub nodes: usize,
    executor: Arc<Mutex<Executor>>,
}

impl std::fmt::Debug for RegionOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ArmrestRegion#{} ({} nodes)", self.index, self.nodes)
    }
}

impl PartialEq for RegionOp {
    fn eq(&self, other: &Self) -> bool {
        self.index == other.index && Arc::ptr_eq(&self.executor, &other.executor)
    }
}
impl Eq for RegionOp {}

/// `[n,c,h,w]` → `[n,h,w,c]`.
pub fn nchw_to_nhwc(shape: &[usize], src: &[f32], dst: &mut [f32]) {
    let (n, c, hw) = (shape[0], shape[1], shape[2] * shape[3]);
    for b in 0..n {
        let (s, d) = (&src[b * c * hw..(b + 1) * c * hw], &mut dst[b * c * hw..(b + 1) * c * hw]);
        for ch in 0..c {
            for p in 0..hw {
                d[p * c + ch] = s[ch * hw + p];
            }
        }
    }
}

/// `[n,h,w,c]` → `[n,c,h,w]`; `shape` is the NCHW shape.
pub fn nhwc_to_nchw(shape: &[usize], src: &[f32], dst: &mut [f32]) {
    let (n, c, hw) = (shape[0], shape[1], shape[2] * shape[3]);
    for b in 0..n {
        let (s, d) = (&src[b * c * hw..(b + 1) * c * hw], &mut dst[b * c * hw..(b + 1) * c * hw]);
        for p in 0..hw {
            for ch in 0..c {
                d[ch * hw + p] = s[p * c + ch];
            }
        }
    }
}

/// The NHWC shape armrest sees for a tract shape.
pub fn armrest_shape(shape: &[usize], layout: Layout) -> Vec<usize> {
    match layout {
        Layout::Same => shape.to_vec(),
        Layout::NchwToNhwc => vec![shape[0], shape[2], shape[3], shape[1]],
    }
}

impl RegionOp {
    /// Wraps a prepared executor.
    pub fn new(index: usize, nodes: usize, executor: Executor, inputs: Vec<(Vec<usize>, Layout)>, outputs: Vec<(Vec<usize>, Layout)>) -> RegionOp {
        RegionOp { index, inputs, outputs, nodes, executor: Arc::new(Mutex::new(executor)) }
    }

    fn run(&self, inputs: &[TValue]) -> Result<TVec<TValue>, String> {
        if inputs.len() != self.inputs.len() {
            return Err(format!("{} inputs, the region takes {}", inputs.len(), self.inputs.len()));
        }
        let mut converted: Vec<Option<Vec<f32>>> = Vec::with_capacity(inputs.len());
        let mut views: Vec<&[f32]> = Vec::with_capacity(inputs.len());
        for (t, (shape, layout)) in inputs.iter().zip(&self.inputs) {
            if t.shape() != shape.as_slice() || t.datum_type() != f32::datum_type() {
                return Err(format!("input {:?} {:?}, the region expects f32 {shape:?}", t.datum_type(), t.shape()));
            }
            converted.push(match layout {
                Layout::Same => None,
                Layout::NchwToNhwc => {
                    let src = t.try_as_plain_ram().and_then(|p| p.as_slice::<f32>()).map_err(|e| e.to_string())?;
                    let mut dst = vec![0f32; src.len()];
                    nchw_to_nhwc(shape, src, &mut dst);
                    Some(dst)
                }
            });
        }
        for (t, c) in inputs.iter().zip(&converted) {
            views.push(match c {
                Some(v) => v.as_slice(),
                None => t.try_as_plain_ram().and_then(|p| p.as_slice::<f32>()).map_err(|e| e.to_string())?,
            });
        }
        let mut outs: Vec<Vec<f32>> = self.outputs.iter().map(|(s, _)| vec![0f32; s.iter().product()]).collect();
        {
            let mut refs: Vec<&mut [f32]> = outs.iter_mut().map(Vec::as_mut_slice).collect();
            let mut exec = self.executor.lock().map_err(|_| "a previous run panicked".to_string())?;
            exec.run(&views, &mut refs)?;
        }
        let mut result = TVec::new();
        for (data, (shape, layout)) in outs.into_iter().zip(&self.outputs) {
            let data = match layout {
                Layout::Same => data,
                Layout::NchwToNhwc => {
                    let mut dst = vec![0f32; data.len()];
                    nhwc_to_nchw(shape, &data, &mut dst);
                    dst
                }
            };
            result.push(Tensor::from_shape(shape, &data).map_err(|e| e.to_string())?.into_tvalue());
        }
        Ok(result)
    }
}

impl Op for RegionOp {
    fn name(&self) -> StaticName {
        "ArmrestRegion".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("region {} of {} nodes on armrest's kernels", self.index, self.nodes)])
    }

    op_as_typed_op!();
}

impl EvalOp for RegionOp {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        self.run(&inputs).map_err(|e| anyhow!("armrest region {}: {e}", self.index))
    }
}

impl TypedOp for RegionOp {
    fn output_facts(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(self.outputs.iter().map(|(s, _)| f32::fact(s.as_slice())).collect())
    }

    as_op!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_round_trip() {
        let shape = [2, 3, 4, 5];
        let src: Vec<f32> = (0..120).map(|i| i as f32).collect();
        let mut nhwc = vec![0f32; 120];
        nchw_to_nhwc(&shape, &src, &mut nhwc);
        // element (b=1, c=2, h=3, w=4) lands at NHWC index ((1*4+3)*5+4)*3+2.
        assert_eq!(nhwc[((4 + 3) * 5 + 4) * 3 + 2], src[((3 + 2) * 4 + 3) * 5 + 4]);
        let mut back = vec![0f32; 120];
        nhwc_to_nchw(&shape, &nhwc, &mut back);
        assert_eq!(back, src);
    }
}
