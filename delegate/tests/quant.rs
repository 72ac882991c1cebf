//! Quantized graphs end to end through the frontend and the typed executor:
//! in-memory int8 / uint8 / dynamic-range TFLite graphs are claimed, built
//! and run on every available tier, and compared with plain references of
//! TFLite's integer arithmetic written here (loops, `Requant`, the bounds of
//! the fused activation) or, for the dynamic-range ops, with the fp32 result
//! within the run-time quantization's error bound.

mod common;

use armrest_delegate::qexec::{TensorData, TensorDataMut};
use armrest_delegate::tflite::{build_partition, claim_nodes, dtype, ops, BuiltinParams};
use armrest_delegate::QExecutor;
use armrest_kernels::fixedpoint::Requant;
use common::{ints, values, MockModel};

fn executors(m: &MockModel, inputs: &[i32], outputs: &[i32]) -> Vec<QExecutor> {
    common::typed_executors(m, inputs, outputs, &[1, 2])
}

fn run_i8(e: &mut QExecutor, x: &[i8], out_len: usize) -> Vec<i8> {
    let mut y = vec![0i8; out_len];
    e.run(&[TensorData::I8(x)], &mut [TensorDataMut::I8(&mut y)]).unwrap();
    y
}

/// TFLite's CalculateActivationRangeQuantized, written out: RELU6 / RELU / none.
fn act_bounds(act: i32, scale: f32, zp: i32) -> (i32, i32) {
    let q = |f: f32| zp + (f / scale).round() as i32;
    match act {
        0 => (-128, 127),
        1 => ((-128).max(q(0.0)), 127),
        3 => ((-128).max(q(0.0)), 127.min(q(6.0))),
        _ => panic!("activation {act}"),
    }
}

fn conv_params(padding: i32, stride: i32, activation: i32) -> BuiltinParams {
    BuiltinParams::Conv { padding, stride_w: stride, stride_h: stride, activation, dilation_w: 1, dilation_h: 1 }
}

/// Reference int8 CONV_2D (NHWC, OHWI filter), padding skipped (it reads the zero point).
#[allow(clippy::too_many_arguments)]
fn ref_conv(x: &[i32], xs: [usize; 4], x_zp: i32, w: &[i32], ws: [usize; 4], w_zp: i32, bias: &[i32], stride: usize, pad: [usize; 2], os: [usize; 4], out: impl Fn(usize, i32) -> i32) -> Vec<i32> {
    let mut y = vec![0; os.iter().product()];
    for n in 0..os[0] {
        for oy in 0..os[1] {
            for ox in 0..os[2] {
                for o in 0..os[3] {
                    let mut acc = bias[o];
                    for ky in 0..ws[1] {
                        for kx in 0..ws[2] {
                            let (iy, ix) = ((oy * stride + ky) as isize - pad[0] as isize, (ox * stride + kx) as isize - pad[1] as isize);
                            if iy < 0 || ix < 0 || iy >= xs[1] as isize || ix >= xs[2] as isize {
                                continue;
                            }
                            for c in 0..xs[3] {
                                let xv = x[((n * xs[1] + iy as usize) * xs[2] + ix as usize) * xs[3] + c] - x_zp;
                                let wv = w[((o * ws[1] + ky) * ws[2] + kx) * ws[3] + c] - w_zp;
                                acc += xv * wv;
                            }
                        }
                    }
                    y[((n * os[1] + oy) * os[2] + ox) * os[3] + o] = out(o, acc);
                }
            }
        }
    }
    y
}

