//! `elevate demo`: the whole flow on one machine with nothing else installed: SQLite, a local
//! directory with demo users, and the two profiles of the reference deployment.
use std::{net::SocketAddr, path::Path, time::Duration};

use secrecy::SecretString;

use crate::{
    auth::TokenAuthority,
    config::{LocalGroupSeed, LocalUserSeed, Settings},
    domain::{Role, Upn},
};

pub const ENGINEER: &str = "alice@example.com";
pub const APPROVERS: [&str; 2] = ["bob@example.com", "carol@example.com"];
pub const ADMIN: &str = "dave@example.com";

const POLICY: &str = r#"# Demo policy: the two profiles of the reference deployment.
[profiles.AzureAD-Admins]
title = "Account 1 administrators"
aws_account = "123456789012"
aws_role_arn = "arn:aws:iam::123456789012:role/AzureAD-Admins"
group = "AWS-Account1-Administrators"
min_duration = "10s"
default_duration = "30s"
max_duration = "1h"
require_justification = true
eligible = { groups = ["Engineers"] }
approval = { groups = ["Approvers"], approvals_required = 1 }

[profiles.AzureAD-Developers]
title = "Account 1 developers"
aws_account = "123456789012"
aws_role_arn = "arn:aws:iam::123456789012:role/AzureAD-Developers"
group = "AWS-Account1-Developers"
min_duration = "10s"
default_duration = "30s"
max_duration = "8h"
eligible = { groups = ["Engineers"] }
approval = { auto_approve = true }
"#;

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("the demo only listens on loopback (127.0.0.1 or ::1), not {0}: it has sign-in-free demo users")]
    NotLoopback(SocketAddr),
    #[error("cannot prepare the demo folder {path}")]
    Folder {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Writes the demo's policy and signing key into `dir` and returns settings that use them.
pub fn prepare(dir: &Path, bind: SocketAddr) -> Result<Settings, DemoError> {
    if !bind.ip().is_loopback() {
        return Err(DemoError::NotLoopback(bind));
    }
    let io = |source| DemoError::Folder { path: dir.display().to_string(), source };
    std::fs::create_dir_all(dir).map_err(io)?;
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, POLICY).map_err(io)?;
    let secret_file = dir.join("token_secret");
    if !secret_file.exists() {
        let secret: String = (0..32).map(|_| format!("{:02x}", rand::random::<u8>())).collect();
        std::fs::write(&secret_file, secret).map_err(io)?;
    }
    let mut settings = Settings::default();
    settings.server.bind = bind;
    settings.policy.path = policy;
    settings.database.url = SecretString::from(format!("sqlite://{}?mode=rwc", dir.join("elevate-demo.db").display()));
    settings.auth.token_secret_file = Some(secret_file);
    // Approvers' mail lands in a folder as .eml files; its links sign in on the demo page.
    settings.auth.demo_sign_in = true;
    settings.auth.admins.users = vec![ADMIN.into()];
    settings.auth.auditors.users = vec![ADMIN.into()];
    settings.notify.mail_folder = Some(dir.join("mail"));
    let user = |upn: &str, name: &str| LocalUserSeed { upn: upn.into(), display_name: Some(name.into()), mail: None };
    settings.directory.users = vec![
        user(ENGINEER, "Alice (engineer)"),
        user(APPROVERS[0], "Bob (approver)"),
        user(APPROVERS[1], "Carol (approver)"),
        user(ADMIN, "Dave (admin and auditor)"),
    ];
    let group = |id: &str, members: &[&str]| LocalGroupSeed {
        id: id.into(),
        display_name: None,
        members: members.iter().map(|m| (*m).to_owned()).collect(),
    };
    settings.directory.groups = vec![
        group("Engineers", &[ENGINEER]),
        group("Approvers", &APPROVERS),
        group("AWS-Account1-Administrators", &[]),
        group("AWS-Account1-Developers", &[]),
    ];
    Ok(settings)
}

/// A demo user's token and the roles it carries.
pub struct DemoToken {
    pub upn: &'static str,
    pub roles: Vec<Role>,
    pub token: String,
}

