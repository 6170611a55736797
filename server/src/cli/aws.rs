//! `elevate aws …`: read-only looks at the configured AWS accounts.
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Subcommand, ValueEnum};
use elevate::{aws_report, config::AwsSettings, domain::HumanDuration, providers::aws::AwsIam};

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
