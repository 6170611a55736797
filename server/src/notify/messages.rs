//! What a notice says: one `Content` (subject, lead, the request's facts, buttons), rendered
//! as a mail (plain text and HTML, from the templates in `web/templates/mail/`) or as a chat
//! message. Templates escape HTML; the texts come from the request as stored (already free of
//! control characters).
use askama::Template;
use serde_json::json;

use super::Notice;
use crate::{
    domain::{HumanDuration, format_millis},
    policy::Profile,
    providers::{
        mail::{MailError, OutgoingMail},
        webhook::ChatMessage,
    },
    store::requests::Request,
};

pub struct Content {
    pub subject: String,
    pub heading: String,
    pub lead: String,
    pub facts: Vec<(&'static str, String)>,
    /// Approve and Deny links, for the approvers of a request that waits for them.
    pub approve_url: Option<String>,
    pub deny_url: Option<String>,
    pub page_url: String,
    pub note: Option<String>,
}

#[derive(Template)]
#[template(path = "mail/notice.html")]
struct HtmlMail<'a> {
    m: &'a Content,
}

#[derive(Template)]
#[template(path = "mail/notice.txt")]
struct TextMail<'a> {
    m: &'a Content,
}

/// The request's facts and the facts about the notice, in words.
pub fn content(notice: &Notice, request: &Request, profile: &Profile, risk: Option<&str>, page_url: String) -> Content {
    let title = &profile.title;
    let who = &request.requester;
    let how_long = duration(request.duration_seconds);
    let from = request.start_at.map(|at| format!(" from {}", format_millis(at))).unwrap_or_default();
    let (subject, heading, lead) = match notice {
        Notice::ApprovalNeeded { .. } => (
            format!("Approval needed: {who} asks for {title} ({how_long})"),
            "Access request to approve".to_owned(),
            format!("{who} asks for {title} for {how_long}{from}."),
        ),
        Notice::Reminder { .. } => (
            format!("Reminder: {who} still waits for {title} ({how_long})"),
            "Still waiting for your decision".to_owned(),
            format!("{who} asked for {title} for {how_long} and still waits for a decision."),
        ),
        Notice::Escalated { .. } => (
            format!("Escalated: {who} waits for a decision on {title}"),
            "Escalated to you".to_owned(),
            format!(
                "Nobody has decided {who}'s request for {title} ({how_long}) yet; as an escalation approver you \
                 may decide it now."
            ),
        ),
        Notice::ApprovalGiven { approver, stage } => (
            format!("{approver} approved your request for {title}"),
            "One approval given".to_owned(),
            format!("{approver} approved your request (stage {stage}); it needs more approvals before it starts."),
        ),
        Notice::Approved => (
            format!("Approved: your request for {title}"),
            "Your request was approved".to_owned(),
            match window(request) {
                Some((opens, ends)) => format!(
                    "Your access to {title} is scheduled: Elevate grants it at {opens} and takes it back at {ends}; \
                     you will hear again when it is active."
                ),
                None => format!("Elevate is granting {title} now; you will hear again when the access is active."),
            },
        ),
        Notice::Denied { approver, comment } => (
            format!("Denied: your request for {title}"),
            "Your request was denied".to_owned(),
            match comment {
                Some(c) => format!("{approver} denied your request for {title}: \u{201c}{c}\u{201d}"),
                None => format!("{approver} denied your request for {title}."),
            },
        ),
        Notice::Activated { expires_at } => (
            format!("Active: {title} until {}", utc(*expires_at)),
            "Your access is active".to_owned(),
            format!("You have {title} until {}. Sign in to AWS again to pick up the role.", utc(*expires_at)),
        ),
        Notice::ExpiringSoon { expires_at } => (
            format!("Ending soon: {title} at {}", utc(*expires_at)),
            "Your access ends soon".to_owned(),
            format!(
                "Your access to {title} ends at {}. Ask for an extension now if you still need it.",
                utc(*expires_at)
            ),
        ),
        Notice::Ended { status } if request.activated_at.is_none() => (
            format!("Ended: your request for {title} ({status})"),
            "Your request has ended".to_owned(),
            format!("Your request for {title} ended before its access started: {status}.{}", because(request)),
        ),
        Notice::Ended { status } => (
            format!("Ended: your access to {title} ({status})"),
            "Your access has ended".to_owned(),
            format!("Your access to {title} has ended: {status}."),
        ),
        Notice::BreakGlass => (
            format!("BREAK-GLASS: {who} took {title} without approval ({how_long})"),
            "Break-glass access: review it".to_owned(),
            format!(
                "{who} broke the glass: {title} is active now, for {how_long}, without anyone's approval. As one of its \
                 approvers or an admin, review it in Elevate: was it justified?"
            ),
        ),
        Notice::AwaitingDecision { deciders, escalates_at } => (
            format!("Waiting for a decision: your request for {title}"),
            "Your request waits for a decision".to_owned(),
            format!(
                "Who can decide it: {}.{}",
                if deciders.is_empty() {
                    "nobody named in the directory now; ask an administrator".to_owned()
                } else {
                    deciders.join(", ")
                },
                match escalates_at {
                    Some(at) => format!(" Undecided by {}, the escalation approvers are called in too.", utc(*at)),
                    None => String::new(),
                }
            ),
        ),
        Notice::TimedOut => (
            format!("Timed out: your request for {title}"),
            "Your request timed out".to_owned(),
            match request.start_at.filter(|start_at| *start_at == request.decision_due_at) {
                Some(start_at) => format!(
                    "Nobody decided your request for {title} before its access was to start ({}); file a new one \
                     if you still need it.",
                    format_millis(start_at)
                ),
                None => format!(
                    "Nobody decided your request for {title} within {}; file a new one if you still need it.",
                    profile.decision_timeout
                ),
            },
        ),
    };
    let mut facts = facts(request, profile, risk);
    if notice.asks_decision().is_some() {
        facts.push(("Decide by", utc(request.decision_due_at)));
    }
    Content { subject, heading, lead, facts, approve_url: None, deny_url: None, page_url, note: None }
}

