//! The TFLite frontend: a runtime-neutral view of a TFLite graph (filled by
//! the ffi crate from the real `TfLiteContext`, or by tests), the claiming
//! visitor, and the partition builder. Claiming and building run the same
//! visitor, so a claimed node can never fail to build.

pub mod claim;
pub mod claim_cast;
pub mod claim_custom;
pub mod claim_quant;
pub mod claim_sparse;
pub mod flexbuffers;
pub mod fallback;
pub mod ops;
pub mod partition;
pub mod sparse;

pub use claim::{claim_nodes, claim_nodes_with, ClaimReport, Unclaimed};
pub use partition::build_partition;

/// TfLiteType values the frontend looks at.
pub mod dtype {
    pub const F32: i32 = 1;
    pub const I32: i32 = 2;
    pub const I64: i32 = 4;
    pub const F16: i32 = 10;
    pub const U8: i32 = 3;
    pub const I16: i32 = 7;
    pub const I8: i32 = 9;

    pub fn name(t: i32) -> &'static str {
        match t {
            0 => "none",
            1 => "float32",
            2 => "int32",
            3 => "uint8",
            4 => "int64",
            5 => "string",
            6 => "bool",
            7 => "int16",
            8 => "complex64",
            9 => "int8",
            10 => "float16",
            11 => "float64",
            _ => "other",
        }
    }
}

/// `kTfLiteMmapRo`: read-only data that lives as long as the model (weights).
pub const ALLOCATION_MMAP_RO: i32 = 1;

/// One tensor as the frontend sees it.
#[derive(Clone, Debug)]
pub struct TflTensor<'a> {
    pub dtype: i32,
    pub dims: Vec<i32>,
    pub allocation_type: i32,
    /// The bytes, when the tensor is constant (MmapRo with data).
    pub constant_data: Option<&'a [u8]>,
    pub name: String,
    /// Whether the tensor carries affine quantization parameters.
    pub quantized: bool,
}

impl TflTensor<'_> {
    pub fn is_constant(&self) -> bool {
        self.constant_data.is_some()
    }

    /// The dims as sizes; `None` when a dim is negative (unknown).
    pub fn shape(&self) -> Option<Vec<usize>> {
        self.dims.iter().map(|&d| usize::try_from(d).ok()).collect()
    }
}

/// Fused activation codes.
pub mod activation {
    pub const NONE: i32 = 0;
    pub const RELU: i32 = 1;
    pub const RELU_N1_TO_1: i32 = 2;
    pub const RELU6: i32 = 3;
}

/// Padding codes.
pub mod padding {
    pub const SAME: i32 = 1;
    pub const VALID: i32 = 2;
}

/// A node's builtin parameters, decoded by the ABI layer from `builtin_data`
/// (only the fields every supported runtime has).
#[derive(Clone, Debug, PartialEq)]
pub enum BuiltinParams {
    /// No builtin data (NULL), or an op whose data the frontend does not read.
    None,
    Conv { padding: i32, stride_w: i32, stride_h: i32, activation: i32, dilation_w: i32, dilation_h: i32 },
    DepthwiseConv { padding: i32, stride_w: i32, stride_h: i32, depth_multiplier: i32, activation: i32, dilation_w: i32, dilation_h: i32 },
    FullyConnected { activation: i32, weights_format: i32, keep_num_dims: bool, asymmetric_quantize_inputs: bool },
    Pool { padding: i32, stride_w: i32, stride_h: i32, filter_w: i32, filter_h: i32, activation: i32 },
    /// ADD, SUB, MUL, DIV.
    Activation { activation: i32 },
    Softmax { beta: f32 },
    Reshape { shape: Vec<i32> },
    Squeeze { dims: Vec<i32> },
    Concatenation { axis: i32, activation: i32 },
    Reducer { keep_dims: bool },
    ResizeBilinear { align_corners: bool, half_pixel_centers: bool },
    LeakyRelu { alpha: f32 },
    DepthToSpace { block_size: i32 },
    StridedSlice { begin_mask: i32, end_mask: i32, ellipsis_mask: i32, new_axis_mask: i32, shrink_axis_mask: i32 },
    Gather { axis: i32, batch_dims: i32 },
    BatchMatMul { adj_x: bool, adj_y: bool },
    /// DEPTH_TO_SPACE, SPACE_TO_DEPTH.
    BlockSize { block_size: i32 },
    TransposeConv { padding: i32, stride_w: i32, stride_h: i32, activation: i32 },
}

/// One node as the frontend sees it.
#[derive(Clone, Debug)]
pub struct TflNode {
    pub builtin_code: i32,
    pub custom_name: Option<String>,
    pub version: i32,
    /// Tensor indices; -1 marks an absent optional input.
    pub inputs: Vec<i32>,
    pub outputs: Vec<i32>,
    pub params: BuiltinParams,
    /// A custom op's options blob (`custom_initial_data`); empty otherwise.
    pub custom_options: Vec<u8>,
}

impl TflNode {
    /// The op's name for reports: the builtin name or the custom op's name.
    pub fn op_name(&self) -> String {
        match (&self.custom_name, self.builtin_code) {
            (Some(name), ops::CUSTOM) => name.clone(),
            _ => ops::builtin_name(self.builtin_code),
        }
    }
}

/// How one level of a sparse tensor is stored (`TfLiteDimensionMetadata`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TflDimMeta {
    /// Every coordinate in `0..size` is present.
    Dense(i32),
    /// Compressed sparse: for each position of the previous level, the
    /// stored coordinates are `indices[segments[p]..segments[p + 1]]`.
    SparseCsr { segments: Vec<i32>, indices: Vec<i32> },
}

/// A sparse constant tensor's encoding (`TfLiteSparsity`), copied out of the runtime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TflSparsity {
    pub traversal_order: Vec<i32>,
    pub block_map: Vec<i32>,
    /// One entry per traversal level.
    pub dim_metadata: Vec<TflDimMeta>,
}

/// What the frontend needs from a runtime's graph.
pub trait TflModel {
    fn tensor(&self, index: i32) -> Option<TflTensor<'_>>;
    fn node(&self, index: usize) -> Option<TflNode>;
    /// The sparse encoding of tensor `index`, when it has one.
    fn sparsity(&self, _index: i32) -> Option<TflSparsity> {
        None
    }
    /// The affine quantization parameters of tensor `index`, when it has them.
    fn quantization(&self, _index: i32) -> Option<TflQuant> {
        None
    }
    /// Tensor `index`'s stored fp32 values, lent in place: only when the
    /// runtime keeps them alive and unchanged for as long as any graph built
    /// from this model (see [`crate::constant::LentF32`]). `None` makes
    /// armrest copy them (the default).
    fn lent_f32(&self, _index: i32) -> Option<crate::constant::ConstData> {
        None
    }
}

/// A tensor's affine quantization (`TfLiteAffineQuantization`), copied out of the runtime.
#[derive(Clone, Debug, PartialEq)]
pub struct TflQuant {
    pub scale: Vec<f32>,
    pub zero_point: Vec<i32>,
    pub quantized_dimension: i32,
}
