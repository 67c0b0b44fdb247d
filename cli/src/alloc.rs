//! Allocator settings shared by the `strata` and `strata-bench` binaries.

/// Keeps freed memory in the process for reuse: glibc otherwise serves every large buffer
/// (write buffers, encoded files, gathered batches) with a fresh `mmap` and returns it on
/// free, so each flush pays page faults for memory it just released. Call before any
/// thread starts.
pub fn tune() {
    // SAFETY: mallopt only changes glibc allocator thresholds; nothing else runs yet.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 512 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}
