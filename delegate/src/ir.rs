//! armrest's graph IR: a claimed subgraph in runtime-neutral terms. Ops
//! carry their attributes; weights are constant tensors; every tensor the
//! IR computes is fp32 NHWC (TFLite's layout).

use armrest_kernels::elementwise::{BinaryOp, UnaryOp};
use armrest_kernels::Clamp;
use std::sync::Arc;

pub type TensorId = usize;

/// SAME or VALID, resolved to explicit padding once input shapes are known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    Same,
    Valid,
    /// Explicit `[top, bottom, left, right]` (PyTorch's padding).
    Explicit([usize; 4]),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    Average,
    Max,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Inputs: x `[n,h,w,c]`, filter `[o,kh,kw,c]` (constant), bias `[o]` (constant, optional).
    Conv2d { padding: Padding, stride: [usize; 2], dilation: [usize; 2], clamp: Clamp },
    /// Inputs: x `[n,h,w,c]`, filter `[1,kh,kw,c*m]` (constant), bias (constant, optional).
    DepthwiseConv2d { padding: Padding, stride: [usize; 2], dilation: [usize; 2], depth_multiplier: usize, clamp: Clamp },
    /// Inputs: x `[..., k]`, weights `[n, k]` (constant), bias `[n]` (constant, optional).
    FullyConnected { keep_num_dims: bool, clamp: Clamp },
    /// Inputs: a, b (broadcast).
    Binary { op: BinaryOp, clamp: Clamp },
    Unary(UnaryOp),
    /// Inputs: x, alpha (broadcast to x).
    Prelu,
    Pool2d { kind: PoolKind, padding: Padding, stride: [usize; 2], filter: [usize; 2], clamp: Clamp },
    /// Axes as given (may be negative or repeated); normalised when planned.
    Mean { axes: Vec<i64>, keep_dims: bool },
    /// Covers RESHAPE, SQUEEZE and EXPAND_DIMS: the output shape is computed
    /// from the input's by `rule`.
    Reshape(ReshapeRule),
    Concat { axis: i64 },
    /// `pads[d] = (before, after)`.
    Pad { pads: Vec<(usize, usize)> },
    Softmax { beta: f32 },
    ResizeBilinear { size: [usize; 2], align_corners: bool, half_pixel_centers: bool },
    /// DEPTH_TO_SPACE (DCR order) with this block size.
    DepthToSpace { block: usize },
    /// STRIDED_SLICE; `begin`/`end`/`strides` as given, resolved against the input shape.
    StridedSlice(crate::ops_extra::StridedSliceSpec),
    /// MediaPipe `Convolution2DTransposeBias`. Inputs: x `[n,h,w,c]`, filter
    /// `[o,kh,kw,c]` (constant), bias `[o]` (constant).
    TransposeConvBias { padding: Padding, stride: [usize; 2] },
    /// MediaPipe `TransformTensorBilinear` v2. Inputs: x `[1,h,w,c]`, matrix `[1,4,4]`.
    TransformTensorBilinear { size: [usize; 2] },
    /// MediaPipe `TransformLandmarks` v2. Inputs: landmarks `[1,n,2|3]`, matrix `[1,4,4]`.
    TransformLandmarks,
    /// MediaPipe `Landmarks2TransformMatrix` v2. Input: landmarks `[1,n,3]`; output `[1,4,4]`.
    LandmarksToTransformMatrix(armrest_kernels::mediapipe::LandmarksToMatrix),
    /// MediaPipe `MaxPoolingWithArgmax2D`, one of its two outputs (the TFLite
    /// node becomes two IR nodes): the pooled values, or (`indices`) the
    /// argmax positions in the window as fp32 `ky * kw + kx + 0.1`. Input: x `[n,h,w,c]`.
    MaxPoolArgmax { pool: armrest_kernels::mediapipe::ArgmaxPool, indices: bool },
    /// MediaPipe `MaxUnpooling2D`. Inputs: values `[n,h,w,c]`, indices (same
    /// shape, as `MaxPoolArgmax` writes them); output `[n, h*kh, w*kw, c]`.
    MaxUnpool { pool: armrest_kernels::mediapipe::ArgmaxPool },
    /// Output dim `d` is input dim `perm[d]` (torch `permute`).
    Transpose { perm: Vec<usize> },
    /// Inputs: a `[..., m, k]`, b `[..., k, n]` (both activations, same
    /// leading dims) → `[..., m, n]`.
    BatchMatMul,
    /// GELU, exact (erf) or the tanh approximation.
    Gelu { tanh_approx: bool },
    /// Grouped convolution (`groups` > 1, not depthwise). Inputs: x
    /// `[n,h,w,c]`, filter `[o,kh,kw,c/groups]` (constant), bias `[o]` (optional).
    GroupedConv2d { groups: usize, padding: Padding, stride: [usize; 2], dilation: [usize; 2], clamp: Clamp },
    /// An op armrest's kernels lack, run by tract inside the partition.
    Fallback(crate::fallback::FallbackOp),
    /// A quantized (int8) or dynamic-range op; see [`crate::qir`].
    Quant(crate::qir::QOp),
}