#[test]
fn int8_conv_per_channel_matches_the_integer_reference() {
    let (xs, ws, os) = ([2, 6, 5, 3], [5, 3, 3, 3], [2, 6, 5, 5]);
    let (x_s, x_zp, y_s, y_zp) = (0.05f32, -3, 0.09f32, 7);
    let w_scales: Vec<f32> = (0..5).map(|o| 0.004 + 0.0013 * o as f32).collect();
    let wv: Vec<i32> = ints(ws.iter().product(), 1, -127, 127);
    let bias: Vec<i32> = ints(5, 2, -3000, 3000);
    let mut m = MockModel::default();
    let x = m.qact(dtype::I8, &[2, 6, 5, 3], x_s, x_zp);
    let w = m.qconst_i8(&[5, 3, 3, 3], &wv.iter().map(|&v| v as i8).collect::<Vec<_>>(), &w_scales, &[0; 5], 0);
    let b = m.constant_i32(&[5], &bias);
    let y = m.qact(dtype::I8, &[2, 6, 5, 5], y_s, y_zp);
    m.node(ops::CONV_2D, &[x, w, b], &[y], conv_params(1, 1, 3));
    let xv = ints(xs.iter().product(), 3, -128, 127);
    let (lo, hi) = act_bounds(3, y_s, y_zp);
    // int8 conv: per-channel multipliers with the double product (PopulateConvolutionQuantizationParams).
    let want = ref_conv(&xv, xs, x_zp, &wv, ws, 0, &bias, 1, [1, 1], os, |o, acc| {
        let r = Requant::from_real(x_s as f64 * w_scales[o] as f64 / y_s as f64);
        (y_zp + r.apply(acc)).clamp(lo, hi)
    });
    let xq: Vec<i8> = xv.iter().map(|&v| v as i8).collect();
    for mut e in executors(&m, &[x, w, b], &[y]) {
        assert_eq!(e.prepare(&[xs.to_vec()]).unwrap(), vec![os.to_vec()]);
        assert!(!e.kernel_names().is_empty());
        let got: Vec<i32> = run_i8(&mut e, &xq, want.len()).iter().map(|&v| v as i32).collect();
        assert_eq!(got, want, "isa {:?}", e.isa());
    }
}

#[test]
fn uint8_conv_maps_to_int8_and_back() {
    // uint8 model: input zp 128-ish, filter zp 120 (non-zero), float-product multiplier.
    let (xs, ws, os) = ([1, 7, 7, 4], [3, 3, 3, 4], [1, 3, 3, 3]);
    let (x_s, x_zp, w_s, w_zp, y_s, y_zp) = (0.02f32, 131, 0.007f32, 120, 0.05f32, 100);
    let wv: Vec<i32> = ints(ws.iter().product(), 4, 0, 255);
    let bias: Vec<i32> = ints(3, 5, -2000, 2000);
    let mut m = MockModel::default();
    let x = m.qact(dtype::U8, &[1, 7, 7, 4], x_s, x_zp);
    let w = m.qconst_u8(&[3, 3, 3, 4], &wv.iter().map(|&v| v as u8).collect::<Vec<_>>(), w_s, w_zp);
    let b = m.constant_i32(&[3], &bias);
    let y = m.qact(dtype::U8, &[1, 3, 3, 3], y_s, y_zp);
    m.node(ops::CONV_2D, &[x, w, b], &[y], conv_params(2, 2, 1));
    let xv = ints(xs.iter().product(), 6, 0, 255);
    let r = Requant::from_real((x_s * w_s) as f64 / y_s as f64);
    let lo = y_zp + (0.0f32 / y_s).round() as i32;
    let want = ref_conv(&xv, xs, x_zp, &wv, ws, w_zp, &bias, 2, [0, 0], os, |_, acc| (y_zp + r.apply(acc)).clamp(lo.max(0), 255));
    let (g, ins) = {
        let r = claim_nodes(&m, &m.plan());
        assert_eq!(r.claimed.len(), 1, "{:?}", r.unclaimed);
        build_partition(&m, &r.folds, &r.claimed, &[x, w, b], &[y]).unwrap()
    };
    assert_eq!(ins, vec![x]);
    let gx = &g.tensors[g.inputs[0]];
    assert!(gx.uint8);
    assert_eq!(gx.quant.as_ref().unwrap().zero_point, vec![x_zp - 128]);
    // The boundary flip, as the ffi does it.
    let xq: Vec<i8> = xv.iter().map(|&v| (v as u8 ^ 0x80) as i8).collect();
    for mut e in executors(&m, &[x, w, b], &[y]) {
        e.prepare(&[xs.to_vec()]).unwrap();
        let got: Vec<i32> = run_i8(&mut e, &xq, want.len()).iter().map(|&v| (v as u8 ^ 0x80) as i32).collect();
        assert_eq!(got, want);
    }
}