/// The reason Elevate recorded for the request's end, as a sentence to add (or nothing).
fn because(request: &Request) -> String {
    request.status_reason.as_ref().map(|reason| format!(" Why: {reason}.")).unwrap_or_default()
}

/// A scheduled request's window, (opens, ends), in UTC: approved for exactly that.
fn window(request: &Request) -> Option<(String, String)> {
    let opens = request.start_at?;
    let ends = opens.saturating_add(request.duration_seconds.saturating_mul(1000));
    Some((format_millis(opens), format_millis(ends)))
}

/// What anyone deciding a request needs to know about it (mail, and the confirmation page).
pub fn facts(request: &Request, profile: &Profile, risk: Option<&str>) -> Vec<(&'static str, String)> {
    let mut facts =
        vec![("Requester", request.requester.clone()), ("Profile", format!("{} ({})", profile.title, profile.key))];
    if let Some(account) = &profile.aws_account {
        facts.push(("AWS account", account.clone()));
    }
    if let Some(role) = &profile.aws_role_arn {
        facts.push(("AWS role", role.clone()));
    }
    if let Some(risk) = risk {
        facts.push(("Risk tier", risk.to_owned()));
    }
    facts.push(("Duration", duration(request.duration_seconds)));
    if let Some((opens, ends)) = window(request) {
        facts.push(("Window", format!("{opens} to {ends}")));
    }
    if let Some(j) = &request.justification {
        facts.push(("Justification", j.clone()));
    }
    if let Some(t) = &request.ticket {
        facts.push(("Ticket", t.clone()));
    }
    facts.push(("Request", request.id.to_string()));
    facts
}

impl Content {
    /// The Approve and Deny links of the approver this mail goes to.
    pub fn with_links(mut self, approve_url: String, deny_url: String, sign_in: bool) -> Self {
        self.approve_url = Some(approve_url);
        self.deny_url = Some(deny_url);
        self.note = Some(
            if sign_in {
                "Each button opens a confirmation page; nothing is decided until you confirm there, signed in \
                 to Elevate. The links work once, only for you."
            } else {
                "Each button opens a confirmation page; nothing is decided until you confirm there. The links work \
                 once, only for you: do not forward this mail."
            }
            .to_owned(),
        );
        self
    }

    pub fn mail(&self, to: lettre::message::Mailbox) -> Result<OutgoingMail, MailError> {
        let render = |r: Result<String, askama::Error>| r.map_err(|e| MailError::Permanent(e.into()));
        Ok(OutgoingMail {
            to,
            subject: self.subject.clone(),
            text: render(TextMail { m: self }.render())?,
            html: render(HtmlMail { m: self }.render())?,
        })
    }

    pub fn chat(&self, notice: &Notice, request: &Request) -> ChatMessage {
        ChatMessage {
            event: notice.event().to_owned(),
            title: self.subject.clone(),
            text: self.lead.clone(),
            url: self.page_url.clone(),
            request: json!({
                "id": request.id, "profile": request.profile, "requester": request.requester,
                "status": request.status, "stage": request.stage, "duration_seconds": request.duration_seconds,
                "justification": request.justification, "ticket": request.ticket,
                "expires_at": request.expires_at.map(format_millis),
            }),
        }
    }
}

fn duration(seconds: i64) -> String {
    HumanDuration::from_secs(u64::try_from(seconds).unwrap_or(0)).to_string()
}

fn utc(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}
