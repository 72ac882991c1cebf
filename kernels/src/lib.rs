//! armrest's compute layer: micro-kernels, weight packing, CPU-feature
//! dispatch and the thread pool. It knows nothing of graphs or runtimes:
//! every entry point takes plain slices, shapes in NHWC, an [`Isa`] tier and
//! an [`Exec`] context, and never allocates inside a micro-kernel.
//!
//! Layout of the crate (one concern per module):
//!
//! - `isa`: tiers and run-time detection.
//! - `threadpool`: the pool that `num_threads` sizes.
//! - `gemm`: the micro-kernel contract (mr/nr/kr, packed offsets, one run
//!   function), weight packing with the bias fused in, the GEMM driver and
//!   FULLY_CONNECTED.
//! - `conv`: CONV_2D (indirect GEMM, 1x1 as plain GEMM) and DEPTHWISE_CONV_2D.
//! - `elementwise`: broadcasting binary ops, unary activations, PRELU.
//! - `pool`: AVERAGE_POOL_2D and MAX_POOL_2D.
//! - `reduce`: MEAN.
//! - `softmax`: SOFTMAX.
//! - `resize`: RESIZE_BILINEAR.
//! - `layout`: PAD, CONCATENATION, fp16 conversion, the cache line buffers
//!   start on.
//! - `peak`: the measured fp32 FMA peak of this core (for benches).
//! - `transpose`: permutes (NCHW ↔ NHWC at ExecuTorch partition boundaries).
//! - `matmul`: batched matmul of two activations.
//! - `gelu`: GELU (erf and tanh forms).
//! - `scratch`: per-thread buffers the drivers' tasks reuse.
//! - `fixedpoint`: TFLite's requantization arithmetic (int8 kernels).
//! - `quant`: int8 GEMM, FULLY_CONNECTED, CONV_2D and DEPTHWISE_CONV_2D with
//!   TFLite's requantization, on their own tiers (`QTier`: SDOT, SMMLA, VNNI).

pub mod conv;
pub mod elementwise;
pub mod fixedpoint;
pub mod gelu;
pub mod gemm;
pub mod huge_pages;
pub mod isa;
pub mod layout;
pub mod mediapipe;
pub mod peak;
pub(crate) mod partition;
pub mod qops;
pub mod quant;
pub mod matmul;
pub mod pool;
pub mod rearrange;
pub mod reduce;
pub mod resize;
pub(crate) mod scratch;
pub mod softmax;
pub mod simd;
pub mod threadpool;
pub mod transpose;

pub use isa::Isa;
pub use threadpool::ThreadPool;
pub use threadpool::PoolKind;

/// Output clamp fused into a kernel's epilogue (TFLite's fused activations
/// NONE, RELU, RELU_N1_TO_1 and RELU6 are all clamps).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Clamp {
    pub min: f32,
    pub max: f32,
}

impl Clamp {
    pub const NONE: Clamp = Clamp { min: f32::NEG_INFINITY, max: f32::INFINITY };
    pub const RELU: Clamp = Clamp { min: 0.0, max: f32::INFINITY };
    pub const RELU6: Clamp = Clamp { min: 0.0, max: 6.0 };
    pub const RELU_N1_TO_1: Clamp = Clamp { min: -1.0, max: 1.0 };

    /// `x` limited to `[min, max]`; NaN stays NaN, as in TFLite's reference
    /// kernels (`std::min(std::max(x, lo), hi)`). Vector kernels keep that by
    /// putting `x` second in x86 `max_ps`/`min_ps`, which return their second
    /// operand when either is NaN.
    #[inline(always)]
    pub fn apply(self, x: f32) -> f32 {
        if x < self.min {
            self.min
        } else if x > self.max {
            self.max
        } else {
            x
        }
    }
}

/// What every kernel call runs with: the tier to use and the pool to split
/// work over. Results never depend on the number of threads.
#[derive(Clone, Copy)]
pub struct Exec<'a> {
    pub isa: Isa,
    pub pool: &'a ThreadPool,
}

/// 2-D spatial geometry shared by convolution and pooling (NHWC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window2d {
    pub kernel_h: usize,
    pub kernel_w: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub dilation_h: usize,
    pub dilation_w: usize,
    /// Explicit padding; SAME/VALID are resolved by the caller.
    pub pad_top: usize,
    pub pad_left: usize,
    pub pad_bottom: usize,
    pub pad_right: usize,
}

impl Window2d {
    /// Output size of one spatial dimension for this geometry.
    pub fn out_dim(input: usize, kernel: usize, stride: usize, dilation: usize, pad_a: usize, pad_b: usize) -> usize {
        let eff = (kernel - 1) * dilation + 1;
        let padded = input + pad_a + pad_b;
        if padded < eff { 0 } else { (padded - eff) / stride + 1 }
    }
    pub fn out_h(&self, in_h: usize) -> usize {
        Self::out_dim(in_h, self.kernel_h, self.stride_h, self.dilation_h, self.pad_top, self.pad_bottom)
    }
    pub fn out_w(&self, in_w: usize) -> usize {
        Self::out_dim(in_w, self.kernel_w, self.stride_w, self.dilation_w, self.pad_left, self.pad_right)
    }
}

/// Shape of an NHWC activation tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Nhwc {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub c: usize,
}

impl Nhwc {
    pub fn len(&self) -> usize {
        self.n * self.h * self.w * self.c
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
