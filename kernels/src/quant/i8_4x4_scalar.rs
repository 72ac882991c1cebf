//! `i8_4x4_scalar`: the portable int8 GEMM micro-kernel (4x4 tile, plain
//! Rust); the reference and the fallback.

use super::{QTier, QUkernel};

pub const UKERNEL: QUkernel = QUkernel { name: "i8_4x4_scalar", tier: QTier::Scalar, mr: 4, nr: 4, kr: 1, ka: 0, kstep: 1, a_xor: 0, run };

/// See [`super::QRunFn`].
///
/// # Safety
/// The [`super::QRunFn`] contract for this kernel's layouts.
pub unsafe fn run(kp: usize, a: *const i8, b: *const i8, acc: *mut i32) {
    // SAFETY: the QRunFn contract: `a` holds 4 rows of kp values, `b` kp groups of 4, `acc` 16 values.
    let (a, b, acc) = unsafe { (std::slice::from_raw_parts(a, 4 * kp), std::slice::from_raw_parts(b, 4 * kp), std::slice::from_raw_parts_mut(acc, 16)) };
    let mut t = [[0i32; 4]; 4];
    for p in 0..kp {
        let bp = &b[p * 4..p * 4 + 4];
        for (i, ti) in t.iter_mut().enumerate() {
            let av = a[i * kp + p] as i32;
            for (tij, &bv) in ti.iter_mut().zip(bp) {
                *tij = tij.wrapping_add(av * bv as i32);
            }
        }
    }
    for (i, ti) in t.iter().enumerate() {
        acc[i * 4..i * 4 + 4].copy_from_slice(ti);
    }
}
