//! The ExecuTorch frontend: the blob `ArmrestBackend.preprocess` writes for
//! each delegated partition (format in `FORMAT.md` next to this file), read
//! into armrest's IR.

pub mod blob;
#[cfg(test)]
mod tests;

pub use blob::{parse, Blob, BlobError, MAGIC, VERSION};
