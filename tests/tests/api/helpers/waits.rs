//! Waiting for states, never for durations: a request's status, the end of its grant, the
//! audit events of an effect — each polled until it holds or a generous bound runs out.
use std::time::Duration;

use serde_json::Value;

use super::TestApp;

/// Polls `probe` until it gives something, or fails naming `what` after `timeout` (a peer's
/// state: a card sent, a message updated).
pub async fn eventually<T>(what: &str, timeout: Duration, probe: impl Fn() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: not within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl TestApp {
    /// Polls a request (as the admin) until `done` says yes, or fails after `timeout`.
    pub async fn wait_for(&self, id: &str, timeout: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let admin = self.admin();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let (status, body) = admin.get(&format!("/api/v1/requests/{id}")).await;
            assert_eq!(status, 200, "{body}");
            if done(&body) {
                return body;
            }
            assert!(tokio::time::Instant::now() < deadline, "request {id} did not get there in {timeout:?}: {body}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn wait_for_status(&self, id: &str, status: &str, timeout: Duration) -> Value {
        self.wait_for(id, timeout, |b| b["status"] == status).await
    }

    /// Until the grant's end has been carried out (`ended_at` set).
    pub async fn wait_until_ended(&self, id: &str, timeout: Duration) -> Value {
        self.wait_for(id, timeout, |b| b["ended_at"].is_string()).await
    }

    /// The audit events about `subject` (read as the admin), oldest first.
    pub async fn audit_events(&self, subject: &str) -> Vec<Value> {
        let (status, body) = self.admin().get("/api/v1/audit?limit=1000").await;
        assert_eq!(status, 200, "{body}");
        body["items"].as_array().into_iter().flatten().filter(|e| e["subject"] == subject).cloned().collect()
    }

    /// Waits until the audit log has `count` events `action` about `subject` (an effect is
    /// audited just after the outside system confirmed it); returns all events about it.
    pub async fn wait_for_audit(&self, subject: &str, action: &str, count: usize) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let events = self.audit_events(subject).await;
            if events.iter().filter(|e| e["action"] == action).count() >= count {
                return events;
            }
            assert!(tokio::time::Instant::now() < deadline, "no {count} × {action} about {subject}: {events:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The actions of the audit events about `subject`, oldest first.
    pub async fn audit_actions(&self, subject: &str) -> Vec<String> {
        self.audit_events(subject).await.iter().map(|e| e["action"].as_str().unwrap_or_default().to_owned()).collect()
    }
}
