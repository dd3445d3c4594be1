//! The management API: JSON requests and replies, one object per line, over a Unix socket (mode 0600).
//!
//! * [`Request`] / [`Response`] — shared by the gateway and `pmipctl`.
//! * [`serve`] — the server thread over an [`ApiHandler`]; [`ChannelHandler`] + [`ApiBridge`] carry requests to
//!   the control thread and replies back.
//! * [`Client`] — what `pmipctl` connects with; [`render`] — the human-readable form of a reply.

mod bridge;
mod client;
mod render;
mod select;
mod server;
mod types;

pub use bridge::{channel, ApiBridge, ApiCall, ChannelHandler};
pub use client::{Client, ClientError};
pub use render::render;
pub use select::Matcher;
pub use server::{serve, ApiHandler, ApiServer, ServeError, DEFAULT_SOCKET, MAX_CONNECTIONS, MAX_REQUEST_LEN};
pub use types::*;
