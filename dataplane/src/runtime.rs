//! Starting workers: the queues a worker polls and sends on, and where its loop runs — on an EAL worker lcore
//! (pinned by EAL), or on a plain thread when EAL was given only the main lcore, so that a one-core machine can
//! still run a gateway. The gateway and the bench's `fastpath` driver start their workers the same way, here.

use crate::dpdk::{DpdkError, Eal, LcoreJoinHandle, Port, QueueId, RxQueue, TxQueue};
use crate::worker::{Exit, Worker};
use crate::PortIndex;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;

/// The queues of one worker, as [`Worker`] takes them.
pub struct WorkerQueues {
    /// (port index, rx queue) pairs, polled in turn.
    pub rx: Vec<(PortIndex, RxQueue)>,
    /// Indexed by port index.
    pub tx: Vec<TxQueue>,
}

/// Queue `queue` of every port, in port order.
pub fn port_queues<'a>(ports: impl IntoIterator<Item = &'a Port>, queue: QueueId) -> Result<WorkerQueues, DpdkError> {
    let (mut rx, mut tx) = (Vec::new(), Vec::new());
    for (i, port) in ports.into_iter().enumerate() {
        rx.push((PortIndex(i), port.rx_queue(queue)?));
        tx.push(port.tx_queue(queue)?);
    }
    Ok(WorkerQueues { rx, tx })
}

/// A worker whose loop is running.
pub enum Running {
    Lcore(LcoreJoinHandle),
    Thread(JoinHandle<Exit>),
}

impl Running {
    /// Waits for the loop to end: how it ended, or `None` if it panicked.
    pub fn join(self) -> Option<Exit> {
        match self {
            Running::Lcore(handle) => exit_of(handle.join()),
            Running::Thread(handle) => handle.join().ok(),
        }
    }
}

/// Runs `worker` until `stop` is set (or its idler ends it): on EAL worker `lcore`, or on a thread of its own
/// when there is none.
pub fn launch(eal: &Eal, lcore: Option<u32>, mut worker: Worker, stop: Arc<AtomicBool>) -> Result<Running, String> {
    match lcore {
        Some(lcore) => {
            eal.launch(lcore, move || code_of(worker.run(&stop))).map(Running::Lcore).map_err(|e| e.to_string())
        }
        None => std::thread::Builder::new()
            .name("pmipgw-worker".into())
            .spawn(move || worker.run(&stop))
            .map(Running::Thread)
            .map_err(|e| format!("starting the worker thread: {e}")),
    }
}

/// An lcore's function returns an `int`: how the loop ended, as one.
fn code_of(exit: Exit) -> i32 {
    match exit {
        Exit::Idle => 0,
        Exit::Stopped => 1,
    }
}

/// The exit an lcore's return code stands for; any other code is a failure (the trampoline's for a panic).
fn exit_of(code: i32) -> Option<Exit> {
    match code {
        0 => Some(Exit::Idle),
        1 => Some(Exit::Stopped),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exit_survives_the_lcore_return_code_and_a_failure_is_none() {
        for exit in [Exit::Idle, Exit::Stopped] {
            assert_eq!(exit_of(code_of(exit)), Some(exit));
        }
        assert_eq!(exit_of(-1), None, "the trampoline's code for a panic");
    }
}
