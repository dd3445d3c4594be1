//! The safe DPDK layer against a real EAL. EAL initialises once per process, so this test binary holds a single
//! test that walks through the checks in order.

use std::sync::Arc;

use dataplane::dpdk::{Burst, DpdkError, Eal, Mempool, MempoolConfig, Port, PortSetup, QueueId, RteHash, MAX_BURST};
use dataplane::packet::PacketBuf;

#[test]
fn dpdk_wrapper_owns_every_mbuf() {
    let prefix = format!("pmipgw-wrapper-{}", std::process::id());
    let eal =
        Eal::init(["test", "-l", "0", "--no-huge", "--no-shconf", "--no-pci", "-m", "128", "--file-prefix", &prefix])
            .expect("EAL init");
    assert!(matches!(Eal::init(["again"]), Err(DpdkError::EalAlreadyInitialised)));
    {
        let pool = Arc::new(Mempool::create(&MempoolConfig::new("wrapper_pool", 4095)).expect("mempool"));
        mbuf_bounds(&pool);
        burst_drain_frees_the_rest(&pool);
        rte_hash_finds_what_was_added();
        // net_ring0's tx ring is its own rx ring, of bounded size: transmitting without receiving fills it, so
        // a transmit is eventually partial.
        eal.probe_device("net_ring0").expect("net_ring0");
        let port = Port::open("net_ring0", &PortSetup::default(), pool.clone()).expect("port");
        port.start().expect("start");
        partial_transmit_frees_the_refused(&pool, &port);
        let held = port.rx_queue(QueueId(0)).expect("rx queue 0");
        assert!(matches!(port.rx_queue(QueueId(0)), Err(DpdkError::QueueTaken { .. })), "one owner per queue");
        drop(held);
        assert!(port.rx_queue(QueueId(0)).is_ok(), "a released queue can be taken again");
        assert!(port.rx_queue(QueueId(3)).is_err(), "only one rx queue is configured");
        drop(port);
        assert_eq!(pool.in_use(), 0, "closing the port returned every mbuf");
        assert!(matches!(eal.probe_device("net_nosuchdriver0"), Err(DpdkError::Probe { .. })));
    }
    drop(eal);
}

fn mbuf_bounds(pool: &Mempool) {
    let mut m = pool.alloc().expect("alloc");
    assert_eq!(pool.in_use(), 1);
    assert!(m.is_empty());
    let headroom = m.headroom();
    assert_eq!(headroom, 128, "DPDK's default headroom");
    m.append(100).expect("append").fill(7);
    assert_eq!((m.len(), m.pkt_len()), (100, 100));
    assert!(m.prepend(headroom + 1).is_none(), "cannot prepend past the headroom");
    m.prepend(48).expect("prepend").fill(1);
    assert_eq!(m.len(), 148);
    assert_eq!(&m.data()[46..50], &[1, 1, 7, 7]);
    assert!(!m.adj(149));
    assert!(m.adj(48));
    assert!(m.data().iter().all(|&b| b == 7));
    assert!(m.trim(60));
    assert_eq!(m.len(), 40);
    assert!(!m.trim(41));
    m.data_mut().iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
    assert!(!m.keep(30, 11), "past the end");
    assert!(m.keep(10, 20), "the outer headers in front and the padding behind go");
    assert_eq!((m.len(), m.pkt_len(), m.headroom()), (20, 20, headroom + 10));
    assert_eq!(m.data().first().zip(m.data().last()), Some((&10, &29)));
    assert!(m.append(m.tailroom() + 1).is_none());
    drop(m);
    assert_eq!(pool.in_use(), 0, "dropping an Mbuf frees it");
}

fn burst_drain_frees_the_rest(pool: &Mempool) {
    let mut burst = Burst::new();
    for _ in 0..MAX_BURST {
        burst.push(pool.alloc().unwrap()).ok().unwrap();
    }
    let extra = pool.alloc().unwrap();
    assert!(burst.push(extra).is_err(), "a full burst gives the mbuf back");
    assert_eq!(pool.in_use(), MAX_BURST as u32, "the refused mbuf was freed when dropped");
    let taken: Vec<_> = burst.drain().take(10).collect();
    assert!(burst.is_empty());
    assert_eq!(pool.in_use(), 10, "an early-dropped drain frees what it did not yield");
    drop(taken);
    burst.push(pool.alloc().unwrap()).ok().unwrap();
    drop(burst);
    assert_eq!(pool.in_use(), 0, "dropping a burst frees its mbufs");
}

fn partial_transmit_frees_the_refused(pool: &Mempool, port: &Port) {
    let mut tx = port.tx_queue(QueueId(0)).unwrap();
    let mut rx = port.rx_queue(QueueId(0)).unwrap();
    let (mut sent, mut dropped) = (0, 0);
    for _ in 0..64 {
        let mut burst = Burst::new();
        for _ in 0..MAX_BURST {
            let mut m = pool.alloc().unwrap();
            m.append(60).unwrap().fill(0xab);
            burst.push(m).ok().unwrap();
        }
        let outcome = tx.send(&mut burst);
        assert!(burst.is_empty());
        assert_eq!(outcome.sent + outcome.dropped, MAX_BURST);
        assert_eq!(outcome.dropped_bytes, outcome.dropped * 60);
        sent += outcome.sent;
        dropped += outcome.dropped;
        if dropped > 0 {
            break;
        }
    }
    assert!(dropped > 0, "the ring never filled up: the test proves nothing");
    assert_eq!(pool.in_use() as usize, sent, "only the mbufs the driver took are still in use");
    let mut received = 0;
    let mut burst = Burst::new();
    loop {
        let n = rx.receive(&mut burst);
        if n == 0 {
            break;
        }
        assert!(burst.as_slice().iter().all(|m| m.len() == 60 && m.data()[0] == 0xab));
        received += n;
        burst.clear();
    }
    assert_eq!(received, sent, "everything sent came back through the loopback ring");
    assert_eq!(pool.in_use(), 0);
}

fn rte_hash_finds_what_was_added() {
    let mut hash = RteHash::new("wrapper_hash", 1024).expect("rte_hash");
    for key in 0..1000u64 {
        assert!(hash.add(key * 7919, key as u32 + 1), "key {key}");
    }
    // Present and absent keys mixed, one bulk call.
    let keys: Vec<u64> = (0..64u64).map(|i| if i % 2 == 0 { i * 7919 } else { 1_000_000 + i }).collect();
    let mut hashes: Vec<u32> = keys.iter().map(|k| RteHash::hash(*k)).collect();
    let mut out = [Some(0u32); 64];
    hash.lookup_bulk(&keys, &mut hashes, &mut out);
    for (i, found) in out.iter().enumerate() {
        let expected = (i % 2 == 0).then_some(i as u32 + 1);
        assert_eq!(*found, expected, "key {}", keys[i]);
    }
}
