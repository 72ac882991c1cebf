//! Giving memory back to the system after a delegate has built its
//! partitions: building copies every weight out of the model, packs it and
//! drops the copy, and glibc keeps those freed pages in the heap (small
//! blocks, and large ones once its mmap threshold has grown). `malloc_trim`
//! returns every whole free page. Other C libraries: nothing to do.

#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn return_freed_memory() {
    extern "C" {
        fn malloc_trim(pad: usize) -> std::os::raw::c_int;
    }
    // SAFETY: glibc's malloc_trim takes a byte count, touches only the allocator's own free lists.
    unsafe {
        malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn return_freed_memory() {}
