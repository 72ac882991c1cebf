//! The claiming visitor's CAST branch: conversions between float32, int32,
//! int8 and uint8 run natively (`QOp::Cast`, see `crate::cast`), inside the
//! partition, so a CAST at the edge of a float graph (uint8 image in,
//! int32 class index out) no longer splits it. Quantization parameters are
//! ignored, as TFLite's CAST ignores them.

use super::claim::Visited;
use super::{dtype, TflModel, TflNode};
use crate::ir::Op;
use crate::qir::{CastType, QOp};

fn cast_type(model: &dyn TflModel, index: i32) -> Result<CastType, String> {
    let t = model.tensor(index).ok_or_else(|| format!("tensor {index} does not exist"))?;
    match t.dtype {
        dtype::F32 => Ok(CastType::F32),
        dtype::I32 => Ok(CastType::I32),
        dtype::I8 => Ok(CastType::I8),
        dtype::U8 => Ok(CastType::U8),
        other => Err(format!("CAST of {} tensor '{}' (armrest casts between float32, int32, int8 and uint8)", dtype::name(other), t.name)),
    }
}

/// CAST: one input, one output of the same shape.
pub fn visit(model: &dyn TflModel, node: &TflNode) -> Result<Visited, String> {
    let (&[x], &[y]) = (node.inputs.as_slice(), node.outputs.as_slice()) else {
        return Err(format!("CAST with {} inputs and {} outputs (expected 1 and 1)", node.inputs.len(), node.outputs.len()));
    };
    if x < 0 || y < 0 {
        return Err("CAST with an absent tensor".into());
    }
    let (from, to) = (cast_type(model, x)?, cast_type(model, y)?);
    let shape = |i: i32| {
        let t = model.tensor(i).ok_or_else(|| format!("tensor {i} does not exist"))?;
        t.shape().ok_or_else(|| format!("tensor '{}' has an unknown shape {:?}", t.name, t.dims))
    };
    let (xs, ys) = (shape(x)?, shape(y)?);
    if xs != ys {
        return Err(format!("CAST from shape {xs:?} to {ys:?}"));
    }
    Ok(Visited::Compute { op: Op::Quant(QOp::Cast { from, to }), inputs: vec![x], output: y })
}
