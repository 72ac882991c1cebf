//! Builtin parameters of the ops armrest runs through the tract fallback,
//! read from TFLite's structs (tensorflow/lite/core/c/builtin_op_data.h).

use armrest_delegate::tflite::fallback::codes;
use armrest_delegate::tflite::BuiltinParams;
use std::ffi::c_void;
use std::mem::{offset_of, size_of};

#[repr(C)]
struct TfLiteStridedSliceParams {
    begin_mask: i32,
    end_mask: i32,
    ellipsis_mask: i32,
    new_axis_mask: i32,
    shrink_axis_mask: i32,
    offset: bool,
}

#[repr(C)]
struct TfLiteGatherParams {
    axis: i32,
    batch_dims: i32,
}

#[repr(C)]
struct TfLiteBatchMatMulParams {
    adj_x: bool,
    adj_y: bool,
    asymmetric_quantize_inputs: bool,
}

/// TfLiteDepthToSpaceParams and TfLiteSpaceToDepthParams.
#[repr(C)]
struct TfLiteBlockSizeParams {
    block_size: i32,
}

#[repr(C)]
struct TfLiteTransposeConvParams {
    padding: i32,
    stride_width: i32,
    stride_height: i32,
    activation: i32,
}

#[repr(C)]
struct TfLiteReducerParams {
    keep_dims: bool,
}

const _: () = assert!(size_of::<TfLiteStridedSliceParams>() == 24 && offset_of!(TfLiteStridedSliceParams, offset) == 20);
const _: () = assert!(size_of::<TfLiteGatherParams>() == 8);
const _: () = assert!(size_of::<TfLiteBatchMatMulParams>() == 3);
const _: () = assert!(size_of::<TfLiteTransposeConvParams>() == 16);

/// Decodes the parameters of a fallback op; `BuiltinParams::None` for any other code.
///
/// # Safety
/// `data` is non-NULL and points to the runtime's params struct for `code`.
pub unsafe fn decode(code: i32, data: *const c_void) -> BuiltinParams {
    // SAFETY (all arms): `data` is the params struct for `code`, at least as large as the mirror read.
    unsafe {
        match code {
            codes::GATHER => {
                let p = &*data.cast::<TfLiteGatherParams>();
                BuiltinParams::Gather { axis: p.axis, batch_dims: p.batch_dims }
            }
            codes::BATCH_MATMUL => {
                let p = &*data.cast::<TfLiteBatchMatMulParams>();
                BuiltinParams::BatchMatMul { adj_x: p.adj_x, adj_y: p.adj_y }
            }
            codes::DEPTH_TO_SPACE | codes::SPACE_TO_DEPTH => BuiltinParams::BlockSize { block_size: (*data.cast::<TfLiteBlockSizeParams>()).block_size },
            codes::TRANSPOSE_CONV => {
                let p = &*data.cast::<TfLiteTransposeConvParams>();
                BuiltinParams::TransposeConv { padding: p.padding, stride_w: p.stride_width, stride_h: p.stride_height, activation: p.activation }
            }
            codes::SUM | codes::REDUCE_MAX | codes::REDUCE_MIN | codes::REDUCE_PROD => {
                BuiltinParams::Reducer { keep_dims: (*data.cast::<TfLiteReducerParams>()).keep_dims }
            }
            _ => BuiltinParams::None,
        }
    }
}
