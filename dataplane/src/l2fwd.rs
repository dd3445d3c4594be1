//! Plain L2 forwarding between port pairs with a MAC rewrite: the Foundation's processing, proving the
//! DPDK plumbing end to end (rx burst → rewrite → tx burst, no mbuf leaked) until the GRE pipeline replaces it.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::dpdk::{cpu_cycles, Burst, RxQueue, TxQueue};
use crate::idle::Idler;
use crate::packet::PacketBuf;
use crate::worker::Exit;

const ETHERNET_HEADER_LEN: usize = 14;

/// One direction: everything received on `rx` leaves on `tx` with its MAC addresses rewritten.
pub struct ForwardPath {
    pub rx: RxQueue,
    pub tx: TxQueue,
    /// Source MAC written into forwarded frames (the egress port's own address).
    pub src_mac: [u8; 6],
    /// Destination MAC written into forwarded frames (the next hop behind the egress port).
    pub dst_mac: [u8; 6],
    pub counters: ForwardCounters,
}

/// What one path did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ForwardCounters {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    /// Refused by the egress driver (ring full): freed and counted.
    pub tx_dropped: u64,
    /// Shorter than an Ethernet header: dropped.
    pub runt_dropped: u64,
}

/// Forwards until `stop` is set or the idler says the input has been quiet long enough.
pub fn run(paths: &mut [ForwardPath], idler: &mut Idler, stop: &AtomicBool) -> Exit {
    let mut rx_burst = Burst::new();
    let mut tx_burst = Burst::new();
    loop {
        let mut moved = 0;
        for path in paths.iter_mut() {
            moved += forward_once(path, &mut rx_burst, &mut tx_burst);
        }
        if stop.load(Ordering::Relaxed) {
            return Exit::Stopped;
        }
        if idler.after_poll(moved, cpu_cycles) {
            return Exit::Idle;
        }
    }
}

fn forward_once(path: &mut ForwardPath, rx_burst: &mut Burst, tx_burst: &mut Burst) -> usize {
    let received = path.rx.receive(rx_burst);
    if received == 0 {
        return 0;
    }
    let c = &mut path.counters;
    for mut mbuf in rx_burst.drain() {
        c.rx_packets += 1;
        c.rx_bytes += mbuf.pkt_len() as u64;
        let Some(eth) = mbuf.data_mut().get_mut(..ETHERNET_HEADER_LEN) else {
            c.runt_dropped += 1;
            continue; // dropping the mbuf frees it
        };
        eth[0..6].copy_from_slice(&path.dst_mac);
        eth[6..12].copy_from_slice(&path.src_mac);
        c.tx_bytes += mbuf.pkt_len() as u64;
        // tx_burst has MAX_BURST room and rx_burst holds at most that many: push cannot fail.
        let _ = tx_burst.push(mbuf);
    }
    let outcome = path.tx.send(tx_burst);
    c.tx_packets += outcome.sent as u64;
    c.tx_dropped += outcome.dropped as u64;
    c.tx_bytes -= outcome.dropped_bytes as u64;
    received
}
