//! Hand-written mirrors of TFLite's C structs (no runtime ships its
//! headers). Enums are plain integers. Every layout is pinned by
//! compile-time size and offset asserts (LP64: x86-64 and aarch64), and the
//! end-to-end tests run the real runtimes against them.

#![allow(non_snake_case, non_camel_case_types, dead_code)]

use std::ffi::{c_char, c_int, c_void};
use std::mem::{offset_of, size_of};

pub type TfLiteStatus = c_int;
pub const K_TFLITE_OK: TfLiteStatus = 0;
pub const K_TFLITE_ERROR: TfLiteStatus = 1;
pub const K_TFLITE_DELEGATE_ERROR: TfLiteStatus = 2;

/// `kTfLiteAffineQuantization`.
pub const K_TFLITE_AFFINE_QUANTIZATION: c_int = 1;
pub const K_TFLITE_DELEGATE_FLAGS_ALLOW_DYNAMIC_TENSORS: i64 = 1;
pub const K_TFLITE_BUILTIN_DELEGATE: c_int = 51;

#[repr(C)]
pub struct TfLiteIntArray {
    pub size: c_int,
    pub data: [c_int; 0],
}

#[repr(C)]
pub struct TfLiteFloatArray {
    pub size: c_int,
    pub data: [f32; 0],
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct TfLiteQuantizationParams {
    pub scale: f32,
    pub zero_point: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct TfLiteQuantization {
    pub type_: c_int,
    pub params: *mut c_void,
}

#[repr(C)]
pub struct TfLiteAffineQuantization {
    pub scale: *mut TfLiteFloatArray,
    pub zero_point: *mut TfLiteIntArray,
    pub quantized_dimension: i32,
}

#[repr(C)]
pub struct TfLiteTensor {
    pub type_: c_int,
    pub data: *mut c_void,
    pub dims: *mut TfLiteIntArray,
    pub params: TfLiteQuantizationParams,
    pub allocation_type: c_int,
    pub bytes: usize,
    pub allocation: *const c_void,
    pub name: *const c_char,
    pub delegate: *mut TfLiteDelegate,
    pub buffer_handle: c_int,
    pub data_is_stale: bool,
    pub is_variable: bool,
    pub quantization: TfLiteQuantization,
    pub sparsity: *mut c_void,
    pub dims_signature: *const TfLiteIntArray,
}

#[repr(C)]
pub struct TfLiteNode {
    pub inputs: *mut TfLiteIntArray,
    pub outputs: *mut TfLiteIntArray,
    pub intermediates: *mut TfLiteIntArray,
    pub temporaries: *mut TfLiteIntArray,
    pub user_data: *mut c_void,
    pub builtin_data: *mut c_void,
    pub custom_initial_data: *const c_void,
    pub custom_initial_data_size: c_int,
    pub delegate: *mut TfLiteDelegate,
    pub might_have_side_effect: bool,
}

pub type InitFn = unsafe extern "C" fn(*mut TfLiteContext, *const c_char, usize) -> *mut c_void;
pub type FreeFn = unsafe extern "C" fn(*mut TfLiteContext, *mut c_void);
pub type PrepareFn = unsafe extern "C" fn(*mut TfLiteContext, *mut TfLiteNode) -> TfLiteStatus;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct TfLiteRegistration {
    pub init: Option<InitFn>,
    pub free: Option<FreeFn>,
    pub prepare: Option<PrepareFn>,
    pub invoke: Option<PrepareFn>,
    pub profiling_string: *const c_void,
    pub builtin_code: i32,
    pub custom_name: *const c_char,
    pub version: c_int,
    pub registration_external: *mut c_void,
    pub async_kernel: *mut c_void,
    pub inplace_operator: u64,
}

pub type DelegatePrepareFn = unsafe extern "C" fn(*mut TfLiteContext, *mut TfLiteDelegate) -> TfLiteStatus;

#[repr(C)]
pub struct TfLiteDelegate {
    pub data_: *mut c_void,
    pub Prepare: Option<DelegatePrepareFn>,
    pub CopyFromBufferHandle: *const c_void,
    pub CopyToBufferHandle: *const c_void,
    pub FreeBufferHandle: *const c_void,
    pub flags: i64,
    pub opaque_delegate_builder: *mut c_void,
}

#[repr(C)]
pub struct TfLiteDelegateParams {
    pub delegate: *mut TfLiteDelegate,
    pub nodes_to_replace: *mut TfLiteIntArray,
    pub input_tensors: *mut TfLiteIntArray,
    pub output_tensors: *mut TfLiteIntArray,
}

#[repr(C)]
pub struct TfLiteContext {
    pub tensors_size: usize,
    pub GetExecutionPlan: Option<unsafe extern "C" fn(*mut TfLiteContext, *mut *mut TfLiteIntArray) -> TfLiteStatus>,
    pub tensors: *mut TfLiteTensor,
    pub impl_: *mut c_void,
    pub ResizeTensor: Option<unsafe extern "C" fn(*mut TfLiteContext, *mut TfLiteTensor, *mut TfLiteIntArray) -> TfLiteStatus>,
    pub ReportError: Option<unsafe extern "C" fn(*mut TfLiteContext, *const c_char, ...)>,
    pub AddTensors: *const c_void,
    pub GetNodeAndRegistration: Option<unsafe extern "C" fn(*mut TfLiteContext, c_int, *mut *mut TfLiteNode, *mut *mut TfLiteRegistration) -> TfLiteStatus>,
    pub ReplaceNodeSubsetsWithDelegateKernels:
        Option<unsafe extern "C" fn(*mut TfLiteContext, TfLiteRegistration, *const TfLiteIntArray, *mut TfLiteDelegate) -> TfLiteStatus>,
    pub recommended_num_threads: c_int,
    pub GetExternalContext: *const c_void,
    pub SetExternalContext: *const c_void,
    pub allow_fp32_relax_to_fp16: bool,
    pub profiler: *mut c_void,
    pub AllocatePersistentBuffer: *const c_void,
    pub AllocateBufferForEval: *const c_void,
    pub RequestScratchBufferInArena: *const c_void,
    pub GetScratchBuffer: *const c_void,
    pub ResizeTensorExplicit: *const c_void,
    pub PreviewDelegatePartitioning: Option<
        unsafe extern "C" fn(*mut TfLiteContext, *const TfLiteIntArray, *mut *mut TfLiteDelegateParams, *mut c_int) -> TfLiteStatus,
    >,
    pub GetTensor: *const c_void,
    pub GetEvalTensor: *const c_void,
    pub GetModelMetadata: *const c_void,
    pub AcquireSubgraphContext: *const c_void,
    pub ReleaseSubgraphContext: *const c_void,
}

// Builtin parameter structs: only the fields the oldest supported runtime
// (tflite-runtime 2.14) has.
#[repr(C)]
pub struct TfLiteConvParams {
    pub padding: c_int,
    pub stride_width: c_int,
    pub stride_height: c_int,
    pub activation: c_int,
    pub dilation_width_factor: c_int,
    pub dilation_height_factor: c_int,
}

#[repr(C)]
pub struct TfLiteDepthwiseConvParams {
    pub padding: c_int,
    pub stride_width: c_int,
    pub stride_height: c_int,
    pub depth_multiplier: c_int,
    pub activation: c_int,
    pub dilation_width_factor: c_int,
    pub dilation_height_factor: c_int,
}

#[repr(C)]
pub struct TfLiteFullyConnectedParams {
    pub activation: c_int,
    pub weights_format: c_int,
    pub keep_num_dims: bool,
    pub asymmetric_quantize_inputs: bool,
}

#[repr(C)]
pub struct TfLitePoolParams {
    pub padding: c_int,
    pub stride_width: c_int,
    pub stride_height: c_int,
    pub filter_width: c_int,
    pub filter_height: c_int,
    pub activation: c_int,
}

/// ADD/SUB (`{activation, pot_scale_int16}`), MUL and DIV (`{activation}`): the first field.
#[repr(C)]
pub struct TfLiteActivationParams {
    pub activation: c_int,
}

#[repr(C)]
pub struct TfLiteSoftmaxParams {
    pub beta: f32,
}

#[repr(C)]
pub struct TfLiteReshapeParams {
    pub shape: [c_int; 8],
    pub num_dimensions: c_int,
}

#[repr(C)]
pub struct TfLiteSqueezeParams {
    pub squeeze_dims: [c_int; 8],
    pub num_squeeze_dims: c_int,
}

#[repr(C)]
pub struct TfLiteConcatenationParams {
    pub axis: c_int,
    pub activation: c_int,
}

#[repr(C)]
pub struct TfLiteReducerParams {
    pub keep_dims: bool,
}

#[repr(C)]
pub struct TfLiteResizeBilinearParams {
    pub align_corners: bool,
    pub half_pixel_centers: bool,
}

#[repr(C)]
pub struct TfLiteLeakyReluParams {
    pub alpha: f32,
}

macro_rules! layout {
    ($t:ty, $size:expr $(, $field:ident @ $off:expr)*) => {
        const _: () = assert!(size_of::<$t>() == $size);
        $(const _: () = assert!(offset_of!($t, $field) == $off);)*
    };
}

layout!(TfLiteFloatArray, 4, size @ 0, data @ 4);
layout!(TfLiteQuantizationParams, 8, scale @ 0, zero_point @ 4);
layout!(TfLiteQuantization, 16, type_ @ 0, params @ 8);
layout!(TfLiteAffineQuantization, 24, scale @ 0, zero_point @ 8, quantized_dimension @ 16);
layout!(TfLiteTensor, 112, type_ @ 0, data @ 8, dims @ 16, params @ 24, allocation_type @ 32, bytes @ 40,
    allocation @ 48, name @ 56, delegate @ 64, buffer_handle @ 72, data_is_stale @ 76, is_variable @ 77,
    quantization @ 80, sparsity @ 96, dims_signature @ 104);
layout!(TfLiteNode, 80, inputs @ 0, outputs @ 8, intermediates @ 16, temporaries @ 24, user_data @ 32,
    builtin_data @ 40, custom_initial_data @ 48, custom_initial_data_size @ 56, delegate @ 64, might_have_side_effect @ 72);
layout!(TfLiteRegistration, 88, init @ 0, free @ 8, prepare @ 16, invoke @ 24, profiling_string @ 32,
    builtin_code @ 40, custom_name @ 48, version @ 56, registration_external @ 64, async_kernel @ 72, inplace_operator @ 80);
layout!(TfLiteDelegate, 56, data_ @ 0, Prepare @ 8, CopyFromBufferHandle @ 16, CopyToBufferHandle @ 24,
    FreeBufferHandle @ 32, flags @ 40, opaque_delegate_builder @ 48);
layout!(TfLiteDelegateParams, 32, delegate @ 0, nodes_to_replace @ 8, input_tensors @ 16, output_tensors @ 24);
layout!(TfLiteContext, 200, tensors_size @ 0, GetExecutionPlan @ 8, tensors @ 16, impl_ @ 24, ResizeTensor @ 32,
    ReportError @ 40, AddTensors @ 48, GetNodeAndRegistration @ 56, ReplaceNodeSubsetsWithDelegateKernels @ 64,
    recommended_num_threads @ 72, GetExternalContext @ 80, SetExternalContext @ 88, allow_fp32_relax_to_fp16 @ 96,
    profiler @ 104, PreviewDelegatePartitioning @ 152, GetModelMetadata @ 176, AcquireSubgraphContext @ 184,
    ReleaseSubgraphContext @ 192);
layout!(TfLiteConvParams, 24);
layout!(TfLiteDepthwiseConvParams, 28);
layout!(TfLiteFullyConnectedParams, 12, keep_num_dims @ 8, asymmetric_quantize_inputs @ 9);
layout!(TfLitePoolParams, 24);
layout!(TfLiteReshapeParams, 36, num_dimensions @ 32);
layout!(TfLiteSqueezeParams, 36, num_squeeze_dims @ 32);
layout!(TfLiteConcatenationParams, 8);
layout!(TfLiteResizeBilinearParams, 2);

/// `TfLiteDimensionMetadata` (format: 0 dense, 1 CSR).
#[repr(C)]
pub struct TfLiteDimensionMetadata {
    pub format: c_int,
    pub dense_size: c_int,
    pub array_segments: *mut TfLiteIntArray,
    pub array_indices: *mut TfLiteIntArray,
}

/// `TfLiteSparsity`, what `TfLiteTensor::sparsity` points to.
#[repr(C)]
pub struct TfLiteSparsity {
    pub traversal_order: *mut TfLiteIntArray,
    pub block_map: *mut TfLiteIntArray,
    pub dim_metadata: *mut TfLiteDimensionMetadata,
    pub dim_metadata_size: c_int,
}

#[repr(C)]
pub struct TfLiteDepthToSpaceParams {
    pub block_size: c_int,
}

/// The leading fields of `TfLiteStridedSliceParams` (newer runtimes append `offset`).
#[repr(C)]
pub struct TfLiteStridedSliceParams {
    pub begin_mask: c_int,
    pub end_mask: c_int,
    pub ellipsis_mask: c_int,
    pub new_axis_mask: c_int,
    pub shrink_axis_mask: c_int,
}

layout!(TfLiteDimensionMetadata, 24, format @ 0, dense_size @ 4, array_segments @ 8, array_indices @ 16);
layout!(TfLiteSparsity, 32, traversal_order @ 0, block_map @ 8, dim_metadata @ 16, dim_metadata_size @ 24);
layout!(TfLiteDepthToSpaceParams, 4);
layout!(TfLiteStridedSliceParams, 20, shrink_axis_mask @ 16);

/// The elements of a runtime-owned int array (empty for NULL).
///
/// # Safety
/// `a` is NULL or points to a valid `TfLiteIntArray` that outlives the slice.
pub unsafe fn int_array<'a>(a: *const TfLiteIntArray) -> &'a [c_int] {
    if a.is_null() {
        return &[];
    }
    // SAFETY: non-null and valid per the caller; `size` elements follow the header.
    unsafe {
        let n = usize::try_from((*a).size).unwrap_or(0);
        std::slice::from_raw_parts(std::ptr::addr_of!((*a).data).cast::<c_int>(), n)
    }
}

/// The values of a `TfLiteFloatArray` (empty for NULL).
///
/// # Safety
/// `a` is NULL or points to a valid float array that outlives the returned slice.
pub unsafe fn float_array<'a>(a: *const TfLiteFloatArray) -> &'a [f32] {
    if a.is_null() {
        return &[];
    }
    // SAFETY: non-null and valid per the caller; `size` elements follow the header.
    unsafe {
        let n = usize::try_from((*a).size).unwrap_or(0);
        std::slice::from_raw_parts(std::ptr::addr_of!((*a).data).cast::<f32>(), n)
    }
}

/// A `TfLiteIntArray` allocated with `malloc`, as `ResizeTensor` requires
/// (the runtime takes ownership and frees it). NULL if allocation fails.
pub fn malloc_int_array(values: &[c_int]) -> *mut TfLiteIntArray {
    let bytes = size_of::<c_int>() * (1 + values.len());
    // SAFETY: plain allocation of `bytes` bytes; the result is checked for NULL.
    let p = unsafe { libc_malloc(bytes) }.cast::<TfLiteIntArray>();
    if !p.is_null() {
        // SAFETY: `p` points to `bytes` writable bytes: the size header then the values.
        unsafe {
            (*p).size = values.len() as c_int;
            std::ptr::copy_nonoverlapping(values.as_ptr(), std::ptr::addr_of_mut!((*p).data).cast::<c_int>(), values.len());
        }
    }
    p
}

extern "C" {
    #[link_name = "malloc"]
    fn libc_malloc(size: usize) -> *mut c_void;
}

/// An int array we own, laid out like `TfLiteIntArray`, for calls where the
/// runtime only reads (e.g. `ReplaceNodeSubsetsWithDelegateKernels`).
pub struct OwnedIntArray(Vec<c_int>);

impl OwnedIntArray {
    pub fn new(values: &[c_int]) -> OwnedIntArray {
        let mut v = Vec::with_capacity(values.len() + 1);
        v.push(values.len() as c_int);
        v.extend_from_slice(values);
        OwnedIntArray(v)
    }

    pub fn as_ptr(&self) -> *const TfLiteIntArray {
        self.0.as_ptr().cast()
    }
}