#[derive(Clone, Debug, PartialEq)]
pub enum ReshapeRule {
    /// A target shape with at most one -1.
    To(Vec<i64>),
    /// Remove these axes (all size-1 axes when empty).
    Squeeze(Vec<i64>),
    /// Insert a size-1 axis here (negative counts from the end of the output).
    ExpandDims(i64),
}

impl Op {
    /// Short name for reports.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Conv2d { .. } => "conv2d",
            Op::DepthwiseConv2d { .. } => "depthwise_conv2d",
            Op::FullyConnected { .. } => "fully_connected",
            Op::Binary { .. } => "binary",
            Op::Unary(_) => "unary",
            Op::Prelu => "prelu",
            Op::Pool2d { .. } => "pool2d",
            Op::Mean { .. } => "mean",
            Op::Reshape(_) => "reshape",
            Op::Concat { .. } => "concat",
            Op::Pad { .. } => "pad",
            Op::Softmax { .. } => "softmax",
            Op::ResizeBilinear { .. } => "resize_bilinear",
            Op::DepthToSpace { .. } => "depth_to_space",
            Op::StridedSlice(_) => "strided_slice",
            Op::TransposeConvBias { .. } => "transpose_conv_bias",
            Op::TransformTensorBilinear { .. } => "transform_tensor_bilinear",
            Op::TransformLandmarks => "transform_landmarks",
            Op::LandmarksToTransformMatrix(_) => "landmarks_to_transform_matrix",
            Op::MaxPoolArgmax { indices: false, .. } => "max_pool_argmax_values",
            Op::MaxPoolArgmax { indices: true, .. } => "max_pool_argmax_indices",
            Op::MaxUnpool { .. } => "max_unpool",
            Op::Transpose { .. } => "transpose",
            Op::BatchMatMul => "batch_matmul",
            Op::Gelu { .. } => "gelu",
            Op::GroupedConv2d { .. } => "grouped_conv2d",
            Op::Fallback(f) => f.name(),
            Op::Quant(q) => q.name(),
        }
    }
}

/// One tensor of the graph.
#[derive(Clone, Debug)]
pub struct Tensor {
    pub name: String,
    /// The shape known when the graph was built (inputs may be resized later).
    pub shape: Vec<usize>,
    /// Constant data (weights, folded dequantized values), owned or lent by the runtime.
    pub constant: Option<crate::constant::ConstData>,
    /// Element type of the values armrest holds (int8 for uint8 model tensors, see `uint8`).
    pub dtype: crate::qir::DType,
    /// Affine quantization parameters (int8 tensors and int8 weights of hybrid ops).
    pub quant: Option<Arc<crate::qir::QParams>>,
    /// Constant int8 / int32 data (quantized weights and biases).
    pub qconstant: Option<crate::qir::QConst>,
    /// The runtime stores this tensor as uint8: armrest holds `q ^ 0x80` (zero point − 128).
    pub uint8: bool,
}

impl Tensor {
    /// Whether the values are known when the graph is built (fp32 or quantized constant).
    pub fn is_constant(&self) -> bool {
        self.constant.is_some() || self.qconstant.is_some()
    }
}

#[derive(Clone, Debug)]
pub struct Node {
    pub op: Op,
    pub inputs: Vec<TensorId>,
    pub outputs: Vec<TensorId>,
    /// The node's index in the source model, for reports and errors.
    pub source: usize,
}

/// A claimed subgraph. Nodes are in a valid execution order.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    pub tensors: Vec<Tensor>,
    pub nodes: Vec<Node>,
    pub inputs: Vec<TensorId>,
    pub outputs: Vec<TensorId>,
}

impl Graph {
    pub fn add_tensor(&mut self, name: String, shape: Vec<usize>, constant: Option<Arc<[f32]>>) -> TensorId {
        self.add_tensor_data(name, shape, constant.map(crate::constant::ConstData::Owned))
    }

    /// [`Graph::add_tensor`] with constant data that may be lent (see [`crate::constant`]).
    pub fn add_tensor_data(&mut self, name: String, shape: Vec<usize>, constant: Option<crate::constant::ConstData>) -> TensorId {
        self.tensors.push(Tensor { name, shape, constant, dtype: crate::qir::DType::F32, quant: None, qconstant: None, uint8: false });
        self.tensors.len() - 1
    }

    /// Adds a typed tensor (int8 / int32, quantized, or a quantized constant).
    pub fn add_qtensor(&mut self, name: String, shape: Vec<usize>, dtype: crate::qir::DType, quant: Option<crate::qir::QParams>, qconstant: Option<crate::qir::QConst>) -> TensorId {
        self.tensors.push(Tensor { name, shape, constant: None, dtype, quant: quant.map(Arc::new), qconstant, uint8: false });
        self.tensors.len() - 1
    }

    /// Whether any tensor is not plain fp32 (the graph needs the typed executor).
    pub fn is_quantized(&self) -> bool {
        self.tensors.iter().any(|t| t.dtype != crate::qir::DType::F32 || t.quant.is_some() || t.qconstant.is_some()) || self.nodes.iter().any(|n| matches!(n.op, Op::Quant(_)))
    }
}
