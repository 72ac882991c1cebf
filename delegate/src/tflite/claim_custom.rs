//! Claiming the ops MediaPipe's models add: the builtins DEPTH_TO_SPACE and
//! STRIDED_SLICE, and MediaPipe's custom ops, whose parameters come from the
//! node's custom options (a raw `TfLiteTransposeConvParams` for
//! `Convolution2DTransposeBias`, a raw `TfLitePoolParams` for
//! `MaxPoolingWithArgmax2D` and `MaxUnpooling2D`, FlexBuffers maps for the
//! others). A blob armrest cannot read strictly leaves the node to the
//! runtime with a reason.

use super::claim::{is_constant_f32, Folds, Visited};
use super::flexbuffers::{self, Value};
use super::{dtype, padding, BuiltinParams, TflModel, TflNode, TflTensor};
use crate::ir::{Op, Padding};
use crate::ops_extra::StridedSliceSpec;
use armrest_kernels::mediapipe::{ArgmaxPool, LandmarksToMatrix};
use armrest_kernels::Clamp;
use std::collections::BTreeMap;

fn input(node: &TflNode, i: usize) -> Result<i32, String> {
    match node.inputs.get(i) {
        Some(&t) if t >= 0 => Ok(t),
        _ => Err(format!("input {i} is missing")),
    }
}

fn f32_input(model: &dyn TflModel, node: &TflNode, i: usize) -> Result<i32, String> {
    let t = input(node, i)?;
    let tensor = model.tensor(t).ok_or_else(|| format!("tensor {t} does not exist"))?;
    if tensor.dtype != dtype::F32 || tensor.quantized {
        return Err(format!("tensor '{}' is {}{}, armrest runs float32 only", tensor.name, dtype::name(tensor.dtype), if tensor.quantized { " (quantized)" } else { "" }));
    }
    Ok(t)
}

fn const_ints(t: &TflTensor) -> Result<Vec<i64>, String> {
    let bytes = t.constant_data.ok_or_else(|| format!("'{}' is not a constant tensor", t.name))?;
    match t.dtype {
        dtype::I32 => Ok(bytes.chunks_exact(4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64).collect()),
        dtype::I64 => Ok(bytes.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap())).collect()),
        other => Err(format!("'{}' has type {}, expected int32 or int64", t.name, dtype::name(other))),
    }
}

/// DEPTH_TO_SPACE and STRIDED_SLICE.
pub fn visit_builtin(model: &dyn TflModel, node: &TflNode) -> Result<(Op, Vec<i32>), String> {
    let x = f32_input(model, node, 0)?;
    match node.params {
        BuiltinParams::DepthToSpace { block_size } => {
            let block = usize::try_from(block_size).ok().filter(|&b| b >= 1).ok_or_else(|| format!("block size {block_size}"))?;
            Ok((Op::DepthToSpace { block }, vec![x]))
        }
        BuiltinParams::StridedSlice { begin_mask, end_mask, ellipsis_mask, new_axis_mask, shrink_axis_mask } => {
            if ellipsis_mask != 0 || new_axis_mask != 0 {
                return Err("ellipsis and new-axis masks are not supported".into());
            }
            let ints = |i: usize, what: &str| -> Result<Vec<i64>, String> {
                let t = model.tensor(input(node, i)?).ok_or("bad tensor")?;
                const_ints(&t).map_err(|e| format!("{what}: {e}"))
            };
            let spec = StridedSliceSpec {
                begin: ints(1, "begin")?,
                end: ints(2, "end")?,
                strides: ints(3, "strides")?,
                begin_mask: begin_mask as u32,
                end_mask: end_mask as u32,
                shrink_axis_mask: shrink_axis_mask as u32,
            };
            Ok((Op::StridedSlice(spec), vec![x]))
        }
        _ => Err("missing parameters".into()),
    }
}

fn options_map(node: &TflNode) -> Result<BTreeMap<String, Value>, String> {
    match flexbuffers::parse(&node.custom_options).map_err(|e| format!("custom options: {e}"))? {
        Value::Map(m) => Ok(m),
        other => Err(format!("custom options are not a map: {other:?}")),
    }
}

fn get<'a>(m: &'a BTreeMap<String, Value>, key: &str) -> Result<&'a Value, String> {
    m.get(key).ok_or_else(|| format!("custom options have no '{key}'"))
}

fn get_i32(m: &BTreeMap<String, Value>, key: &str) -> Result<i32, String> {
    get(m, key)?.as_i32().ok_or_else(|| format!("'{key}' is not an int32"))
}

