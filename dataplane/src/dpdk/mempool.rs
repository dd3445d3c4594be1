use std::ffi::CString;
use std::ptr::NonNull;

use super::error::last_error;
use super::{DpdkError, Mbuf};

/// Sizing of a packet-buffer pool.
#[derive(Clone, Debug)]
pub struct MempoolConfig {
    pub name: String,
    /// Number of mbufs; DPDK is most memory-efficient at 2^n - 1.
    pub size: u32,
    /// Per-lcore cache; must be <= 512 and <= size / 1.5.
    pub cache_size: u32,
    /// Data room per mbuf, headroom included.
    pub data_room: u16,
    /// NUMA socket, or `SOCKET_ID_ANY`.
    pub socket: i32,
}

impl MempoolConfig {
    pub fn new(name: &str, size: u32) -> Self {
        MempoolConfig {
            name: name.to_owned(),
            size,
            cache_size: 256.min(size / 2),
            data_room: dpdk_sys::RTE_MBUF_DEFAULT_BUF_SIZE as u16,
            socket: dpdk_sys::SOCKET_ID_ANY,
        }
    }
}

/// A pool of packet buffers (`rte_pktmbuf_pool_create`). Thread-safe: any lcore may allocate and free.
pub struct Mempool {
    raw: NonNull<dpdk_sys::rte_mempool>,
    name: String,
    size: u32,
}

// SAFETY: DPDK mempools are multi-producer/multi-consumer by default; the handle is a plain pointer to shared memory.
unsafe impl Send for Mempool {}
// SAFETY: as above; every method takes &self and DPDK synchronises internally.
unsafe impl Sync for Mempool {}

impl Mempool {
    pub fn create(config: &MempoolConfig) -> Result<Mempool, DpdkError> {
        let name = CString::new(config.name.as_str()).map_err(|_| DpdkError::MempoolCreate {
            name: config.name.clone(),
            size: config.size,
            reason: "the name contains a NUL byte".into(),
        })?;
        // SAFETY: `name` is a valid C string for the duration of the call; EAL must be initialised, which the
        // caller guarantees by holding an `Eal` (a failure before init is reported by DPDK through rte_errno).
        let raw = unsafe {
            dpdk_sys::rte_pktmbuf_pool_create(
                name.as_ptr(),
                config.size,
                config.cache_size,
                0,
                config.data_room,
                config.socket,
            )
        };
        NonNull::new(raw).map(|raw| Mempool { raw, name: config.name.clone(), size: config.size }).ok_or_else(|| {
            DpdkError::MempoolCreate { name: config.name.clone(), size: config.size, reason: last_error() }
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Mbufs in the pool, in use or not.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Mbufs currently allocated (held by ports' rings, in flight or leaked). Zero after a clean shutdown.
    pub fn in_use(&self) -> u32 {
        // SAFETY: raw is a live mempool; the count is read without side effects.
        unsafe { dpdk_sys::rte_mempool_in_use_count(self.raw.as_ptr()) }
    }

    /// Mbufs free in the pool (caches included).
    pub fn available(&self) -> u32 {
        // SAFETY: raw is a live mempool; read-only.
        unsafe { dpdk_sys::rte_mempool_avail_count(self.raw.as_ptr()) }
    }

    /// Allocates one packet buffer, reset and empty; `None` when the pool is exhausted.
    pub fn alloc(&self) -> Option<Mbuf> {
        // SAFETY: raw is a live pktmbuf pool; the returned mbuf (if any) is owned by the caller.
        let m = unsafe { dpdk_sys::shim_rte_pktmbuf_alloc(self.raw.as_ptr()) };
        // SAFETY: a non-null result is a freshly allocated mbuf nobody else references.
        NonNull::new(m).map(|m| unsafe { Mbuf::from_raw(m) })
    }

    pub(crate) fn as_ptr(&self) -> *mut dpdk_sys::rte_mempool {
        self.raw.as_ptr()
    }
}

impl Drop for Mempool {
    fn drop(&mut self) {
        let in_use = self.in_use();
        if in_use != 0 {
            // Freeing would leave those mbufs dangling: keep the memory (EAL cleanup releases it) and say so.
            tracing::warn!(pool = %self.name, in_use, "mempool still has mbufs in use at shutdown; not freeing it");
            return;
        }
        // SAFETY: no mbuf of this pool is in use and no port references it any more (ports hold an Arc).
        unsafe { dpdk_sys::rte_mempool_free(self.raw.as_ptr()) }
    }
}
