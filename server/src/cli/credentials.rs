//! `elevate token …` and `elevate session …`: the credentials Elevate issues, and taking them back.
use std::{process::ExitCode, time::Duration};

use anyhow::{Context, bail};
use clap::Subcommand;
use elevate::{
    auth::TokenAuthority,
    domain::{HumanDuration, Role, Upn, format_millis},
    startup,
    workflows::{sign_in, tokens},
};

use super::{Config, cli_actor};

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Issue a signed API token and print it.
    Issue {
        /// The user (UPN) or bot identity the token stands for.
        #[arg(long)]
        subject: String,
        /// requester, approver, admin or auditor (repeatable; default requester).
        #[arg(long = "role")]
        roles: Vec<String>,
        /// `delegate`: may file requests on behalf of other users.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Lifetime, e.g. 1h, 30d.
        #[arg(long, default_value = "30d")]
        ttl: String,
    },
    /// List the tokens issued (newest first): id, subject, roles, expiry, revoked.
    List {
        /// Only this subject's tokens.
        #[arg(long)]
        subject: Option<String>,
    },
    /// Revoke one token by its id (`jti`), or every token of a subject issued until now
    /// (also those issued before tokens were listed, and Entra ID tokens of that user).
    Revoke {
        /// The token's id, as `token list` shows it.
        #[arg(required_unless_present = "subject", conflicts_with = "subject")]
        jti: Option<String>,
        #[arg(long)]
        subject: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum SessionCommand {
    /// End every browser session of a user at once (on every replica).
    Revoke {
        /// The user (UPN).
        #[arg(long)]
        user: String,
    },
}

impl TokenCommand {
    pub async fn run(self, config: &Config) -> anyhow::Result<ExitCode> {
        let settings = config.load()?;
        match self {
            Self::Issue { subject, roles, scopes, ttl } => {
                let subject = Upn::parse(&subject).context("--subject")?;
                let roles = parse_roles(roles)?;
                let delegate = parse_delegate(scopes)?;
                let ttl = HumanDuration::parse("ttl", &ttl).context("--ttl")?;
                if ttl.get() > Duration::from_secs(366 * 24 * 3600) || ttl.get() < Duration::from_secs(60) {
                    bail!("--ttl: must be between 1 minute and 366 days");
                }
                let secret = settings.auth.token_secret()?;
                let authority = TokenAuthority::new(&secret, &settings.auth.issuer, &settings.auth.audience)?;
                // Issuing a credential is an admin action: it is listed and goes into the audit log.
                let store = startup::open_current_store(&settings).await?;
                let issued =
                    tokens::issue(&store, &authority, (&subject, &roles, delegate), ttl.get(), &cli_actor()).await?;
                startup::seal_audit_entries(&store).await;
                println!("{}", issued.token);
            }
            Self::List { subject } => {
                let subject = subject.map(|s| Upn::parse(&s)).transpose().context("--subject")?;
                let store = startup::open_current_store(&settings).await?;
                println!("{:<36}  {:<32}  {:<28}  {:<24}  revoked", "id", "subject", "roles", "expires");
                for t in tokens::list(&store, subject.as_ref()).await? {
                    let roles = if t.delegate { format!("{} +delegate", t.roles) } else { t.roles };
                    let revoked = t.revoked_at.map_or_else(|| "-".to_owned(), format_millis);
                    let expires = format_millis(t.expires_at);
                    println!("{:<36}  {:<32}  {:<28}  {:<24}  {revoked}", t.jti, t.subject, roles, expires);
                }
            }
            Self::Revoke { jti, subject } => {
                let store = startup::open_current_store(&settings).await?;
                match (jti, subject) {
                    (Some(jti), _) => {
                        let token = tokens::revoke(&store, &jti, &cli_actor()).await?;
                        println!("revoked token {jti} of {}", token.subject);
                    }
                    (None, Some(subject)) => {
                        let subject = Upn::parse(&subject).context("--subject")?;
                        let listed = tokens::revoke_all_of(&store, &subject, &cli_actor()).await?;
                        println!(
                            "revoked every token of {subject} issued until now ({listed} listed token(s) were live)"
                        );
                    }
                    (None, None) => bail!("name a token id or --subject"),
                }
                startup::seal_audit_entries(&store).await;
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// `--role` values (default: requester).
fn parse_roles(roles: Vec<String>) -> anyhow::Result<Vec<Role>> {
    if roles.is_empty() {
        return Ok(vec![Role::Requester]);
    }
    roles
        .iter()
        .map(|r| {
            Role::parse(r).with_context(|| format!("--role {r:?}: expected requester, approver, admin or auditor"))
        })
        .collect()
}

/// Whether `--scope delegate` was given (the only scope there is).
fn parse_delegate(scopes: Vec<String>) -> anyhow::Result<bool> {
    match scopes.iter().find(|s| *s != "delegate") {
        Some(s) => bail!("--scope {s:?}: the only scope is `delegate`"),
        None => Ok(!scopes.is_empty()),
    }
}

impl SessionCommand {
    pub async fn run(self, config: &Config) -> anyhow::Result<ExitCode> {
        let Self::Revoke { user } = self;
        let settings = config.load()?;
        let user = Upn::parse(&user).context("--user")?;
        let store = startup::open_current_store(&settings).await?;
        let ended = sign_in::revoke_sessions(&store, &user, &cli_actor()).await?;
        startup::seal_audit_entries(&store).await;
        println!("ended {ended} session(s) of {user}");
        Ok(ExitCode::SUCCESS)
    }
}
