//! Large tables on huge pages. A worker's binding records and index are read at random, one cache line per
//! packet: with 4 KiB pages a table of a million bindings spans 40,000 pages, far more than the TLB holds, and
//! every lookup also walks the page tables. Backed by 2 MiB transparent huge pages the same table is 80 pages.

/// A vector of `len` values from `fill`, whose memory the kernel is asked to back with transparent huge pages
/// (`madvise(MADV_HUGEPAGE)`) before any page is touched. Where the kernel has THP disabled, or the vector is
/// small, this is an ordinary vector.
pub fn huge_page_vec<T>(len: usize, mut fill: impl FnMut() -> T) -> Vec<T> {
    let mut values: Vec<T> = Vec::with_capacity(len);
    advise_huge_pages(values.spare_capacity_mut());
    values.extend((0..len).map(|_| fill()));
    values
}

const HUGE_PAGE: usize = 2 << 20;

/// Advises THP for the 2 MiB-aligned part of `memory`. A hint only: a refusal changes nothing.
fn advise_huge_pages<T>(memory: &mut [T]) {
    let start = memory.as_mut_ptr() as usize;
    let end = start + std::mem::size_of_val(memory);
    let aligned_start = start.next_multiple_of(HUGE_PAGE);
    let aligned_end = end - end % HUGE_PAGE;
    if aligned_end <= aligned_start {
        return;
    }
    // SAFETY: the range lies inside `memory`, an allocation this function has exclusive access to; MADV_HUGEPAGE
    // only changes how the kernel backs the pages, never their contents or the mapping's validity, and an error
    // (THP unsupported) leaves everything as it was.
    unsafe {
        libc::madvise(aligned_start as *mut libc::c_void, aligned_end - aligned_start, libc::MADV_HUGEPAGE);
    }
}
