//! L2 forwarding (being written).
