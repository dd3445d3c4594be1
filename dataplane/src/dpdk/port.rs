use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::error::strerror;
use super::{Burst, DpdkError, Mempool};

/// How to set up a port.
#[derive(Clone, Debug)]
pub struct PortSetup {
    pub rx_queues: u16,
    pub tx_queues: u16,
    pub rx_descriptors: u16,
    pub tx_descriptors: u16,
    /// L3 MTU to configure; `None` keeps the device default.
    pub mtu: Option<u16>,
    pub promiscuous: bool,
    /// Let the NIC verify received IPv4 header checksums where it can.
    pub rx_ipv4_checksum_offload: bool,
    /// Let the NIC fill transmitted IPv4 header checksums where it can.
    pub tx_ipv4_checksum_offload: bool,
}

impl Default for PortSetup {
    fn default() -> Self {
        PortSetup {
            rx_queues: 1,
            tx_queues: 1,
            rx_descriptors: 1024,
            tx_descriptors: 1024,
            mtu: None,
            promiscuous: true,
            rx_ipv4_checksum_offload: true,
            tx_ipv4_checksum_offload: true,
        }
    }
}

/// What the device can do, from `rte_eth_dev_info_get`.
#[derive(Clone, Debug)]
pub struct PortCapabilities {
    pub driver: String,
    pub max_rx_queues: u16,
    pub max_tx_queues: u16,
    pub min_mtu: u16,
    pub max_mtu: u16,
    pub rx_ipv4_checksum: bool,
    pub tx_ipv4_checksum: bool,
    pub tx_fast_free: bool,
    /// RSS hash functions over IP headers the device offers.
    pub rss_ip: u64,
}

/// Device counters (`rte_eth_stats_get`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceStats {
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    /// Dropped by the device because rx rings were full.
    pub rx_missed: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    /// Rx failures because the mempool was empty.
    pub rx_no_mbuf: u64,
}

struct PortShared {
    id: u16,
    name: String,
    capabilities: PortCapabilities,
    rx_offload_ipv4_checksum: bool,
    tx_offload_ipv4_checksum: bool,
    rx_taken: Vec<AtomicBool>,
    tx_taken: Vec<AtomicBool>,
    started: AtomicBool,
    // Keeps the pool alive as long as the port's rx rings may hold its mbufs.
    _pool: Arc<Mempool>,
}

/// A configured DPDK ethernet port. Cloning shares it; the port is stopped and closed (flushing, e.g., a
/// `tx_pcap` file) when the last clone and the last queue handle are gone.
#[derive(Clone)]
pub struct Port {
    shared: Arc<PortShared>,
}

impl Port {
    /// The port id of a device by its DPDK name (e.g. `net_pcap0`).
    pub fn find(name: &str) -> Result<u16, DpdkError> {
        let c_name = CString::new(name).map_err(|_| DpdkError::NoSuchDevice(name.to_owned()))?;
        let mut id = 0u16;
        // SAFETY: c_name is a valid C string; id is a valid out-pointer.
        let rc = unsafe { dpdk_sys::rte_eth_dev_get_port_by_name(c_name.as_ptr(), &mut id) };
        if rc != 0 {
            return Err(DpdkError::NoSuchDevice(name.to_owned()));
        }
        Ok(id)
    }

