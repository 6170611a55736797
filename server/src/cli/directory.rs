//! `elevate directory check`: whether the directory answers for everything the policy names.
use std::process::ExitCode;

use clap::Subcommand;
use elevate::{directory_check, policy::Policy, startup, telemetry::error_chain};

use super::Config;

#[derive(Subcommand)]
pub enum DirectoryCommand {
    /// Show what works: credentials, every group the policy names, and a test user.
    Check {
        /// A user (UPN or object id) to resolve.
        #[arg(long)]
        user: Option<String>,
    },
}

impl DirectoryCommand {
    pub async fn run(self, config: &Config) -> anyhow::Result<ExitCode> {
        let Self::Check { user } = self;
        let settings = config.load()?;
        let policy = Policy::load(&settings.policy.path)?;
        let directory = startup::directory(&settings).await?;
        println!("credentials: ok ({:?} directory)", settings.directory.kind);
        let mut failures = 0;
        for (group, role) in directory_check::groups_named(&policy) {
            match directory.group_name(&group).await {
                Ok(name) => println!("group {group} ({name}), {role}: ok"),
                Err(e) => {
                    failures += 1;
                    println!("group {group}, {role}: FAILED: {}", error_chain(&e));
                }
            }
        }
        if let Some(user) = user {
            match directory.resolve_user(&user).await {
                Ok(u) => println!("user {user}: ok ({}, id {})", u.display_name, u.id),
                Err(e) => {
                    failures += 1;
                    println!("user {user}: FAILED: {}", error_chain(&e));
                }
            }
        }
        Ok(if failures == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
    }
}
