//! Benchmarks live in benches/benches/ (see benches/README.md); this library
//! holds what they share: the benchmark shapes and how to run one.

#[cfg(feature = "tract")]
pub mod vs_tract;

use armrest_kernels::conv::{self, fused, PackedConv2d, PackedDepthwise};
use armrest_kernels::gemm::{self, PackedWeights};
use armrest_kernels::{Clamp, Exec, Isa, Nhwc, ThreadPool, Window2d};
use std::time::Instant;

/// What a case is made of.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// `m x k` by `k x n`.
    Gemm { m: usize, n: usize, k: usize },
    /// CONV_2D of an NHWC input, square kernel, SAME-style padding.
    Conv { s: Nhwc, out_c: usize, kernel: usize, stride: usize },
    /// DEPTHWISE_CONV_2D, multiplier 1, square kernel, SAME-style padding.
    Depthwise { s: Nhwc, kernel: usize, stride: usize },
    /// An fp32 inverted residual block as MobileNetV2 runs it, fused in bands
    /// of rows: 1x1 expand to `hidden` channels (RELU6; none when `hidden ==
    /// s.c`), 3x3 depthwise at `stride` (RELU6), 1x1 project to `out`.
    Block { s: Nhwc, hidden: usize, out: usize, stride: usize },
}

/// One benchmark case.
pub struct Case {
    pub name: String,
    pub kind: Kind,
    /// Multiply-adds per call.
    pub macs: usize,
    /// Worth timing on 2 threads too.
    pub threaded: bool,
}

/// The command line the kernel benches take: `--quick`, `--filter NAME`,
/// `--reps N`, `--tier T` (parsed by `parse_tier`), `--ukernel NAME`; anything
/// else (cargo bench passes `--bench`) is ignored.
pub struct BenchArgs<T> {
    pub quick: bool,
    pub filter: Option<String>,
    pub reps: Option<usize>,
    pub tier: Option<T>,
    pub ukernel: Option<String>,
}

impl<T> BenchArgs<T> {
    pub fn parse(parse_tier: fn(&str) -> Option<T>) -> BenchArgs<T> {
        let mut a = BenchArgs { quick: false, filter: None, reps: None, tier: None, ukernel: None };
        let mut it = std::env::args().skip(1);
        while let Some(s) = it.next() {
            match s.as_str() {
                "--quick" => a.quick = true,
                "--filter" => a.filter = it.next(),
                "--reps" => a.reps = it.next().and_then(|v| v.parse().ok()),
                "--tier" => a.tier = it.next().and_then(|v| parse_tier(&v)),
                "--ukernel" => a.ukernel = it.next(),
                _ => {}
            }
        }
        a
    }

    /// Whether a case named `name` passes `--filter`.
    pub fn selects(&self, name: &str) -> bool {
        self.filter.as_ref().is_none_or(|f| name.contains(f.as_str()))
    }
}

/// A square `kernel` window at `stride` with TFLite's SAME padding for input `s`.
pub fn same_window(kernel: usize, stride: usize, s: Nhwc) -> Window2d {
    let pad = |size: usize| {
        let out = size.div_ceil(stride);
        ((out - 1) * stride + kernel).saturating_sub(size)
    };
    let (ph, pw) = (pad(s.h), pad(s.w));
    Window2d {
        kernel_h: kernel,
        kernel_w: kernel,
        stride_h: stride,
        stride_w: stride,
        dilation_h: 1,
        dilation_w: 1,
        pad_top: ph / 2,
        pad_left: pw / 2,
        pad_bottom: ph - ph / 2,
        pad_right: pw - pw / 2,
    }
}

/// Seconds per call of `f`: one sample of `inner` calls.
pub fn sample(inner: usize, f: &mut dyn FnMut()) -> f64 {
    let t0 = Instant::now();
    for _ in 0..inner {
        f();
    }
    t0.elapsed().as_secs_f64() / inner as f64
}

/// Calls of `f` so that one sample takes about `target` seconds (from one
/// timed call; 1 to 100 000).
pub fn calibrate(target: f64, f: &mut dyn FnMut()) -> usize {
    let once = sample(1, f).max(1e-7);
    ((target / once) as usize).clamp(1, 100_000)
}

/// Deterministic values in [-1, 1).
pub fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Floats whose first one sits on a 64-byte line, as the executors place
/// every tensor in their arena (whole-register loads of misaligned pixels
/// straddle two lines and cost the depthwise 30-40%).
pub struct OnLine {
    v: Vec<f32>,
    at: usize,
    len: usize,
}

