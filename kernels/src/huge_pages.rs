//! Packed weights in transparent huge pages (Linux and Android).
//!
//! Packing writes every byte of freshly allocated memory, so with 4 KiB
//! pages set-up takes one page fault per 4 KiB of packed weights: about
//! 3,400 for MobileNetV2 224 (14 MB). Those faults are about half of the
//! set-up time. Inside [`packing_in_huge_pages`], [`crate::gemm::AlignedBuf`]s
//! are instead carved one after another from one region that is aligned to
//! 2 MiB and advised `MADV_HUGEPAGE`, so the kernel backs it with huge pages
//! and a fault covers 2 MiB.
//!
//! Only weights of [`MIN_BYTES`] or more go there: below that the faults
//! saved are a small part of set-up, and the last, partly used huge page is
//! a large part of the memory (MobileNetV3-like, 0.6 MB of weights: +1.6 MB
//! resident for no measurable set-up gain).
//!
//! A region is a reservation of address space. Its untouched tail is
//! unmapped when the scope ends, so it costs at most one partly used 2 MiB
//! page of memory. It is freed when the last buffer carved from it is
//! dropped.
//!
//! Nothing changes (plain heap buffers) when any of these hold:
//! - the target is not Linux or Android;
//! - transparent huge pages are off (`/sys/kernel/mm/transparent_hugepage/enabled`
//!   reads `[never]`, or the file is missing);
//! - `ARMREST_HUGE_PAGES` is `0`, `off` or `false`;
//! - a buffer does not fit in what is left of the region.
//!
//! Where the kernel's THP `defrag` setting lets faults in advised regions
//! compact memory (`madvise`, Debian's default), a fault may wait for
//! that compaction on a fragmented machine; `ARMREST_HUGE_PAGES=0` avoids it.

use std::cell::RefCell;
use std::sync::Arc;

/// Huge-page size the regions are aligned to (x86-64 and arm64 with 4 KiB base pages).
const HUGE: usize = 2 << 20;

/// Weights below this many bytes stay on the heap.
pub const MIN_BYTES: usize = 8 << 20;

/// Runs `f`, carving the [`crate::gemm::AlignedBuf`]s it makes on this thread
/// from one huge-page region of about `bytes_hint` bytes (the packed
/// weights' expected size; a little more is reserved for padding) when that
/// is at least [`MIN_BYTES`]. Buffers that do not fit come from the heap.
/// Scopes nest; the inner one wins.
pub fn packing_in_huge_pages<R>(bytes_hint: usize, f: impl FnOnce() -> R) -> R {
    if bytes_hint < MIN_BYTES {
        return f();
    }
    packing_in_region(bytes_hint, f)
}

/// [`packing_in_huge_pages`] whatever the size.
fn packing_in_region<R>(bytes_hint: usize, f: impl FnOnce() -> R) -> R {
    let region = if enabled() { Region::reserve(bytes_hint + bytes_hint / 2 + HUGE) } else { None };
    let outer = CARVER.with(|c| c.replace(region.map(|region| Carver { region: Arc::new(region), next: 0 })));
    // Restores the outer scope and trims this one, on return and on unwind.
    struct Restore(Option<Carver>);
    impl Drop for Restore {
        fn drop(&mut self) {
            if let Some(done) = CARVER.with(|c| c.replace(self.0.take())) {
                done.region.trim(done.next);
            }
        }
    }
    let _restore = Restore(outer);
    f()
}

thread_local! {
    static CARVER: RefCell<Option<Carver>> = const { RefCell::new(None) };
}

/// The open region of a [`packing_in_huge_pages`] scope and its first free byte.
struct Carver {
    region: Arc<Region>,
    next: usize,
}

/// Whether huge-page regions are used here (the setting and the kernel's, read once).
fn enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| {
        let off = std::env::var("ARMREST_HUGE_PAGES").is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "0" | "off" | "false" | "no"));
        !off && cfg!(any(target_os = "linux", target_os = "android"))
            && std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").is_ok_and(|s| !s.contains("[never]"))
    })
}