    /// Configures device `name` with `config`, rx queues drawing from `pool`. The port is not started.
    pub fn open(name: &str, config: &PortSetup, pool: Arc<Mempool>) -> Result<Port, DpdkError> {
        let id = Self::find(name)?;
        let capabilities = device_capabilities(id)?;
        let fail = |operation: &'static str, rc: i32| DpdkError::Port { port: id, operation, reason: strerror(rc) };
        if config.rx_queues == 0 || config.rx_queues > capabilities.max_rx_queues {
            return Err(DpdkError::PortLimit {
                port: id,
                what: format!(
                    "{} rx queues asked, device {name} offers 1..={}",
                    config.rx_queues, capabilities.max_rx_queues
                ),
            });
        }
        if config.tx_queues == 0 || config.tx_queues > capabilities.max_tx_queues {
            return Err(DpdkError::PortLimit {
                port: id,
                what: format!(
                    "{} tx queues asked, device {name} offers 1..={}",
                    config.tx_queues, capabilities.max_tx_queues
                ),
            });
        }
        if let Some(mtu) = config.mtu {
            if mtu < capabilities.min_mtu || mtu > capabilities.max_mtu {
                return Err(DpdkError::PortLimit {
                    port: id,
                    what: format!("MTU {mtu} outside the device's {}..={}", capabilities.min_mtu, capabilities.max_mtu),
                });
            }
        }

        let rx_offload_ipv4_checksum = config.rx_ipv4_checksum_offload && capabilities.rx_ipv4_checksum;
        let tx_offload_ipv4_checksum = config.tx_ipv4_checksum_offload && capabilities.tx_ipv4_checksum;
        let mut conf = dpdk_sys::rte_eth_conf::default();
        if let Some(mtu) = config.mtu {
            conf.rxmode.mtu = mtu as u32;
        }
        if rx_offload_ipv4_checksum {
            conf.rxmode.offloads |= dpdk_sys::RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
        }
        if tx_offload_ipv4_checksum {
            conf.txmode.offloads |= dpdk_sys::RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
        }
        if capabilities.tx_fast_free {
            // One pool, refcount 1 everywhere: the driver may recycle mbufs without per-packet checks.
            conf.txmode.offloads |= dpdk_sys::RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;
        }
        if config.rx_queues > 1 && capabilities.rss_ip != 0 {
            conf.rxmode.mq_mode = dpdk_sys::RTE_ETH_MQ_RX_RSS;
            conf.rx_adv_conf.rss_conf.rss_hf = capabilities.rss_ip;
        }

        // SAFETY: conf is a fully initialised rte_eth_conf; the port exists (found above) and is not started.
        let rc = unsafe { dpdk_sys::rte_eth_dev_configure(id, config.rx_queues, config.tx_queues, &conf) };
        if rc != 0 {
            return Err(fail("rte_eth_dev_configure", rc));
        }
        let (mut rx_desc, mut tx_desc) = (config.rx_descriptors, config.tx_descriptors);
        // SAFETY: valid port id and out-pointers.
        let rc = unsafe { dpdk_sys::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut rx_desc, &mut tx_desc) };
        if rc != 0 {
            return Err(fail("rte_eth_dev_adjust_nb_rx_tx_desc", rc));
        }
        // SAFETY: valid port id; returns a socket or SOCKET_ID_ANY.
        let socket = unsafe { dpdk_sys::rte_eth_dev_socket_id(id) };
        for queue in 0..config.rx_queues {
            // SAFETY: configured port; a null rxconf selects the driver defaults; pool is a live pktmbuf pool that
            // the port keeps alive through its Arc.
            let rc = unsafe {
                dpdk_sys::rte_eth_rx_queue_setup(id, queue, rx_desc, socket as u32, std::ptr::null(), pool.as_ptr())
            };
            if rc != 0 {
                return Err(fail("rte_eth_rx_queue_setup", rc));
            }
        }
        for queue in 0..config.tx_queues {
            // SAFETY: configured port; null txconf selects the driver defaults (offloads come from txmode).
            let rc = unsafe { dpdk_sys::rte_eth_tx_queue_setup(id, queue, tx_desc, socket as u32, std::ptr::null()) };
            if rc != 0 {
                return Err(fail("rte_eth_tx_queue_setup", rc));
            }
        }
        if config.promiscuous {
            // SAFETY: configured port. Failure is harmless (virtual devices often lack the notion).
            let rc = unsafe { dpdk_sys::rte_eth_promiscuous_enable(id) };
            if rc != 0 {
                tracing::debug!(port = id, "promiscuous mode not available: {}", strerror(rc));
            }
        }
        let taken = |n: u16| (0..n).map(|_| AtomicBool::new(false)).collect();
        Ok(Port {
            shared: Arc::new(PortShared {
                id,
                name: name.to_owned(),
                capabilities,
                rx_offload_ipv4_checksum,
                tx_offload_ipv4_checksum,
                rx_taken: taken(config.rx_queues),
                tx_taken: taken(config.tx_queues),
                started: AtomicBool::new(false),
                _pool: pool,
            }),
        })
    }

    pub fn id(&self) -> u16 {
        self.shared.id
    }

    pub fn name(&self) -> &str {
        &self.shared.name
    }

    pub fn capabilities(&self) -> &PortCapabilities {
        &self.shared.capabilities
    }

    /// Whether received packets carry the NIC's IPv4 checksum verdict.
    pub fn rx_ipv4_checksum_offloaded(&self) -> bool {
        self.shared.rx_offload_ipv4_checksum
    }

    /// Whether the NIC fills IPv4 header checksums on transmit for this port.
    pub fn tx_ipv4_checksum_offloaded(&self) -> bool {
        self.shared.tx_offload_ipv4_checksum
    }

    pub fn start(&self) -> Result<(), DpdkError> {
        // SAFETY: the port is configured with all its queues set up.
        let rc = unsafe { dpdk_sys::rte_eth_dev_start(self.shared.id) };
        if rc != 0 {
            return Err(DpdkError::Port { port: self.shared.id, operation: "rte_eth_dev_start", reason: strerror(rc) });
        }
        self.shared.started.store(true, Ordering::Release);
        Ok(())
    }

    /// Stops the port. Call only once no thread polls its queues any more.
    pub fn stop(&self) -> Result<(), DpdkError> {
        self.shared.stop()
    }

    /// The device's MAC address.
    pub fn mac_address(&self) -> Result<[u8; 6], DpdkError> {
        let mut addr = dpdk_sys::rte_ether_addr::default();
        // SAFETY: valid port id and out-pointer.
        let rc = unsafe { dpdk_sys::rte_eth_macaddr_get(self.shared.id, &mut addr) };
        if rc != 0 {
            return Err(DpdkError::Port {
                port: self.shared.id,
                operation: "rte_eth_macaddr_get",
                reason: strerror(rc),
            });
        }
        Ok(addr.addr_bytes)
    }

    /// The configured L3 MTU.
    pub fn mtu(&self) -> Result<u16, DpdkError> {
        let mut mtu = 0u16;
        // SAFETY: valid port id and out-pointer.
        let rc = unsafe { dpdk_sys::rte_eth_dev_get_mtu(self.shared.id, &mut mtu) };
        if rc != 0 {
            return Err(DpdkError::Port {
                port: self.shared.id,
                operation: "rte_eth_dev_get_mtu",
                reason: strerror(rc),
            });
        }
        Ok(mtu)
    }

    pub fn stats(&self) -> Result<DeviceStats, DpdkError> {
        let mut s = dpdk_sys::rte_eth_stats::default();
        // SAFETY: valid port id and out-pointer.
        let rc = unsafe { dpdk_sys::rte_eth_stats_get(self.shared.id, &mut s) };
        if rc != 0 {
            return Err(DpdkError::Port { port: self.shared.id, operation: "rte_eth_stats_get", reason: strerror(rc) });
        }
        Ok(DeviceStats {
            rx_packets: s.ipackets,
            tx_packets: s.opackets,
            rx_bytes: s.ibytes,
            tx_bytes: s.obytes,
            rx_missed: s.imissed,
            rx_errors: s.ierrors,
            tx_errors: s.oerrors,
            rx_no_mbuf: s.rx_nombuf,
        })
    }

    /// Takes rx queue `queue` for the calling worker; each queue can be held by one handle at a time.
    pub fn rx_queue(&self, queue: QueueId) -> Result<RxQueue, DpdkError> {
        take(&self.shared.rx_taken, self.shared.id, "rx", queue)?;
        Ok(RxQueue { port: self.shared.clone(), queue })
    }

    /// Takes tx queue `queue` for the calling worker; each queue can be held by one handle at a time.
    pub fn tx_queue(&self, queue: QueueId) -> Result<TxQueue, DpdkError> {
        take(&self.shared.tx_taken, self.shared.id, "tx", queue)?;
        Ok(TxQueue { port: self.shared.clone(), queue })
    }
}