impl OnLine {
    pub fn zeros(len: usize) -> OnLine {
        let (v, at) = armrest_kernels::layout::zeroed_on_line(len);
        OnLine { v, at, len }
    }

    /// [`values`]`(len, seed)` on a line.
    pub fn values(len: usize, seed: u64) -> OnLine {
        let mut b = OnLine::zeros(len);
        b.get_mut().copy_from_slice(&values(len, seed));
        b
    }

    pub fn get(&self) -> &[f32] {
        &self.v[self.at..self.at + self.len]
    }

    pub fn get_mut(&mut self) -> &mut [f32] {
        &mut self.v[self.at..self.at + self.len]
    }
}

impl Case {
    pub fn new(name: &str, kind: Kind, threaded: bool) -> Case {
        let macs = match kind {
            Kind::Gemm { m, n, k } => m * n * k,
            Kind::Conv { s, out_c, kernel, stride } => {
                let w = same_window(kernel, stride, s);
                s.n * w.out_h(s.h) * w.out_w(s.w) * out_c * kernel * kernel * s.c
            }
            Kind::Depthwise { s, kernel, stride } => {
                let w = same_window(kernel, stride, s);
                s.n * w.out_h(s.h) * w.out_w(s.w) * s.c * kernel * kernel
            }
            Kind::Block { s, hidden, out, stride } => {
                let w = same_window(3, stride, s);
                let expand = if hidden == s.c { 0 } else { s.n * s.h * s.w * s.c * hidden };
                expand + s.n * w.out_h(s.h) * w.out_w(s.w) * hidden * (9 + out)
            }
        };
        Case { name: name.to_string(), kind, macs, threaded }
    }

    /// The micro-kernel `isa` runs this case with.
    pub fn ukernel(&self, isa: Isa) -> &'static str {
        match self.kind {
            Kind::Gemm { n, k, .. } => gemm::gemm_ukernel_for(isa, n, k).name,
            Kind::Conv { s, out_c, kernel, .. } => gemm::gemm_ukernel_for(isa, out_c, kernel * kernel * s.c).name,
            Kind::Depthwise { .. } | Kind::Block { .. } => conv::dw_ukernel(isa).name,
        }
    }

    /// Packs the weights and returns a closure running one call on a pool.
    pub fn prepare(&self, isa: Isa) -> Box<dyn FnMut(&ThreadPool)> {
        self.prepare_with(isa, None)
    }

    /// As [`Case::prepare`]; GEMM cases pack for `ukernel` when given (one of
    /// `gemm::gemm_ukernels(isa)`), to compare tiles in one binary.
    pub fn prepare_with(&self, isa: Isa, ukernel: Option<&'static gemm::GemmUkernel>) -> Box<dyn FnMut(&ThreadPool)> {
        match self.kind {
            Kind::Gemm { m, n, k } => {
                let a = OnLine::values(m * k, 1);
                let (wv, bv) = (values(n * k, 2), values(n, 3));
                let w = match ukernel {
                    Some(uk) => PackedWeights::pack_with(uk, n, k, &wv, Some(&bv)),
                    None => PackedWeights::pack(isa, n, k, &wv, Some(&bv)),
                };
                let mut out = OnLine::zeros(m * n);
                Box::new(move |pool| gemm::gemm(Exec { isa, pool }, m, a.get(), k, &w, out.get_mut(), n, Clamp::NONE))
            }
            Kind::Conv { s, out_c, kernel, stride } => {
                let win = same_window(kernel, stride, s);
                let x = OnLine::values(s.len(), 1);
                let w = PackedConv2d::pack(isa, out_c, kernel, kernel, s.c, &values(out_c * kernel * kernel * s.c, 2), Some(&values(out_c, 3)));
                let mut out = OnLine::zeros(s.n * win.out_h(s.h) * win.out_w(s.w) * out_c);
                Box::new(move |pool| conv::conv2d(Exec { isa, pool }, &win, s, x.get(), &w, out.get_mut(), Clamp::RELU6))
            }
            Kind::Depthwise { s, kernel, stride } => {
                let win = same_window(kernel, stride, s);
                let x = OnLine::values(s.len(), 1);
                let w = PackedDepthwise::pack(isa, kernel, kernel, s.c, 1, &values(kernel * kernel * s.c, 2), Some(&values(s.c, 3)));
                let mut out = OnLine::zeros(s.n * win.out_h(s.h) * win.out_w(s.w) * s.c);
                Box::new(move |pool| conv::depthwise_conv2d(Exec { isa, pool }, &win, s, x.get(), &w, out.get_mut(), Clamp::RELU6))
            }
            Kind::Block { s, hidden, out, stride } => {
                let win = same_window(3, stride, s);
                let x = OnLine::values(s.len(), 1);
                let pw = |i: usize, o: usize, seed: u64| PackedConv2d::pack(isa, o, 1, 1, i, &values(o * i, seed), Some(&values(o, seed + 1)));
                let e = (hidden != s.c).then(|| pw(s.c, hidden, 2));
                let d = PackedDepthwise::pack(isa, 3, 3, hidden, 1, &values(9 * hidden, 4), Some(&values(hidden, 5)));
                let p = pw(hidden, out, 6);
                let mut y = OnLine::zeros(s.n * win.out_h(s.h) * win.out_w(s.w) * out);
                Box::new(move |pool| {
                    let expand = e.as_ref().map(|w| fused::Pointwise { w, clamp: Clamp::RELU6 });
                    let dw = fused::Depthwise { w: &d, win, clamp: Clamp::RELU6 };
                    let project = Some(fused::Pointwise { w: &p, clamp: Clamp::NONE });
                    fused::pointwise_depthwise_chain(Exec { isa, pool }, s, x.get(), expand, dw, project, y.get_mut())
                })
            }
        }
    }
}

