//! What one role session did, summed from CloudTrail records: pure functions over records,
//! so the reading (`super`) and the summing can be tested apart.
use std::{borrow::Cow, collections::BTreeMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The session whose calls are wanted: `arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/SESSION`
/// with an event time inside `[from, to]` (milliseconds).
#[derive(Debug, Clone)]
pub struct SessionWindow {
    pub account: String,
    pub role: String,
    pub session: String,
    pub from: i64,
    pub to: i64,
}

impl SessionWindow {
    /// Whether a record's `userIdentity` is this session. IAM role names are unique without
    /// regard to case, and the session name is the UPN as the directory spells it
    /// (`Alice.Smith@Contoso.com`) where Elevate knows it lower-cased (as the revocation's
    /// `StringEqualsIgnoreCase` does too): both compare without case. The account is digits.
    fn is_session(&self, identity: &Identity<'_>) -> bool {
        if identity.kind.as_deref() != Some("AssumedRole") {
            return false;
        }
        let Some(arn) = identity.arn.as_deref() else { return false };
        let mut parts = arn.splitn(6, ':');
        let (Some("arn"), Some(_partition), Some("sts"), Some(""), Some(account), Some(resource)) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        let mut path = resource.splitn(3, '/');
        let (Some("assumed-role"), Some(role), Some(session)) = (path.next(), path.next(), path.next()) else {
            return false;
        };
        account == self.account && role.eq_ignore_ascii_case(&self.role) && session.eq_ignore_ascii_case(&self.session)
    }
}

/// The fields of a CloudTrail record that the summary reads.
#[derive(Deserialize)]
struct Record<'a> {
    #[serde(rename = "eventTime", borrow)]
    event_time: Cow<'a, str>,
    #[serde(rename = "eventSource", borrow)]
    event_source: Cow<'a, str>,
    #[serde(rename = "eventName", borrow)]
    event_name: Cow<'a, str>,
    #[serde(rename = "userIdentity", borrow)]
    user_identity: Identity<'a>,
    #[serde(rename = "readOnly")]
    read_only: Option<bool>,
    #[serde(rename = "errorCode", borrow)]
    error_code: Option<Cow<'a, str>>,
    #[serde(rename = "sourceIPAddress", borrow)]
    source_ip: Option<Cow<'a, str>>,
    /// A console sign-in says how it went here (a failed one has no `errorCode`); read only
    /// for those, as other calls' may be large.
    #[serde(rename = "responseElements", default, borrow)]
    response: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Response<'a> {
    #[serde(rename = "ConsoleLogin", borrow)]
    console_login: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Identity<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    arn: Option<Cow<'a, str>>,
}

/// Calls of one action (`iam:CreateUser`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionCount {
    /// `eventSource` without `.amazonaws.com`.
    pub service: String,
    pub action: String,
    pub calls: u64,
    /// Of those, how many AWS refused or failed (`errorCode`).
    pub errors: u64,
    /// Whether the action only reads (`readOnly`); a call that does not say counts as a write.
    pub read_only: bool,
    /// A write to IAM, Organizations, CloudTrail or a KMS key policy.
    pub sensitive: bool,
}

/// What a session did in a window. Stored per grant as JSON and shown as it is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    pub calls: u64,
    pub reads: u64,
    pub writes: u64,
    /// Console sign-ins (`signin.amazonaws.com`, `ConsoleLogin`).
    pub console_sign_ins: u64,
    /// First and last call, milliseconds.
    pub first_call_at: Option<i64>,
    pub last_call_at: Option<i64>,
    /// By calls, most first.
    pub actions: Vec<ActionCount>,
    /// `errorCode` → calls.
    pub errors: BTreeMap<String, u64>,
    /// `sourceIPAddress` → calls.
    pub source_ips: BTreeMap<String, u64>,
    /// Start of each minute with calls (milliseconds) → calls.
    pub calls_per_minute: BTreeMap<i64, u64>,
    /// The write calls in full, in the order read, up to `[aws.activity] max_write_records`.
    pub write_records: Vec<serde_json::Value>,
    /// Write calls beyond that bound, counted only.
    pub write_records_omitted: u64,
    pub files_read: u64,
    /// Log files that could not be read as CloudTrail JSON (skipped, named here).
    pub unreadable_files: Vec<String>,
}

impl Activity {
    pub fn sensitive_writes(&self) -> u64 {
        self.actions.iter().filter(|a| a.sensitive).map(|a| a.calls).sum()
    }

