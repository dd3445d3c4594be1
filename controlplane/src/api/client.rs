//! The client side of the management socket, used by `pmipctl`.

use super::types::{Request, Response};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;
use thiserror::Error;

/// Why a request got no reply.
#[derive(Debug, Error)]
pub enum ClientError {
    #[error("cannot connect to {path}: {source} (is pmipgw running, and may this user open its socket?)")]
    Connect { path: String, source: io::Error },
    #[error("lost the connection to the gateway: {0}")]
    Io(#[from] io::Error),
    #[error("the gateway closed the connection without a reply")]
    Closed,
    #[error("the gateway sent a reply that is not valid JSON: {0}")]
    BadReply(String),
}

/// A connection to a gateway's management socket.
#[derive(Debug)]
pub struct Client {
    writer: UnixStream,
    reader: BufReader<UnixStream>,
}

impl Client {
    /// Connects; replies are awaited for at most `timeout` (a `pdn create` waits for the PBA, up to a minute).
    pub fn connect(path: &Path, timeout: Duration) -> Result<Client, ClientError> {
        let connect_err = |source| ClientError::Connect { path: path.display().to_string(), source };
        let stream = UnixStream::connect(path).map_err(connect_err)?;
        stream.set_read_timeout(Some(timeout))?;
        let reader = BufReader::new(stream.try_clone()?);
        Ok(Client { writer: stream, reader })
    }

    /// Sends one request and reads its reply.
    pub fn call(&mut self, request: &Request) -> Result<Response, ClientError> {
        let mut line = serde_json::to_string(request).map_err(|e| ClientError::BadReply(e.to_string()))?;
        line.push('\n');
        self.writer.write_all(line.as_bytes())?;
        self.writer.flush()?;
        let mut reply = String::new();
        if self.reader.read_line(&mut reply)? == 0 {
            return Err(ClientError::Closed);
        }
        serde_json::from_str(reply.trim()).map_err(|e| ClientError::BadReply(format!("{e}: {}", reply.trim())))
    }
}
