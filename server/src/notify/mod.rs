//! Notifications: what happened to a request (`Notice`), who hears of it, and the channels
//! (mail, chat webhooks, Teams and Slack approvals) configured to tell them. The jobs in `jobs::notifications` carry them
//! out; this module holds what they share.
pub mod cards;
pub mod messages;

use serde::{Deserialize, Serialize};

use crate::{
    auth::LinkSigner,
    config::{ConfigError, Settings},
    domain::RequestStatus,
    policy::Profile,
    providers::{
        chat::{slack::SlackApp, teams::TeamsBot},
        mail::Mailer,
        webhook::Webhook,
    },
    store::requests::Request,
};

/// Something a requester or approvers are told about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Notice {
    /// The stage's approvers are asked to decide (with Approve and Deny links).
    ApprovalNeeded {
        stage: i32,
        version: i32,
    },
    /// The stage's approvers who have not decided are asked again.
    Reminder {
        stage: i32,
        version: i32,
    },
    /// The profile's escalation approvers are asked to decide.
    Escalated {
        stage: i32,
        version: i32,
    },
    /// One approval given; more are needed (to the requester).
    ApprovalGiven {
        approver: String,
        stage: i32,
    },
    Approved,
    Denied {
        approver: String,
        comment: Option<String>,
    },
    Activated {
        expires_at: i64,
    },
    ExpiringSoon {
        expires_at: i64,
    },
    /// The access is over: `expired`, `revoked` or `failed`.
    Ended {
        status: String,
    },
    TimedOut,
    /// Activated without approval (break-glass): to every approver and admin at once.
    BreakGlass,
    /// Filed, waiting for a decision (to the requester): who can decide, as `Name <mail>`, and
    /// when the escalation approvers are called in, when the profile has them.
    AwaitingDecision {
        deciders: Vec<String>,
        escalates_at: Option<i64>,
    },
}

/// Who hears of a notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The approvers of this stage, less the requester and those who already decided.
    StageApprovers(i32),
    /// The profile's escalation approvers, less the requester and those who already decided.
    Escalation,
    Requester,
    /// Everyone who could have decided (every stage, the escalation approvers) and every
    /// admin, less the requester.
    ApproversAndAdmins,
}

impl Notice {
    pub fn event(&self) -> &'static str {
        match self {
            Self::ApprovalNeeded { .. } => "approval_needed",
            Self::Reminder { .. } => "reminder",
            Self::Escalated { .. } => "escalated",
            Self::ApprovalGiven { .. } => "approval_given",
            Self::Approved => "approved",
            Self::Denied { .. } => "denied",
            Self::Activated { .. } => "activated",
            Self::ExpiringSoon { .. } => "expiring_soon",
            Self::Ended { .. } => "ended",
            Self::TimedOut => "timed_out",
            Self::BreakGlass => "break_glass",
            Self::AwaitingDecision { .. } => "awaiting_decision",
        }
    }

    pub fn audience(&self) -> Audience {
        match self {
            Self::ApprovalNeeded { stage, .. } | Self::Reminder { stage, .. } => Audience::StageApprovers(*stage),
            Self::Escalated { .. } => Audience::Escalation,
            Self::BreakGlass => Audience::ApproversAndAdmins,
            _ => Audience::Requester,
        }
    }

    /// The stage and version a request for a decision was made for (its links name them).
    pub fn asks_decision(&self) -> Option<(i32, i32)> {
        match self {
            Self::ApprovalNeeded { stage, version }
            | Self::Reminder { stage, version }
            | Self::Escalated { stage, version } => Some((*stage, *version)),
            _ => None,
        }
    }

    /// Still worth sending, given the request as it is now? An ask for a decision that was
    /// made meanwhile, or a warning about an expiry that moved, is not.
    pub fn is_current(&self, request: &Request) -> bool {
        if let Some((stage, version)) = self.asks_decision() {
            return request.status == RequestStatus::Pending && request.stage == stage && request.version == version;
        }
        match self {
            Self::ExpiringSoon { expires_at } => {
                request.status == RequestStatus::Active && request.expires_at == Some(*expires_at)
            }
            Self::AwaitingDecision { .. } => request.status == RequestStatus::Pending,
            _ => true,
        }
    }

    /// Posted to the chat webhooks too? Not what only the requester needs: the channel already
    /// heard that approval is needed.
    pub fn goes_to_chat(&self) -> bool {
        !matches!(self, Self::AwaitingDecision { .. })
    }
}