fn take(flags: &[AtomicBool], port: u16, queue_kind: &'static str, queue: QueueId) -> Result<(), DpdkError> {
    let flag = flags.get(usize::from(queue.0)).ok_or_else(|| DpdkError::PortLimit {
        port,
        what: format!("{queue_kind} queue {queue} is not configured ({} configured)", flags.len()),
    })?;
    if flag.swap(true, Ordering::AcqRel) {
        return Err(DpdkError::QueueTaken { port, queue_kind, queue });
    }
    Ok(())
}

fn device_capabilities(id: u16) -> Result<PortCapabilities, DpdkError> {
    let mut info = dpdk_sys::rte_eth_dev_info::default();
    // SAFETY: valid port id (found by name) and out-pointer.
    let rc = unsafe { dpdk_sys::rte_eth_dev_info_get(id, &mut info) };
    if rc != 0 {
        return Err(DpdkError::Port { port: id, operation: "rte_eth_dev_info_get", reason: strerror(rc) });
    }
    let driver = if info.driver_name.is_null() {
        String::from("?")
    } else {
        // SAFETY: a non-null driver_name is a static NUL-terminated string owned by the driver.
        unsafe { CStr::from_ptr(info.driver_name) }.to_string_lossy().into_owned()
    };
    Ok(PortCapabilities {
        driver,
        max_rx_queues: info.max_rx_queues,
        max_tx_queues: info.max_tx_queues,
        min_mtu: info.min_mtu,
        max_mtu: info.max_mtu,
        rx_ipv4_checksum: info.rx_offload_capa & dpdk_sys::RTE_ETH_RX_OFFLOAD_IPV4_CKSUM != 0,
        tx_ipv4_checksum: info.tx_offload_capa & dpdk_sys::RTE_ETH_TX_OFFLOAD_IPV4_CKSUM != 0,
        tx_fast_free: info.tx_offload_capa & dpdk_sys::RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE != 0,
        rss_ip: info.flow_type_rss_offloads & dpdk_sys::RTE_ETH_RSS_IP,
    })
}

