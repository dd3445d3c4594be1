//! The only safe layer over `dpdk-sys`: EAL, mempools, ports, mbufs and bursts; and the two CPU and memory hints
//! the fast path needs (cache prefetch, huge pages for its tables).
//!
//! Every `unsafe` block of the data plane lives in this module, each with a `// SAFETY:` line saying why it holds.
//! The types encode DPDK's ownership rules: an [`Mbuf`] is freed when dropped, a [`Burst`] frees whatever it still
//! holds, a transmit never leaks the mbufs the driver refused, and an rx/tx queue handle is owned by exactly one
//! thread at a time.

mod burst;
mod eal;
mod error;
mod flow;
mod hash;
mod hint;
mod mbuf;
mod memory;
mod mempool;
mod port;

pub use burst::{Burst, MAX_BURST};
pub use eal::{cpu_cycles, cycles_per_second, Eal, LcoreJoinHandle};
pub use error::DpdkError;
pub use hash::{RteHash, HASH_BULK_MAX};
pub use hint::prefetch;
pub use mbuf::Mbuf;
pub use memory::HugePages;
pub use mempool::{Mempool, MempoolConfig};
pub use port::{DeviceStats, Port, PortCapabilities, PortSetup, QueueId, RxQueue, TxOutcome, TxQueue};
