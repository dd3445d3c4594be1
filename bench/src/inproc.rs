//! The gateway's fast path in-process, without EAL: the pipeline over [`VecPacket`]s with a table of N bindings,
//! built the way `pmipgw` builds it (static bindings through an [`UpdateSender`], then one worker table).

use crate::traffic;
use dataplane::binding::Function;
use dataplane::nexthop::IpFamily;
use dataplane::pipeline::{FastPath, PipelineConfig, PortConfig, Roles};
use dataplane::tables::{TableConfig, UpdateSender};
use dataplane::wire::ethernet::MacAddr;
use std::time::Duration;

/// One port with every role of `function`, like the throughput runs' configuration.
pub fn pipeline_config(function: Function) -> PipelineConfig {
    let roles = match function {
        Function::Lma => Roles { core: true, sgi: true, access: false },
        Function::Mag => Roles { core: true, access: true, sgi: false },
    };
    let addresses =
        vec![traffic::local_address(function, IpFamily::V6), traffic::local_address(function, IpFamily::V4)];
    let (lmaa, proxy_coa) = match function {
        Function::Lma => (addresses, Vec::new()),
        Function::Mag => (Vec::new(), addresses),
    };
    PipelineConfig {
        ports: vec![PortConfig {
            roles,
            mac: MacAddr(traffic::GATEWAY_MAC),
            next_hop_mac: Some(MacAddr(traffic::NEXT_HOP_MAC)),
            mtu: 1500,
            tx_ipv4_checksum_offload: false,
            icmp_source_v4: None,
            icmp_source_v6: None,
            outer_dscp: Default::default(),
        }],
        lmaa,
        proxy_coa,
        ..PipelineConfig::default()
    }
}

/// The control side's handle and one worker's pipeline.
pub struct Gateway {
    pub sender: UpdateSender,
    pub fast_path: FastPath,
}

impl Gateway {
    /// A gateway playing `function` with bindings `0..bindings` over `family`, tables sized for `capacity`.
    pub fn new(function: Function, family: IpFamily, bindings: u32, capacity: usize) -> Gateway {
        Self::configured(function, family, bindings, capacity, |_| {})
    }

    /// [`Gateway::new`] with the pipeline's configuration adjusted by `configure` first.
    pub fn configured(
        function: Function,
        family: IpFamily,
        bindings: u32,
        capacity: usize,
        configure: impl FnOnce(&mut PipelineConfig),
    ) -> Gateway {
        let mut sender =
            UpdateSender::new(TableConfig { capacity, queue_depth: 1 << 16, queue_wait: Duration::from_secs(1) });
        for i in 0..bindings {
            sender.install(traffic::binding(function, family, i)).expect("the traffic model's bindings are valid");
        }
        // Added after the installs, the worker's table is a copy of the replica and its queue starts empty.
        let table = sender.add_worker().expect("a worker table");
        let mut config = pipeline_config(function);
        configure(&mut config);
        let fast_path = FastPath::new(&config, table).expect("a valid pipeline config");
        Gateway { sender, fast_path }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::Direction;
    use dataplane::packet::VecPacket;
    use dataplane::pipeline::Verdict;
    use dataplane::PortIndex;

    /// Every direction's frames are forwarded (not dropped) by a gateway built from the traffic model: the
    /// harness's frames, configs and bindings agree.
    #[test]
    fn every_direction_forwards() {
        for d in Direction::ALL {
            let gw = Gateway::new(d.function, d.family, 100, 128);
            for i in [0, 57, 99] {
                let mut p = VecPacket::new(&traffic::frame(d, i, 64));
                assert_eq!(
                    gw.fast_path.process(PortIndex(0), &mut p),
                    Verdict::Forward(PortIndex(0)),
                    "{d} binding {i}"
                );
            }
            let mut unknown = VecPacket::new(&traffic::frame(d, 100, 64));
            assert!(matches!(gw.fast_path.process(PortIndex(0), &mut unknown), Verdict::Drop(_)), "{d}");
        }
    }
}