/// `len` zeroed floats, 64-byte aligned, from the current scope's region;
/// `None` outside a scope or when the region is full.
pub(crate) fn carve(len: usize) -> Option<HugeSlice> {
    CARVER.with(|c| {
        let mut c = c.borrow_mut();
        let carver = c.as_mut()?;
        let bytes = len.checked_mul(4)?.checked_add(63)? & !63;
        if bytes == 0 || carver.next + bytes > carver.region.usable {
            return None;
        }
        let offset = carver.next;
        carver.next += bytes;
        Some(HugeSlice { region: carver.region.clone(), offset, len })
    })
}

/// A range of a region that one buffer owns alone.
pub(crate) struct HugeSlice {
    region: Arc<Region>,
    /// Byte offset from the region's aligned start (a multiple of 64).
    offset: usize,
    /// Floats.
    len: usize,
}

impl HugeSlice {
    pub(crate) fn as_slice(&self) -> &[f32] {
        // SAFETY: [offset, offset + 4 len) lies in the region's mapped, zero-initialised part, which `self.region` keeps mapped.
        unsafe { std::slice::from_raw_parts(self.region.start.add(self.offset).cast::<f32>(), self.len) }
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [f32] {
        // SAFETY: as in as_slice, and `carve` hands each range to one HugeSlice only, so &mut self is exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.region.start.add(self.offset).cast::<f32>(), self.len) }
    }
}

/// An anonymous private mapping, its usable part aligned to [`HUGE`].
struct Region {
    /// The whole mapping, as `mmap` returned it, and its length: what `Drop` unmaps.
    base: *mut u8,
    mapped: std::sync::atomic::AtomicUsize,
    /// The aligned start and the bytes usable from it.
    start: *mut u8,
    usable: usize,
}

// SAFETY: a Region is plain memory; every access goes through a HugeSlice, which owns its range alone.
unsafe impl Send for Region {}
// SAFETY: as for Send; shared references only read their own ranges.
unsafe impl Sync for Region {}

impl Region {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn reserve(bytes: usize) -> Option<Region> {
        let usable = bytes.checked_next_multiple_of(HUGE)?;
        let len = usable.checked_add(HUGE)?;
        // SAFETY: an anonymous private mapping at an address of the kernel's choosing: no existing memory is touched.
        let base = unsafe {
            libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE, -1, 0)
        };
        if base == libc::MAP_FAILED {
            return None;
        }
        let base = base.cast::<u8>();
        let start = base.wrapping_add((HUGE - base as usize % HUGE) % HUGE);
        // SAFETY: [start, start + usable) lies inside the mapping just made (len leaves HUGE for the alignment).
        // Advice only: if the kernel refuses it, the region works with small pages.
        unsafe { libc::madvise(start.cast(), usable, libc::MADV_HUGEPAGE) };
        Some(Region { base, mapped: std::sync::atomic::AtomicUsize::new(len), start, usable })
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn reserve(_bytes: usize) -> Option<Region> {
        None
    }

