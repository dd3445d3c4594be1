//! The management API: JSON requests and replies, one object per line, over a Unix socket.
//!
//! * [`types`] — [`Request`] and [`Response`], shared by the gateway and `pmipctl`.

mod types;

pub use types::*;
