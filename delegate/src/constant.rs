//! The IR's constant fp32 data: either owned by armrest (an `Arc<[f32]>`:
//! ExecuTorch blobs, folded fp16 DEQUANTIZE outputs, densified weights,
//! anything armrest computes), or lent by the runtime (a TFLite model's
//! read-only weights, read in place so set-up neither copies them nor
//! faults in pages for a copy that packing makes redundant).
//!
//! Lending is safe here: whoever lends implements [`LentF32`] and answers
//! for the slice's validity (the ffi crate's TFLite view, at the ABI edge).

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// fp32 values kept alive and unchanged by something outside armrest.
///
/// An implementor's `values` returns the same slice, never written by
/// anyone, for as long as the implementor lives. (The TFLite view holds a
/// weight tensor's address: TFLite keeps `kTfLiteMmapRo` data for the
/// model's life, and the model outlives the interpreter, hence every
/// partition and the IR in it.)
pub trait LentF32: Send + Sync + std::panic::RefUnwindSafe {
    fn values(&self) -> &[f32];
}

/// A constant tensor's values, owned or lent. Derefs to `[f32]`.
#[derive(Clone)]
pub enum ConstData {
    Owned(Arc<[f32]>),
    Lent(Arc<dyn LentF32>),
}

impl ConstData {
    /// Whether the values are the runtime's (not a copy armrest holds).
    pub fn is_lent(&self) -> bool {
        matches!(self, ConstData::Lent(_))
    }
}

impl Deref for ConstData {
    type Target = [f32];

    fn deref(&self) -> &[f32] {
        match self {
            ConstData::Owned(v) => v,
            ConstData::Lent(l) => l.values(),
        }
    }
}

impl fmt::Debug for ConstData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_lent() {
            write!(f, "lent ")?;
        }
        <[f32] as fmt::Debug>::fmt(self, f)
    }
}

impl From<Arc<[f32]>> for ConstData {
    fn from(v: Arc<[f32]>) -> ConstData {
        ConstData::Owned(v)
    }
}

impl From<Vec<f32>> for ConstData {
    fn from(v: Vec<f32>) -> ConstData {
        ConstData::Owned(v.into())
    }
}

impl From<&[f32]> for ConstData {
    fn from(v: &[f32]) -> ConstData {
        ConstData::Owned(v.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Shared(Vec<f32>);

    impl LentF32 for Shared {
        fn values(&self) -> &[f32] {
            &self.0
        }
    }

    #[test]
    fn lent_and_owned_read_the_same_values() {
        let values = vec![1.0, -2.5, 3.25];
        let owned = ConstData::from(values.clone());
        let lent = ConstData::Lent(Arc::new(Shared(values.clone())));
        assert!(!owned.is_lent() && lent.is_lent());
        assert_eq!(&*owned, &values[..]);
        assert_eq!(&*lent, &values[..]);
        assert_eq!(&*lent.clone(), &values[..]);
        assert_eq!(format!("{owned:?}"), "[1.0, -2.5, 3.25]");
        assert_eq!(format!("{lent:?}"), "lent [1.0, -2.5, 3.25]");
    }
}
