//! Chat notifications: the same events as mail, posted to webhooks in Slack's format and in
//! Elevate's generic format, whose HMAC signature the receiver can check.
use hmac::{KeyInit, Mac};
use serde_json::Value;

use crate::{
    helpers::{BOB, TestApp},
    notify_peers::WebhookReceiver,
};

const HOOK_SECRET: &str = "webhook-signing-secret-for-tests";

fn expected_signature(timestamp: &str, body: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(HOOK_SECRET.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.{body}").as_bytes());
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("v1={hex}")
}

#[tokio::test]
async fn events_are_posted_signed_in_generic_format_and_as_slack_text() {
    let receiver = WebhookReceiver::start().await;
    let extra = format!(
        r#"
[[notify.webhook]]
url = "{url}/generic"
format = "generic"
secret = "{HOOK_SECRET}"

[[notify.webhook]]
url = "{url}/slack"
format = "slack"
"#,
        url = receiver.url
    );
    let app = TestApp::builder().config(&extra).spawn().await;
    let id = app.engineer().request("AzureAD-Admins", 600).await;

    let asked = receiver.wait_for("/generic", |p| p.body.contains("\"approval_needed\"")).await;
    let (timestamp, signature) = (asked.timestamp.clone().unwrap(), asked.signature.clone().unwrap());
    assert_eq!(signature, expected_signature(&timestamp, &asked.body), "signature does not match the body");
    let body: Value = serde_json::from_str(&asked.body).unwrap();
    assert_eq!(body["request"]["id"], id.as_str());
    assert_eq!(body["request"]["requester"], "alice@example.com");
    assert_eq!(body["url"], format!("{}/requests/{id}", app.address));
    // A body changed on the way no longer matches its signature.
    assert_ne!(signature, expected_signature(&timestamp, &asked.body.replace("alice", "mallory")));

    let slack = receiver.wait_for("/slack", |p| p.body.contains("Approval needed")).await;
    assert!(slack.signature.is_none());
    let text = serde_json::from_str::<Value>(&slack.body).unwrap()["text"].as_str().unwrap().to_owned();
    assert!(text.contains(&format!("<{}/requests/{id}|Open in Elevate>", app.address)), "{text}");

    // A chat-ops bot decides through the API; the decision is announced too.
    app.approver(BOB).approve(&id).await;
    receiver.wait_for("/generic", |p| p.body.contains("\"event\":\"approved\"")).await;
    receiver.wait_for("/slack", |p| p.body.contains("Active")).await;

    // What only the requester needs (who can decide) is mailed, not posted to the channels,
    // which heard that approval is needed.
    let routed = app.wait_for_audit(&format!("request:{id}"), "notification.routed", 4).await;
    let waiting = routed.iter().find(|e| e["details"]["event"] == "awaiting_decision").expect("routed");
    assert_eq!(waiting["details"]["webhooks"], 0, "{waiting}");
    assert!(routed.iter().any(|e| e["details"]["event"] == "approved" && e["details"]["webhooks"] == 2), "{routed:?}");
    assert!(!receiver.posted.lock().unwrap().iter().any(|p| p.body.contains("awaiting_decision")));
}
