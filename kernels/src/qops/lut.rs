//! Unary int8 → int8 operators as one 256-entry table built at `new` from
//! the exact reference arithmetic of each operator on all 256 inputs, so the
//! table is bit-exact by construction; running the op is a table lookup.

use super::{par_chunks_mut, ELEMENTWISE_CHUNK};
use crate::Exec;

/// `table[q as u8]` is the output for input `q`.
#[derive(Clone, PartialEq, Eq)]
pub struct Lut {
    table: Box<[i8; 256]>,
}

impl std::fmt::Debug for Lut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lut").field("table", &&self.table[..]).finish()
    }
}

impl Lut {
    /// A table from the op's scalar definition `f(q)` for q in -128..=127.
    pub fn from_fn(f: impl Fn(i32) -> i8) -> Lut {
        let mut table = Box::new([0i8; 256]);
        for q in -128i32..=127 {
            table[(q as i8) as u8 as usize] = f(q);
        }
        Lut { table }
    }

    #[inline(always)]
    pub fn get(&self, q: i8) -> i8 {
        self.table[q as u8 as usize]
    }

    /// The 256 entries indexed by `q as u8`.
    pub fn table(&self) -> &[i8; 256] {
        &self.table
    }
}

/// `output[i] = lut(input[i])`.
pub fn qlut(exec: Exec, lut: &Lut, input: &[i8], output: &mut [i8]) {
    assert_eq!(input.len(), output.len(), "lookup table op: input and output lengths differ");
    par_chunks_mut(exec, output, ELEMENTWISE_CHUNK, &|start, out| {
        let src = &input[start..start + out.len()];
        for (o, &q) in out.iter_mut().zip(src) {
            *o = lut.get(q);
        }
    });
}