pub fn tokens(authority: &TokenAuthority) -> Result<Vec<DemoToken>, jsonwebtoken::errors::Error> {
    let people: [(&'static str, Vec<Role>); 4] = [
        (ENGINEER, vec![Role::Requester]),
        (APPROVERS[0], vec![Role::Requester, Role::Approver]),
        (APPROVERS[1], vec![Role::Requester, Role::Approver]),
        (ADMIN, vec![Role::Admin, Role::Auditor]),
    ];
    people
        .into_iter()
        .map(|(upn, roles)| {
            let subject = Upn::parse(upn).map_err(|_| jsonwebtoken::errors::ErrorKind::InvalidSubject)?;
            let token = authority.issue(&subject, &roles, false, Duration::from_secs(24 * 3600))?.token;
            Ok(DemoToken { upn, roles, token })
        })
        .collect()
}

/// What the newcomer reads: who is who, their tokens, and curl lines to paste.
pub fn instructions(base: &str, tokens: &[DemoToken], mail: &Path) -> String {
    let mut out = format!(
        "\nElevate demo running at {base}\n\nIn a browser: open {base}/ and sign in as Alice (the engineer), request \
         \"Account 1 administrators\"\nfor the default 30 seconds; sign out, sign in as Bob and approve it under Approvals; sign \
         in as Alice again and\nwatch the request go active and, 30 seconds later, expired. Dave (admin, auditor) \
         sees Active grants and the Audit log.\n\nDemo users and their API tokens (valid 24h):\n"
    );
    let mail = mail.display();
    // This very binary, wherever it was built.
    let cli = std::env::current_exe().map_or_else(|_| "elevate".to_owned(), |p| p.display().to_string());
    for t in tokens {
        let roles: Vec<_> = t.roles.iter().map(|r| r.as_str()).collect();
        out.push_str(&format!("  {:<20} {:<22} export {}={}\n", t.upn, roles.join(","), var(t.upn), t.token));
    }
    out.push_str(&format!(
        r#"
Try it (paste the export lines above first):
  # Alice asks for 30 seconds of admin access
  curl -s -X POST {base}/api/v1/requests -H "Authorization: Bearer $ALICE" -H 'Content-Type: application/json' \
       -d '{{"profile":"AzureAD-Admins","duration_seconds":30,"justification":"demo"}}'
  # Bob sees it in his inbox and approves it (use the id from the answer above)
  curl -s {base}/api/v1/approvals -H "Authorization: Bearer $BOB"
  curl -s -X POST {base}/api/v1/requests/ID/approve -H "Authorization: Bearer $BOB"
  # Watch it become active, then expired 30 seconds later
  curl -s {base}/api/v1/requests/ID -H "Authorization: Bearer $ALICE"
  # Dave reads the audit log
  curl -s {base}/api/v1/audit -H "Authorization: Bearer $DAVE"

Or with the command line (the same API):
  export ELEVATE_URL={base}
  ELEVATE_TOKEN=$ALICE {cli} request new AzureAD-Admins --for 30s --why demo --wait &
  ELEVATE_TOKEN=$BOB {cli} request list --to-decide
  ELEVATE_TOKEN=$BOB {cli} request approve ID
  # Access for later: decided now, active from its start, over 30 seconds after it
  ELEVATE_TOKEN=$ALICE {cli} request new AzureAD-Admins --for 30s --why drill --start-at +2m --wait

Mail to approvers and to the requester is written to {mail}/ as .eml files: open the newest
one for Bob, and its Approve link shows the confirmation page. Sign in as a demo user at
{base}/signin.
"#
    ));
    out
}

fn var(upn: &str) -> String {
    upn.split('@').next().unwrap_or(upn).to_ascii_uppercase()
}

/// Drives one request through its whole life over the API and narrates it: Alice asks for
/// 15 seconds of admin access, Bob approves, Elevate adds and then removes the membership.
pub async fn walkthrough(base: &str, tokens: &[DemoToken]) -> Result<(), reqwest::Error> {
    let token = |upn: &str| tokens.iter().find(|t| t.upn == upn).map(|t| t.token.clone()).unwrap_or_default();
    let http = reqwest::Client::new();
    let say = |text: String| println!("walkthrough: {text}");
    let body =
        serde_json::json!({ "profile": "AzureAD-Admins", "duration_seconds": 15, "justification": "demo walkthrough" });
    let created: serde_json::Value = http
        .post(format!("{base}/api/v1/requests"))
        .bearer_auth(token(ENGINEER))
        .json(&body)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    say(format!("{ENGINEER} asked for AzureAD-Admins for 15s: request {id} is {}", created["status"]));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let approved: serde_json::Value = http
        .post(format!("{base}/api/v1/requests/{id}/approve"))
        .bearer_auth(token(APPROVERS[0]))
        .json(&serde_json::json!({ "comment": "looks fine" }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    say(format!("{} approved it: {}", APPROVERS[0], approved["status"]));
    let mut last = approved["status"].as_str().unwrap_or_default().to_owned();
    for _ in 0..120 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now: serde_json::Value = http
            .get(format!("{base}/api/v1/requests/{id}"))
            .bearer_auth(token(ENGINEER))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let status = now["status"].as_str().unwrap_or_default().to_owned();
        if status != last {
            let when = match status.as_str() {
                "active" => format!(" (added to AWS-Account1-Administrators; expires at {})", now["expires_at"]),
                _ => String::new(),
            };
            say(format!("status {status}{when}"));
            last = status;
        }
        if now["ended_at"].is_string() {
            say(format!(
                "membership {} at {}; the audit log has every step (GET /api/v1/audit as {ADMIN})",
                now["membership_outcome"], now["ended_at"]
            ));
            return Ok(());
        }
    }
    say("the request did not finish within a minute; see the server log".into());
    Ok(())
}
