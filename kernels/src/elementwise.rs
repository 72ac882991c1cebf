//! Broadcasting binary ops, unary activations and PRELU.
//! SCAFFOLD: signatures fixed by the design; bodies are being written.

use crate::{Clamp, Exec};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Maximum,
    Minimum,
}

/// `out = clamp(a op b)` with numpy/TFLite broadcasting. All three shapes
/// have the same rank (the caller left-pads with 1s); each input dimension
/// is either the output's or 1.
#[allow(clippy::too_many_arguments)]
pub fn binary(exec: Exec, op: BinaryOp, a: &[f32], a_shape: &[usize], b: &[f32], b_shape: &[usize], out: &mut [f32], out_shape: &[usize], clamp: Clamp) {
    let _ = (exec, op, a, a_shape, b, b_shape, out, out_shape, clamp);
    unimplemented!("scaffold")
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UnaryOp {
    /// RELU, RELU6, RELU_N1_TO_1.
    Clamp(Clamp),
    /// LOGISTIC: 1 / (1 + exp(-x)).
    Logistic,
    Tanh,
    /// x * relu6(x + 3) / 6.
    HardSwish,
    /// x >= 0 ? x : alpha * x.
    LeakyRelu(f32),
}

/// `out[i] = op(x[i])`; `x` and `out` have the same length.
pub fn unary(exec: Exec, op: UnaryOp, x: &[f32], out: &mut [f32]) {
    let _ = (exec, op, x, out);
    unimplemented!("scaffold")
}

/// PRELU: `out = x >= 0 ? x : alpha * x`, alpha broadcast to x's shape
/// (same rank, each alpha dim equal or 1).
pub fn prelu(exec: Exec, x: &[f32], x_shape: &[usize], alpha: &[f32], alpha_shape: &[usize], out: &mut [f32]) {
    let _ = (exec, x, x_shape, alpha, alpha_shape, out);
    unimplemented!("scaffold")
}
