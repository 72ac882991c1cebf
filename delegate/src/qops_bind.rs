//! The bridge from the IR's quantized ops to `armrest_kernels::qops`: each
//! op's kernel parameters, built by the kernels' own `*Params::new` (which
//! does TFLite's `Prepare` arithmetic and refuses what TFLite refuses). The
//! claiming visitor calls [`params`] to decide, the executor to pack, so a
//! claimed node always packs.

use crate::ir::PoolKind;
use crate::qir::{QBinary, QOp, QUnary};
use armrest_kernels::qops::{self, AddParams, ConcatParams, DequantizeParams, Lut, MeanParams, MulParams, PadParams, PoolParams, QuantizeParams, RequantizeParams, ResizeParams, SoftmaxParams, SubParams};
use armrest_kernels::{Exec, Nhwc, Window2d};

/// The kernel parameters of one quantized non-MAC op.
pub enum QopsParams {
    Quantize(QuantizeParams),
    Requantize(RequantizeParams),
    Dequantize(DequantizeParams),
    Add(AddParams),
    Sub(SubParams),
    Mul(MulParams),
    Pool(PoolKind, PoolParams),
    Mean(MeanParams),
    Concat(ConcatParams),
    Pad(PadParams),
    Softmax(SoftmaxParams),
    Lut(Box<Lut>),
    Resize(ResizeParams),
}

/// The qops parameters of `op`; `None` for the ops that are not qops' (conv, fc, hybrid).
pub fn params(op: &QOp) -> Result<Option<QopsParams>, String> {
    Ok(Some(match op {
        QOp::Quantize { input: None, output } => QopsParams::Quantize(QuantizeParams::new(output.scale, output.zero_point)?),
        QOp::Quantize { input: Some(i), output } => QopsParams::Requantize(RequantizeParams::new(i.scale, i.zero_point, output.scale, output.zero_point)?),
        QOp::Dequantize { input } => QopsParams::Dequantize(DequantizeParams::new(input.scale, input.zero_point)?),
        QOp::Binary { op, a, b, output, min, max } => {
            let args = (a.scale, a.zero_point, b.scale, b.zero_point, output.scale, output.zero_point, *min, *max);
            match op {
                QBinary::Add => QopsParams::Add(AddParams::new(args.0, args.1, args.2, args.3, args.4, args.5, args.6, args.7)?),
                QBinary::Sub => QopsParams::Sub(SubParams::new(args.0, args.1, args.2, args.3, args.4, args.5, args.6, args.7)?),
                QBinary::Mul => QopsParams::Mul(MulParams::new(args.0, args.1, args.2, args.3, args.4, args.5, args.6, args.7)?),
            }
        }
        QOp::Pool2d { kind, input, output, min, max, uint8, .. } => {
            QopsParams::Pool(*kind, PoolParams::new(input.scale, input.zero_point, output.scale, output.zero_point, *min, *max, *uint8)?)
        }
        QOp::Mean { input, output, .. } => QopsParams::Mean(MeanParams::new(input.scale, input.zero_point, output.scale, output.zero_point)?),
        QOp::Concat { inputs, output, uint8, .. } => {
            let scales: Vec<f32> = inputs.iter().map(|a| a.scale).collect();
            let zps: Vec<i32> = inputs.iter().map(|a| a.zero_point).collect();
            QopsParams::Concat(ConcatParams::new(&scales, &zps, output.scale, output.zero_point, *uint8)?)
        }
        QOp::Pad { output, .. } => QopsParams::Pad(PadParams::new(output.scale, output.zero_point, None)?),
        QOp::Softmax { beta, input, output, uint8 } => QopsParams::Softmax(SoftmaxParams::new(input.scale, input.zero_point, output.scale, output.zero_point, *beta, *uint8)?),
        QOp::Unary { op, input, output } => {
            let (i, o) = (input, output);
            QopsParams::Lut(Box::new(match op {
                QUnary::Logistic => Lut::logistic(i.scale, i.zero_point, o.scale, o.zero_point)?,
                QUnary::Tanh => Lut::tanh(i.scale, i.zero_point, o.scale, o.zero_point)?,
                QUnary::HardSwish => Lut::hard_swish(i.scale, i.zero_point, o.scale, o.zero_point)?,
                QUnary::LeakyRelu(alpha) => Lut::leaky_relu(i.scale, i.zero_point, o.scale, o.zero_point, *alpha)?,
            }))
        }
        QOp::ResizeBilinear { align_corners, half_pixel_centers, input, output, uint8, .. } => {
            QopsParams::Resize(ResizeParams::new(input.scale, input.zero_point, output.scale, output.zero_point, *align_corners, *half_pixel_centers, *uint8)?)
        }
        QOp::Conv2d { .. } | QOp::DepthwiseConv2d { .. } | QOp::FullyConnected { .. } | QOp::HybridFullyConnected { .. } | QOp::HybridConv2d { .. } | QOp::Cast { .. } => return Ok(None),
    }))
}

