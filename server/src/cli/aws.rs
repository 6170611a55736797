//! `elevate aws …`: read-only looks at the configured AWS accounts.
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Subcommand, ValueEnum};
use elevate::{
    aws_report,
    config::AwsSettings,
    domain::{HumanDuration, parse_rfc3339},
    providers::aws::{
        AwsIam,
        activity::{CloudTrailLogs, SessionWindow},
        parse_role_arn,
    },
};

use super::Config;

#[derive(Subcommand)]
pub enum AwsCommand {
    /// List the roles the configured SAML provider federates into, with policies and risk.
    Discover {
        #[arg(long, value_enum, default_value_t = DiscoverFormat::Table)]
        format: DiscoverFormat,
    },
    /// Read-only review of IAM users, groups, roles, policies and SAML providers, with findings.
    Inventory {
        #[arg(long, value_enum, default_value_t = InventoryFormat::Table)]
        format: InventoryFormat,
        /// Access keys older than this are a finding.
        #[arg(long, default_value = "90d")]
        max_key_age: String,
    },
    /// Print the trust policy and the role-listing user's policy to paste into AWS.
    SetupGuide,
    /// Check that the CloudTrail bucket of [aws.activity] can be listed and read, for every
    /// account and region (exit 1 if not).
    ActivityCheck,
    /// What one role session did in a window, from the CloudTrail bucket, as JSON (what a
    /// grant's page shows, for any session).
    Activity {
        /// The role, `arn:aws:iam::ACCOUNT:role/NAME`.
        #[arg(long)]
        role_arn: String,
        /// The role session name (the UPN, for Entra ID's AWS app).
        #[arg(long)]
        session: String,
        /// Start of the window, RFC 3339 (`2026-12-03T09:00:00Z`).
        #[arg(long)]
        from: String,
        /// End of the window, RFC 3339.
        #[arg(long)]
        to: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum DiscoverFormat {
    Table,
    /// Profile stanzas to paste into the policy.
    Toml,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum InventoryFormat {
    Table,
    Json,
}

impl AwsCommand {
    pub async fn run(self, config: &Config) -> anyhow::Result<ExitCode> {
        let settings = config.load()?;
        let Some(aws) = settings.aws.as_ref() else { bail!("elevate aws needs an [aws] section in the configuration") };
        match self {
            Self::Discover { format } => discover(aws, format).await?,
            Self::Inventory { format, max_key_age } => {
                let max_age = HumanDuration::parse("max_key_age", &max_key_age).context("--max-key-age")?;
                inventory(aws, format, max_age).await?
            }
            Self::SetupGuide => aws.accounts.iter().for_each(|account| print!("{}", aws_report::setup_guide(account))),
            Self::ActivityCheck => return activity_check(aws).await,
            Self::Activity { role_arn, session, from, to } => {
                let logs = activity_logs(aws).await?;
                let (account, role) = parse_role_arn(&role_arn).context("--role-arn")?;
                let from = parse_rfc3339("from", &from).context("--from")?;
                let to = parse_rfc3339("to", &to).context("--to")?;
                if to < from || to - from > MAX_SPAN_MS {
                    bail!("--from must come before --to, at most 31 days earlier");
                }
                let window = SessionWindow { account, role, session, from, to };
                println!("{}", serde_json::to_string_pretty(&logs.session_activity(window).await?)?);
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

async fn discover(aws: &AwsSettings, format: DiscoverFormat) -> anyhow::Result<()> {
    for account in AwsIam::new(aws).await.accounts() {
        let roles = account.discover().await?;
        match format {
            DiscoverFormat::Table => print!("{}", aws_report::discovered_as_table(&account.settings, &roles)),
            DiscoverFormat::Toml => print!("{}", aws_report::discovered_as_policy(&account.settings, &roles)),
        }
    }
    Ok(())
}

async fn inventory(aws: &AwsSettings, format: InventoryFormat, max_key_age: HumanDuration) -> anyhow::Result<()> {
    for account in AwsIam::new(aws).await.accounts() {
        let inventory = account.inventory(max_key_age.as_secs()).await?;
        match format {
            InventoryFormat::Json => println!("{}", serde_json::to_string_pretty(&inventory)?),
            InventoryFormat::Table => print!("{}", aws_report::inventory(&inventory)),
        }
    }
    Ok(())
}

/// The longest window `elevate aws activity` reads (each day is a listing per region).
const MAX_SPAN_MS: i64 = 31 * 24 * 3600 * 1000;

async fn activity_logs(aws: &AwsSettings) -> anyhow::Result<CloudTrailLogs> {
    let Some(settings) = &aws.activity else { bail!("this needs an [aws.activity] section in the configuration") };
    Ok(CloudTrailLogs::new(aws, settings).await)
}

async fn activity_check(aws: &AwsSettings) -> anyhow::Result<ExitCode> {
    let logs = activity_logs(aws).await?;
    let accounts: Vec<String> = aws.accounts.iter().map(|a| a.account_id.to_string()).collect();
    let mut failed = false;
    for checked in logs.check(&accounts).await {
        match checked.outcome {
            Ok(found) => println!("ok    {}: {found}", checked.location),
            Err(e) => {
                failed = true;
                println!("FAIL  {}: {}", checked.location, logs.explain(&e));
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
