//! CAST through the frontend and the typed executor: a uint8 image cast to
//! float32 feeding float ops, a float result cast to int32 and uint8
//! outputs, a float → int32 → float round trip inside a partition, and
//! clear refusals for the types armrest does not cast.

mod common;

use armrest_delegate::qexec::{TensorData, TensorDataMut};
use armrest_delegate::tflite::{claim_nodes, dtype, ops, BuiltinParams};
use armrest_delegate::QExecutor;
use common::{MockModel, MockTensor};

fn tensor(m: &mut MockModel, dt: i32, dims: &[i32]) -> i32 {
    m.tensors.push(MockTensor { dtype: dt, dims: dims.to_vec(), data: None, quantized: false });
    m.tensors.len() as i32 - 1
}

fn executors(m: &MockModel, inputs: &[i32], outputs: &[i32]) -> Vec<QExecutor> {
    let mut all = common::typed_executors(m, inputs, outputs, &[1]);
    for e in &mut all {
        e.prepare(&[vec![1, 2, 3, 4]]).unwrap();
    }
    all
}

/// uint8 image → CAST f32 → MUL by 10/255 → ADD -5 → CAST int32 and CAST uint8 (truncated toward zero).
#[test]
fn uint8_image_in_int32_out() {
    let mut m = MockModel::default();
    let dims = [1, 2, 3, 4];
    let img = tensor(&mut m, dtype::U8, &dims);
    let f = m.act(&dims);
    m.node(ops::CAST, &[img], &[f], BuiltinParams::None);
    let scale = m.constant(&[1], &[10.0 / 255.0]);
    let scaled = m.act(&dims);
    m.node(ops::MUL, &[f, scale], &[scaled], BuiltinParams::Activation { activation: 0 });
    let shift = m.constant(&[1], &[-5.0]);
    let centred = m.act(&dims);
    m.node(ops::ADD, &[scaled, shift], &[centred], BuiltinParams::Activation { activation: 0 });
    let idx = tensor(&mut m, dtype::I32, &dims);
    m.node(ops::CAST, &[centred], &[idx], BuiltinParams::None);
    let bytes = tensor(&mut m, dtype::U8, &dims);
    m.node(ops::CAST, &[centred], &[bytes], BuiltinParams::None);

    let pixels: Vec<u8> = (0..24).map(|i| (i * 11 % 256) as u8).collect();
    let want: Vec<i32> = pixels.iter().map(|&p| ((p as f32 * (10.0f32 / 255.0)) + -5.0) as i32).collect();
    for mut e in executors(&m, &[img], &[idx, bytes]) {
        // The runtime's uint8 tensors arrive flipped (`q ^ 0x80`), as the ffi hands them over.
        let held: Vec<i8> = pixels.iter().map(|&p| (p ^ 0x80) as i8).collect();
        let (mut y, mut b) = (vec![0i32; 24], vec![0i8; 24]);
        e.run(&[TensorData::I8(&held)], &mut [TensorDataMut::I32(&mut y), TensorDataMut::I8(&mut b)]).unwrap();
        assert_eq!(y, want, "{:?}", e.isa());
        let real: Vec<u8> = b.iter().map(|&q| q as u8 ^ 0x80).collect();
        assert_eq!(real, want.iter().map(|&v| v.clamp(0, 255) as u8).collect::<Vec<_>>(), "negative values saturate at 0");
        assert!(want.iter().any(|&v| v < 0) && want.iter().any(|&v| v > 0));
    }
}

/// float → CAST int32 → CAST float inside a partition: truncation toward zero.
#[test]
fn float_int_round_trip_inside_a_partition() {
    let mut m = MockModel::default();
    let dims = [1, 2, 3, 4];
    let x = m.act(&dims);
    let i = tensor(&mut m, dtype::I32, &dims);
    m.node(ops::CAST, &[x], &[i], BuiltinParams::None);
    let back = m.act(&dims);
    m.node(ops::CAST, &[i], &[back], BuiltinParams::None);
    let y = m.act(&dims);
    m.node(ops::RELU, &[back], &[y], BuiltinParams::None);
    let xs: Vec<f32> = (0..24).map(|k| (k as f32 - 11.5) * 0.7).collect();
    for mut e in executors(&m, &[x], &[y]) {
        let mut out = vec![0f32; 24];
        e.run(&[TensorData::F32(&xs)], &mut [TensorDataMut::F32(&mut out)]).unwrap();
        let want: Vec<f32> = xs.iter().map(|v| v.trunc().max(0.0)).collect();
        assert_eq!(out, want);
    }
}

#[test]
fn unsupported_casts_say_why() {
    let mut m = MockModel::default();
    let x = m.act(&[4]);
    let b = tensor(&mut m, 6, &[4]); // bool
    m.node(ops::CAST, &[x], &[b], BuiltinParams::None);
    let l = tensor(&mut m, dtype::I64, &[4]);
    m.node(ops::CAST, &[x], &[l], BuiltinParams::None);
    let reshaped = m.act(&[2, 2]);
    m.node(ops::CAST, &[x], &[reshaped], BuiltinParams::None);
    let two = m.act(&[4]);
    m.node(ops::CAST, &[x, x], &[two], BuiltinParams::None);
    let r = claim_nodes(&m, &m.plan());
    assert!(r.claimed.is_empty());
    let reasons: Vec<&str> = r.unclaimed.iter().map(|u| u.reason.as_str()).collect();
    assert!(reasons[0].contains("bool"), "{reasons:?}");
    assert!(reasons[1].contains("int64"), "{reasons:?}");
    assert!(reasons[2].contains("shape"), "{reasons:?}");
    assert!(reasons[3].contains("2 inputs"), "{reasons:?}");
}
