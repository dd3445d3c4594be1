//! Names of status codes and triggers for reports, the API and metrics (IANA registries; RFC 5213 §8.9,
//! RFC 5846 §6.1.1, §6.1.2).

use crate::wire::{BaStatus, BraStatus, RevocationTrigger};

/// Registry name of a PBA status (RFC 5213 / 5844 / 5845 / 5149 / 6275 names); `UNKNOWN_STATUS` otherwise.
pub fn ba_status_name(s: BaStatus) -> &'static str {
    match s.0 {
        0 => "ACCEPTED",
        1 => "ACCEPTED_PREFIX_DISCOVERY_NECESSARY",
        2 => "GRE_KEY_OPTION_NOT_REQUIRED",
        3 => "GRE_TUNNELING_BUT_TLV_HEADER_NOT_SUPPORTED",
        128 => "REASON_UNSPECIFIED",
        129 => "ADMINISTRATIVELY_PROHIBITED",
        130 => "INSUFFICIENT_RESOURCES",
        131 => "HOME_REGISTRATION_NOT_SUPPORTED",
        132 => "NOT_HOME_SUBNET",
        133 => "NOT_HOME_AGENT_FOR_THIS_MOBILE_NODE",
        134 => "DUPLICATE_ADDRESS_DETECTION_FAILED",
        135 => "SEQUENCE_NUMBER_OUT_OF_WINDOW",
        136 => "EXPIRED_HOME_NONCE_INDEX",
        137 => "EXPIRED_CARE_OF_NONCE_INDEX",
        138 => "EXPIRED_NONCES",
        139 => "REGISTRATION_TYPE_CHANGE_DISALLOWED",
        151 => "SERVICE_AUTHORIZATION_FAILED",
        152 => "PROXY_REG_NOT_ENABLED",
        153 => "NOT_LMA_FOR_THIS_MOBILE_NODE",
        154 => "MAG_NOT_AUTHORIZED_FOR_PROXY_REG",
        155 => "NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX",
        156 => "TIMESTAMP_MISMATCH",
        157 => "TIMESTAMP_LOWER_THAN_PREV_ACCEPTED",
        158 => "MISSING_HOME_NETWORK_PREFIX_OPTION",
        159 => "BCE_PBU_PREFIX_SET_DO_NOT_MATCH",
        160 => "MISSING_MN_IDENTIFIER_OPTION",
        161 => "MISSING_HANDOFF_INDICATOR_OPTION",
        162 => "MISSING_ACCESS_TECH_TYPE_OPTION",
        163 => "GRE_KEY_OPTION_REQUIRED",
        170 => "NOT_AUTHORIZED_FOR_IPV4_MOBILITY_SERVICE",
        171 => "NOT_AUTHORIZED_FOR_IPV4_HOME_ADDRESS",
        172 => "NOT_AUTHORIZED_FOR_IPV6_MOBILITY_SERVICE",
        173 => "MULTIPLE_IPV4_HOME_ADDRESS_ASSIGNMENT_NOT_SUPPORTED",
        174 => "INVALID_CARE_OF_ADDRESS",
        _ => "UNKNOWN_STATUS",
    }
}

/// `NAME (code)`, the form errors and events use.
pub fn ba_status_text(s: BaStatus) -> String {
    format!("{} ({})", ba_status_name(s), s.0)
}

/// Name of a BRA status (RFC 5846 §6.1.2).
pub fn bra_status_name(s: BraStatus) -> &'static str {
    match s.0 {
        0 => "SUCCESS",
        1 => "PARTIAL_SUCCESS",
        128 => "BINDING_DOES_NOT_EXIST",
        129 => "IPV4_HOME_ADDRESS_OPTION_REQUIRED",
        130 => "GLOBAL_REVOCATION_NOT_AUTHORIZED",
        131 => "REVOKED_MOBILE_NODES_IDENTITY_REQUIRED",
        132 => "REVOCATION_FAILED_MN_IS_ATTACHED",
        133 => "REVOCATION_TRIGGER_NOT_SUPPORTED",
        134 => "REVOCATION_FUNCTION_NOT_SUPPORTED",
        135 => "PROXY_BINDING_REVOCATION_NOT_SUPPORTED",
        _ => "UNKNOWN_STATUS",
    }
}

/// Name of a revocation trigger (RFC 5846 §6.1.1).
pub fn trigger_name(t: RevocationTrigger) -> &'static str {
    match t.0 {
        0 => "UNSPECIFIED",
        1 => "ADMINISTRATIVE_REASON",
        2 => "INTER_MAG_HANDOVER_SAME_ACCESS_TYPE",
        3 => "INTER_MAG_HANDOVER_DIFFERENT_ACCESS_TYPE",
        4 => "INTER_MAG_HANDOVER_UNKNOWN",
        5 => "USER_INITIATED_SESSION_TERMINATION",
        6 => "ACCESS_NETWORK_SESSION_TERMINATION",
        7 => "POSSIBLE_OUT_OF_SYNC_BCE_STATE",
        128 => "PER_PEER_POLICY",
        129 => "REVOKING_MOBILITY_NODE_LOCAL_POLICY",
        _ => "UNKNOWN_TRIGGER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_the_lma_sends_has_a_name() {
        for code in
            [0, 2, 129, 130, 135, 151, 152, 153, 154, 155, 156, 157, 158, 159, 160, 161, 162, 163, 170, 171, 172, 173]
        {
            assert_ne!(ba_status_name(BaStatus(code)), "UNKNOWN_STATUS", "{code}");
        }
        assert_eq!(ba_status_text(BaStatus::GRE_KEY_OPTION_REQUIRED), "GRE_KEY_OPTION_REQUIRED (163)");
        assert_eq!(bra_status_name(BraStatus::REVOCATION_FAILED_MN_ATTACHED), "REVOCATION_FAILED_MN_IS_ATTACHED");
        assert_eq!(trigger_name(RevocationTrigger::INTER_MAG_HANDOVER_UNKNOWN), "INTER_MAG_HANDOVER_UNKNOWN");
    }
}
