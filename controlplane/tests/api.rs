//! The management socket: permissions, request/reply framing, errors that say what was wrong, and the bridge to
//! a control thread.

use controlplane::api::*;
use controlplane::machine::{Input, Output};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

fn socket_path(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    std::env::temp_dir().join(format!("pmipgw-api-{}-{n}", std::process::id())).join(format!("{name}.sock"))
}

fn echo_handler(request: Request) -> Response {
    match request {
        Request::Stats => Response::done("stats!"),
        Request::KeysRelease { key } => Response::error(format!("GRE key {key:#010x} is not reserved")),
        other => Response::done(format!("{other:?}")),
    }
}

fn raw_exchange(path: &std::path::Path, line: &str) -> String {
    let mut s = UnixStream::connect(path).unwrap();
    s.write_all(line.as_bytes()).unwrap();
    let mut reply = String::new();
    BufReader::new(s).read_line(&mut reply).unwrap();
    reply
}

#[test]
fn socket_is_private_and_answers_json_lines() {
    let path = socket_path("a");
    let server = serve(&path, echo_handler).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let dir_mode = std::fs::metadata(path.parent().unwrap()).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700, "a directory we create is private too");

    let mut client = Client::connect(&path, Duration::from_secs(5)).unwrap();
    assert_eq!(client.call(&Request::Stats).unwrap(), Response::done("stats!"));
    // Several requests on one connection.
    assert_eq!(
        client.call(&Request::KeysRelease { key: 5 }).unwrap(),
        Response::error("GRE key 0x00000005 is not reserved")
    );

    let reply = raw_exchange(&path, "{\"command\":\"keys-release\",\"key\":\"five\"}\n");
    assert!(reply.contains("\"result\":\"error\"") && reply.contains("bad request"), "{reply}");
    let reply = raw_exchange(&path, "not json\n");
    assert!(reply.contains("bad request"), "{reply}");
    let reply = raw_exchange(&path, &format!("{}\n", "x".repeat(MAX_REQUEST_LEN + 10)));
    assert!(reply.contains("longer than"), "{reply}");

    drop(server);
    assert!(!path.exists(), "the socket file goes with the server");
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[test]
fn a_live_socket_is_not_taken_over_but_a_stale_one_is() {
    let path = socket_path("b");
    let first = serve(&path, echo_handler).unwrap();
    assert!(matches!(serve(&path, echo_handler), Err(ServeError::InUse(_))));
    drop(first);
    // A stale socket file (no one listening) is replaced.
    let stale = std::os::unix::net::UnixListener::bind(&path).unwrap();
    drop(stale);
    assert!(path.exists());
    let _second = serve(&path, echo_handler).unwrap();
    assert!(Client::connect(&path, Duration::from_secs(5)).unwrap().call(&Request::Stats).is_ok());
}

#[test]
fn client_errors_name_the_problem() {
    let err = Client::connect(&socket_path("none"), Duration::from_secs(1)).unwrap_err().to_string();
    assert!(err.contains("cannot connect to") && err.contains("is pmipgw running"), "{err}");
}

#[test]
fn the_bridge_carries_requests_to_a_control_thread_and_replies_back() {
    let (handler, calls) = channel(Duration::from_secs(5));
    let path = socket_path("c");
    let _server = serve(&path, handler).unwrap();
    // A stand-in control thread: requests become Input::Api; the "state machine" answers by id.
    let control = std::thread::spawn(move || {
        let mut bridge = ApiBridge::default();
        for _ in 0..2 {
            let call = calls.recv().unwrap();
            let Input::Api { id, request } = bridge.submit(call) else { panic!() };
            let out = Output::ApiReply { id, response: Response::done(format!("handled {request:?}")) };
            if let Output::ApiReply { id, response } = out {
                bridge.reply(id, response);
            }
        }
        bridge.in_flight()
    });
    let mut client = Client::connect(&path, Duration::from_secs(5)).unwrap();
    assert_eq!(client.call(&Request::Peers).unwrap(), Response::done("handled Peers"));
    assert_eq!(client.call(&Request::Keys).unwrap(), Response::done("handled Keys"));
    assert_eq!(control.join().unwrap(), 0);
}

#[test]
fn a_control_thread_that_never_answers_times_out_with_an_error() {
    let (handler, _calls) = channel(Duration::from_millis(50));
    let r = handler.handle(Request::Stats);
    assert!(matches!(r, Response::Error { ref error } if error.contains("no answer")), "{r:?}");
}

#[test]
fn dropping_the_server_after_its_socket_file_vanished_does_not_hang() {
    let path = socket_path("gone");
    let server = serve(&path, echo_handler).unwrap();
    std::fs::remove_file(&path).unwrap();
    drop(server);
}
