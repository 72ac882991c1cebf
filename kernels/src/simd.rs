//! A small SIMD abstraction (scalar, AVX2+FMA, Neon) so that the
//! elementwise, pooling, reduction, softmax and resize kernels are written
//! once and compiled per tier.
//! SCAFFOLD: being written.
