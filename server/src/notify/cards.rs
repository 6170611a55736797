//! A notice as a chat card: an Adaptive Card for Teams, Block Kit blocks for Slack. Both show
//! the same `Content` (heading, lead, facts), a line on where the request stands, and buttons:
//! Approve and Deny that decide in chat, or that open Elevate's confirmation page (for
//! profiles that demand a signed-in decision), or only "Open in Elevate".
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::messages::Content;
use crate::{
    domain::{ChatApp, RequestId},
    providers::chat::slack::plain,
};

/// What a press of Approve or Deny in chat carries back: the request as the card showed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardAction {
    pub request: RequestId,
    pub stage: i32,
    pub version: i32,
}

pub enum Buttons {
    /// Approve and Deny decide in chat.
    Decide(CardAction),
    /// Approve and Deny open the approver's own confirmation links (signed in there).
    Links { approve: String, deny: String },
    /// Nothing to decide here: only the request's page.
    Open,
}

pub struct Card<'a> {
    pub content: &'a Content,
    /// Where the request stands, once something happened since it was asked.
    pub status: Option<String>,
    pub buttons: Buttons,
}

/// Slack shows at most this much text in one field.
const SLACK_FIELD_MAX: usize = 1900;

impl Card<'_> {
    /// The card as `app` shows it: an Adaptive Card, or Slack's fallback text and blocks.
    pub fn render(&self, app: ChatApp) -> Rendered {
        match app {
            ChatApp::Teams => Rendered { text: self.content.subject.clone(), body: self.teams() },
            ChatApp::Slack => Rendered { text: self.content.subject.clone(), body: self.slack() },
        }
    }

    fn teams(&self) -> Value {
        let c = self.content;
        let facts: Vec<Value> = c.facts.iter().map(|(k, v)| json!({ "title": k, "value": v })).collect();
        let mut body = vec![
            json!({ "type": "TextBlock", "text": c.heading, "weight": "Bolder", "size": "Medium", "wrap": true }),
            json!({ "type": "TextBlock", "text": c.lead, "wrap": true }),
            json!({ "type": "FactSet", "facts": facts }),
        ];
        if let Some(status) = &self.status {
            body.push(
                json!({ "type": "TextBlock", "text": status, "wrap": true, "weight": "Bolder", "color": "Accent" }),
            );
        }
        let open = json!({ "type": "Action.OpenUrl", "title": "Open in Elevate", "url": c.page_url });
        let actions = match &self.buttons {
            Buttons::Decide(action) => vec![
                json!({ "type": "Action.Execute", "title": "Approve", "verb": "approve", "data": action, "style": "positive" }),
                json!({ "type": "Action.Execute", "title": "Deny", "verb": "deny", "data": action, "style": "destructive" }),
                open,
            ],
            Buttons::Links { approve, deny } => vec![
                json!({ "type": "Action.OpenUrl", "title": "Approve in Elevate", "url": approve }),
                json!({ "type": "Action.OpenUrl", "title": "Deny in Elevate", "url": deny }),
            ],
            Buttons::Open => vec![open],
        };
        json!({
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": body,
            "actions": actions,
        })
    }

    fn slack(&self) -> Value {
        let c = self.content;
        let fields: Vec<Value> = c
            .facts
            .iter()
            .map(|(k, v)| json!({ "type": "mrkdwn", "text": format!("*{k}*\n{}", escape(&clip(v))) }))
            .collect();
        let mut blocks = vec![
            json!({ "type": "header", "text": plain(&clip_to(&c.heading, 150)) }),
            json!({ "type": "section", "text": { "type": "mrkdwn", "text": escape(&clip(&c.lead)) } }),
        ];
        // A section holds at most ten fields.
        for chunk in fields.chunks(10) {
            blocks.push(json!({ "type": "section", "fields": chunk }));
        }
        if let Some(status) = &self.status {
            blocks.push(json!({ "type": "context", "elements": [{ "type": "mrkdwn", "text": format!("*{}*", escape(status)) }] }));
        }
        let button = |id: &str, text: &str| json!({ "type": "button", "action_id": id, "text": plain(text) });
        let elements = match &self.buttons {
            Buttons::Decide(action) => {
                let value = serde_json::to_string(action).unwrap_or_default();
                let mut approve = button("approve", "Approve");
                approve["style"] = json!("primary");
                approve["value"] = json!(value);
                let mut deny = button("deny", "Deny");
                deny["style"] = json!("danger");
                deny["value"] = json!(value);
                let mut open = button("open", "Open in Elevate");
                open["url"] = json!(c.page_url);
                vec![approve, deny, open]
            }
            Buttons::Links { approve, deny } => {
                let mut a = button("open_approve", "Approve in Elevate");
                a["url"] = json!(approve);
                let mut d = button("open_deny", "Deny in Elevate");
                d["url"] = json!(deny);
                vec![a, d]
            }
            Buttons::Open => {
                let mut open = button("open", "Open in Elevate");
                open["url"] = json!(c.page_url);
                vec![open]
            }
        };
        blocks.push(json!({ "type": "actions", "block_id": "decision", "elements": elements }));
        Value::Array(blocks)
    }
}

