//! Feeds arbitrary frames to the real fast path (the `PacketBuf` path, no EAL) of a gateway with both functions,
//! on every port and with every NIC checksum verdict, and checks its invariants (`dataplane::fuzzing`): no panic,
//! exactly one outcome per packet, dropped and punted packets unchanged, forwarded ones well formed. Each input is
//! also tried inside the frame shapes the gateway serves (`Fixture::check_input`).
#![no_main]

use dataplane::fuzzing::Fixture;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    FIXTURE.get_or_init(Fixture::new).check_input(data);
});
