//! Between the API threads and the control thread: [`ChannelHandler`] is the [`ApiHandler`] the server calls; it
//! hands each request over a channel and waits for the reply. On the control thread, [`ApiBridge`] turns what
//! arrives into `Input::Api` and routes each `Output::ApiReply` back to the waiting caller.

use super::server::ApiHandler;
use super::types::{Request, Response};
use crate::machine::{ApiRequestId, Input};
use std::collections::HashMap;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::time::Duration;

/// A request on its way to the control thread, with where to send the reply.
#[derive(Debug)]
pub struct ApiCall {
    pub request: Request,
    pub reply: Sender<Response>,
}

/// The API server's handler: forwards to the control thread and waits up to `timeout` for the answer.
#[derive(Debug)]
pub struct ChannelHandler {
    calls: SyncSender<ApiCall>,
    timeout: Duration,
}

/// A handler and the receiving end the control thread polls (bounded: a flood of requests waits, it does not
/// grow memory).
pub fn channel(timeout: Duration) -> (ChannelHandler, Receiver<ApiCall>) {
    let (tx, rx) = mpsc::sync_channel(64);
    (ChannelHandler { calls: tx, timeout }, rx)
}

impl ApiHandler for ChannelHandler {
    fn handle(&self, request: Request) -> Response {
        let (reply, answer) = mpsc::channel();
        if self.calls.send(ApiCall { request, reply }).is_err() {
            return Response::error("the control thread is gone");
        }
        answer.recv_timeout(self.timeout).unwrap_or_else(|_| {
            Response::error(format!("no answer from the control thread within {} s", self.timeout.as_secs()))
        })
    }
}

/// The control thread's side: ids for requests in flight and their reply channels.
#[derive(Debug, Default)]
pub struct ApiBridge {
    next_id: ApiRequestId,
    waiting: HashMap<ApiRequestId, Sender<Response>>,
}

impl ApiBridge {
    /// Registers a call; feed the returned input to the state machine.
    pub fn submit(&mut self, call: ApiCall) -> Input {
        self.next_id += 1;
        self.waiting.insert(self.next_id, call.reply);
        Input::Api { id: self.next_id, request: call.request }
    }

    /// Delivers an `Output::ApiReply` (ignored if the caller gave up).
    pub fn reply(&mut self, id: ApiRequestId, response: Response) {
        if let Some(tx) = self.waiting.remove(&id) {
            let _ = tx.send(response);
        }
    }

    /// Requests still waiting for the state machine.
    pub fn in_flight(&self) -> usize {
        self.waiting.len()
    }
}
