use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::atomic::{AtomicBool, Ordering};

use super::error::{last_error, strerror};
use super::DpdkError;

static EAL_INITIALISED: AtomicBool = AtomicBool::new(false);

/// The initialised DPDK Environment Abstraction Layer. EAL initialises once per process; dropping this value
/// runs `rte_eal_cleanup`, so it must outlive every port, mempool and mbuf.
pub struct Eal {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Eal {
    /// Initialises EAL with `args` (the first is the program name, as in `argv[0]`).
    pub fn init<I, S>(args: I) -> Result<Eal, DpdkError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        if EAL_INITIALISED.swap(true, Ordering::SeqCst) {
            return Err(DpdkError::EalAlreadyInitialised);
        }
        let owned: Vec<CString> = args
            .into_iter()
            .map(|a| CString::new(a.as_ref()).map_err(|_| DpdkError::EalArgument(a.as_ref().to_owned())))
            .collect::<Result<_, _>>()?;
        // rte_eal_init may permute argv; it keeps no pointer past the call, but the strings must stay alive.
        let mut argv: Vec<*mut c_char> = owned.iter().map(|s| s.as_ptr() as *mut c_char).collect();
        // SAFETY: argv holds argc valid NUL-terminated strings that outlive the call; EAL runs once (guarded above).
        let rc = unsafe { dpdk_sys::rte_eal_init(argv.len() as c_int, argv.as_mut_ptr()) };
        if rc < 0 {
            return Err(DpdkError::EalInit { reason: last_error() });
        }
        Ok(Eal { _not_send: std::marker::PhantomData })
    }

    /// Creates (probes) a device from DPDK devargs, e.g. `net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap` or a PCI
    /// address. A device EAL already probed at init (e.g. an allowed PCI device) is accepted as is.
    pub fn probe_device(&self, devargs: &str) -> Result<(), DpdkError> {
        let c_args = CString::new(devargs).map_err(|_| DpdkError::EalArgument(devargs.to_owned()))?;
        // SAFETY: EAL is initialised; c_args is a valid C string for the duration of the call.
        let rc = unsafe { dpdk_sys::rte_dev_probe(c_args.as_ptr()) };
        if rc == 0 || rc == -libc_eexist() {
            return Ok(());
        }
        Err(DpdkError::Probe { devargs: devargs.to_owned(), reason: strerror(rc) })
    }

    /// Number of lcores EAL was given (`-l`/`--lcores`).
    pub fn lcore_count(&self) -> u32 {
        // SAFETY: EAL is initialised (self exists); the call only reads EAL configuration.
        unsafe { dpdk_sys::rte_lcore_count() }
    }

    /// The lcore running `main`.
    pub fn main_lcore(&self) -> u32 {
        // SAFETY: EAL is initialised; read-only.
        unsafe { dpdk_sys::rte_get_main_lcore() }
    }

    /// The worker lcores (every enabled lcore except the main one), in order.
    pub fn worker_lcores(&self) -> Vec<u32> {
        let mut lcores = Vec::new();
        let mut next = u32::MAX; // -1: start before the first lcore
        loop {
            // SAFETY: EAL is initialised; rte_get_next_lcore only reads the lcore table. skip_main=1, wrap=0.
            next = unsafe { dpdk_sys::rte_get_next_lcore(next, 1, 0) };
            if next >= dpdk_sys::RTE_MAX_LCORE {
                return lcores;
            }
            lcores.push(next);
        }
    }

    /// NUMA socket of the calling lcore (`SOCKET_ID_ANY` off-lcore).
    pub fn socket_id(&self) -> i32 {
        // SAFETY: EAL is initialised; read-only.
        unsafe { dpdk_sys::rte_socket_id() as i32 }
    }

