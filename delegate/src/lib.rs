//! armrest's engine: the graph IR, the claiming rules (per frontend), shape
//! planning and execution on armrest's kernels. It knows nothing of C ABIs:
//! the ffi crate adapts runtimes to the views defined here.

pub mod accuracy;
mod arena;
pub mod cast;
pub mod constant;
pub mod exec;
pub mod executorch;
pub mod fallback;
pub mod fuse;
pub mod hybrid;
pub mod ir;
pub mod log;
pub mod ops_extra;
pub mod options;
pub mod qexec;
pub mod qir;
pub mod qops_bind;
pub mod shapes;
pub mod tflite;
#[cfg(feature = "tract")]
pub mod tract_bridge;

pub use exec::Executor;
pub use options::Options;
pub use qexec::QExecutor;
