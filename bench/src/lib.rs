//! pmipgw benchmarks: the traffic model and generators shared by the criterion benchmarks (`benches/`), the
//! throughput harness (`src/bin/harness.rs`), the churn and signalling drivers and the pktgen pcaps.
//!
//! See `bench/README.md` for the commands and the results.

pub mod chart;
pub mod dpdk_run;
pub mod gateway_config;
pub mod inproc;
pub mod keys;
pub mod pcap;
pub mod procfs;
pub mod results;
pub mod signalling;
pub mod telemetry;
pub mod traffic;
