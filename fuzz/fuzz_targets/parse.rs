//! Feeds arbitrary bytes to both entry points of the codec: a whole IP packet (`transport::parse`) and a bare
//! Mobility Header (`MhRepr::parse_bytes`, plus the zero-allocation option iterator). Besides "never panic", it
//! checks that whatever parses re-emits to something that parses back to the same value.
//!
//! Random bytes almost never carry valid IPv4/UDP/MH checksums, which would keep the fuzzer out of everything
//! behind them; so each input is also tried once more with the checksums it would need filled in.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    controlplane::fuzzing::check_input(data);
});
