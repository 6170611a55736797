//! JSON batching: requests made while every Graph slot is busy wait in a queue, and whichever
//! caller gets the next slot takes up to 20 of them (removals first) in one `$batch` request.
//! An idle client sends a lone request as it is, so batching adds no wait; under load — a
//! mass expiry, a burst of activations — a slot carries twenty requests instead of one. Graph
//! answers each request of a batch on its own (status, `Retry-After`, body), throttles and
//! counts each against the quotas as if sent alone, and may answer them in any order.
use std::{
    collections::HashMap,
    sync::{Arc, atomic::Ordering},
};

use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::{
    GraphError,
    client::{Answer, GraphClient, Outgoing},
};

/// Graph's limit on the requests of one `$batch`.
const BATCH_LIMIT: usize = 20;

/// A request waiting for a slot, and where its answer goes.
pub struct Queued {
    id: u64,
    request: Outgoing,
    reply: oneshot::Sender<Result<Answer, GraphError>>,
}

/// Takes a request out of the queue when its caller stops waiting before it was sent (its
/// job stopped): no other caller may send it later, when what it asked for may be wrong
/// (an add after its grant ended).
struct Waiting<'a> {
    client: &'a GraphClient,
    id: u64,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.client.queue().retain(|q| q.id != self.id);
    }
}

/// Why a whole `$batch` went unanswered: told to each of its requests.
#[derive(Clone)]
enum Unanswered {
    Network(Arc<reqwest::Error>),
    Decode(String),
}

impl From<Unanswered> for GraphError {
    fn from(u: Unanswered) -> Self {
        match u {
            Unanswered::Network(e) => GraphError::Network(e),
            Unanswered::Decode(message) => GraphError::Decode(message),
        }
    }
}

impl GraphClient {
    /// Sends `request` once: alone, or in a `$batch` with others waiting at the same moment.
    pub(super) async fn send(&self, request: &Outgoing) -> Result<Answer, GraphError> {
        let token = self.tokens.get().await?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (reply, answer) = oneshot::channel();
        self.queue().push_back(Queued { id, request: request.clone(), reply });
        let waiting = Waiting { client: self, id };
        let permit = self.limit.acquire().await.map_err(|_| GraphError::ShutDown)?;
        // Another caller may have taken this request into its batch meanwhile.
        let batch = self.take(id);
        drop(waiting);
        if !batch.is_empty() {
            self.exchange(batch, token.expose_secret()).await;
        }
        drop(permit);
        // The caller that took it into its batch stopped before the answer came.
        answer.await.map_err(|_| GraphError::Abandoned)?
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, std::collections::VecDeque<Queued>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Request `id` and up to 19 others from the queue, removals first; nothing when `id` was
    /// taken already.
    fn take(&self, id: u64) -> Vec<Queued> {
        let mut queue = self.queue();
        let Some(mine) = queue.iter().position(|q| q.id == id) else { return Vec::new() };
        let mut batch: Vec<Queued> = queue.remove(mine).into_iter().collect();
        for removals in [true, false] {
            let mut i = 0;
            while i < queue.len() && batch.len() < BATCH_LIMIT {
                if (queue[i].request.method == Method::DELETE) == removals {
                    batch.extend(queue.remove(i));
                } else {
                    i += 1;
                }
            }
        }
        batch
    }

    /// Sends `batch` (alone when it is one request) and gives each request its answer.
    async fn exchange(&self, mut batch: Vec<Queued>, token: &str) {
        if batch.len() == 1 {
            let Queued { request, reply, .. } = batch.remove(0);
            let _ = reply.send(self.send_alone(&request, token).await);
            return;
        }
        match self.send_batch(&batch, token).await {
            Ok(mut answers) => {
                for (i, q) in batch.into_iter().enumerate() {
                    let answer = answers
                        .remove(&i.to_string())
                        .ok_or_else(|| GraphError::Decode(format!("$batch answered without request {i}")));
                    let _ = q.reply.send(answer);
                }
            }
            Err(unanswered) => {
                for q in batch {
                    let _ = q.reply.send(Err(unanswered.clone().into()));
                }
            }
        }
    }

    /// `POST /$batch`: each request's answer by its id (its index in `batch`). A batch refused
    /// as a whole (401, 429, 503) is that answer for each of its requests.
    async fn send_batch(&self, batch: &[Queued], token: &str) -> Result<HashMap<String, Answer>, Unanswered> {
        let requests: Vec<Value> = batch
            .iter()
            .enumerate()
            .map(|(i, q)| {
                let r = &q.request;
                let mut entry = json!({
                    "id": i.to_string(),
                    "method": r.method.as_str(),
                    "url": r.url.strip_prefix(&self.base_url).unwrap_or(&r.url),
                    "headers": { "x-ms-throttle-priority": r.priority() },
                });
                if let Some(body) = &r.body {
                    entry["body"] = body.clone();
                    entry["headers"]["Content-Type"] = "application/json".into();
                }
                entry
            })
            .collect();
        let whole =
            Outgoing { method: Method::POST, url: self.url("/$batch"), body: Some(json!({ "requests": requests })) };
        let answer = match self.send_alone(&whole, token).await {
            Ok(answer) => answer,
            Err(GraphError::Network(e)) => return Err(Unanswered::Network(e)),
            Err(e) => return Err(Unanswered::Decode(e.to_string())),
        };
        if answer.status != StatusCode::OK {
            return Ok((0..batch.len()).map(|i| (i.to_string(), answer.clone())).collect());
        }
        let responses = answer
            .body
            .as_ref()
            .and_then(|b| b["responses"].as_array())
            .ok_or_else(|| Unanswered::Decode("a $batch answer without responses".into()))?;
        responses.iter().map(|r| Ok((r["id"].as_str().unwrap_or_default().to_owned(), answer_of(r)?))).collect()
    }
}

/// One response of a `$batch` answer.
fn answer_of(r: &Value) -> Result<Answer, Unanswered> {
    let status = r["status"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or_else(|| Unanswered::Decode(format!("a $batch response without a status: {r}")))?;
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(all) = r["headers"].as_object() {
        for (name, value) in all {
            if let (Ok(name), Some(Ok(value))) = (
                reqwest::header::HeaderName::from_bytes(name.as_bytes()),
                value.as_str().map(reqwest::header::HeaderValue::from_str),
            ) {
                headers.insert(name, value);
            }
        }
    }
    let body = Some(r["body"].clone()).filter(|b| !b.is_null());
    Ok(Answer::of(status, &headers, body))
}