    /// Unmaps the mapping from the first huge page past `used` bytes on;
    /// nothing may be carved from the region afterwards.
    fn trim(&self, used: usize) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            use std::sync::atomic::Ordering;
            let keep = (self.start as usize - self.base as usize) + used.next_multiple_of(HUGE);
            let mapped = self.mapped.load(Ordering::Relaxed);
            if keep < mapped {
                // SAFETY: [base + keep, base + mapped) is the mapping's own tail, past every range carved (all below start + used).
                if unsafe { libc::munmap(self.base.add(keep).cast(), mapped - keep) } == 0 {
                    self.mapped.store(keep, Ordering::Relaxed);
                }
            }
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let _ = used;
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        // SAFETY: the mapping's remaining part; no HugeSlice is left (each holds an Arc of this region).
        unsafe {
            libc::munmap(self.base.cast(), *self.mapped.get_mut());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gemm::{AlignedBuf, PackedWeights};
    use crate::Isa;

    fn weights(n: usize) -> Vec<f32> {
        (0..n).map(|i| ((i * 7919) % 1000) as f32 / 250.0 - 2.0).collect()
    }

    #[test]
    fn buffers_carved_from_a_region_pack_as_the_heap_ones_and_outlive_the_scope() {
        let shapes = [(24, 144), (1000, 1280), (3, 5), (160, 960), (17, 33)];
        let ws: Vec<Vec<f32>> = shapes.iter().map(|&(n, k)| weights(n * k)).collect();
        let bias = weights(1000);
        let heap: Vec<PackedWeights> = shapes.iter().zip(&ws).map(|(&(n, k), w)| PackedWeights::pack(Isa::best(), n, k, w, Some(&bias[..n]))).collect();
        let bytes: usize = heap.iter().map(|p| 4 * p.packed().len()).sum();
        let huge = packing_in_region(bytes, || {
            shapes.iter().zip(&ws).map(|(&(n, k), w)| PackedWeights::pack(Isa::best(), n, k, w, Some(&bias[..n]))).collect::<Vec<_>>()
        });
        for (h, p) in heap.iter().zip(&huge) {
            assert_eq!(h.packed().len(), p.packed().len());
            assert!(h.packed().iter().zip(p.packed()).all(|(a, b)| a.to_bits() == b.to_bits()));
            assert_eq!(p.packed().as_ptr() as usize % 64, 0, "64-byte aligned");
        }
        if enabled() {
            assert!(huge.iter().all(|p| p.is_in_huge_pages()), "every buffer fits the region");
        }
        // Dropping some buffers leaves the others readable.
        let mut huge = huge;
        let keep: Vec<f32> = huge[1].packed().to_vec();
        huge.remove(0);
        assert_eq!(huge[0].packed(), &keep[..]);
    }

    #[test]
    fn outside_a_scope_or_past_the_region_buffers_come_from_the_heap() {
        assert!(!AlignedBuf::zeroed(100).in_huge_pages());
        packing_in_region(1000, || {
            // The region holds at least its 2 MiB; 4 M floats (16 MB) do not fit.
            let big = AlignedBuf::zeroed(4 << 20);
            assert!(!big.in_huge_pages());
            assert!(big.as_slice().iter().all(|&v| v == 0.0));
            let small = AlignedBuf::zeroed(1000);
            assert_eq!(small.in_huge_pages(), enabled());
            assert!(small.as_slice().iter().all(|&v| v == 0.0));
        });
        // A scope's buffers, written and read after the scope ended and the region was trimmed.
        let mut bufs = packing_in_region(1 << 20, || (0..40).map(|i| AlignedBuf::zeroed(1000 + 37 * i)).collect::<Vec<_>>());
        for (i, b) in bufs.iter_mut().enumerate() {
            b.as_mut_slice().fill(i as f32);
        }
        for (i, b) in bufs.iter().enumerate() {
            assert!(b.as_slice().iter().all(|&v| v == i as f32), "buffer {i} overlaps another");
        }
    }

    #[test]
    fn small_weights_stay_on_the_heap() {
        assert!(!packing_in_huge_pages(MIN_BYTES - 1, || AlignedBuf::zeroed(1000)).in_huge_pages());
        assert_eq!(packing_in_huge_pages(MIN_BYTES, || AlignedBuf::zeroed(1000)).in_huge_pages(), enabled());
    }

    #[test]
    fn scopes_nest_and_unwind() {
        packing_in_region(1 << 20, || {
            let inner = packing_in_region(1 << 20, || AlignedBuf::zeroed(10));
            let outer = AlignedBuf::zeroed(10);
            assert_eq!((inner.in_huge_pages(), outer.in_huge_pages()), (enabled(), enabled()));
        });
        let r = std::panic::catch_unwind(|| packing_in_region(1 << 20, || panic!("packing failed")));
        assert!(r.is_err());
        assert!(!AlignedBuf::zeroed(10).in_huge_pages(), "the scope ended with the panic");
    }
}
