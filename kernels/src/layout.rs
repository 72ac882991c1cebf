//! Data movement: PAD, CONCATENATION, fp16 → fp32.
//! SCAFFOLD: signatures fixed by the design; bodies are being written.

/// Constant padding: `pads[d] = (before, after)` for each dimension of `shape`.
pub fn pad(input: &[f32], shape: &[usize], pads: &[(usize, usize)], value: f32, output: &mut [f32]) {
    let _ = (input, shape, pads, value, output);
    unimplemented!("scaffold")
}

/// Concatenation along `axis`; every input has the output's rank and equal
/// dimensions except along `axis`.
pub fn concat(inputs: &[(&[f32], &[usize])], axis: usize, output: &mut [f32]) {
    let _ = (inputs, axis, output);
    unimplemented!("scaffold")
}

/// IEEE half-precision bits → f32 (exact, including subnormals, inf, NaN).
pub fn f16_to_f32(bits: u16) -> f32 {
    let _ = bits;
    unimplemented!("scaffold")
}
