//! Signalling framing (work in progress).