/// The input data of a qops node.
pub enum In<'a> {
    F32(&'a [f32]),
    I8(&'a [i8]),
}

/// The output of a qops node.
pub enum Out<'a> {
    F32(&'a mut [f32]),
    I8(&'a mut [i8]),
}

fn i8_in<'a>(v: &In<'a>) -> Result<&'a [i8], String> {
    match v {
        In::I8(x) => Ok(x),
        In::F32(_) => Err("expected int8 input".into()),
    }
}

/// Runs one qops node: `ins` in IR order with their shapes; `out_shape` planned.
pub fn run(exec: Exec, op: &QOp, p: &QopsParams, ins: &[In], in_shapes: &[&[usize]], out_shape: &[usize], out: Out) -> Result<(), String> {
    let nhwc = |s: &[usize]| Nhwc { n: s[0], h: s[1], w: s[2], c: s[3] };
    match (p, out) {
        (QopsParams::Quantize(q), Out::I8(o)) => match ins[0] {
            In::F32(x) => qops::qquantize(exec, q, x, o),
            In::I8(_) => return Err("QUANTIZE expects float32 input".into()),
        },
        (QopsParams::Requantize(q), Out::I8(o)) => qops::qrequantize(exec, q, i8_in(&ins[0])?, o),
        (QopsParams::Dequantize(q), Out::F32(o)) => qops::qdequantize(exec, q, i8_in(&ins[0])?, o),
        (QopsParams::Add(q), Out::I8(o)) => qops::qadd(exec, q, in_shapes[0], i8_in(&ins[0])?, in_shapes[1], i8_in(&ins[1])?, o),
        (QopsParams::Sub(q), Out::I8(o)) => qops::qsub(exec, q, in_shapes[0], i8_in(&ins[0])?, in_shapes[1], i8_in(&ins[1])?, o),
        (QopsParams::Mul(q), Out::I8(o)) => qops::qmul(exec, q, in_shapes[0], i8_in(&ins[0])?, in_shapes[1], i8_in(&ins[1])?, o),
        (QopsParams::Pool(kind, q), Out::I8(o)) => {
            let QOp::Pool2d { padding, stride, filter, .. } = op else { return Err("pool parameters on another op".into()) };
            let xs = in_shapes[0];
            let win: Window2d = crate::shapes::window(*padding, [xs[1], xs[2]], *filter, *stride, [1, 1]);
            match kind {
                PoolKind::Average => qops::qavg_pool2d(exec, q, &win, nhwc(xs), i8_in(&ins[0])?, o)?,
                PoolKind::Max => qops::qmax_pool2d(exec, q, &win, nhwc(xs), i8_in(&ins[0])?, o)?,
            }
        }
        (QopsParams::Mean(q), Out::I8(o)) => {
            let QOp::Mean { axes, .. } = op else { return Err("mean parameters on another op".into()) };
            let axes = crate::shapes::mean_axes(axes, in_shapes[0].len())?;
            let axes: Vec<i32> = axes.iter().map(|&a| a as i32).collect();
            qops::qmean(exec, q, in_shapes[0], i8_in(&ins[0])?, &axes, o)?;
        }
        (QopsParams::Concat(q), Out::I8(o)) => {
            let QOp::Concat { axis, .. } = op else { return Err("concat parameters on another op".into()) };
            let axis = crate::shapes::norm_axis(*axis, in_shapes[0].len())?;
            let xs = ins.iter().map(i8_in).collect::<Result<Vec<_>, _>>()?;
            qops::qconcat(exec, q, in_shapes, &xs, axis, o);
        }
        (QopsParams::Pad(q), Out::I8(o)) => {
            let QOp::Pad { pads, .. } = op else { return Err("pad parameters on another op".into()) };
            qops::qpad(exec, q, in_shapes[0], i8_in(&ins[0])?, pads, o);
        }
        (QopsParams::Softmax(q), Out::I8(o)) => {
            let depth = in_shapes[0].last().copied().unwrap_or(1);
            let x = i8_in(&ins[0])?;
            qops::qsoftmax(exec, q, x.len().checked_div(depth).unwrap_or(0), depth, x, o);
        }
        (QopsParams::Lut(l), Out::I8(o)) => qops::qlut(exec, l, i8_in(&ins[0])?, o),
        (QopsParams::Resize(q), Out::I8(o)) => qops::qresize_bilinear(exec, q, nhwc(in_shapes[0]), i8_in(&ins[0])?, out_shape[1], out_shape[2], o),
        _ => return Err(format!("{}: output of the wrong type", op.name())),
    }
    Ok(())
}
