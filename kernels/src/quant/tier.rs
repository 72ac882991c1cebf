//! The int8 tiers and their run-time detection.

use std::fmt;

use crate::Isa;

/// The int8 tiers (separate from the fp32 `Isa`, which stays as it is).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QTier {
    /// Portable Rust: the reference every tier is tested against.
    Scalar,
    /// aarch64 Advanced SIMD: SMLAL on int16-extended values.
    Neon,
    /// aarch64 with the dot-product extension (SDOT).
    NeonDot,
    /// aarch64 with the int8 matrix-multiply extension (SMMLA).
    NeonI8mm,
    /// x86-64 AVX2: int16-extended values, VPMADDWD.
    Avx2,
    /// x86-64 AVX-512 F/BW/VL with VNNI (VPDPBUSD).
    Avx512Vnni,
}

impl QTier {
    /// Every tier, worst first.
    pub const ALL: [QTier; 6] = [QTier::Scalar, QTier::Neon, QTier::NeonDot, QTier::NeonI8mm, QTier::Avx2, QTier::Avx512Vnni];

    /// The tier's name (`ARMREST_EXPECT_BEST_QTIER` values, reports).
    pub fn name(self) -> &'static str {
        match self {
            QTier::Scalar => "scalar",
            QTier::Neon => "neon",
            QTier::NeonDot => "neon_dot",
            QTier::NeonI8mm => "neon_i8mm",
            QTier::Avx2 => "avx2",
            QTier::Avx512Vnni => "avx512_vnni",
        }
    }

    /// Parses a tier name.
    pub fn parse(name: &str) -> Option<QTier> {
        QTier::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The fp32 tier whose family this tier belongs to.
    pub fn isa(self) -> Isa {
        match self {
            QTier::Scalar => Isa::Scalar,
            QTier::Neon | QTier::NeonDot | QTier::NeonI8mm => Isa::Neon,
            QTier::Avx2 => Isa::Avx2,
            QTier::Avx512Vnni => Isa::Avx512,
        }
    }

    /// Whether this CPU (and this build's target) runs the tier.
    pub fn is_available(self) -> bool {
        match self {
            QTier::Scalar => true,
            QTier::Neon => Isa::Neon.is_available(),
            QTier::NeonDot => Isa::Neon.is_available() && dotprod_detected(),
            QTier::NeonI8mm => Isa::Neon.is_available() && i8mm_detected(),
            QTier::Avx2 => Isa::Avx2.is_available(),
            QTier::Avx512Vnni => Isa::Avx512.is_available() && vnni_detected(),
        }
    }

    /// The tiers available here, worst first.
    pub fn available() -> Vec<QTier> {
        QTier::ALL.into_iter().filter(|t| t.is_available()).collect()
    }
}

impl fmt::Display for QTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The best int8 tier available on this CPU within `isa`'s family: i8mm,
/// then dotprod, then plain Neon for `Isa::Neon`; VNNI (else AVX2) for
/// `Isa::Avx512`; AVX2 for `Isa::Avx2`; scalar otherwise or when `isa` is
/// not available.
pub fn best_qtier(isa: Isa) -> QTier {
    let candidates: &[QTier] = match isa {
        Isa::Scalar => &[],
        Isa::Neon => &[QTier::NeonI8mm, QTier::NeonDot, QTier::Neon],
        Isa::Avx2 => &[QTier::Avx2],
        Isa::Avx512 => &[QTier::Avx512Vnni, QTier::Avx2],
    };
    candidates.iter().copied().find(|t| t.is_available()).unwrap_or(QTier::Scalar)
}

#[cfg(target_arch = "aarch64")]
fn dotprod_detected() -> bool {
    std::arch::is_aarch64_feature_detected!("dotprod")
}
#[cfg(not(target_arch = "aarch64"))]
fn dotprod_detected() -> bool {
    false
}
#[cfg(target_arch = "aarch64")]
fn i8mm_detected() -> bool {
    std::arch::is_aarch64_feature_detected!("i8mm")
}
#[cfg(not(target_arch = "aarch64"))]
fn i8mm_detected() -> bool {
    false
}
#[cfg(target_arch = "x86_64")]
fn vnni_detected() -> bool {
    std::arch::is_x86_feature_detected!("avx512vnni")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512vl")
}
#[cfg(not(target_arch = "x86_64"))]
fn vnni_detected() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_scalar_is_available() {
        for t in QTier::ALL {
            assert_eq!(QTier::parse(t.name()), Some(t));
        }
        assert_eq!(QTier::parse("sve9"), None);
        assert!(QTier::Scalar.is_available());
        for isa in Isa::ALL {
            assert!(best_qtier(isa).is_available());
        }
        assert_eq!(best_qtier(Isa::Scalar), QTier::Scalar);
    }

    /// CI runs the aarch64 tests under qemu with each `-cpu` and sets
    /// `ARMREST_EXPECT_BEST_QTIER` to the tier that core must select
    /// (cortex-a53: neon, neoverse-n1: neon_dot, max: neon_i8mm).
    #[test]
    fn best_matches_expected_tier_when_told() {
        if let Ok(expected) = std::env::var("ARMREST_EXPECT_BEST_QTIER") {
            assert_eq!(best_qtier(Isa::best()).name(), expected);
        }
    }
}