#[test]
fn int8_depthwise_and_fully_connected() {
    // DEPTHWISE (multiplier 2, stride 2, per-channel) → RESHAPE → FULLY_CONNECTED (per-tensor).
    let xs = [1, 5, 5, 3];
    let (x_s, x_zp, d_s, d_zp, f_s, f_zp) = (0.03f32, 5, 0.06f32, -20, 0.2f32, 3);
    let dw_scales: Vec<f32> = (0..6).map(|c| 0.01 + 0.002 * c as f32).collect();
    let dwv = ints(54, 7, -127, 127);
    let dbias = ints(6, 8, -500, 500);
    let fw_s = 0.011f32;
    let fwv = ints(4 * 54, 9, -127, 127);
    let fbias = ints(4, 10, -800, 800);
    let mut m = MockModel::default();
    let x = m.qact(dtype::I8, &[1, 5, 5, 3], x_s, x_zp);
    let dw = m.qconst_i8(&[1, 3, 3, 6], &dwv.iter().map(|&v| v as i8).collect::<Vec<_>>(), &dw_scales, &[0; 6], 3);
    let db = m.constant_i32(&[6], &dbias);
    let d = m.qact(dtype::I8, &[1, 3, 3, 6], d_s, d_zp);
    let shape = m.constant_i32(&[2], &[1, 54]);
    let r = m.qact(dtype::I8, &[1, 54], d_s, d_zp);
    let fw = m.qconst_i8(&[4, 54], &fwv.iter().map(|&v| v as i8).collect::<Vec<_>>(), &[fw_s], &[0], 0);
    let fb = m.constant_i32(&[4], &fbias);
    let f = m.qact(dtype::I8, &[1, 4], f_s, f_zp);
    m.node(
        ops::DEPTHWISE_CONV_2D,
        &[x, dw, db],
        &[d],
        BuiltinParams::DepthwiseConv { padding: 1, stride_w: 2, stride_h: 2, depth_multiplier: 2, activation: 0, dilation_w: 1, dilation_h: 1 },
    );
    m.node(ops::RESHAPE, &[d, shape], &[r], BuiltinParams::None);
    m.node(ops::FULLY_CONNECTED, &[r, fw, fb], &[f], BuiltinParams::FullyConnected { activation: 0, weights_format: 0, keep_num_dims: false, asymmetric_quantize_inputs: false });
    let xv = ints(75, 11, -128, 127);
    // Depthwise reference: SAME, 5 → 3 with stride 2: total pad 2 → (1, 1).
    let mut dref = vec![0i32; 54];
    for oy in 0..3 {
        for ox in 0..3 {
            for oc in 0..6 {
                let ic = oc / 2;
                let mut acc = dbias[oc];
                for ky in 0..3 {
                    for kx in 0..3 {
                        let (iy, ix) = ((oy * 2 + ky) as isize - 1, (ox * 2 + kx) as isize - 1);
                        if iy >= 0 && ix >= 0 && iy < 5 && ix < 5 {
                            acc += (xv[(iy as usize * 5 + ix as usize) * 3 + ic] - x_zp) * dwv[(ky * 3 + kx) * 6 + oc];
                        }
                    }
                }
                let rq = Requant::from_real(x_s as f64 * dw_scales[oc] as f64 / d_s as f64);
                dref[(oy * 3 + ox) * 6 + oc] = (d_zp + rq.apply(acc)).clamp(-128, 127);
            }
        }
    }
    // Per-tensor FULLY_CONNECTED: GetQuantizedConvolutionMultipler's float product, and
    // LiteRT 2.3.0's reference rounds once: (acc·M + 2^(30−e)) >> (31−e).
    let rq = Requant::from_real((d_s * fw_s) as f64 / f_s as f64);
    let once = |acc: i32| ((acc as i64 * rq.multiplier as i64 + (1i64 << (30 - rq.shift))) >> (31 - rq.shift)) as i32;
    let fref: Vec<i32> = (0..4).map(|j| (f_zp + once(fbias[j] + (0..54).map(|k| (dref[k] - d_zp) * fwv[j * 54 + k]).sum::<i32>())).clamp(-128, 127)).collect();

    let xq: Vec<i8> = xv.iter().map(|&v| v as i8).collect();
    for mut e in executors(&m, &[x, dw, db, shape, fw, fb], &[f]) {
        e.prepare(&[xs.to_vec()]).unwrap();
        let got: Vec<i32> = run_i8(&mut e, &xq, 4).iter().map(|&v| v as i32).collect();
        assert_eq!(got, fref);
        // The graph's copies of both filters and both biases go; the packed layers still run.
        assert_eq!(e.release_packed_weights(), 54 + 4 * 6 + 4 * 54 + 4 * 4);
        e.prepare(&[xs.to_vec()]).unwrap();
        let got: Vec<i32> = run_i8(&mut e, &xq, 4).iter().map(|&v| v as i32).collect();
        assert_eq!(got, fref);
    }

}

