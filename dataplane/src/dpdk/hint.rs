//! CPU cache hints for the fast path's staged lookups.

/// Starts loading the cache line holding `value` into every cache level. A hint only: it never faults and
/// changes nothing observable, so it is safe to call with any reference.
#[inline(always)]
pub fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults, even on an invalid address, and has no effect Rust can observe; SSE is
    // part of the x86-64 baseline. `value` is a valid reference besides.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>((value as *const T).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}
