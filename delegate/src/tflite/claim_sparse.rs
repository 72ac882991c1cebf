//! Folding DENSIFY: a DENSIFY of a constant sparse tensor (the weights of
//! MediaPipe's sparse models) is evaluated at claim time; the dense values
//! then fold into the DEQUANTIZE behind it and into its consumers' weights.

use super::sparse::densify;
use super::{dtype, TflModel, TflNode};
use armrest_kernels::layout::f16_to_f32;
use std::sync::Arc;

/// The dense values (as f32; fp16 values convert exactly) of a DENSIFY's output.
pub fn fold_densify(model: &dyn TflModel, node: &TflNode) -> Result<(i32, Arc<[f32]>), String> {
    let (&input, &output) = (node.inputs.first().ok_or("no input")?, node.outputs.first().ok_or("no output")?);
    if node.inputs.len() != 1 || node.outputs.len() != 1 {
        return Err("DENSIFY with other than one input and one output".into());
    }
    let src = model.tensor(input).ok_or("bad input")?;
    let dst = model.tensor(output).ok_or("bad output")?;
    if src.dtype != dst.dtype || !matches!(src.dtype, dtype::F16 | dtype::F32) {
        return Err(format!("DENSIFY from {} to {} (only float16 and float32 are folded)", dtype::name(src.dtype), dtype::name(dst.dtype)));
    }
    let bytes = src.constant_data.ok_or("DENSIFY of a non-constant tensor")?;
    let sparsity = model.sparsity(input).ok_or("DENSIFY input has no sparsity parameters")?;
    let shape = dst.shape().ok_or("unknown output shape")?;
    if src.dims != dst.dims {
        return Err(format!("DENSIFY input dims {:?} differ from its output's {:?}", src.dims, dst.dims));
    }
    let values: Vec<f32> = if src.dtype == dtype::F16 {
        if !bytes.len().is_multiple_of(2) {
            return Err("odd float16 byte count".into());
        }
        bytes.chunks_exact(2).map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]]))).collect()
    } else {
        if !bytes.len().is_multiple_of(4) {
            return Err("float32 byte count not a multiple of 4".into());
        }
        bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
    };
    let dense = densify(&shape, &sparsity, &values).map_err(|e| format!("sparse weights: {e}"))?;
    Ok((output, dense.into()))
}