fn get_f32(m: &BTreeMap<String, Value>, key: &str) -> Result<f32, String> {
    get(m, key)?.as_f32().ok_or_else(|| format!("'{key}' is not a number"))
}

fn index(v: i64, what: &str) -> Result<usize, String> {
    usize::try_from(v).map_err(|_| format!("{what} {v} is negative"))
}

/// The `TfLitePoolParams` MediaPipe's pooling ops read from the custom data:
/// `{padding, stride_width, stride_height, filter_width, filter_height,
/// activation, ...}` as int32 (the trailing computed padding is not read).
fn pool_params(node: &TflNode) -> Result<ArgmaxPool, String> {
    let o = &node.custom_options;
    if o.len() < 24 {
        return Err(format!("custom options hold {} bytes, TfLitePoolParams needs 24", o.len()));
    }
    let word = |i: usize| i32::from_le_bytes([o[4 * i], o[4 * i + 1], o[4 * i + 2], o[4 * i + 3]]);
    let same = match word(0) {
        padding::SAME => true,
        padding::VALID => false,
        p => return Err(format!("padding #{p} is not SAME or VALID")),
    };
    // Bounded so sizes computed from them cannot overflow.
    let size = |v: i32, what: &str| usize::try_from(v).ok().filter(|s| (1..=1 << 16).contains(s)).ok_or_else(|| format!("{what} {v}"));
    let stride = [size(word(2), "stride height")?, size(word(1), "stride width")?];
    let filter = [size(word(4), "filter height")?, size(word(3), "filter width")?];
    // MediaPipe's activation range: no activation (and TANH, SIGN_BIT,
    // SIGMOID, which it does not apply) clamps to the finite floats.
    let clamp = match word(5) {
        0 | 4..=6 => Clamp { min: f32::MIN, max: f32::MAX },
        1 => Clamp { min: 0.0, max: f32::MAX },
        2 => Clamp::RELU_N1_TO_1,
        3 => Clamp::RELU6,
        a => return Err(format!("activation #{a} is not a TfLiteFusedActivation")),
    };
    Ok(ArgmaxPool { filter, stride, same, clamp })
}

/// `MaxPoolingWithArgmax2D`: one input, two fp32 outputs (values, indices),
/// each computed by its own IR node.
pub fn visit_argmax_pool(model: &dyn TflModel, node: &TflNode) -> Result<Visited, String> {
    let pool = pool_params(node)?;
    if node.inputs.len() != 1 || node.outputs.len() != 2 {
        return Err(format!("{} inputs and {} outputs, MaxPoolingWithArgmax2D has 1 and 2", node.inputs.len(), node.outputs.len()));
    }
    let x = f32_input(model, node, 0)?;
    let xs = model.tensor(x).and_then(|t| t.shape()).ok_or("the input has an unknown shape")?;
    let mut parts = Vec::with_capacity(2);
    for (k, &out) in node.outputs.iter().enumerate() {
        let t = model.tensor(out).ok_or_else(|| format!("tensor {out} does not exist"))?;
        if t.dtype != dtype::F32 || t.quantized {
            return Err(format!("output '{}' is {}, MaxPoolingWithArgmax2D writes float32", t.name, dtype::name(t.dtype)));
        }
        let op = Op::MaxPoolArgmax { pool, indices: k == 1 };
        let computed = crate::shapes::infer(&op, &[&xs])?.remove(0);
        let declared = t.shape().ok_or_else(|| format!("output '{}' has an unknown shape", t.name))?;
        if computed != declared {
            return Err(format!("armrest computes output shape {computed:?}, the model declares {declared:?}"));
        }
        parts.push((op, out));
    }
    Ok(Visited::Parts { inputs: vec![x], parts })
}

