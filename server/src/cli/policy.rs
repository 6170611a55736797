//! `elevate policy check`: the policy file's syntax and meaning, and optionally its roles in IAM.
use std::{path::PathBuf, process::ExitCode};

use anyhow::bail;
use clap::Subcommand;
use elevate::{policy::Policy, providers::aws::AwsIam, workflows::aws_mapping};

use super::Config;

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Validate a policy file (default: the configured one).
    Check {
        path: Option<PathBuf>,
        /// Also check every mapped AWS role against IAM (needs [aws]).
        #[arg(long)]
        aws: bool,
    },
}

impl PolicyCommand {
    pub async fn run(self, config: &Config) -> anyhow::Result<ExitCode> {
        let Self::Check { path, aws } = self;
        let settings = if aws || path.is_none() { Some(config.load()?) } else { None };
        let path = match (path, &settings) {
            (Some(p), _) => p,
            (None, Some(s)) => s.policy.path.clone(),
            (None, None) => bail!("no policy path"),
        };
        let policy = Policy::load(&path)?;
        let keys: Vec<_> = policy.profiles().map(|p| p.key.to_string()).collect();
        println!("{}: OK, {} profile(s): {}", path.display(), keys.len(), keys.join(", "));
        if !aws {
            return Ok(ExitCode::SUCCESS);
        }
        let Some(aws_settings) = settings.as_ref().and_then(|s| s.aws.as_ref()) else {
            bail!("--aws needs an [aws] section in the configuration");
        };
        let report = aws_mapping::check(&AwsIam::new(aws_settings).await, &policy).await;
        for (profile, risk) in &report.risk {
            println!("aws: profile {profile}: role found, risk {}", risk.as_str());
        }
        for w in &report.warnings {
            println!("aws: warning: {w}");
        }
        for e in &report.errors {
            println!("aws: error: {e}");
        }
        Ok(if report.errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
    }
}
