//! DPDK's `rte_hash` over 8-byte keys with 32-bit values, for measuring it against the fast path's own index
//! (`bench`'s `hashcmp`): bulk lookups with hashes computed ahead, as its documentation recommends.

use super::error::{last_error, DpdkError};
use std::ffi::CString;
use std::os::raw::c_void;

/// Keys looked up in one call at most (`RTE_HASH_LOOKUP_BULK_MAX`).
pub const HASH_BULK_MAX: usize = 64;

/// An `rte_hash` table of `u64` keys and `u32` values. Freed on drop.
pub struct RteHash {
    table: *mut dpdk_sys::rte_hash,
}

// SAFETY: the table is only used through `&mut self` (adds) or `&self` (lookups, which rte_hash allows from any
// number of threads when no writer runs concurrently, which `&`/`&mut` guarantees here).
unsafe impl Send for RteHash {}

impl RteHash {
    /// A table for `entries` keys (EAL must be initialised).
    pub fn new(name: &str, entries: u32) -> Result<Self, DpdkError> {
        let c_name = CString::new(name).map_err(|_| DpdkError::EalArgument(name.to_owned()))?;
        let params = dpdk_sys::rte_hash_parameters {
            name: c_name.as_ptr(),
            entries,
            key_len: 8,
            hash_func: Some(dpdk_sys::shim_rte_hash_crc),
            hash_func_init_val: 0,
            socket_id: -1,
            ..Default::default()
        };
        // SAFETY: params and the name it points to outlive the call; rte_hash_create copies what it keeps.
        let table = unsafe { dpdk_sys::rte_hash_create(&params) };
        if table.is_null() {
            return Err(DpdkError::HashCreate { name: name.to_owned(), entries, reason: last_error() });
        }
        Ok(RteHash { table })
    }

    /// The table's hash of `key` (CRC32-C, as the table was created with).
    #[inline]
    pub fn hash(key: u64) -> u32 {
        // SAFETY: a pure function of its arguments.
        unsafe { dpdk_sys::shim_rte_hash_crc_8byte(key, 0) }
    }

    /// Adds `key` → `value`; false when the table is full.
    pub fn add(&mut self, key: u64, value: u32) -> bool {
        // rte_hash stores the data pointer itself: the value travels in its bits, nothing is dereferenced.
        let data = value as usize as *mut c_void;
        // SAFETY: the table is live; the key is read (8 bytes) during the call only.
        let result = unsafe {
            dpdk_sys::rte_hash_add_key_with_hash_data(self.table, (&key as *const u64).cast(), Self::hash(key), data)
        };
        result == 0
    }

    /// Looks up `keys` (at most [`HASH_BULK_MAX`]) with their `hashes`, writing each value or `None` to `out`.
    #[inline]
    pub fn lookup_bulk(&self, keys: &[u64], hashes: &mut [u32], out: &mut [Option<u32>]) {
        let n = keys.len().min(hashes.len()).min(out.len()).min(HASH_BULK_MAX);
        let mut pointers = [std::ptr::null::<c_void>(); HASH_BULK_MAX];
        for (pointer, key) in pointers.iter_mut().zip(&keys[..n]) {
            *pointer = (key as *const u64).cast();
        }
        let mut data = [std::ptr::null_mut::<c_void>(); HASH_BULK_MAX];
        let mut hits = 0u64;
        // SAFETY: the table is live; `pointers` holds n pointers to keys that outlive the call, `hashes` n hashes,
        // and `data` room for n results.
        unsafe {
            dpdk_sys::rte_hash_lookup_with_hash_bulk_data(
                self.table,
                pointers.as_mut_ptr(),
                hashes.as_mut_ptr(),
                n as u32,
                &mut hits,
                data.as_mut_ptr(),
            );
        }
        for (i, slot) in out[..n].iter_mut().enumerate() {
            *slot = (hits >> i & 1 == 1).then(|| data[i] as usize as u32);
        }
    }
}

impl Drop for RteHash {
    fn drop(&mut self) {
        // SAFETY: the table was created by rte_hash_create and is freed once.
        unsafe { dpdk_sys::rte_hash_free(self.table) }
    }
}