/// The int8 arena: x → a (RESHAPE) → t1 → … → t6 (QUANTIZE, each to a zero
/// point one higher at the same scale: t_i = x + i) with a and t6 the
/// outputs. The chain's dead tensors share space (at most three
/// cache-line-rounded tensors at once, not all seven), and a, whose last
/// reader is the second node, still holds x at the end: outputs live until
/// they are copied out.
#[test]
fn int8_arena_shares_space_and_keeps_outputs() {
    let n = 100usize;
    let mut m = MockModel::default();
    let x = m.qact(dtype::I8, &[1, n as i32], 0.1, 3);
    let shape = m.constant_i32(&[2], &[1, n as i32]);
    let a = m.qact(dtype::I8, &[1, n as i32], 0.1, 3);
    m.node(ops::RESHAPE, &[x, shape], &[a], BuiltinParams::None);
    let mut prev = a;
    for i in 1..=6 {
        let t = m.qact(dtype::I8, &[1, n as i32], 0.1, 3 + i);
        m.node(ops::QUANTIZE, &[prev], &[t], BuiltinParams::None);
        prev = t;
    }
    let xv: Vec<i8> = ints(n, 3, -100, 100).iter().map(|&v| v as i8).collect();
    let want: Vec<i8> = xv.iter().map(|&v| v + 6).collect();
    for mut e in executors(&m, &[x, shape], &[a, prev]) {
        e.prepare(&[vec![1, n]]).unwrap();
        // Plus at most 63 bytes that put the first tensor on a cache line.
        assert!(e.arena_bytes() <= 3 * 128 + 63, "arena of {} bytes for 7 tensors of {n}", e.arena_bytes());
        let (mut ya, mut yt) = (vec![0i8; n], vec![0i8; n]);
        e.run(&[TensorData::I8(&xv)], &mut [TensorDataMut::I8(&mut ya), TensorDataMut::I8(&mut yt)]).unwrap();
        assert_eq!((&ya, &yt), (&xv, &want));
    }
}

fn fc_params(asymmetric: bool) -> BuiltinParams {
    BuiltinParams::FullyConnected { activation: 0, weights_format: 0, keep_num_dims: false, asymmetric_quantize_inputs: asymmetric }
}

