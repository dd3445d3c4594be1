//! ECN across the tunnel: RFC 5213 §5.6.3 (and RFC 5844 §4.1.4.2) require the full-functionality option of
//! RFC 3168 §9.1.1.

pub const NOT_ECT: u8 = 0b00;
pub const ECT1: u8 = 0b01;
pub const ECT0: u8 = 0b10;
pub const CE: u8 = 0b11;

/// The outer ECN field for an inner one: ECT(0)/ECT(1) are copied, Not-ECT stays Not-ECT, and CE becomes ECT(0)
/// (RFC 3168 §9.1.1: the outer header must not carry a mark the inner one already has).
pub fn on_encapsulation(inner: u8) -> u8 {
    match inner & 0x03 {
        CE => ECT0,
        other => other,
    }
}

/// The inner ECN field after decapsulation: CE on the outer header is propagated to an ECN-capable inner packet;
/// otherwise the inner field is unchanged (pmipv6.md §3.6).
pub fn on_decapsulation(outer: u8, inner: u8) -> u8 {
    let inner = inner & 0x03;
    if outer & 0x03 == CE && (inner == ECT0 || inner == ECT1) {
        CE
    } else {
        inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encapsulation_copies_ect_and_never_copies_ce() {
        assert_eq!(on_encapsulation(NOT_ECT), NOT_ECT);
        assert_eq!(on_encapsulation(ECT0), ECT0);
        assert_eq!(on_encapsulation(ECT1), ECT1);
        assert_eq!(on_encapsulation(CE), ECT0);
    }

    #[test]
    fn decapsulation_propagates_ce_to_ect_only() {
        for inner in [NOT_ECT, ECT0, ECT1, CE] {
            for outer in [NOT_ECT, ECT0, ECT1] {
                assert_eq!(on_decapsulation(outer, inner), inner, "outer {outer:02b} inner {inner:02b}");
            }
        }
        assert_eq!(on_decapsulation(CE, ECT0), CE);
        assert_eq!(on_decapsulation(CE, ECT1), CE);
        assert_eq!(on_decapsulation(CE, CE), CE);
        assert_eq!(on_decapsulation(CE, NOT_ECT), NOT_ECT);
    }
}
