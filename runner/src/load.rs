//! Loading a model: `.onnx` through tract-onnx, `.tflite` through
//! tract-tflite, typed with constants propagated, with concrete f32 inputs.

use std::path::Path;
use tract_core::internal::*;

/// The model formats the runner reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Onnx,
    Tflite,
}

pub fn format_of(path: &Path) -> Result<Format, String> {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("onnx") => Ok(Format::Onnx),
        Some("tflite") => Ok(Format::Tflite),
        _ => Err(format!("'{}': unknown model format (expected a .onnx or .tflite file)", path.display())),
    }
}

/// Loads the model at `path` as a typed model with constants propagated. `input_shapes`, when given,
/// fix the inputs' shapes (needed when the model leaves some symbolic).
pub fn load(path: &Path, input_shapes: Option<&[Vec<usize>]>) -> Result<(Format, TypedModel), String> {
    let format = format_of(path)?;
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read '{}': {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("'{}' is not a file", path.display()));
    }
    let bad = |e: TractError| format!("cannot load '{}' as {}: {e:#}", path.display(), if format == Format::Onnx { "ONNX" } else { "TFLite" });
    let typed = match format {
        Format::Onnx => {
            let mut m = tract_onnx::onnx().model_for_path(path).map_err(bad)?;
            if let Some(shapes) = input_shapes {
                if shapes.len() != m.inputs.len() {
                    return Err(format!("{} input files given, the model has {} inputs", shapes.len(), m.inputs.len()));
                }
                for (i, s) in shapes.iter().enumerate() {
                    m.set_input_fact(i, tract_onnx::prelude::InferenceFact::dt_shape(f32::datum_type(), s.as_slice())).map_err(bad)?;
                }
            }
            tract_onnx::prelude::InferenceModelExt::into_typed(m).map_err(bad)?
        }
        Format::Tflite => {
            let mut m = tract_tflite::tflite().model_for_path(path).map_err(bad)?;
            if let Some(shapes) = input_shapes {
                if shapes.len() != m.inputs.len() {
                    return Err(format!("{} input files given, the model has {} inputs", shapes.len(), m.inputs.len()));
                }
                for (i, s) in shapes.iter().enumerate() {
                    m.set_input_fact(i, f32::fact(s.as_slice())).map_err(bad)?;
                }
            }
            fix_float_scale(&mut m);
            m
        }
    };
    // Constants propagated, but not decluttered: tract's declutter drops
    // the batch axis and turns 1x1 convolutions into einsums, which hides
    // the NCHW layout armrest's regions translate. Both engines start from
    // this model; plain tract then optimizes it fully.
    let mut model = typed;
    model.prop_consts().map_err(bad)?;
    for (i, &o) in model.inputs.iter().enumerate() {
        let f = model.outlet_fact(o).map_err(bad)?;
        if f.datum_type != f32::datum_type() {
            return Err(format!("input {i} ('{}') is {:?}: the runner feeds float32 inputs", model.node(o.node).name, f.datum_type));
        }
        if f.shape.as_concrete().is_none() {
            return Err(format!("input {i} ('{}') has the symbolic shape {:?}: give it with --input FILE.npy", model.node(o.node).name, f.shape));
        }
    }
    Ok((format, model))
}

/// The concrete shapes of the model's inputs.
pub fn input_shapes(model: &TypedModel) -> Vec<Vec<usize>> {
    model.inputs.iter().map(|&o| model.outlet_fact(o).ok().and_then(|f| f.shape.as_concrete().map(<[usize]>::to_vec)).unwrap_or_default()).collect()
}

/// tract-tflite 0.23.9 builds MEAN as a sum times `quant::scale()` of the
/// reciprocal count, and that op rounds its result to an integer even for
/// float tensors (it is meant for requantization), so plain tract-tflite
/// returns MEANs rounded to integers where LiteRT does not. A float
/// `Scale` is a multiplication: both engines run it as one.
pub fn fix_float_scale(model: &mut TypedModel) -> usize {
    let ids: Vec<usize> = model
        .nodes()
        .iter()
        .filter(|n| {
            n.op_as::<tract_core::ops::binary::TypedBinOp>().is_some_and(|b| b.0.is::<tract_core::ops::quant::Scale>())
                && n.outputs.iter().all(|o| o.fact.datum_type == f32::datum_type())
        })
        .map(|n| n.id)
        .collect();
    for &id in &ids {
        model.node_mut(id).op = Box::new(tract_core::ops::math::mul());
    }
    ids.len()
}