/// The channels and the timings of notifications, built once at start-up.
pub struct Notifier {
    pub mailer: Option<Mailer>,
    pub webhooks: Vec<Webhook>,
    /// Approvals in Microsoft Teams (`[teams]`).
    pub teams: Option<TeamsBot>,
    /// Approvals in Slack (`[slack]`).
    pub slack: Option<SlackApp>,
    /// Signs the Approve/Deny links (absent only in CLI commands that send nothing).
    pub links: Option<LinkSigner>,
    /// Where people reach Elevate, without a trailing slash.
    pub public_url: String,
    pub link_ttl_ms: i64,
    pub require_sign_in: bool,
    pub remind_after_ms: i64,
    pub escalate_after_ms: i64,
    pub expiry_warning_ms: i64,
    pub give_up_after_ms: i64,
}

/// Approve and Deny links could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum LinkMintError {
    #[error("links cannot be signed: auth.token_secret is not set")]
    NoKey,
    #[error("cannot sign the link")]
    Sign(#[source] jsonwebtoken::errors::Error),
}

impl Notifier {
    /// The Approve and Deny links for `approver`, good until the link lifetime runs out or the
    /// request's decision is due, whichever is first.
    pub fn approval_links(
        &self,
        request: &Request,
        approver: &crate::domain::Upn,
        stage: i32,
        version: i32,
    ) -> Result<[String; 2], LinkMintError> {
        use crate::auth::{LinkAction, LinkTarget};
        let signer = self.links.as_ref().ok_or(LinkMintError::NoKey)?;
        let expires_at = (crate::domain::now() + self.link_ttl_ms).min(request.decision_due_at);
        let link = |action| {
            signer
                .mint(LinkTarget { approver, request: &request.id, action, stage, version, expires_at })
                .map(|token| self.link_url(&token))
                .map_err(LinkMintError::Sign)
        };
        Ok([link(LinkAction::Approve)?, link(LinkAction::Deny)?])
    }

    pub fn new(settings: &Settings, public_url: &str) -> Result<Self, ConfigError> {
        let mailer = match (&settings.smtp, &settings.notify.mail_folder) {
            (Some(smtp), _) => Some(Mailer::smtp(smtp)?),
            (None, Some(folder)) => Some(Mailer::folder(folder, "Elevate <elevate@localhost>")?),
            (None, None) => None,
        };
        let links = match settings.auth.token_secret() {
            Ok(secret) => Some(
                LinkSigner::new(&secret)
                    .map_err(|e| ConfigError::Key { key: "auth.token_secret", reason: e.to_string() })?,
            ),
            Err(_) => None,
        };
        let notify = &settings.notify;
        Ok(Self {
            mailer,
            webhooks: notify.webhook.iter().map(Webhook::new).collect::<Result<_, _>>()?,
            teams: settings.teams.as_ref().map(TeamsBot::new).transpose()?,
            slack: settings.slack.as_ref().map(SlackApp::new).transpose()?,
            links,
            public_url: public_url.trim_end_matches('/').to_owned(),
            link_ttl_ms: settings.links.ttl.as_millis(),
            require_sign_in: settings.links.require_sign_in.unwrap_or(settings.oidc.is_some()),
            remind_after_ms: notify.remind_after.as_millis(),
            escalate_after_ms: notify.escalate_after.as_millis(),
            expiry_warning_ms: notify.expiry_warning.as_millis(),
            give_up_after_ms: notify.give_up_after.as_millis(),
        })
    }

    /// Is anyone listening? Without mail, webhooks or chat apps, no notification jobs are
    /// written.
    pub fn is_enabled(&self) -> bool {
        self.mailer.is_some() || !self.webhooks.is_empty() || self.has_chat_apps()
    }

    /// Are approvals sent to Teams or Slack?
    pub fn has_chat_apps(&self) -> bool {
        self.teams.is_some() || self.slack.is_some()
    }

    pub fn request_url(&self, request_id: &crate::domain::RequestId) -> String {
        format!("{}/requests/{request_id}", self.public_url)
    }

    pub fn link_url(&self, token: &str) -> String {
        format!("{}/act?token={token}", self.public_url)
    }

    /// Must the approver also be signed in to use this profile's links?
    pub fn requires_sign_in(&self, profile: &Profile) -> bool {
        profile.require_sign_in_for_links.unwrap_or(self.require_sign_in)
    }
}