#[test]
fn refusals_say_why() {
    let reason = |m: &MockModel| {
        let r = claim_nodes(m, &m.plan());
        assert!(r.claimed.is_empty(), "claimed {:?}", r.claimed);
        r.unclaimed[0].reason.clone()
    };
    // Per-channel scale count that does not match the output channels.
    let mut m = MockModel::default();
    let x = m.qact(dtype::I8, &[1, 4, 4, 2], 0.1, 0);
    let w = m.qconst_i8(&[3, 1, 1, 2], &[1; 6], &[0.1, 0.2], &[0, 0], 0);
    let y = m.qact(dtype::I8, &[1, 4, 4, 3], 0.1, 0);
    m.node(ops::CONV_2D, &[x, w, -1], &[y], conv_params(2, 1, 0));
    assert!(reason(&m).contains("2 per-channel scales for 3 channels"), "{}", reason(&m));
    // int16 activations.
    let mut m = MockModel::default();
    let x = m.qact(dtype::I16, &[1, 8], 0.1, 0);
    let w = m.qconst_i8(&[2, 8], &[1; 16], &[0.1], &[0], 0);
    let y = m.qact(dtype::I16, &[1, 2], 0.1, 0);
    m.node(ops::FULLY_CONNECTED, &[x, w, -1], &[y], fc_params(false));
    assert!(reason(&m).contains("int16"), "{}", reason(&m));
    // A fused TANH on an int8 conv (TFLite rejects it too).
    let mut m = MockModel::default();
    let x = m.qact(dtype::I8, &[1, 4, 4, 2], 0.1, 0);
    let w = m.qconst_i8(&[3, 1, 1, 2], &[1; 6], &[0.1], &[0], 0);
    let y = m.qact(dtype::I8, &[1, 4, 4, 3], 0.1, 0);
    m.node(ops::CONV_2D, &[x, w, -1], &[y], conv_params(2, 1, 4));
    assert!(reason(&m).contains("fused activation"), "{}", reason(&m));
    // int8 in, uint8 out.
    let mut m = MockModel::default();
    let x = m.qact(dtype::I8, &[1, 4, 4, 2], 0.1, 0);
    let w = m.qconst_i8(&[3, 1, 1, 2], &[1; 6], &[0.1], &[0], 0);
    let y = m.qact(dtype::U8, &[1, 4, 4, 3], 0.1, 128);
    m.node(ops::CONV_2D, &[x, w, -1], &[y], conv_params(2, 1, 0));
    assert!(reason(&m).contains("same type"), "{}", reason(&m));
    // A quantized op armrest has no kernel for.
    let mut m = MockModel::default();
    let x = m.qact(dtype::I8, &[1, 8], 0.1, 0);
    let y = m.qact(dtype::I8, &[1, 8], 0.1, 0);
    m.node(ops::RELU, &[x], &[y], BuiltinParams::None);
    assert!(reason(&m).contains("no int8 kernel"), "{}", reason(&m));
}

#[test]
fn quantize_reshape_dequantize_with_float_boundary() {
    // f32 → QUANTIZE → RESHAPE → DEQUANTIZE → f32: the values come back on the grid.
    let (s, zp) = (0.05f32, -4);
    let mut m = MockModel::default();
    let x = m.act(&[2, 6]);
    let q = m.qact(dtype::I8, &[2, 6], s, zp);
    let shape = m.constant_i32(&[2], &[3, 4]);
    let r = m.qact(dtype::I8, &[3, 4], s, zp);
    let y = m.act(&[3, 4]);
    m.node(ops::QUANTIZE, &[x], &[q], BuiltinParams::None);
    m.node(ops::RESHAPE, &[q, shape], &[r], BuiltinParams::None);
    m.node(ops::DEQUANTIZE, &[r], &[y], BuiltinParams::None);
    let xv: Vec<f32> = values(12, 21).iter().map(|v| v * 8.0).collect();
    let want: Vec<f32> = xv.iter().map(|&v| s * (((v / s).round() as i32 + zp).clamp(-128, 127) - zp) as f32).collect();
    for mut e in executors(&m, &[x, shape], &[y]) {
        e.prepare(&[vec![2, 6]]).unwrap();
        let mut out = vec![0f32; 12];
        e.run(&[TensorData::F32(&xv)], &mut [TensorDataMut::F32(&mut out)]).unwrap();
        for (g, w) in out.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-6, "{g} vs {w}");
        }
        // The wrong element type is refused.
        assert!(e.run(&[TensorData::I8(&[0; 12])], &mut [TensorDataMut::F32(&mut out)]).is_err());
    }
}