/// The benchmark shapes: a large square GEMM, MobileNetV2's 1x1
/// convolutions (as GEMMs), its stem, its depthwise layers, a classifier head.
pub fn shapes() -> Vec<Case> {
    let nhwc = |h: usize, c: usize| Nhwc { n: 1, h, w: h, c };
    vec![
        Case::new("gemm 512x512x512", Kind::Gemm { m: 512, n: 512, k: 512 }, true),
        Case::new("gemm 256x256x256", Kind::Gemm { m: 256, n: 256, k: 256 }, true),
        Case::new("pw 112x112 32->16", Kind::Gemm { m: 112 * 112, n: 16, k: 32 }, false),
        Case::new("pw 112x112 16->96", Kind::Gemm { m: 112 * 112, n: 96, k: 16 }, false),
        Case::new("pw 56x56 24->144", Kind::Gemm { m: 56 * 56, n: 144, k: 24 }, false),
        Case::new("pw 56x56 144->24", Kind::Gemm { m: 56 * 56, n: 24, k: 144 }, false),
        Case::new("pw 28x28 192->32", Kind::Gemm { m: 28 * 28, n: 32, k: 192 }, false),
        Case::new("pw 14x14 64->384", Kind::Gemm { m: 14 * 14, n: 384, k: 64 }, false),
        Case::new("pw 14x14 384->96", Kind::Gemm { m: 14 * 14, n: 96, k: 384 }, false),
        Case::new("pw 7x7 960->320", Kind::Gemm { m: 7 * 7, n: 320, k: 960 }, false),
        Case::new("pw 7x7 320->1280", Kind::Gemm { m: 7 * 7, n: 1280, k: 320 }, false),
        Case::new("fc 1x1280->1000", Kind::Gemm { m: 1, n: 1000, k: 1280 }, false),
        Case::new("conv3x3s2 224x224 3->32", Kind::Conv { s: nhwc(224, 3), out_c: 32, kernel: 3, stride: 2 }, false),
        Case::new("dw3x3s1 112x112x32", Kind::Depthwise { s: nhwc(112, 32), kernel: 3, stride: 1 }, false),
        Case::new("dw3x3s2 112x112x96", Kind::Depthwise { s: nhwc(112, 96), kernel: 3, stride: 2 }, false),
        Case::new("dw3x3s1 56x56x144", Kind::Depthwise { s: nhwc(56, 144), kernel: 3, stride: 1 }, false),
        Case::new("dw3x3s1 14x14x576", Kind::Depthwise { s: nhwc(14, 576), kernel: 3, stride: 1 }, false),
        Case::new("dw5x5s1 14x14x480", Kind::Depthwise { s: nhwc(14, 480), kernel: 5, stride: 1 }, false),
    ]
}

/// One of MobileNetV2's inverted residual blocks: input `h x h x c`,
/// expanded to `hidden` channels (no expansion when `hidden == c`), 3x3
/// depthwise at `stride`, projected to `out`.
struct BlockShape {
    h: usize,
    c: usize,
    hidden: usize,
    out: usize,
    stride: usize,
}

