//! The Elevate-managed inline policy on a role that denies the role sessions of users whose
//! grant ended — each statement scoped to one user's sessions (`aws:userid` =
//! `ROLE_ID:RoleSessionName`) issued before the grant's end (`aws:TokenIssueTime`), so other
//! users of the role are untouched and the user can come back through a new grant.
//!
//! Pure functions over the policy document; `super` reads and writes it.
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

/// The name of Elevate's inline policy on each role it revokes sessions of.
pub const POLICY_NAME: &str = "ElevateSessionRevocations";
/// IAM's limit for all inline policies of a role together (characters, no whitespace).
pub const ROLE_INLINE_LIMIT: usize = 10_240;
/// The `Sid` of the statement that denies every session issued before an instant, used
/// when per-user statements no longer fit.
const ALL_SESSIONS_SID: &str = "ElevateRevokeAllOlderSessions";

/// Whole seconds, rounded up: a session issued in the same second, before the end, must still
/// be covered (one issued a moment after the end cannot exist: the membership was gone).
fn instant(t: DateTime<Utc>) -> String {
    let t = if t.timestamp_subsec_nanos() > 0 { t + chrono::Duration::seconds(1) } else { t };
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn sid_for(userid: &str) -> String {
    // Sids allow only [A-Za-z0-9]: derive one from the user id.
    let hash: String = sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(userid))
        .iter()
        .take(8)
        .map(|b| format!("{b:02X}"))
        .collect();
    format!("ElevateRevoke{hash}")
}

fn statement(sid: &str, userid: Option<&str>, before: DateTime<Utc>) -> Value {
    let mut condition = json!({ "DateLessThan": { "aws:TokenIssueTime": instant(before) } });
    if let Some(userid) = userid {
        // Case-insensitive: Entra's AWS app sends the session name (the UPN) as the directory
        // spells it (`Alice.Smith@Contoso.com`), while Elevate knows the UPN lower-cased, and
        // IAM's `StringEquals`/`StringLike` compare case-sensitively.
        condition["StringEqualsIgnoreCase"] = json!({ "aws:userid": userid });
    }
    json!({ "Sid": sid, "Effect": "Deny", "Action": "*", "Resource": "*", "Condition": condition })
}

fn issued_before(s: &Value) -> Option<DateTime<Utc>> {
    s["Condition"]["DateLessThan"]["aws:TokenIssueTime"].as_str().and_then(|t| t.parse().ok())
}

/// The statements of an existing document (empty for none).
pub fn statements(document: Option<&Value>) -> Vec<Value> {
    document.and_then(|d| d["Statement"].as_array().cloned()).unwrap_or_default()
}

/// Adds (or moves later) the deny for `userid`'s sessions issued before `before`.
pub fn add(mut statements: Vec<Value>, userid: &str, before: DateTime<Utc>) -> Vec<Value> {
    let sid = sid_for(userid);
    match statements.iter_mut().find(|s| s["Sid"] == sid.as_str()) {
        Some(s) if issued_before(s).is_some_and(|t| t >= before) => {}
        Some(s) => *s = statement(&sid, Some(userid), before),
        None => statements.push(statement(&sid, Some(userid), before)),
    }
    statements
}

/// Drops statements that can no longer match a live session: every session they cover was
/// issued before `now - max_session` and has expired.
pub fn prune(statements: Vec<Value>, now: DateTime<Utc>, max_session: chrono::Duration) -> Vec<Value> {
    statements.into_iter().filter(|s| issued_before(s).is_none_or(|t| t + max_session > now)).collect()
}

/// The document to write, within `budget` characters: when the per-user statements do not
/// fit, they collapse into one deny of every session issued before the newest of them —
/// it revokes more (other users sign in again) but never less.
pub fn document(statements: Vec<Value>, budget: usize) -> Value {
    let doc = json!({ "Version": "2012-10-17", "Statement": statements });
    if doc.to_string().len() <= budget {
        return doc;
    }
    let newest = statements.iter().filter_map(issued_before).max().unwrap_or_else(Utc::now);
    json!({ "Version": "2012-10-17", "Statement": [statement(ALL_SESSIONS_SID, None, newest)] })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn one_statement_per_user_moved_later_never_earlier() {
        let s = add(vec![], "AROA1:alice@example.com", at("2026-11-29T10:00:00Z"));
        let s = add(s, "AROA1:bob@example.com", at("2026-11-29T10:05:00Z"));
        let s = add(s, "AROA1:alice@example.com", at("2026-11-29T11:00:00Z"));
        let s = add(s, "AROA1:alice@example.com", at("2026-11-29T09:00:00Z"));
        assert_eq!(s.len(), 2);
        assert_eq!(s[0]["Condition"]["StringEqualsIgnoreCase"]["aws:userid"], "AROA1:alice@example.com");
        assert_eq!(s[0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"], "2026-11-29T11:00:00Z");
        assert_eq!(s[0]["Effect"], "Deny");
    }

    #[test]
    fn pruned_once_no_session_can_be_alive_and_collapsed_when_too_big() {
        let s = add(vec![], "AROA1:old@example.com", at("2026-11-29T00:00:00Z"));
        let s = add(s, "AROA1:new@example.com", at("2026-11-29T11:00:00Z"));
        let kept = prune(s.clone(), at("2026-11-29T12:30:00Z"), chrono::Duration::hours(12));
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0]["Condition"]["StringEqualsIgnoreCase"]["aws:userid"], "AROA1:new@example.com");
        let doc = document(s, 200);
        let only = &doc["Statement"][0];
        assert_eq!(doc["Statement"].as_array().map(Vec::len), Some(1));
        assert!(only["Condition"]["StringEqualsIgnoreCase"].is_null());
        assert_eq!(only["Condition"]["DateLessThan"]["aws:TokenIssueTime"], "2026-11-29T11:00:00Z");
    }
}