    /// Adds what `other` (read from other files) found: every count is a sum, so the files
    /// of a window can be summed apart and merged in any grouping.
    pub fn merge(&mut self, other: Activity, max_write_records: usize) {
        self.calls += other.calls;
        self.reads += other.reads;
        self.writes += other.writes;
        self.console_sign_ins += other.console_sign_ins;
        self.first_call_at = [self.first_call_at, other.first_call_at].into_iter().flatten().min();
        self.last_call_at = [self.last_call_at, other.last_call_at].into_iter().flatten().max();
        for action in other.actions {
            match self.actions.iter_mut().find(|a| a.service == action.service && a.action == action.action) {
                Some(a) => {
                    a.calls += action.calls;
                    a.errors += action.errors;
                    a.read_only &= action.read_only;
                    a.sensitive |= action.sensitive;
                }
                None => self.actions.push(action),
            }
        }
        sort_actions(&mut self.actions);
        add_counts(&mut self.errors, other.errors);
        add_counts(&mut self.source_ips, other.source_ips);
        add_counts(&mut self.calls_per_minute, other.calls_per_minute);
        let room = max_write_records.saturating_sub(self.write_records.len());
        let over = other.write_records.len().saturating_sub(room);
        self.write_records.extend(other.write_records.into_iter().take(room));
        self.write_records_omitted += other.write_records_omitted + over as u64;
        self.files_read += other.files_read;
        self.unreadable_files.extend(other.unreadable_files);
    }
}

/// Most calls first, then by name.
fn sort_actions(actions: &mut [ActionCount]) {
    actions.sort_by(|a, b| b.calls.cmp(&a.calls).then_with(|| (&a.service, &a.action).cmp(&(&b.service, &b.action))));
}

fn add_counts<K: Ord>(into: &mut BTreeMap<K, u64>, from: BTreeMap<K, u64>) {
    for (k, n) in from {
        *into.entry(k).or_default() += n;
    }
}

/// Sums the session's records as they are read, one at a time.
pub struct Summer {
    window: SessionWindow,
    max_write_records: usize,
    activity: Activity,
    actions: BTreeMap<(String, String), ActionCount>,
}

fn sensitive(service: &str, action: &str) -> bool {
    matches!(service, "iam" | "organizations" | "cloudtrail") || (service == "kms" && action == "PutKeyPolicy")
}

impl Summer {
    pub fn new(window: SessionWindow, max_write_records: usize) -> Self {
        Self { window, max_write_records, activity: Activity::default(), actions: BTreeMap::new() }
    }

