//! Property tests: random valid messages survive emit → parse unchanged, are laid out as the alignment rules
//! demand, travel through every framing; random or mutated bytes never panic the parsers.

use controlplane::transport::{self, FrameHeader, Framing, UdpPorts};
use controlplane::wire::option::*;
use controlplane::wire::*;
use proptest::collection::vec;
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Option types the codec interprets; raw (unknown) options must use another type.
const INTERPRETED: [u8; 19] = [0, 1, 3, 8, 19, 20, 22, 23, 24, 25, 26, 27, 28, 31, 33, 36, 37, 38, 39];

fn v6() -> impl Strategy<Value = Ipv6Addr> {
    any::<u128>().prop_map(Ipv6Addr::from)
}

fn v4() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

fn mn_id() -> impl Strategy<Value = MnId> {
    prop_oneof![
        "[a-z0-9@.éü-]{0,60}".prop_map(MnId::Nai),
        (2u8.., vec(any::<u8>(), 0..40)).prop_map(|(subtype, id)| MnId::Other { subtype, id }),
    ]
}

fn apn() -> impl Strategy<Value = Apn> {
    vec("[a-zA-Z0-9-]{1,12}", 1..5).prop_map(|labels| Apn::from_dotted(&labels.join(".")).unwrap())
}

fn three_gpp_ie() -> impl Strategy<Value = ThreeGppIe> {
    prop_oneof![
        any::<u8>().prop_map(ThreeGppIe::ErrorCode),
        (any::<u8>(), any::<u8>()).prop_map(|(pdn_type, cause)| ThreeGppIe::PdnTypeIndication { pdn_type, cause }),
        any::<u32>().prop_map(ThreeGppIe::ChargingId),
        any::<u8>().prop_map(ThreeGppIe::PdnConnectionId),
        (any::<u8>().prop_filter("raw sub-type", |s| ![2, 6, 7, 17].contains(s)), vec(any::<u8>(), 0..20))
            .prop_map(|(sub_type, data)| ThreeGppIe::Raw { sub_type, data }),
    ]
}

fn vendor() -> impl Strategy<Value = VendorOpt> {
    prop_oneof![
        three_gpp_ie().prop_map(VendorOpt::three_gpp),
        // Fragments (M = 1) always come back raw.
        (any::<u8>(), vec(any::<u8>(), 0..20))
            .prop_map(|(sub_type, data)| VendorOpt::ThreeGpp { ie: ThreeGppIe::Raw { sub_type, data }, more: true }),
        (any::<u32>().prop_filter("not 3GPP", |v| *v != VENDOR_3GPP), any::<u8>(), vec(any::<u8>(), 0..20))
            .prop_map(|(vendor_id, sub_type, data)| VendorOpt::Other { vendor_id, sub_type, data }),
    ]
}

fn raw_opt() -> impl Strategy<Value = RawOpt> {
    (any::<u8>().prop_filter("uninterpreted", |t| !INTERPRETED.contains(t)), vec(any::<u8>(), 0..24))
        .prop_map(|(opt_type, data)| RawOpt { opt_type, data })
}

