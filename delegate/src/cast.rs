//! TFLite CAST on armrest's typed tensors: a plain value conversion that
//! ignores quantization parameters, with LiteRT 2.3.0's results:
//!
//! - integer → float32: rounded to nearest;
//! - float32 → integer: truncated toward zero and saturated to the target
//!   type's range, NaN to its maximum (LiteRT 2.3.0; tflite-runtime 2.14
//!   wraps out-of-range values through int32 instead, the two agree in range);
//! - integer → narrower integer: wrapped to the low bits (both runtimes).
//!
//! uint8 tensors are held as `q ^ 0x80` (see [`crate::qir`]).

use crate::qexec::{TensorData, TensorDataMut};
use crate::qir::CastType;

/// One element on its way through: a float or an integer value.
#[derive(Clone, Copy)]
enum Num {
    F(f32),
    I(i64),
}

impl Num {
    fn float(self) -> f32 {
        match self {
            Num::F(v) => v,
            Num::I(v) => v as f32,
        }
    }
    // Float → integer: `as` truncates toward zero and saturates; NaN goes to the maximum.
    fn i32(self) -> i32 {
        match self {
            Num::F(v) if v.is_nan() => i32::MAX,
            Num::F(v) => v as i32,
            Num::I(v) => v as i32,
        }
    }
    fn i8(self) -> i8 {
        match self {
            Num::F(v) if v.is_nan() => i8::MAX,
            Num::F(v) => v as i8,
            Num::I(v) => v as i8,
        }
    }
    fn u8(self) -> u8 {
        match self {
            Num::F(v) if v.is_nan() => u8::MAX,
            Num::F(v) => v as u8,
            Num::I(v) => v as u8,
        }
    }
}

fn write<S: Copy>(x: &[S], read: impl Fn(S) -> Num, to: CastType, y: TensorDataMut) -> Result<(), String> {
    if x.len() != y.len() {
        return Err(format!("cast of {} values into {}", x.len(), y.len()));
    }
    match (to, y) {
        (CastType::F32, TensorDataMut::F32(y)) => y.iter_mut().zip(x).for_each(|(o, &v)| *o = read(v).float()),
        (CastType::I32, TensorDataMut::I32(y)) => y.iter_mut().zip(x).for_each(|(o, &v)| *o = read(v).i32()),
        (CastType::I8, TensorDataMut::I8(y)) => y.iter_mut().zip(x).for_each(|(o, &v)| *o = read(v).i8()),
        (CastType::U8, TensorDataMut::I8(y)) => y.iter_mut().zip(x).for_each(|(o, &v)| *o = (read(v).u8() ^ 0x80) as i8),
        (to, y) => return Err(format!("cast to {} into a {} buffer", to.name(), y.dtype().name())),
    }
    Ok(())
}

/// Converts `x` (of type `from`) into `y` (of type `to`); lengths must match.
pub fn cast(from: CastType, x: TensorData, to: CastType, y: TensorDataMut) -> Result<(), String> {
    match (from, x) {
        (CastType::F32, TensorData::F32(x)) => write(x, Num::F, to, y),
        (CastType::I32, TensorData::I32(x)) => write(x, |v| Num::I(v as i64), to, y),
        (CastType::I8, TensorData::I8(x)) => write(x, |v| Num::I(v as i64), to, y),
        (CastType::U8, TensorData::I8(x)) => write(x, |v| Num::I((v as u8 ^ 0x80) as i64), to, y),
        (from, x) => Err(format!("cast from {} of {} data", from.name(), x.dtype().name())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_f32(from: CastType, x: TensorData) -> Vec<f32> {
        let mut y = vec![0.0; x.len()];
        cast(from, x, CastType::F32, TensorDataMut::F32(&mut y)).unwrap();
        y
    }

    #[test]
    fn integers_to_float() {
        assert_eq!(to_f32(CastType::I32, TensorData::I32(&[0, -7, 16_777_217, i32::MIN])), vec![0.0, -7.0, 16_777_216.0, -2_147_483_648.0]);
        assert_eq!(to_f32(CastType::I8, TensorData::I8(&[-128, -1, 0, 127])), vec![-128.0, -1.0, 0.0, 127.0]);
        // uint8 held flipped: stored -128 is 0, stored 127 is 255.
        assert_eq!(to_f32(CastType::U8, TensorData::I8(&[-128, -1, 0, 127])), vec![0.0, 127.0, 128.0, 255.0]);
    }

    #[test]
    fn float_to_integers_truncates_and_saturates() {
        // LiteRT 2.3.0's CAST on these values (probed with its builtin kernel).
        let x = [2.9f32, -2.9, 0.49, 200.0, -1.0, 300.5, 3.0e9, -3.0e9, f32::NAN];
        let mut i = vec![0i32; x.len()];
        cast(CastType::F32, TensorData::F32(&x), CastType::I32, TensorDataMut::I32(&mut i)).unwrap();
        assert_eq!(i, vec![2, -2, 0, 200, -1, 300, i32::MAX, i32::MIN, i32::MAX]);
        let mut s = vec![0i8; x.len()];
        cast(CastType::F32, TensorData::F32(&x), CastType::I8, TensorDataMut::I8(&mut s)).unwrap();
        assert_eq!(s, vec![2, -2, 0, 127, -1, 127, 127, -128, 127]);
        let mut u = vec![0i8; x.len()];
        cast(CastType::F32, TensorData::F32(&x), CastType::U8, TensorDataMut::I8(&mut u)).unwrap();
        let real: Vec<u8> = u.iter().map(|&q| q as u8 ^ 0x80).collect();
        assert_eq!(real, vec![2, 0, 0, 200, 0, 255, 255, 0, 255]);
    }

    #[test]
    fn between_integers_wraps() {
        let mut s = vec![0i8; 4];
        cast(CastType::I32, TensorData::I32(&[1, 255, -129, 70_000]), CastType::I8, TensorDataMut::I8(&mut s)).unwrap();
        assert_eq!(s, vec![1, -1, 127, 112]);
        // int8 -1 → uint8 255 (held as 127); uint8 200 (held as 72) → int8 -56.
        let mut u = vec![0i8; 2];
        cast(CastType::I8, TensorData::I8(&[-1, 5]), CastType::U8, TensorDataMut::I8(&mut u)).unwrap();
        assert_eq!(u, vec![127, (5u8 ^ 0x80) as i8]);
        let mut b = vec![0i8; 1];
        cast(CastType::U8, TensorData::I8(&[72]), CastType::I8, TensorDataMut::I8(&mut b)).unwrap();
        assert_eq!(b, vec![-56]);
        let mut w = vec![0i32; 2];
        cast(CastType::U8, TensorData::I8(&[72, -128]), CastType::I32, TensorDataMut::I32(&mut w)).unwrap();
        assert_eq!(w, vec![200, 0]);
    }

    #[test]
    fn mismatched_buffers_are_errors() {
        let mut y = vec![0.0f32; 2];
        assert!(cast(CastType::I32, TensorData::F32(&[1.0, 2.0]), CastType::F32, TensorDataMut::F32(&mut y)).is_err());
        assert!(cast(CastType::F32, TensorData::F32(&[1.0]), CastType::F32, TensorDataMut::F32(&mut y)).is_err());
        let mut i = vec![0i32; 1];
        assert!(cast(CastType::F32, TensorData::F32(&[1.0]), CastType::I8, TensorDataMut::I32(&mut i)).is_err());
    }
}
