//! `elevate chat check`: proves the chat apps' configuration before approvers rely on it — the
//! Teams bot's credentials and the Bot Connector's keys, the Slack bot token and its scopes.
use std::process::ExitCode;

use clap::Subcommand;
use elevate::{
    providers::chat::{slack::SlackApp, teams::TeamsBot},
    telemetry::error_chain,
};

use super::Config;

#[derive(Subcommand)]
pub enum ChatCommand {
    /// Check [teams] and [slack]: credentials, keys, token scopes (exit 1 if anything fails).
    Check,
}

impl ChatCommand {
    pub async fn run(self, config: &Config) -> anyhow::Result<ExitCode> {
        let settings = config.load()?;
        if settings.teams.is_none() && settings.slack.is_none() {
            anyhow::bail!("neither [teams] nor [slack] is configured: nothing to check");
        }
        let mut failed = false;
        let mut report = |ok: bool, line: String| {
            println!("{} {line}", if ok { "ok   " } else { "FAIL " });
            failed |= !ok;
        };
        if let Some(teams) = &settings.teams {
            let bot = TeamsBot::new(teams)?;
            match bot.check().await {
                Ok(()) => report(true, format!("Teams: app {} gets Bot Connector tokens from Entra ID", bot.app_id)),
                Err(e) => report(
                    false,
                    format!(
                        "Teams: app {} gets no Bot Connector token: {} (check teams.app_id, teams.tenant_id and the \
                         client secret or certificate of the bot's app registration)",
                        bot.app_id,
                        error_chain(&e)
                    ),
                ),
            }
            let auth = bot.channel_auth();
            match auth.check().await {
                Ok(keys) if keys > 0 => {
                    report(true, format!("Teams: {keys} Bot Connector signing key(s) at {}", auth.keys_url()));
                }
                Ok(_) => report(false, format!("Teams: no signing keys at {}", auth.keys_url())),
                Err(e) => report(
                    false,
                    format!(
                        "Teams: the Bot Connector's keys cannot be read from {}: {}",
                        auth.keys_url(),
                        error_chain(&e)
                    ),
                ),
            }
        }
        if let Some(slack) = &settings.slack {
            let app = SlackApp::new(slack)?;
            match app.check().await {
                Ok((team, missing)) if missing.is_empty() => {
                    report(true, format!("Slack: the bot token works in {team} with the scopes Elevate needs"));
                }
                Ok((team, missing)) => report(
                    false,
                    format!(
                        "Slack: the bot token works in {team} but lacks the scope(s) {}: add them under OAuth & \
                         Permissions and reinstall the app",
                        missing.join(", ")
                    ),
                ),
                Err(e) => report(false, format!("Slack: {}", error_chain(&e))),
            }
        }
        Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
    }
}
