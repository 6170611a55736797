//! `elevate request …`: asking for access and deciding from a terminal or a script, through an
//! Elevate server's REST API (the same checks as the web pages and chat bots meet).
use std::{io::Write, process::ExitCode, time::Duration};

use anyhow::Context;
use clap::Subcommand;
use elevate::domain::{HumanDuration, RequestStatus, format_millis, now, parse_rfc3339};
use serde_json::{Value, json};

use super::client::{Client, Server};

#[derive(clap::Args)]
pub struct RequestArgs {
    #[command(flatten)]
    server: Server,
    /// Print the server's JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: RequestCommand,
}

#[derive(Subcommand)]
enum RequestCommand {
    /// Ask for access to a profile.
    New {
        /// The profile's key, e.g. AzureAD-Admins (`elevate request` lists none: see the catalog page).
        profile: String,
        /// How long, e.g. 30m, 1h (default: the profile's).
        #[arg(long = "for", value_name = "DURATION")]
        duration: Option<String>,
        /// Why the access is needed.
        #[arg(long)]
        why: Option<String>,
        /// The change or incident ticket, when the profile asks for one.
        #[arg(long)]
        ticket: Option<String>,
        /// Schedule the access: when it starts, as RFC 3339 (2026-12-04T08:00:00Z,
        /// 2026-12-04T09:00:00+01:00) or from now (+2h). Decided ahead; ends that --for later.
        #[arg(long, value_name = "WHEN")]
        start_at: Option<String>,
        /// Follow the request until it is active (exit 0) or refused (exit 1).
        #[arg(long)]
        wait: bool,
    },
    /// Your requests (all of them for admins and auditors), newest first; or, with
    /// --to-decide, those you may decide now.
    List {
        /// Only those in this status (pending, approved, active, …).
        #[arg(long, conflicts_with = "to_decide")]
        status: Option<String>,
        /// The requests waiting for your decision (your approvals inbox).
        #[arg(long)]
        to_decide: bool,
    },
    /// One request, with who can decide it while it is pending.
    Show {
        /// The request's id.
        id: String,
    },
    /// Approve a request you may decide.
    Approve {
        id: String,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Deny a request you may decide.
    Deny {
        id: String,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Withdraw your pending or scheduled request.
    Cancel {
        id: String,
        #[arg(long)]
        comment: Option<String>,
    },
    /// End an approved, scheduled or active grant now.
    Revoke {
        id: String,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Ask for more time on your active grant (a request of its own).
    Extend {
        id: String,
        /// How much longer, e.g. 30m.
        #[arg(long, value_name = "DURATION")]
        by: String,
        #[arg(long)]
        why: Option<String>,
        /// Follow the extension until it is active (exit 0) or refused (exit 1).
        #[arg(long)]
        wait: bool,
    },
}

/// A request's id as typed: a UUID, so that it cannot reach another endpoint of the API.
fn id(text: &str) -> anyhow::Result<String> {
    uuid::Uuid::parse_str(text).map(|id| id.to_string()).with_context(|| format!("{text:?} is not a request id"))
}

impl RequestArgs {
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let client = self.server.connect()?;
        let json = self.json;
        let (request, wait) = match self.command {
            RequestCommand::New { profile, duration, why, ticket, start_at, wait } => {
                let seconds = duration.map(|d| seconds("--for", &d)).transpose()?;
                let start_at = start_at.map(|at| instant("--start-at", &at)).transpose()?;
                let body = json!({
                    "profile": profile, "duration_seconds": seconds, "justification": why, "ticket": ticket,
                    "start_at": start_at,
                });
                (client.post("/requests", body).await?, wait)
            }
            RequestCommand::Extend { id: request, by, why, wait } => {
                let body = json!({ "duration_seconds": seconds("--by", &by)?, "justification": why });
                (client.post(&format!("/requests/{}/extend", id(&request)?), body).await?, wait)
            }
            RequestCommand::List { status, to_decide } => {
                let path = match (to_decide, status) {
                    (true, _) => "/approvals".to_owned(),
                    (false, Some(s)) => {
                        let known = RequestStatus::ALL.iter().any(|known| known.as_str() == s);
                        anyhow::ensure!(known, "--status {s:?}: expected one of {}", statuses());
                        format!("/requests?status={s}")
                    }
                    (false, None) => "/requests".to_owned(),
                };
                let page = client.get(&path).await?;
                print_list(&page, json)?;
                return Ok(ExitCode::SUCCESS);
            }
            RequestCommand::Show { id: request } => (client.get(&format!("/requests/{}", id(&request)?)).await?, false),
            RequestCommand::Approve { id, comment } => (decide(&client, &id, "approve", comment).await?, false),
            RequestCommand::Deny { id, comment } => (decide(&client, &id, "deny", comment).await?, false),
            RequestCommand::Cancel { id, comment } => (decide(&client, &id, "cancel", comment).await?, false),
            RequestCommand::Revoke { id, comment } => (decide(&client, &id, "revoke", comment).await?, false),
        };
        print_request(&request, json)?;
        if !wait {
            return Ok(ExitCode::SUCCESS);
        }
        follow(&client, &request, json).await
    }
}

async fn decide(client: &Client, request: &str, action: &str, comment: Option<String>) -> anyhow::Result<Value> {
    client.post(&format!("/requests/{}/{action}", id(request)?), json!({ "comment": comment })).await
}

fn statuses() -> String {
    RequestStatus::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

fn seconds(flag: &str, text: &str) -> anyhow::Result<i64> {
    Ok(HumanDuration::parse("duration", text).with_context(|| flag.to_owned())?.as_secs())
}

/// An instant as RFC 3339, or `+DURATION` from now; sent in UTC.
fn instant(flag: &str, text: &str) -> anyhow::Result<String> {
    let at = match text.strip_prefix('+') {
        Some(ahead) => now().saturating_add(seconds(flag, ahead)?.saturating_mul(1000)),
        None => parse_rfc3339("start_at", text).with_context(|| flag.to_owned())?,
    };
    Ok(format_millis(at))
}

/// Polls the request every two seconds, printing each status it reaches, until it is active
/// (0) or will never be (1). A poll that fails (the network, a busy server) is tried again
/// for a while before the command gives up with an error (2), never taken for a refusal.
async fn follow(client: &Client, request: &Value, json: bool) -> anyhow::Result<ExitCode> {
    let id = request["id"].as_str().context("the server's answer has no id")?;
    let mut last = request["status"].as_str().unwrap_or_default().to_owned();
    let mut failures = 0;
    loop {
        match last.as_str() {
            "active" => return Ok(ExitCode::SUCCESS),
            "pending" | "approved" | "scheduled" => {}
            _ => return Ok(ExitCode::FAILURE),
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = match client.get(&format!("/requests/{id}")).await {
            Ok(now) => now,
            Err(e) if failures < 30 => {
                failures += 1;
                eprintln!("{id}: could not ask ({e:#}); trying again");
                continue;
            }
            Err(e) => return Err(e),
        };
        failures = 0;
        let status = now["status"].as_str().unwrap_or_default().to_owned();
        if status != last {
            match json {
                true => println!("{now}"),
                false => println!("{id}: {status}{}", until(&now)),
            }
            std::io::stdout().flush()?;
            last = status;
        }
    }
}

/// When the access ends, or, while it is scheduled, when it starts.
fn until(request: &Value) -> String {
    match (request["expires_at"].as_str(), request["start_at"].as_str()) {
        (Some(end), _) => format!(" until {end}"),
        (None, Some(start)) => format!(" from {start}"),
        (None, None) => String::new(),
    }
}

/// A text the server returned, without control characters (a justification or a name must
/// not drive the terminal).
fn text(value: &Value) -> String {
    value.as_str().map_or_else(|| "-".to_owned(), |t| t.chars().filter(|c| !c.is_control()).collect())
}

fn print_request(r: &Value, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(r)?);
        return Ok(());
    }
    println!("{}  {}  {}{}", text(&r["id"]), text(&r["profile"]), text(&r["status"]), until(r));
    println!("  requester   {}", text(&r["requester"]));
    println!("  duration    {}", HumanDuration::from_secs(r["duration_seconds"].as_u64().unwrap_or(0)));
    if r["justification"].is_string() {
        println!("  why         {}", text(&r["justification"]));
    }
    for d in r["decisions"].as_array().into_iter().flatten() {
        println!("  {:<11} {} (stage {})", text(&d["decision"]), text(&d["approver"]), d["stage"]);
    }
    if let Some(people) = r["approvers"].as_array() {
        let names: Vec<String> =
            people.iter().map(|p| format!("{} <{}>", text(&p["name"]), text(&p["mail"]))).collect();
        println!("  deciders    {}", names.join(", "));
    }
    if let Some(at) = r["escalates_at"].as_str() {
        println!("  escalates   {at}");
    }
    Ok(())
}

fn print_list(page: &Value, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(page)?);
        return Ok(());
    }
    println!("{:<36}  {:<24}  {:<10}  {:<28}  created", "id", "profile", "status", "requester");
    for r in page["items"].as_array().into_iter().flatten() {
        println!(
            "{:<36}  {:<24}  {:<10}  {:<28}  {}",
            text(&r["id"]),
            text(&r["profile"]),
            text(&r["status"]),
            text(&r["requester"]),
            text(&r["created_at"])
        );
    }
    Ok(())
}
