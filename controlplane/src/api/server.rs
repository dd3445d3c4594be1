//! The management socket: a Unix stream socket (mode 0600) served on its own thread, one JSON request per line,
//! one JSON reply per line, any number per connection. Each connection gets a thread (at most
//! [`MAX_CONNECTIONS`] at once) so a `pdn create` waiting for its PBA does not hold up `stats`.

use super::types::{Request, Response};
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use thiserror::Error;

/// Default socket path.
pub const DEFAULT_SOCKET: &str = "/run/pmipgw/pmipgw.sock";
/// Connections served at once; more are told to retry.
pub const MAX_CONNECTIONS: usize = 16;
/// Longest request line accepted.
pub const MAX_REQUEST_LEN: usize = 64 * 1024;

/// Answers management requests. Called on the connection's thread; may block (e.g. until a PBA arrives).
pub trait ApiHandler: Send + Sync + 'static {
    fn handle(&self, request: Request) -> Response;
}

impl<F: Fn(Request) -> Response + Send + Sync + 'static> ApiHandler for F {
    fn handle(&self, request: Request) -> Response {
        self(request)
    }
}

/// Why the socket could not be set up.
#[derive(Debug, Error)]
pub enum ServeError {
    #[error("cannot create the socket directory {path}: {source}")]
    Directory { path: String, source: io::Error },
    #[error("another process is already serving {0}")]
    InUse(String),
    #[error("cannot listen on {path}: {source}")]
    Bind { path: String, source: io::Error },
    #[error("cannot restrict {path} to mode 0600: {source}")]
    Permissions { path: String, source: io::Error },
    #[error("cannot start the API thread: {0}")]
    Thread(io::Error),
}

/// A running API server; dropping it stops the accept loop and removes the socket file.
#[derive(Debug)]
pub struct ApiServer {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ApiServer {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // A connection wakes the blocking accept. If the socket file is already gone, nothing can: the thread is
        // left blocked (it holds nothing but the listener) rather than joined forever.
        let woken = UnixStream::connect(&self.path).is_ok();
        if let (true, Some(t)) = (woken, self.thread.take()) {
            let _ = t.join();
        }
        let _ = fs::remove_file(&self.path);
    }
}

/// Listens on `path` (creating its directory with mode 0700 if missing, replacing a stale socket nobody serves)
/// and answers requests with `handler` on background threads.
pub fn serve(path: &Path, handler: impl ApiHandler) -> Result<ApiServer, ServeError> {
    let shown = path.display().to_string();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        fs::create_dir_all(dir)
            .and_then(|()| fs::set_permissions(dir, fs::Permissions::from_mode(0o700)))
            .map_err(|source| ServeError::Directory { path: dir.display().to_string(), source })?;
    }
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(ServeError::InUse(shown));
        }
        let _ = fs::remove_file(path);
    }
    let listener = UnixListener::bind(path).map_err(|source| ServeError::Bind { path: shown.clone(), source })?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
        .map_err(|source| ServeError::Permissions { path: shown, source })?;
    let stop = Arc::new(AtomicBool::new(false));
    let handler: Arc<dyn ApiHandler> = Arc::new(handler);
    let thread = {
        let stop = Arc::clone(&stop);
        thread::Builder::new()
            .name("pmipgw-api".into())
            .spawn(move || accept_loop(listener, handler, stop))
            .map_err(ServeError::Thread)?
    };
    Ok(ApiServer { path: path.to_owned(), stop, thread: Some(thread) })
}

fn accept_loop(listener: UnixListener, handler: Arc<dyn ApiHandler>, stop: Arc<AtomicBool>) {
    let active = Arc::new(AtomicUsize::new(0));
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(mut stream) = conn else { continue };
        if active.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
            let _ = write_reply(&mut stream, &Response::error("too many management connections; try again"));
            continue;
        }
        active.fetch_add(1, Ordering::SeqCst);
        let (handler, active2) = (Arc::clone(&handler), Arc::clone(&active));
        let spawned = thread::Builder::new().name("pmipgw-api-conn".into()).spawn(move || {
            serve_connection(stream, handler.as_ref());
            active2.fetch_sub(1, Ordering::SeqCst);
        });
        if spawned.is_err() {
            active.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Serves one connection until the peer closes it.
fn serve_connection(stream: UnixStream, handler: &dyn ApiHandler) {
    let Ok(mut writer) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = Vec::new();
        match reader.by_ref().take(MAX_REQUEST_LEN as u64 + 1).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if line.len() > MAX_REQUEST_LEN {
            let _ = write_reply(&mut writer, &Response::error(format!("request longer than {MAX_REQUEST_LEN} octets")));
            return;
        }
        let text = String::from_utf8_lossy(&line);
        if text.trim().is_empty() {
            continue;
        }
        let response = match serde_json::from_str::<Request>(text.trim()) {
            Ok(request) => handler.handle(request),
            Err(e) => Response::error(format!("bad request: {e}")),
        };
        if write_reply(&mut writer, &response).is_err() {
            return;
        }
    }
}

fn write_reply(w: &mut impl Write, response: &Response) -> io::Result<()> {
    let mut text = serde_json::to_string(response).map_err(io::Error::other)?;
    text.push('\n');
    w.write_all(text.as_bytes())?;
    w.flush()
}
