use std::ffi::CStr;

/// A DPDK call that failed, with what we were doing and DPDK's own words for the errno.
#[derive(Debug, thiserror::Error)]
pub enum DpdkError {
    #[error("EAL initialisation failed: {reason} (check the [dpdk] eal_args and the EAL messages above)")]
    EalInit { reason: String },
    #[error("EAL is already initialised in this process (it can be initialised only once)")]
    EalAlreadyInitialised,
    #[error("EAL argument {0:?} contains a NUL byte")]
    EalArgument(String),
    #[error("creating mempool {name:?} with {size} mbufs failed: {reason}")]
    MempoolCreate { name: String, size: u32, reason: String },
    #[error("creating hash table {name:?} for {entries} keys failed: {reason}")]
    HashCreate { name: String, entries: u32, reason: String },
    #[error("DPDK could not create device {devargs:?}: {reason} (unknown driver or bad devargs?)")]
    Probe { devargs: String, reason: String },
    #[error("no DPDK device named {0:?} (is its --vdev/--allow argument in the EAL arguments?)")]
    NoSuchDevice(String),
    #[error("port {port}: {operation} failed: {reason}")]
    Port { port: u16, operation: &'static str, reason: String },
    #[error("port {port}: {what}")]
    PortLimit { port: u16, what: String },
    #[error("port {port}: {queue_kind} queue {queue} is already taken by another worker")]
    QueueTaken { port: u16, queue_kind: &'static str, queue: super::port::QueueId },
    #[error("lcore {lcore} cannot take work: {reason}")]
    Lcore { lcore: u32, reason: String },
}

/// DPDK's text for an errno value (positive or negative).
pub(crate) fn strerror(code: i32) -> String {
    // SAFETY: rte_strerror returns a pointer to a static or thread-local NUL-terminated string for any input.
    let text = unsafe { CStr::from_ptr(dpdk_sys::rte_strerror(code.abs())) };
    format!("{} (errno {})", text.to_string_lossy(), code.abs())
}

/// The calling thread's `rte_errno`, as text.
pub(crate) fn last_error() -> String {
    // SAFETY: shim_rte_errno reads the calling thread's rte_errno; no other state is touched.
    strerror(unsafe { dpdk_sys::shim_rte_errno() })
}