fn options() -> BoxedStrategy<MhOptions> {
    let addressing = (
        proptest::option::of(mn_id()),
        proptest::option::of(apn()),
        vec((v6(), 0u8..=128).prop_map(|(addr, len)| Ipv6Prefix { addr, len }), 0..3),
        vec((0u8..=32, v4()).prop_map(|(prefix_len, addr)| Ipv4HoaRequest { prefix_len, addr }), 0..2),
        proptest::option::of((any::<u8>(), 0u8..=32, v4()).prop_map(|(status, prefix_len, addr)| Ipv4HoaReply {
            status,
            prefix_len,
            addr,
        })),
        proptest::option::of(v4()),
    )
        .boxed();
    let access = (
        proptest::option::of(any::<bool>().prop_map(|server| DhcpSupportMode { server })),
        proptest::option::of(any::<u8>().prop_map(HandoffIndicator)),
        proptest::option::of(any::<u8>().prop_map(AccessTechType)),
        proptest::option::of(vec(any::<u8>(), 0..16)),
        proptest::option::of(v6()),
        proptest::option::of(any::<u64>().prop_map(Timestamp)),
    )
        .boxed();
    let rest = (
        proptest::option::of(prop_oneof![Just(GreKeyOpt::NoKey), any::<u32>().prop_map(GreKeyOpt::Key)]),
        proptest::option::of(any::<u32>()),
        proptest::option::of(
            (any::<bool>(), any::<u32>())
                .prop_map(|(force_udp, refresh_time)| NatDetection { force_udp, refresh_time }),
        ),
        proptest::option::of(v6()),
        vec(vendor(), 0..3),
        vec(raw_opt(), 0..3),
    )
        .boxed();
    (addressing, access, rest)
        .prop_map(|(a, b, c)| {
            let (mn_id, service_selection, hnps, ipv4_hoa_reqs, ipv4_hoa_reply, ipv4_default_router) = a;
            let (dhcp_mode, hi, att, mn_ll_id, link_local, timestamp) = b;
            let (gre_key, restart_counter, nat_detection, alt_coa, vendor, unknown) = c;
            MhOptions {
                mn_id,
                service_selection,
                hnps,
                ipv4_hoa_reqs,
                ipv4_hoa_reply,
                ipv4_default_router,
                dhcp_mode,
                hi,
                att,
                mn_ll_id,
                link_local,
                timestamp,
                gre_key,
                restart_counter,
                nat_detection,
                alt_coa,
                vendor,
                unknown,
            }
        })
        .boxed()
}

fn message() -> BoxedStrategy<MhRepr> {
    let kind = prop_oneof![
        Just(HeartbeatKind::Request),
        Just(HeartbeatKind::Response),
        Just(HeartbeatKind::UnsolicitedResponse)
    ];
    prop_oneof![
        (any::<u16>(), any::<u16>(), any::<u16>(), options()).prop_map(|(seq, f, l, options)| {
            MhRepr::Pbu(PbuRepr { seq, flags: BuFlags(f), lifetime_units: l, options })
        }),
        (any::<u8>(), any::<u8>(), any::<u16>(), any::<u16>(), options()).prop_map(|(s, f, seq, l, options)| {
            MhRepr::Pba(PbaRepr { status: BaStatus(s), flags: BaFlags(f), seq, lifetime_units: l, options })
        }),
        (any::<u8>(), any::<u16>(), any::<u8>(), options()).prop_map(|(t, seq, f, options)| {
            MhRepr::Bri(BriRepr { trigger: RevocationTrigger(t), seq, flags: BrFlags(f), options })
        }),
        (any::<u8>(), any::<u16>(), any::<u8>(), options()).prop_map(|(s, seq, f, options)| {
            MhRepr::Bra(BraRepr { status: BraStatus(s), seq, flags: BrFlags(f), options })
        }),
        (kind, any::<u32>(), options())
            .prop_map(|(kind, seq, options)| { MhRepr::Heartbeat(HeartbeatRepr { kind, seq, options }) }),
        (any::<u8>(), v6(), options()).prop_map(|(status, home_addr, options)| {
            MhRepr::BindingError(BindingErrorRepr { status, home_addr, options })
        }),
        (any::<u8>().prop_filter("uninterpreted", |t| ![5, 6, 7, 13, 16].contains(t)), 0usize..10, any::<u8>())
            .prop_map(|(mh_type, n, fill)| MhRepr::Unknown { mh_type, data: vec![fill; 2 + 8 * n] }),
    ]
    .boxed()
}

fn framing() -> impl Strategy<Value = Framing> {
    let ports = (any::<u16>(), any::<u16>()).prop_map(|(a, b)| UdpPorts { src: a, dst: b });
    prop_oneof![
        Just(Framing::Ipv6),
        Just(Framing::Ipv6InIpv4),
        ports.clone().prop_map(|p| Framing::Ipv6InIpv4Udp(UdpPorts { dst: 5436, ..p })),
        ports.prop_map(|p| Framing::Ipv4Udp(UdpPorts { src: 5436, ..p })),
    ]
}