    /// Runs `work` on worker lcore `lcore` (a thread EAL created and pinned to its core). Join the handle
    /// before dropping the resources `work` uses.
    pub fn launch<F>(&self, lcore: u32, work: F) -> Result<LcoreJoinHandle, DpdkError>
    where
        F: FnOnce() -> i32 + Send + 'static,
    {
        let boxed: Box<Box<dyn FnOnce() -> i32 + Send>> = Box::new(Box::new(work));
        let arg = Box::into_raw(boxed) as *mut c_void;
        // SAFETY: `trampoline` takes back ownership of `arg` exactly once, on the worker lcore; if the launch
        // fails EAL never calls it, and we reclaim the box below.
        let rc = unsafe { dpdk_sys::rte_eal_remote_launch(Some(trampoline), arg, lcore) };
        if rc != 0 {
            // SAFETY: the launch failed, so the trampoline did not and will not run: we still own `arg`.
            drop(unsafe { Box::from_raw(arg as *mut Box<dyn FnOnce() -> i32 + Send>) });
            return Err(DpdkError::Lcore { lcore, reason: strerror(rc) });
        }
        Ok(LcoreJoinHandle { lcore })
    }
}

const fn libc_eexist() -> i32 {
    17 // EEXIST on Linux
}

extern "C" fn trampoline(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the Box leaked by `Eal::launch`, handed to exactly one call of this function.
    let work = unsafe { Box::from_raw(arg as *mut Box<dyn FnOnce() -> i32 + Send>) };
    // A panic must not unwind into C: catch it and report a failure code instead.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).unwrap_or(-1)
}

/// A running lcore job; `join` waits for it and returns its code.
#[must_use = "join the lcore before releasing what it uses"]
pub struct LcoreJoinHandle {
    lcore: u32,
}

impl LcoreJoinHandle {
    pub fn lcore(&self) -> u32 {
        self.lcore
    }

    pub fn join(self) -> i32 {
        // SAFETY: called from the main lcore for an lcore we launched; waits until its job returns.
        unsafe { dpdk_sys::rte_eal_wait_lcore(self.lcore) }
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        // SAFETY: EAL is initialised; the returned string is EAL's own, valid until cleanup, copied at once.
        let runtime_dir = unsafe {
            let dir = dpdk_sys::rte_eal_get_runtime_dir();
            (!dir.is_null()).then(|| std::ffi::CStr::from_ptr(dir).to_string_lossy().into_owned())
        };
        // SAFETY: the caller dropped every DPDK object first (documented contract of Eal); runs once.
        let rc = unsafe { dpdk_sys::rte_eal_cleanup() };
        if rc != 0 {
            tracing::warn!("rte_eal_cleanup: {}", strerror(rc));
        }
        // EAL leaves its runtime directory (/var/run/dpdk/<file-prefix>) behind, one per prefix ever used; after
        // cleanup only the telemetry socket is left in it (unlinked by DPDK at exit, which would be too late to
        // remove the directory). Anything else in it (a shared configuration) is left alone.
        if let Some(dir) = runtime_dir {
            remove_runtime_dir(std::path::Path::new(&dir));
        }
    }
}

fn remove_runtime_dir(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let names: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.file_name())).collect();
    if names.iter().all(|n| n.to_string_lossy().starts_with("dpdk_telemetry")) {
        for name in names {
            let _ = std::fs::remove_file(dir.join(name));
        }
        let _ = std::fs::remove_dir(dir);
    }
}

/// The time-stamp counter (cycles): cheap enough for the fast path.
#[inline]
pub fn cpu_cycles() -> u64 {
    // SAFETY: reads the CPU's time-stamp counter; no memory is touched.
    unsafe { dpdk_sys::shim_rte_rdtsc() }
}

/// Time-stamp counter frequency as measured by EAL.
pub fn cycles_per_second() -> u64 {
    // SAFETY: read-only EAL value, valid after init (0 before, which callers treat as unknown).
    unsafe { dpdk_sys::rte_get_tsc_hz() }
}