/// MobileNetV2's (224x224, width 1.0) 17 inverted residual blocks in execution order.
fn mobilenet_v2_block_shapes() -> Vec<BlockShape> {
    let mut v = Vec::new();
    let (mut h, mut c) = (112, 32);
    // (expansion, output channels, repeats, first stride)
    for (t, out, reps, first) in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)] {
        for r in 0..reps {
            let stride = if r == 0 { first } else { 1 };
            v.push(BlockShape { h, c, hidden: c * t, out, stride });
            h = h.div_ceil(stride);
            c = out;
        }
    }
    v
}

/// MobileNetV2's (224x224, width 1.0) 17 inverted residual blocks in
/// execution order, each run as the fp32 model runs it: fused in bands of
/// rows (expand, depthwise, project); about 268M MACs.
pub fn mobilenet_v2_blocks() -> Vec<Case> {
    mobilenet_v2_block_shapes()
        .into_iter()
        .map(|BlockShape { h, c, hidden, out, stride: s }| {
            Case::new(&format!("block {h}x{h} {c}->{hidden}->{out} s{s}"), Kind::Block { s: Nhwc { n: 1, h, w: h, c }, hidden, out, stride: s }, true)
        })
        .collect()
}

/// Every convolution of MobileNetV2 (224x224, width 1.0) in execution order:
/// the stem, each inverted residual block's expansion (1x1), depthwise 3x3
/// and projection (1x1), the last 1x1 and the classifier; about 300M MACs,
/// ~97% of the model's work (the rest is residual adds, the mean, softmax).
pub fn mobilenet_v2_layers() -> Vec<Case> {
    let nhwc = |h: usize, c: usize| Nhwc { n: 1, h, w: h, c };
    let mut v = vec![Case::new("stem 3x3s2 224 3->32", Kind::Conv { s: nhwc(224, 3), out_c: 32, kernel: 3, stride: 2 }, true)];
    for BlockShape { h, c, hidden, out, stride: s } in mobilenet_v2_block_shapes() {
        if hidden != c {
            v.push(Case::new(&format!("pw {h}x{h} {c}->{hidden}"), Kind::Gemm { m: h * h, n: hidden, k: c }, true));
        }
        v.push(Case::new(&format!("dw3x3s{s} {h}x{h}x{hidden}"), Kind::Depthwise { s: nhwc(h, hidden), kernel: 3, stride: s }, true));
        let oh = h.div_ceil(s);
        v.push(Case::new(&format!("pw {oh}x{oh} {hidden}->{out}"), Kind::Gemm { m: oh * oh, n: out, k: hidden }, true));
    }
    v.push(Case::new("pw 7x7 320->1280", Kind::Gemm { m: 49, n: 1280, k: 320 }, true));
    v.push(Case::new("fc 1x1280->1000", Kind::Gemm { m: 1, n: 1000, k: 1280 }, true));
    v
}

/// `cases` with their names prefixed by `prefix` and a space (`--filter
/// mnv2` selects a model's cases by that prefix).
pub fn prefixed(prefix: &str, cases: Vec<Case>) -> Vec<Case> {
    cases
        .into_iter()
        .map(|mut c| {
            c.name = format!("{prefix} {}", c.name);
            c
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_follow_the_shapes() {
        let c = Case::new("x", Kind::Conv { s: Nhwc { n: 1, h: 224, w: 224, c: 3 }, out_c: 32, kernel: 3, stride: 2 }, false);
        assert_eq!(c.macs, 112 * 112 * 32 * 27);
        let d = Case::new("y", Kind::Depthwise { s: Nhwc { n: 1, h: 7, w: 7, c: 5 }, kernel: 3, stride: 1 }, false);
        assert_eq!(d.macs, 49 * 5 * 9);
    }

    #[test]
    fn mobilenet_v2_has_its_53_convolutions_and_300m_macs() {
        let layers = mobilenet_v2_layers();
        assert_eq!(layers.len(), 1 + 17 * 3 - 1 + 2);
        let macs: usize = layers.iter().map(|c| c.macs).sum();
        assert!((290_000_000..310_000_000).contains(&macs), "{macs}");
    }

    #[test]
    fn mobilenet_v2_blocks_hold_the_layers_work_but_stem_last_and_classifier() {
        let blocks: usize = mobilenet_v2_blocks().iter().map(|c| c.macs).sum();
        let layers: Vec<Case> = mobilenet_v2_layers();
        let outside: usize = [&layers[0], &layers[layers.len() - 2], &layers[layers.len() - 1]].iter().map(|c| c.macs).sum();
        assert_eq!(mobilenet_v2_blocks().len(), 17);
        assert_eq!(blocks, layers.iter().map(|c| c.macs).sum::<usize>() - outside);
    }
}
