//! armrest's standalone runner as a library (the `armrest` binary is a thin
//! `main` over it): tract hosts a `.onnx` or `.tflite` model, armrest's
//! kernels replace the regions of nodes they support.

pub mod cli;
pub mod commands;
pub mod convert;
pub mod engine;
pub mod load;
pub mod npy;
pub mod region_op;
pub mod regions;
