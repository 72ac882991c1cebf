//! CPU-feature dispatch: the instruction-set tiers armrest has kernels for,
//! which of them this CPU runs, and the best one.

use std::fmt;

/// An instruction-set tier. Every kernel entry point takes one and runs the
/// code written for it; `Scalar` is the portable reference and always works.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isa {
    /// Portable Rust, no SIMD assumptions: the reference every tier is tested against.
    Scalar,
    /// aarch64 Advanced SIMD (Neon), present on every aarch64 core.
    Neon,
    /// x86-64 AVX2 with FMA3.
    Avx2,
    /// x86-64 AVX-512 (F, VL) on top of AVX2+FMA: 512-bit GEMM tiles and
    /// depthwise kernels; the other kernels run their AVX2 code on it.
    Avx512,
}

impl Isa {
    /// Every tier, whatever this CPU supports, in order of preference (worst first).
    pub const ALL: [Isa; 4] = [Isa::Scalar, Isa::Neon, Isa::Avx2, Isa::Avx512];

    /// The option value naming this tier (`kernels=<name>`).
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Neon => "neon",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// Parses an option value; `None` when the name is unknown.
    pub fn parse(name: &str) -> Option<Isa> {
        Isa::ALL.into_iter().find(|isa| isa.name() == name)
    }

    /// Whether this CPU (and this build's target) can run the tier.
    pub fn is_available(self) -> bool {
        match self {
            Isa::Scalar => true,
            Isa::Neon => cfg!(target_arch = "aarch64") && neon_detected(),
            Isa::Avx2 => avx2_fma_detected(),
            Isa::Avx512 => avx2_fma_detected() && avx512_detected(),
        }
    }

    /// The best tier this CPU runs.
    pub fn best() -> Isa {
        Isa::ALL
            .into_iter()
            .rev()
            .find(|isa| isa.is_available())
            .unwrap_or(Isa::Scalar)
    }

    /// The names of all tiers available here, for error messages.
    pub fn available_names() -> Vec<&'static str> {
        Isa::ALL
            .into_iter()
            .filter(|isa| isa.is_available())
            .map(Isa::name)
            .collect()
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(target_arch = "aarch64")]
fn neon_detected() -> bool {
    std::arch::is_aarch64_feature_detected!("neon")
}
#[cfg(not(target_arch = "aarch64"))]
fn neon_detected() -> bool {
    false
}

#[cfg(target_arch = "x86_64")]
fn avx2_fma_detected() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}
#[cfg(not(target_arch = "x86_64"))]
fn avx2_fma_detected() -> bool {
    false
}

#[cfg(target_arch = "x86_64")]
fn avx512_detected() -> bool {
    std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512vl")
}
#[cfg(not(target_arch = "x86_64"))]
fn avx512_detected() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for isa in Isa::ALL {
            assert_eq!(Isa::parse(isa.name()), Some(isa));
        }
        assert_eq!(Isa::parse("sse9"), None);
    }

    #[test]
    fn best_is_available_and_scalar_always_is() {
        assert!(Isa::Scalar.is_available());
        assert!(Isa::best().is_available());
    }

    /// CI runs the aarch64 tests under qemu with each `-cpu` and sets
    /// `ARMREST_EXPECT_BEST_ISA` to the tier that core must select, so the
    /// dispatch is checked on a core that has exactly that tier.
    #[test]
    fn best_matches_expected_tier_when_told() {
        if let Ok(expected) = std::env::var("ARMREST_EXPECT_BEST_ISA") {
            assert_eq!(Isa::best().name(), expected);
        }
    }
}
