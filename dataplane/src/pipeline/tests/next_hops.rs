//! Which Ethernet destination a forwarded packet gets: the binding's own next hop, else the port's resolved one,
//! else a counted drop; and the control thread's runtime changes reach the worker without a table update.

use super::*;
use crate::binding::BindingNextHops;
use crate::nexthop::IpFamily;

/// The standard gateway with no configured next hop on any port: everything must come from resolution.
fn unresolved_config() -> PipelineConfig {
    let mut config = config();
    for port in &mut config.ports {
        port.next_hop_mac = None;
    }
    config
}

const PEER: MacAddr = MacAddr([0x02, 0x0e, 0, 0, 0, 0x01]);
const UE: MacAddr = MacAddr([0x02, 0x0e, 0, 0, 0, 0x02]);
const ROUTER: MacAddr = MacAddr([0x02, 0x0e, 0, 0, 0, 0x03]);

fn dst(frame: &VecPacket) -> [u8; 6] {
    frame.data()[..6].try_into().unwrap()
}

#[test]
fn unresolved_next_hops_drop_under_their_reason_and_leave_the_packet_alone() {
    let gateway = Gateway::new(&unresolved_config(), &[lma_a(), mag_a()]);
    // LMA downlink (encapsulated towards the MAG) and MAG downlink (decapsulated towards the UE).
    gateway.assert_dropped(SGI, &plain(&udp4(CN4, UE_A4, 64)), DropReason::NextHopUnresolved);
    let to_ue = gre_keyed(DL_A, &udp4(CN4, UE_A4, 64));
    gateway.assert_dropped(CORE, &frame6(LMAA6, PCOA6, 47, &to_ue), DropReason::NextHopUnresolved);
    // LMA uplink: decapsulated towards the SGi router, which is not resolved either.
    let from_ue = gre_keyed(UL_A, &udp6(UE_A6, CN6, 64));
    gateway.assert_dropped(CORE, &frame6(PCOA6, LMAA6, 47, &from_ue), DropReason::NextHopUnresolved);
}

#[test]
fn the_binding_next_hop_wins_and_the_port_next_hop_follows_the_family() {
    let with_macs = |b: Binding| Binding { next_hop: BindingNextHops { core: Some(PEER), access: Some(UE) }, ..b };
    let config = unresolved_config();
    let gateway = Gateway::new(&config, &[with_macs(lma_a()), with_macs(mag_a())]);

    let (verdict, out) = gateway.run(SGI, &plain(&udp4(CN4, UE_A4, 64)));
    assert_eq!((verdict, dst(&out)), (Verdict::Forward(CORE), PEER.0), "LMA downlink to the binding's peer");
    let to_ue = gre_keyed(DL_A, &udp6(CN6, UE_A6, 64));
    let (verdict, out) = gateway.run(CORE, &frame6(LMAA6, PCOA6, 47, &to_ue));
    assert_eq!((verdict, dst(&out)), (Verdict::Forward(ACCESS), UE.0), "MAG downlink to the UE");

    // The SGi router is per family: resolving IPv6 does not route IPv4.
    config.next_hops.set(SGI, IpFamily::V6, Some(ROUTER));
    let from_ue6 = gre_keyed(UL_A, &udp6(UE_A6, CN6, 64));
    let (verdict, out) = gateway.run(CORE, &frame6(PCOA6, LMAA6, 47, &from_ue6));
    assert_eq!((verdict, dst(&out)), (Verdict::Forward(SGI), ROUTER.0));
    let from_ue4 = gre_keyed(UL_A, &udp4(UE_A4, CN4, 64));
    gateway.assert_dropped(CORE, &frame6(PCOA6, LMAA6, 47, &from_ue4), DropReason::NextHopUnresolved);

    // Withdrawn (the router stopped answering): drops again, at once.
    config.next_hops.set(SGI, IpFamily::V6, None);
    gateway.assert_dropped(CORE, &frame6(PCOA6, LMAA6, 47, &from_ue6), DropReason::NextHopUnresolved);
}

#[test]
fn a_configured_next_hop_serves_every_binding_without_a_mac_of_its_own() {
    let gateway = Gateway::standard();
    let (verdict, out) = gateway.run(SGI, &plain(&udp4(CN4, UE_B4, 64)));
    assert_eq!((verdict, dst(&out)), (Verdict::Forward(CORE), NEXT_HOP[CORE.get()].0));
}

/// Each role leaves through one port: a pipeline with a role on two ports is refused, naming the role and both
/// ports, and the same rule is what the gateway's configuration check calls (`check_roles`).
#[test]
fn a_role_on_two_ports_is_refused_naming_both() {
    let mut twice = config();
    twice.ports[ACCESS.get()].roles.sgi = true;
    let tables = UpdateSender::new(TableConfig::default()).add_worker().expect("a worker");
    let refused = FastPath::new(&twice, tables).err();
    let expected = PipelineConfigError::RoleOnTwoPorts { role: "sgi", first: SGI, second: ACCESS };
    assert_eq!(refused, Some(expected.clone()));
    assert_eq!(check_roles(twice.ports.iter().map(|p| p.roles)), Err(expected));
    assert_eq!(check_roles(config().ports.iter().map(|p| p.roles)), Ok(()));
    // Several roles on one port are fine.
    let one = Roles { core: true, sgi: true, access: true };
    assert_eq!(check_roles([one, Roles::default()]), Ok(()));
}