/// A card as one app shows it.
pub struct Rendered {
    /// Slack's notification text (and the Teams activity's summary).
    pub text: String,
    /// The Adaptive Card, or Slack's blocks.
    pub body: Value,
}

/// Slack's mrkdwn treats `&`, `<` and `>` as control characters.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn clip(s: &str) -> String {
    clip_to(s, SLACK_FIELD_MAX)
}

fn clip_to(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut clipped: String = s.chars().take(max - 1).collect();
    clipped.push('…');
    clipped
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The card of the README's example request, asking an approver to decide.
    fn example() -> Content {
        let facts = [
            ("Requester", "alice@example.com"),
            ("Profile", "Account 1 administrators (AzureAD-Admins)"),
            ("AWS account", "123456789012"),
            ("AWS role", "arn:aws:iam::123456789012:role/AzureAD-Admins"),
            ("Duration", "1h"),
            ("Justification", "INC-4711: database failover stuck"),
            ("Request", "01a225f9-753c-7744-8ba2-031577b4b544"),
            ("Decide by", "2026-11-30 06:23:55 UTC"),
        ];
        Content {
            subject: "Approval needed: alice@example.com asks for Account 1 administrators (1h)".into(),
            heading: "Access request to approve".into(),
            lead: "alice@example.com asks for Account 1 administrators for 1h.".into(),
            facts: facts.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
            approve_url: None,
            deny_url: None,
            page_url: "https://elevate.example.com/requests/01a225f9-753c-7744-8ba2-031577b4b544".into(),
            note: None,
        }
    }

    /// `docs/chat/` shows what Elevate renders; `ELEVATE_UPDATE_DOCS=1` writes it anew.
    #[test]
    fn the_documented_cards_are_what_elevate_renders() {
        let content = example();
        let request = RequestId::parse("01a225f9-753c-7744-8ba2-031577b4b544").expect("an id");
        let action = CardAction { request, stage: 1, version: 1 };
        let card = Card { content: &content, status: None, buttons: Buttons::Decide(action) };
        for (app, file) in [(ChatApp::Teams, "teams-card.json"), (ChatApp::Slack, "slack-blocks.json")] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/chat").join(file);
            let rendered = serde_json::to_string_pretty(&card.render(app).body).expect("JSON") + "\n";
            if std::env::var_os("ELEVATE_UPDATE_DOCS").is_some() {
                std::fs::write(&path, &rendered).expect("docs/chat is writable");
            }
            let documented = std::fs::read_to_string(&path).unwrap_or_default();
            assert_eq!(documented, rendered, "docs/chat/{file} is stale: run this test with ELEVATE_UPDATE_DOCS=1");
        }
    }

    #[test]
    fn a_decided_card_has_only_the_link_and_slack_text_is_escaped() {
        let mut content = example();
        content.lead = "<!channel> & friends".into();
        let card =
            Card { content: &content, status: Some("Denied by bob@example.com.".into()), buttons: Buttons::Open };
        let teams = card.render(ChatApp::Teams).body;
        assert_eq!(teams["actions"].as_array().map(Vec::len), Some(1));
        assert_eq!(teams["actions"][0]["type"], "Action.OpenUrl");
        let slack = card.render(ChatApp::Slack).body.to_string();
        assert!(slack.contains("&lt;!channel&gt; &amp; friends") && !slack.contains("<!channel>"), "{slack}");
        assert!(slack.contains("Denied by bob@example.com.") && !slack.contains("\"approve\""), "{slack}");
    }
}