fn emit(repr: &MhRepr) -> Vec<u8> {
    let mut buf = vec![0u8; repr.buffer_len()];
    assert_eq!(repr.emit(&mut buf).unwrap(), buf.len());
    buf
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn emit_then_parse_is_identity(repr in message()) {
        let bytes = emit(&repr);
        prop_assert_eq!(MhRepr::parse_bytes(&bytes).unwrap(), repr);
    }

    #[test]
    fn emission_honours_alignment_and_length(repr in message().prop_filter("typed", |r| !matches!(r, MhRepr::Unknown { .. }))) {
        let bytes = emit(&repr);
        prop_assert_eq!(bytes.len() % 8, 0);
        let packet = MhPacket::new_checked(&bytes[..]).unwrap();
        prop_assert_eq!(packet.total_len(), bytes.len());
        let mut prev_pad = false;
        for item in packet.options() {
            let (offset, opt) = item.unwrap();
            let (x, y) = opt.alignment();
            prop_assert_eq!(offset % x, y, "option {} at {}", opt.opt_type(), offset);
            // Padding is minimal: never two pads in a row (one PadN is preferred over several Pad1).
            let is_pad = matches!(opt, MobilityOption::Pad1 | MobilityOption::PadN(_));
            prop_assert!(!(is_pad && prev_pad), "consecutive padding at {}", offset);
            if let MobilityOption::PadN(n) = opt {
                prop_assert!(n <= 5, "PadN larger than any alignment needs");
            }
            prev_pad = is_pad;
        }
    }

    #[test]
    fn frames_round_trip_in_every_form(repr in message(), framing in framing(),
                                       a6 in v6(), b6 in v6(), a4 in v4(), b4 in v4(), ttl in 1u8.., id in any::<u16>()) {
        let (src, dst): (IpAddr, IpAddr) = if framing.is_ipv4() { (a4.into(), b4.into()) } else { (a6.into(), b6.into()) };
        // The IPv4 identification exists only in the IPv4 forms.
        let ipv4_ident = if framing.is_ipv4() { id } else { 0 };
        let header = FrameHeader { framing, src, dst, hop_limit: ttl, ipv4_ident };
        let mut buf = vec![0u8; header.buffer_len(&repr)];
        transport::emit(&header, &repr, &mut buf).unwrap();
        let frame = transport::parse(&buf).unwrap();
        prop_assert_eq!(frame.header, header);
        prop_assert_eq!(frame.repr().unwrap(), repr);
        // The reply header mirrors addresses and ports.
        let reply = frame.header.reply();
        prop_assert_eq!((reply.src, reply.dst), (dst, src));
        prop_assert_eq!(reply.framing.reply(), framing);
    }

    #[test]
    fn random_bytes_never_panic(bytes in vec(any::<u8>(), 0..600)) {
        let _ = transport::parse(&bytes);
        let _ = MhRepr::parse_bytes(&bytes);
        if let Ok(p) = MhPacket::new_checked(&bytes[..]) {
            for _ in p.options() {}
        }
    }

    #[test]
    fn mutated_messages_never_panic(repr in message(), flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        let mut bytes = emit(&repr);
        for (i, v) in flips {
            let at = i.index(bytes.len());
            bytes[at] = v;
        }
        if let Ok(again) = MhRepr::parse_bytes(&bytes) {
            // Whatever still parses must re-emit and parse to itself.
            prop_assert_eq!(MhRepr::parse_bytes(&emit(&again)).unwrap(), again);
        }
    }

    #[test]
    fn timestamp_system_time_round_trip(raw in any::<u64>()) {
        let ts = Timestamp(raw);
        prop_assert_eq!(Timestamp::from_system_time(ts.to_system_time()), ts);
    }

    #[test]
    fn apn_dotted_round_trip(apn in apn()) {
        let dotted = apn.to_dotted();
        prop_assert_eq!(Apn::from_dotted(&dotted).unwrap(), apn.clone());
        prop_assert_eq!(Apn::from_wire(apn.as_wire()).unwrap(), apn);
    }
}
