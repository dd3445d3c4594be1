//! Safe wrapper over dpdk-sys (being written).