impl PortShared {
    fn stop(&self) -> Result<(), DpdkError> {
        if !self.started.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        // SAFETY: the port was started; callers stop it only once nothing polls it.
        let rc = unsafe { dpdk_sys::rte_eth_dev_stop(self.id) };
        if rc != 0 {
            return Err(DpdkError::Port { port: self.id, operation: "rte_eth_dev_stop", reason: strerror(rc) });
        }
        Ok(())
    }
}

impl Drop for PortShared {
    fn drop(&mut self) {
        if let Err(err) = self.stop() {
            tracing::warn!("{err}");
        }
        // SAFETY: last reference: no queue handle or Port clone remains, so nothing polls it; close releases the
        // device's rings (returning their mbufs to the pool) and flushes files of virtual devices.
        let rc = unsafe { dpdk_sys::rte_eth_dev_close(self.id) };
        if rc != 0 {
            tracing::warn!(port = self.id, "rte_eth_dev_close: {}", strerror(rc));
        }
    }
}

/// A queue's number on its port (rx and tx queues are numbered apart), as DPDK numbers them: worker `w` of the
/// gateway holds queue `w` of every port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueueId(pub u16);

impl std::fmt::Display for QueueId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Exclusive handle to one rx queue.
pub struct RxQueue {
    port: Arc<PortShared>,
    queue: QueueId,
}

impl RxQueue {
    pub fn port_id(&self) -> u16 {
        self.port.id
    }

    /// Receives up to the burst's spare room, appending to it; returns how many arrived.
    #[inline]
    pub fn receive(&mut self, burst: &mut Burst) -> usize {
        let spare = burst.spare();
        if spare == 0 {
            return 0;
        }
        let slots = burst.raw_slots_mut();
        // SAFETY: this handle owns the queue exclusively; slots[len..len+spare] is writable storage for mbuf
        // pointers; the driver writes `n` valid, caller-owned mbufs there.
        unsafe {
            let n = dpdk_sys::shim_rte_eth_rx_burst(self.port.id, self.queue.0, slots.add(burst.len()), spare as u16);
            burst.assume_filled(n as usize);
            n as usize
        }
    }
}

impl Drop for RxQueue {
    fn drop(&mut self) {
        self.port.rx_taken[usize::from(self.queue.0)].store(false, Ordering::Release);
    }
}

/// What happened to a transmitted burst.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxOutcome {
    pub sent: usize,
    /// Refused by the driver (ring full) and freed: counted, never leaked, never waited on.
    pub dropped: usize,
    /// Bytes of the refused packets.
    pub dropped_bytes: usize,
}

/// Exclusive handle to one tx queue.
pub struct TxQueue {
    port: Arc<PortShared>,
    queue: QueueId,
}

impl TxQueue {
    pub fn port_id(&self) -> u16 {
        self.port.id
    }

    /// Transmits the whole burst; what the driver does not take is freed and reported as dropped. The burst
    /// is empty afterwards.
    #[inline]
    pub fn send(&mut self, burst: &mut Burst) -> TxOutcome {
        let len = burst.len();
        if len == 0 {
            return TxOutcome::default();
        }
        let slots = burst.raw_slots_mut();
        // SAFETY: exclusive queue; slots[0..len] hold valid mbufs; the driver takes ownership of the first `sent`.
        let sent = unsafe { dpdk_sys::shim_rte_eth_tx_burst(self.port.id, self.queue.0, slots, len as u16) } as usize;
        burst.forget_front(sent);
        let dropped = burst.len();
        let dropped_bytes = burst.as_slice().iter().map(|m| m.pkt_len()).sum();
        burst.clear();
        TxOutcome { sent, dropped, dropped_bytes }
    }
}

impl Drop for TxQueue {
    fn drop(&mut self) {
        self.port.tx_taken[usize::from(self.queue.0)].store(false, Ordering::Release);
    }
}