#[test]
fn dynamic_range_fully_connected_and_conv_within_the_quantization_error() {
    for asymmetric in [false, true] {
        // FULLY_CONNECTED: x [3, 20] f32, weights [7, 20] int8 per-channel, bias f32.
        let (n, k) = (7usize, 20usize);
        let w_scales: Vec<f32> = (0..n).map(|j| 0.01 + 0.003 * j as f32).collect();
        let wv = ints(n * k, 30, -127, 127);
        let bias: Vec<f32> = values(n, 31);
        let mut m = MockModel::default();
        let x = m.act(&[3, k as i32]);
        let w = m.qconst_i8(&[n as i32, k as i32], &wv.iter().map(|&v| v as i8).collect::<Vec<_>>(), &w_scales, &vec![0; n], 0);
        let b = m.constant(&[n as i32], &bias);
        let y = m.act(&[3, n as i32]);
        m.node(ops::FULLY_CONNECTED, &[x, w, b], &[y], fc_params(asymmetric));
        // Positive-leaning rows (where the asymmetric form is tighter) and one all-zero row.
        let mut xv: Vec<f32> = values(3 * k, 32).iter().map(|v| v * 2.0 + 0.7).collect();
        xv[2 * k..].fill(0.0);
        for mut e in executors(&m, &[x, w, b], &[y]) {
            e.prepare(&[vec![3, k]]).unwrap();
            let mut out = vec![0f32; 3 * n];
            e.run(&[TensorData::F32(&xv)], &mut [TensorDataMut::F32(&mut out)]).unwrap();
            for r in 0..3 {
                let row = &xv[r * k..(r + 1) * k];
                let (lo, hi) = row.iter().fold((0f32, 0f32), |(a, b), &v| (a.min(v), b.max(v)));
                // Half a quantization step of the row, per input element.
                let step = if asymmetric { (hi - lo) / 255.0 } else { lo.abs().max(hi.abs()) / 127.0 };
                for j in 0..n {
                    let exact: f32 = bias[j] + (0..k).map(|c| row[c] * wv[j * k + c] as f32 * w_scales[j]).sum::<f32>();
                    let bound: f32 = (0..k).map(|c| (wv[j * k + c] as f32 * w_scales[j]).abs()).sum::<f32>() * step * 0.5 + 1e-5;
                    let got = out[r * n + j];
                    assert!((got - exact).abs() <= bound, "asym {asymmetric} row {r} col {j}: {got} vs {exact} (bound {bound})");
                    if r == 2 {
                        assert_eq!(got, bias[j], "an all-zero row gives the bias");
                    }
                }
            }
        }
    }
    // CONV_2D 3x3 SAME over [2, 5, 4, 3], filter per-channel (differing scales: asymmetric per image).
    let (xs, o) = ([2usize, 5, 4, 3], 4usize);
    let w_scales: Vec<f32> = (0..o).map(|j| 0.02 + 0.004 * j as f32).collect();
    let wv = ints(o * 27, 40, -127, 127);
    let mut m = MockModel::default();
    let x = m.act(&[2, 5, 4, 3]);
    let w = m.qconst_i8(&[o as i32, 3, 3, 3], &wv.iter().map(|&v| v as i8).collect::<Vec<_>>(), &w_scales, &vec![0; o], 0);
    let y = m.act(&[2, 5, 4, o as i32]);
    m.node(ops::CONV_2D, &[x, w, -1], &[y], conv_params(1, 1, 1));
    let xv: Vec<f32> = values(xs.iter().product(), 41).iter().map(|v| v + 0.4).collect();
    for mut e in executors(&m, &[x, w], &[y]) {
        e.prepare(&[xs.to_vec()]).unwrap();
        let mut out = vec![0f32; 2 * 5 * 4 * o];
        e.run(&[TensorData::F32(&xv)], &mut [TensorDataMut::F32(&mut out)]).unwrap();
        let img = 5 * 4 * 3;
        for nb in 0..2 {
            let im = &xv[nb * img..(nb + 1) * img];
            let (lo, hi) = im.iter().fold((0f32, 0f32), |(a, b), &v| (a.min(v), b.max(v)));
            let step = (hi - lo) / 255.0;
            for oy in 0..5 {
                for ox in 0..4 {
                    for j in 0..o {
                        let (mut exact, mut bound) = (0f32, 1e-5f32);
                        for ky in 0..3 {
                            for kx in 0..3 {
                                let (iy, ix) = (oy as isize + ky as isize - 1, ox as isize + kx as isize - 1);
                                if iy < 0 || ix < 0 || iy >= 5 || ix >= 4 {
                                    continue;
                                }
                                for c in 0..3 {
                                    let wr = wv[((j * 3 + ky) * 3 + kx) * 3 + c] as f32 * w_scales[j];
                                    exact += im[(iy as usize * 4 + ix as usize) * 3 + c] * wr;
                                    bound += wr.abs() * step * 0.5;
                                }
                            }
                        }
                        let got = out[((nb * 5 + oy) * 4 + ox) * o + j];
                        assert!((got - exact.max(0.0)).abs() <= bound, "image {nb} ({oy},{ox}) ch {j}: {got} vs {exact}");
                    }
                }
            }
        }
    }
}
