//! Large tables on huge pages. A worker's binding records and index are read at random, one cache line per
//! packet: with 4 KiB pages a table of a million bindings spans 40,000 pages, far more than the TLB holds, and
//! every lookup also walks the page tables. Backed by 2 MiB transparent huge pages the same table is 80 pages.

use std::alloc::{self, Layout};
use std::ptr::NonNull;

/// `len` values from `fill` in memory the kernel is asked to back with transparent huge pages
/// (`madvise(MADV_HUGEPAGE)`) before any page is touched, starting on a 2 MiB boundary when they span at least one
/// huge page, so that all of them can be (an ordinary allocation leaves the ends, up to 2 MiB each, on 4 KiB pages:
/// half of a 4 MiB table). Where the kernel has THP disabled this is ordinary memory.
pub struct HugePages<T> {
    start: NonNull<T>,
    len: usize,
    layout: Layout,
}

// SAFETY: `HugePages` owns its values like a `Box<[T]>` does: sending or sharing it sends or shares them.
unsafe impl<T: Send> Send for HugePages<T> {}
// SAFETY: as above; `&HugePages` gives out only `&[T]`.
unsafe impl<T: Sync> Sync for HugePages<T> {}

impl<T> HugePages<T> {
    /// `len` values from `fill`, which must not panic (a panic leaks what was filled so far, safely).
    pub fn new(len: usize, mut fill: impl FnMut() -> T) -> Self {
        let size = std::mem::size_of::<T>().checked_mul(len).expect("a table that fits the address space");
        let align = if size >= HUGE_PAGE { HUGE_PAGE } else { std::mem::align_of::<T>() };
        let layout = Layout::from_size_align(size.max(1), align).expect("a power-of-two alignment");
        // SAFETY: the layout's size is at least 1.
        let raw = unsafe { alloc::alloc(layout) } as *mut T;
        let Some(start) = NonNull::new(raw) else { alloc::handle_alloc_error(layout) };
        if size >= HUGE_PAGE {
            advise_huge_pages(start.as_ptr() as usize, size);
        }
        for i in 0..len {
            // SAFETY: `i < len`, inside the allocation, aligned for `T`, and not yet initialised.
            unsafe { start.as_ptr().add(i).write(fill()) };
        }
        HugePages { start, len, layout }
    }
}

impl<T> std::ops::Deref for HugePages<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: `start` points at `len` initialised values this struct owns, alive as long as `self`.
        unsafe { std::slice::from_raw_parts(self.start.as_ptr(), self.len) }
    }
}

impl<T> std::ops::DerefMut for HugePages<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`, and `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.start.as_ptr(), self.len) }
    }
}

impl<T> Drop for HugePages<T> {
    fn drop(&mut self) {
        // SAFETY: the `len` values are initialised and dropped once, then the memory is given back with the layout
        // it was allocated with.
        unsafe {
            std::ptr::drop_in_place(std::ptr::slice_from_raw_parts_mut(self.start.as_ptr(), self.len));
            alloc::dealloc(self.start.as_ptr() as *mut u8, self.layout);
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for HugePages<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HugePages({} x {} B)", self.len, std::mem::size_of::<T>())
    }
}

const HUGE_PAGE: usize = 2 << 20;

/// Advises THP for the 2 MiB-aligned part of the `size` bytes at `start`. A hint only: a refusal changes nothing.
fn advise_huge_pages(start: usize, size: usize) {
    let end = start + size;
    let aligned_start = start.next_multiple_of(HUGE_PAGE);
    let aligned_end = end - end % HUGE_PAGE;
    if aligned_end <= aligned_start {
        return;
    }
    // SAFETY: the range lies inside an allocation the caller has exclusive access to; MADV_HUGEPAGE
    // only changes how the kernel backs the pages, never their contents or the mapping's validity, and an error
    // (THP unsupported) leaves everything as it was.
    unsafe {
        libc::madvise(aligned_start as *mut libc::c_void, aligned_end - aligned_start, libc::MADV_HUGEPAGE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_tables_start_on_a_huge_page_and_drop_their_values() {
        let table = HugePages::new(1 << 20, || 7u32);
        assert_eq!(table.as_ptr() as usize % HUGE_PAGE, 0, "4 MiB of u32 starts on a 2 MiB boundary");
        assert!(table.len() == 1 << 20 && table.iter().all(|&v| v == 7));
        let small = HugePages::new(3, || std::sync::Arc::new(1u8));
        let shared = std::sync::Arc::clone(&small[0]);
        assert_eq!(std::sync::Arc::strong_count(&shared), 2);
        drop(small);
        assert_eq!(std::sync::Arc::strong_count(&shared), 1, "the values are dropped with the table");
        assert!(HugePages::new(0, || 0u64).is_empty());
    }
}
