//! What goes into and comes out of the LMA and MAG state machines (sans-IO).
//!
//! The I/O loop owns the sockets, queues and the clock. It calls `handle(input, now, &mut outputs)` for each
//! punted packet (parsed with [`crate::transport`]), for each fast-path acknowledgement, for each management
//! request, and with [`Input::Tick`] whenever `next_deadline()` has passed; then it carries out the outputs in
//! order.

use crate::api::{Request, Response};
use crate::fastpath::{FastpathToken, TunnelId, TunnelUpdate};
use crate::session::PdnIdent;
use crate::transport::FrameHeader;
use crate::wire::{BaStatus, BindingErrorRepr, BraStatus, MhOptions, MhRepr};
use std::net::{IpAddr, Ipv6Addr};

/// Correlates a management request with its (possibly later) reply.
pub type ApiRequestId = u64;

/// One thing that happened. (Consumed at once, so the size of the message variant costs nothing worth a box.)
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)]
pub enum Input {
    /// A signalling message arrived, in the framing `header` describes (src = the peer, dst = us).
    Received { header: FrameHeader, msg: MhRepr },
    /// Time passed: fire due timers.
    Tick,
    /// Every worker has applied every update up to and including this token.
    FastpathApplied(FastpathToken),
    /// The tables refused this update (nothing of it was applied).
    FastpathRefused { token: FastpathToken, reason: String },
    /// A management request; answered by an [`Output::ApiReply`] with the same id, now or later.
    Api { id: ApiRequestId, request: Request },
}

/// One thing to do.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)]
pub enum Output {
    /// Send a signalling message (emit with [`crate::transport::emit`]); the gateway hands it to worker 0's inject
    /// queue.
    Send { header: FrameHeader, msg: MhRepr },
    /// Apply a table update on every worker, in order; acknowledge with [`Input::FastpathApplied`].
    Fastpath { token: FastpathToken, update: TunnelUpdate },
    /// Something to report (log line, event stream).
    Event(Event),
    /// The reply to [`Input::Api`].
    ApiReply { id: ApiRequestId, response: Response },
}

/// Why a binding ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// De-registration PBU (LMA), or the PBA to ours / its timeout (MAG).
    Deregistered,
    /// Lifetime ran out without a refresh.
    Expired,
    /// Binding Revocation (the BRA status, if one came back).
    Revoked(Option<BraStatus>),
    /// A new attachment (HI 1) for the same PDN connection replaced it.
    Replaced,
    /// The peer's Restart Counter changed (RFC 5847).
    PeerRestarted,
    /// The peer stopped answering heartbeats (RFC 5847).
    PeerUnreachable,
    /// The LMA refused the PBU with this status.
    Rejected(BaStatus),
    /// No PBA after the last retransmission.
    NoResponse,
    /// A PBA whose MN-ID / HI / ATT / LL-ID did not echo the PBU (RFC 5213 §6.9.1.2).
    BadEcho,
    /// The fast path refused the tunnel.
    FastpathRefused(String),
    /// A PBA accepted the binding but lacked what the fast path needs (e.g. no uplink GRE key).
    Incomplete(&'static str),
}

/// Reports for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// LMA: a new BCE, or MAG: a PDN connection established.
    BindingUp { id: TunnelId, pdn: PdnIdent, peer: IpAddr },
    /// The binding moved to another MAG (LMA) after a handover.
    Handover { id: TunnelId, from: IpAddr, to: IpAddr },
    /// The binding is gone, with everything it held.
    BindingDown { id: TunnelId, pdn: PdnIdent, reason: EndReason },
    /// The LMA answered a PBU with a rejection.
    PbuRejected { peer: IpAddr, status: BaStatus },
    /// A message was dropped on purpose (stale de-registration, unmatched PBA/BRA, ...).
    Ignored { peer: IpAddr, why: &'static str },
    /// A peer's Restart Counter changed.
    PeerRestarted { peer: IpAddr, old: u32, new: u32 },
    /// A peer missed more heartbeats than allowed.
    PeerUnreachable { peer: IpAddr },
    /// A peer answered a heartbeat with Binding Error: no more heartbeats to it.
    HeartbeatUnsupported { peer: IpAddr },
    /// Free-form note.
    Note(String),
}

/// RFC 6275 §9.2: the answer to a Mobility Header of a type we do not know — Binding Error, status 2.
pub(crate) fn unrecognized_type_reply(received: &FrameHeader) -> Output {
    let be = BindingErrorRepr {
        status: BindingErrorRepr::STATUS_UNRECOGNIZED_MH_TYPE,
        home_addr: Ipv6Addr::UNSPECIFIED,
        options: MhOptions::default(),
    };
    Output::Send { header: received.reply(), msg: MhRepr::BindingError(be) }
}
