//! TFLite weights lent to armrest's IR in place (see
//! `armrest_delegate::constant`): a `kTfLiteMmapRo` fp32 tensor's data is
//! read where the model holds it instead of being copied at set-up.
//!
//! Validity: TFLite keeps read-only (`kTfLiteMmapRo`) tensor data, which
//! points into the model's buffer, unchanged for the model's life, and the
//! model must outlive every interpreter built from it. armrest's IR lives in
//! a partition kernel, which the interpreter frees before it goes; nothing
//! armrest keeps beyond a kernel (the delegate's state) holds lent data.

use armrest_delegate::constant::{ConstData, LentF32};
use std::sync::Arc;

/// `len` fp32 values at `ptr`, owned by the TFLite model.
struct ModelWeights {
    ptr: *const f32,
    len: usize,
}

// SAFETY: the values are read-only for the model's life (see the module doc); sharing or sending
// a read-only address between threads is sound.
unsafe impl Send for ModelWeights {}
// SAFETY: as above: nobody writes the values.
unsafe impl Sync for ModelWeights {}

impl LentF32 for ModelWeights {
    fn values(&self) -> &[f32] {
        // SAFETY: `ptr` is non-NULL, 4-byte aligned and holds `len` fp32 values that stay valid and
        // unchanged while the model lives (checked and argued in `lend`).
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// Lends a read-only tensor's `bytes` as fp32 values, or `None` when they
/// cannot be read in place (misaligned, a size that is not whole floats,
/// or a big-endian host, where the model's little-endian bytes need a copy).
///
/// # Safety
/// `data` points to `bytes` bytes of a `kTfLiteMmapRo` tensor of a live
/// interpreter, whose model outlives whatever holds the returned value.
pub unsafe fn lend(data: *const u8, bytes: usize) -> Option<ConstData> {
    if cfg!(target_endian = "big") || data.is_null() || !bytes.is_multiple_of(4) || data.align_offset(std::mem::align_of::<f32>()) != 0 {
        return None;
    }
    Some(ConstData::Lent(Arc::new(ModelWeights { ptr: data.cast::<f32>(), len: bytes / 4 })))
}