/// MediaPipe's custom ops.
pub fn visit_custom(model: &dyn TflModel, folds: &Folds, node: &TflNode) -> Result<(Op, Vec<i32>), String> {
    let name = node.custom_name.as_deref().unwrap_or("");
    // Which version of an op a node is cannot be read from the registration
    // (a runtime without MediaPipe's resolver reports its placeholder's
    // version), so it is told from the node itself: `TransformTensorBilinear`
    // is version 2's name (version 1 is `TransformTensor`); version 2 of the
    // landmark ops takes rank-3 landmarks (version 1 rank 4), which the shape
    // rules require; and version 2's options keys are required below.
    let rank3 = |i: usize| -> Result<(), String> {
        let t = model.tensor(input(node, i)?).ok_or("bad tensor")?;
        if t.dims.len() == 3 {
            Ok(())
        } else {
            Err(format!("custom op '{name}' with rank-{} landmarks is version 1, armrest implements version 2", t.dims.len()))
        }
    };
    match name {
        "Convolution2DTransposeBias" => {
            // Options: the raw TfLiteTransposeConvParams {padding, stride_width, stride_height} (3 x int32).
            let o = &node.custom_options;
            if o.len() < 12 {
                return Err(format!("custom options hold {} bytes, TfLiteTransposeConvParams needs 12", o.len()));
            }
            let word = |i: usize| i32::from_le_bytes([o[4 * i], o[4 * i + 1], o[4 * i + 2], o[4 * i + 3]]);
            let padding = match word(0) {
                padding::SAME => Padding::Same,
                padding::VALID => Padding::Valid,
                p => return Err(format!("padding #{p} is not SAME or VALID")),
            };
            let stride = |v: i32| usize::try_from(v).ok().filter(|&s| s >= 1).ok_or_else(|| format!("stride {v}"));
            let (sw, sh) = (stride(word(1))?, stride(word(2))?);
            let x = f32_input(model, node, 0)?;
            let (w, b) = (input(node, 1)?, input(node, 2)?);
            for (t, what) in [(w, "filter"), (b, "bias")] {
                if !is_constant_f32(model, folds, t) {
                    return Err(format!("{what} is not a constant float32 tensor"));
                }
            }
            Ok((Op::TransposeConvBias { padding, stride: [sh, sw] }, vec![x, w, b]))
        }
        "TransformTensorBilinear" => {
            let m = options_map(node)?;
            let (h, w) = (get_i32(&m, "output_height")?, get_i32(&m, "output_width")?);
            if h < 1 || w < 1 {
                return Err(format!("output size {h}x{w}"));
            }
            Ok((Op::TransformTensorBilinear { size: [h as usize, w as usize] }, vec![f32_input(model, node, 0)?, f32_input(model, node, 1)?]))
        }
        "TransformLandmarks" => {
            rank3(0)?;
            Ok((Op::TransformLandmarks, vec![f32_input(model, node, 0)?, f32_input(model, node, 1)?]))
        }
        "Landmarks2TransformMatrix" => {
            rank3(0)?;
            let m = options_map(node)?;
            let flat = get(&m, "subset_idxs")?.as_ints().ok_or("'subset_idxs' is not a vector of ints")?;
            if flat.is_empty() {
                return Err("'subset_idxs' is empty".into());
            }
            // Pairs; an odd last index pairs with itself (as MediaPipe reads it).
            let subset = flat
                .chunks(2)
                .map(|c| Ok([index(c[0], "subset index")?, index(*c.get(1).unwrap_or(&c[0]), "subset index")?]))
                .collect::<Result<Vec<_>, String>>()?;
            let p = LandmarksToMatrix {
                subset,
                left_rotation_idx: index(get_i32(&m, "left_rotation_idx")? as i64, "left_rotation_idx")?,
                right_rotation_idx: index(get_i32(&m, "right_rotation_idx")? as i64, "right_rotation_idx")?,
                target_rotation_radians: get_f32(&m, "target_rotation_radians")?,
                output_height: get_i32(&m, "output_height")?,
                output_width: get_i32(&m, "output_width")?,
                scale_x: get_f32(&m, "scale_x")?,
                scale_y: get_f32(&m, "scale_y")?,
            };
            if p.output_height <= 0 || p.output_width <= 0 || !(p.scale_x.is_finite() && p.scale_x > 0.0 && p.scale_y.is_finite() && p.scale_y > 0.0) {
                return Err(format!("invalid output size {}x{} or scale {}x{}", p.output_height, p.output_width, p.scale_x, p.scale_y));
            }
            Ok((Op::LandmarksToTransformMatrix(p), vec![f32_input(model, node, 0)?]))
        }
        "MaxUnpooling2D" => {
            let pool = pool_params(node)?;
            if node.inputs.len() != 2 {
                return Err(format!("{} inputs, MaxUnpooling2D has 2 (values, indices)", node.inputs.len()));
            }
            Ok((Op::MaxUnpool { pool }, vec![f32_input(model, node, 0)?, f32_input(model, node, 1)?]))
        }
        _ => Err(format!("custom op '{}' has no armrest kernel", node.op_name())),
    }
}