    /// Adds one record if it is the session's, inside the window. A record that is not
    /// CloudTrail's shape is not the session's.
    pub fn add(&mut self, raw: &RawValue) {
        let Ok(record) = serde_json::from_str::<Record<'_>>(raw.get()) else { return };
        if !self.window.is_session(&record.user_identity) {
            return;
        }
        let Some(at) = DateTime::parse_from_rfc3339(&record.event_time).ok().map(|t| t.with_timezone(&Utc)) else {
            return;
        };
        let at = at.timestamp_millis();
        // CloudTrail's `eventTime` is in whole seconds: a call in the grant's first second is
        // logged at the second's start, before the window's first millisecond.
        let from = self.window.from - self.window.from.rem_euclid(1000);
        if at < from || at > self.window.to {
            return;
        }
        let service = record.event_source.trim_end_matches(".amazonaws.com").to_owned();
        let action = record.event_name.into_owned();
        let read_only = record.read_only == Some(true);
        let a = &mut self.activity;
        a.calls += 1;
        if read_only {
            a.reads += 1;
        } else {
            a.writes += 1;
        }
        if service == "signin" && action == "ConsoleLogin" {
            a.console_sign_ins += 1;
        }
        a.first_call_at = Some(a.first_call_at.map_or(at, |t| t.min(at)));
        a.last_call_at = Some(a.last_call_at.map_or(at, |t| t.max(at)));
        *a.calls_per_minute.entry(at - at.rem_euclid(60_000)).or_default() += 1;
        if let Some(ip) = record.source_ip {
            *a.source_ips.entry(ip.into_owned()).or_default() += 1;
        }
        let failed_sign_in = action == "ConsoleLogin"
            && record
                .response
                .and_then(|r| serde_json::from_str::<Response<'_>>(r.get()).ok())
                .is_some_and(|r| r.console_login.as_deref() == Some("Failure"));
        let error = record
            .error_code
            .map(Cow::into_owned)
            .or_else(|| failed_sign_in.then(|| "ConsoleLogin: Failure".to_owned()));
        if let Some(code) = &error {
            *a.errors.entry(code.clone()).or_default() += 1;
        }
        if !read_only {
            if a.write_records.len() < self.max_write_records {
                a.write_records.push(serde_json::from_str(raw.get()).unwrap_or(serde_json::Value::Null));
            } else {
                a.write_records_omitted += 1;
            }
        }
        let entry = self.actions.entry((service.clone(), action.clone())).or_insert_with(|| ActionCount {
            sensitive: !read_only && sensitive(&service, &action),
            service,
            action,
            calls: 0,
            errors: 0,
            read_only,
        });
        entry.calls += 1;
        entry.errors += u64::from(error.is_some());
        // One write among the calls makes the action a write (and perhaps sensitive).
        if !read_only {
            entry.read_only = false;
            entry.sensitive = sensitive(&entry.service, &entry.action);
        }
    }

    pub fn finish(mut self) -> Activity {
        let mut actions: Vec<ActionCount> = self.actions.into_values().collect();
        sort_actions(&mut actions);
        self.activity.actions = actions;
        self.activity
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn window() -> SessionWindow {
        SessionWindow {
            account: "123456789012".into(),
            role: "Admin".into(),
            session: "alice.smith@contoso.com".into(),
            from: 1_000_000,
            to: 2_000_000,
        }
    }

    fn record(arn: &str, at_ms: i64, source: &str, name: &str, read_only: Option<bool>) -> Box<RawValue> {
        let time = DateTime::<Utc>::from_timestamp_millis(at_ms).map(|t| t.to_rfc3339()).unwrap_or_default();
        let mut r = json!({
            "eventVersion": "1.09", "eventTime": time, "eventSource": source, "eventName": name,
            "userIdentity": { "type": "AssumedRole", "arn": arn }, "sourceIPAddress": "198.51.100.7",
        });
        if let Some(ro) = read_only {
            r["readOnly"] = json!(ro);
        }
        RawValue::from_string(r.to_string()).unwrap_or_else(|_| unreachable!())
    }

    const ALICE: &str = "arn:aws:sts::123456789012:assumed-role/Admin/Alice.Smith@Contoso.com";

    #[test]
    fn only_the_sessions_calls_inside_the_window_count() {
        let mut s = Summer::new(window(), 10);
        s.add(&record(ALICE, 1_500_000, "iam.amazonaws.com", "CreateUser", Some(false)));
        s.add(&record(ALICE, 1_500_001, "s3.amazonaws.com", "ListBuckets", Some(true)));
        s.add(&record(ALICE, 999_999, "s3.amazonaws.com", "ListBuckets", Some(true)));
        s.add(&record(ALICE, 2_000_001, "s3.amazonaws.com", "ListBuckets", Some(true)));
        s.add(&record(
            "arn:aws:sts::123456789012:assumed-role/Admin/bob@contoso.com",
            1_500_000,
            "s3.amazonaws.com",
            "x",
            None,
        ));
        s.add(&record(
            "arn:aws:sts::123456789012:assumed-role/ReadOnly/alice.smith@contoso.com",
            1_500_000,
            "s3.amazonaws.com",
            "x",
            None,
        ));
        s.add(&record(
            "arn:aws:sts::999999999999:assumed-role/Admin/alice.smith@contoso.com",
            1_500_000,
            "s3.amazonaws.com",
            "x",
            None,
        ));
        let a = s.finish();
        assert_eq!((a.calls, a.reads, a.writes), (2, 1, 1));
        assert_eq!(a.first_call_at, Some(1_500_000));
        assert_eq!(a.actions[0].service, "iam");
        assert!(a.actions.iter().find(|x| x.action == "CreateUser").is_some_and(|x| x.sensitive));
        assert!(a.actions.iter().find(|x| x.action == "ListBuckets").is_some_and(|x| !x.sensitive && x.read_only));
        assert_eq!(a.write_records.len(), 1);
    }

    #[test]
    fn write_records_beyond_the_bound_are_counted() {
        let mut s = Summer::new(window(), 2);
        for i in 0..5 {
            s.add(&record(ALICE, 1_500_000 + i, "ec2.amazonaws.com", "RunInstances", Some(false)));
        }
        let a = s.finish();
        assert_eq!((a.write_records.len(), a.write_records_omitted), (2, 3));
        assert_eq!(a.calls_per_minute.values().sum::<u64>(), 5);
    }
}
