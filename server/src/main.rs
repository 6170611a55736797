//! The `elevate` command line.
use std::{net::SocketAddr, path::PathBuf, process::ExitCode, time::Duration};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use elevate::{
    audit_checkpoint::{self, Outcome},
    auth::TokenAuthority,
    aws_report,
    config::Settings,
    demo, directory_check,
    domain::{HumanDuration, Role, Upn},
    policy::Policy,
    startup::{self, Application},
    store::audit::{self, Verification},
    telemetry,
    workflows::tokens,
};

#[derive(Parser)]
#[command(name = "elevate", version, about = "Just-in-time privileged access to AWS roles through Entra ID groups")]
struct Cli {
    /// Configuration file (default: elevate.toml in the working directory, if present).
    #[arg(long, short, global = true, env = "ELEVATE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API server, the worker and the sweeps.
    Serve,
    /// Run a self-contained demo on loopback (SQLite, demo users, printed tokens).
    Demo {
        #[arg(long, default_value = "127.0.0.1:8080")]
        bind: SocketAddr,
        /// Folder for the demo's database, policy and signing key.
        #[arg(long, default_value = "demo-data")]
        dir: PathBuf,
        /// Do not drive a sample request through its life at start.
        #[arg(long)]
        no_walkthrough: bool,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Policy commands.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// API token commands.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Browser session commands.
    Session {
        #[command(subcommand)]
        command: SessionCommand,
    },
    /// Audit log commands.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// AWS IAM commands.
    Aws {
        #[command(subcommand)]
        command: AwsCommand,
    },
    /// Directory commands.
    Directory {
        #[command(subcommand)]
        command: DirectoryCommand,
    },
}

#[derive(Subcommand)]
enum DirectoryCommand {
    /// Show what works: credentials, every group the policy names, and a test user.
    Check {
        /// A user (UPN or object id) to resolve.
        #[arg(long)]
        user: Option<String>,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Validate a policy file (default: the configured one).
    Check {
        path: Option<PathBuf>,
        /// Also check every mapped AWS role against IAM (needs [aws]).
        #[arg(long)]
        aws: bool,
    },
}

#[derive(Subcommand)]
enum AwsCommand {
    /// List the roles the configured SAML provider federates into, with policies and risk.
    Discover {
        /// `table` (default) or `toml` (profile stanzas to paste into the policy).
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// Read-only review of IAM users, groups, roles, policies and SAML providers, with findings.
    Inventory {
        /// `table` (default) or `json`.
        #[arg(long, default_value = "table")]
        format: String,
        /// Access keys older than this are a finding.
        #[arg(long, default_value = "90d")]
        max_key_age: String,
    },
    /// Print the trust policy and the role-listing user's policy to paste into AWS.
    SetupGuide,
}

#[derive(Subcommand)]
enum TokenCommand {
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
enum SessionCommand {
    /// End every browser session of a user at once (on every replica).
    Revoke {
        /// The user (UPN).
        #[arg(long)]
        user: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk the hash chain; exit non-zero naming the first bad sequence number.
    Verify {
        /// Also check a signed checkpoint: the chain must still hold the hash it vouches for.
        #[arg(long, value_name = "FILE")]
        from_checkpoint: Option<PathBuf>,
        /// The Ed25519 public key (PEM) of the checkpoint (default: audit.checkpoint_public_key_file).
        #[arg(long, value_name = "FILE")]
        public_key: Option<PathBuf>,
    },
    /// Sign the chain's head with the Ed25519 key and print (or write) the checkpoint.
    Checkpoint {
        /// The Ed25519 private key (PEM) (default: audit.checkpoint_key_file).
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// Write the checkpoint to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

/// Who runs a command, as the audit log names them.
fn cli_actor() -> String {
    format!("cli:{}", std::env::var("USER").unwrap_or_else(|_| "unknown".into()))
}

fn load(cli_config: Option<&std::path::Path>) -> anyhow::Result<Settings> {
    let loaded = Settings::load(cli_config)?;
    telemetry::init(&loaded.settings.log);
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    Ok(loaded.settings)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve => {
            let app = Application::build(load(cli.config.as_deref())?).await?;
            println!("listening on http://127.0.0.1:{}", app.port());
            app.run_until_stopped().await?;
        }
        Command::Demo { bind, dir, no_walkthrough } => {
            telemetry::init(&Default::default());
            let settings = demo::prepare(&dir, bind)?;
            let secret = settings.auth.token_secret()?;
            let authority = TokenAuthority::new(&secret, &settings.auth.issuer, &settings.auth.audience)?;
            let tokens = demo::tokens(&authority)?;
            let app = Application::build(settings).await?;
            let base = format!("http://{}:{}", bind.ip(), app.port());
            println!("listening on {base}");
            println!("{}", demo::instructions(&base, &tokens, &dir.join("mail")));
            if !no_walkthrough {
                tokio::spawn(async move {
                    if let Err(e) = demo::walkthrough(&base, &tokens).await {
                        println!("walkthrough failed: {e}");
                    }
                });
            }
            app.run_until_stopped().await?;
        }
        Command::Migrate => {
            let settings = load(cli.config.as_deref())?;
            startup::open_store(&settings).await?;
            println!("migrations applied to {}", settings.database.redacted_url());
        }
        Command::Policy { command: PolicyCommand::Check { path, aws } } => {
            let settings = if aws || path.is_none() { Some(load(cli.config.as_deref())?) } else { None };
            let path = match (path, &settings) {
                (Some(p), _) => p,
                (None, Some(s)) => s.policy.path.clone(),
                (None, None) => bail!("no policy path"),
            };
            let policy = Policy::load(&path)?;
            let keys: Vec<_> = policy.profiles().map(|p| p.key.to_string()).collect();
            println!("{}: OK, {} profile(s): {}", path.display(), keys.len(), keys.join(", "));
            if aws {
                let Some(aws_settings) = settings.as_ref().and_then(|s| s.aws.as_ref()) else {
                    bail!("--aws needs an [aws] section in the configuration");
                };
                let iam = elevate::providers::aws::AwsIam::new(aws_settings).await;
                let report = elevate::workflows::aws_mapping::check(&iam, &policy).await;
                for (profile, risk) in &report.risk {
                    println!("aws: profile {profile}: role found, risk {}", risk.as_str());
                }
                for w in &report.warnings {
                    println!("aws: warning: {w}");
                }
                for e in &report.errors {
                    println!("aws: error: {e}");
                }
                if !report.errors.is_empty() {
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        Command::Aws { command: AwsCommand::Inventory { format, max_key_age } } => {
            let settings = load(cli.config.as_deref())?;
            let Some(aws_settings) = settings.aws.as_ref() else {
                bail!("elevate aws needs an [aws] section in the configuration")
            };
            if format != "table" && format != "json" {
                bail!("--format {format:?}: expected table or json");
            }
            let max_age = HumanDuration::parse("max_key_age", &max_key_age).context("--max-key-age")?;
            let iam = elevate::providers::aws::AwsIam::new(aws_settings).await;
            for account in iam.accounts() {
                let inventory = account.inventory(max_age.as_secs()).await?;
                if format == "json" {
                    println!("{}", serde_json::to_string_pretty(&inventory)?);
                } else {
                    print!("{}", aws_report::inventory(&inventory));
                }
            }
        }
        Command::Aws { command: AwsCommand::SetupGuide } => {
            let settings = load(cli.config.as_deref())?;
            let Some(aws_settings) = settings.aws.as_ref() else {
                bail!("elevate aws needs an [aws] section in the configuration")
            };
            for account in &aws_settings.accounts {
                print!("{}", aws_report::setup_guide(account));
            }
        }
        Command::Aws { command: AwsCommand::Discover { format } } => {
            let settings = load(cli.config.as_deref())?;
            let Some(aws_settings) = settings.aws.as_ref() else {
                bail!("elevate aws needs an [aws] section in the configuration")
            };
            if format != "table" && format != "toml" {
                bail!("--format {format:?}: expected table or toml");
            }
            let iam = elevate::providers::aws::AwsIam::new(aws_settings).await;
            for account in iam.accounts() {
                let roles = account.discover().await?;
                print!("{}", aws_report::discovered(&account.settings, &roles, &format));
            }
        }
        Command::Token { command: TokenCommand::Issue { subject, roles, scopes, ttl } } => {
            let settings = load(cli.config.as_deref())?;
            let subject = Upn::parse(&subject).context("--subject")?;
            let mut parsed = Vec::new();
            for r in if roles.is_empty() { vec!["requester".to_owned()] } else { roles } {
                match Role::parse(&r) {
                    Some(role) => parsed.push(role),
                    None => bail!("--role {r:?}: expected requester, approver, admin or auditor"),
                }
            }
            let mut delegate = false;
            for s in scopes {
                if s != "delegate" {
                    bail!("--scope {s:?}: the only scope is `delegate`");
                }
                delegate = true;
            }
            let ttl = HumanDuration::parse("ttl", &ttl).context("--ttl")?;
            if ttl.get() > Duration::from_secs(366 * 24 * 3600) || ttl.get() < Duration::from_secs(60) {
                bail!("--ttl: must be between 1 minute and 366 days");
            }
            let secret = settings.auth.token_secret()?;
            let authority = TokenAuthority::new(&secret, &settings.auth.issuer, &settings.auth.audience)?;
            // Issuing a credential is an admin action: it is listed and goes into the audit log.
            let store = startup::open_current_store(&settings).await?;
            let issued =
                tokens::issue(&store, &authority, (&subject, &parsed, delegate), ttl.get(), &cli_actor()).await?;
            println!("{}", issued.token);
        }
        Command::Token { command: TokenCommand::List { subject } } => {
            let settings = load(cli.config.as_deref())?;
            let subject = subject.map(|s| Upn::parse(&s)).transpose().context("--subject")?;
            let store = startup::open_current_store(&settings).await?;
            println!("{:<36}  {:<32}  {:<28}  {:<24}  revoked", "id", "subject", "roles", "expires");
            for t in tokens::list(&store, subject.as_ref()).await? {
                let roles = if t.delegate { format!("{} +delegate", t.roles) } else { t.roles };
                let revoked = t.revoked_at.map_or_else(|| "-".to_owned(), elevate::domain::format_millis);
                let expires = elevate::domain::format_millis(t.expires_at);
                println!("{:<36}  {:<32}  {:<28}  {:<24}  {revoked}", t.jti, t.subject, roles, expires);
            }
        }
        Command::Token { command: TokenCommand::Revoke { jti, subject } } => {
            let settings = load(cli.config.as_deref())?;
            let store = startup::open_current_store(&settings).await?;
            match (jti, subject) {
                (Some(jti), _) => {
                    let token = tokens::revoke(&store, &jti, &cli_actor()).await?;
                    println!("revoked token {jti} of {}", token.subject);
                }
                (None, Some(subject)) => {
                    let subject = Upn::parse(&subject).context("--subject")?;
                    let listed = tokens::revoke_all_of(&store, &subject, &cli_actor()).await?;
                    println!("revoked every token of {subject} issued until now ({listed} listed token(s) were live)");
                }
                (None, None) => bail!("name a token id or --subject"),
            }
        }
        Command::Session { command: SessionCommand::Revoke { user } } => {
            let settings = load(cli.config.as_deref())?;
            let user = Upn::parse(&user).context("--user")?;
            let store = startup::open_current_store(&settings).await?;
            let ended = elevate::workflows::sign_in::revoke_sessions(&store, &user, &cli_actor()).await?;
            println!("ended {ended} session(s) of {user}");
        }
        Command::Directory { command: DirectoryCommand::Check { user } } => {
            let settings = load(cli.config.as_deref())?;
            let policy = Policy::load(&settings.policy.path)?;
            let directory = startup::directory(&settings).await?;
            println!("credentials: ok ({:?} directory)", settings.directory.kind);
            let mut failures = 0;
            for (group, role) in directory_check::groups_named(&policy) {
                match directory.group_name(&group).await {
                    Ok(name) => println!("group {group} ({name}), {role}: ok"),
                    Err(e) => {
                        failures += 1;
                        println!("group {group}, {role}: FAILED: {e}");
                    }
                }
            }
            if let Some(user) = user {
                match directory.resolve_user(&user).await {
                    Ok(u) => println!("user {user}: ok ({}, id {})", u.display_name, u.id),
                    Err(e) => {
                        failures += 1;
                        println!("user {user}: FAILED: {e}");
                    }
                }
            }
            if failures > 0 {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Audit { command: AuditCommand::Verify { from_checkpoint: None, .. } } => {
            let settings = load(cli.config.as_deref())?;
            let store = startup::open_current_store(&settings).await?;
            match audit::verify(store.conn()).await? {
                Verification::Intact { events } => println!("audit chain intact: {events} event(s)"),
                Verification::Broken { seq, reason } => {
                    println!("audit chain broken at seq {seq}: {reason}");
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        Command::Audit { command: AuditCommand::Verify { from_checkpoint: Some(file), public_key } } => {
            let settings = load(cli.config.as_deref())?;
            let public_key = public_key
                .or(settings.audit.checkpoint_public_key_file.clone())
                .context("--public-key FILE (or audit.checkpoint_public_key_file) is needed to check a checkpoint")?;
            let signed = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let store = startup::open_current_store(&settings).await?;
            match audit_checkpoint::verify(&store, &signed, &public_key).await? {
                Outcome::Matches { events, checkpoint } => println!(
                    "audit chain intact: {events} event(s); checkpoint at seq {} matches (hash {})",
                    checkpoint.seq, checkpoint.hash
                ),
                Outcome::Broken { seq, reason } => {
                    println!("audit chain broken at seq {seq}: {reason}");
                    return Ok(ExitCode::FAILURE);
                }
                Outcome::Differs { checkpoint, found } => {
                    let found = found.map_or_else(|| "no such event".to_owned(), |h| format!("hash {h}"));
                    println!(
                        "audit chain does not match the checkpoint: seq {} was signed with hash {}, the database has {found}",
                        checkpoint.seq, checkpoint.hash
                    );
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        Command::Audit { command: AuditCommand::Checkpoint { key, out } } => {
            let settings = load(cli.config.as_deref())?;
            let key = key
                .or(settings.audit.checkpoint_key_file.clone())
                .context("--key FILE (or audit.checkpoint_key_file) is needed to sign a checkpoint")?;
            let store = startup::open_current_store(&settings).await?;
            let (checkpoint, signed) = audit_checkpoint::make(&store, &key, "cli").await?;
            match out {
                Some(path) => {
                    std::fs::write(&path, format!("{signed}\n"))
                        .with_context(|| format!("writing {}", path.display()))?;
                    eprintln!("checkpoint of seq {} written to {}", checkpoint.seq, path.display());
                }
                None => println!("{signed}"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
