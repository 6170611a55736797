//! The commands of the `elevate` binary. Each module parses its arguments into domain types
//! and calls the library (workflows, store, providers); none holds rules of its own.
use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use elevate::{config::Settings, telemetry};

mod audit;
mod aws;
mod chat;
mod client;
mod credentials;
mod directory;
mod login;
mod policy;
mod request;
mod serve;

#[derive(Parser)]
#[command(name = "elevate", version, about = "Just-in-time privileged access to AWS roles through Entra ID groups")]
pub struct Cli {
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
    Demo(serve::DemoArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Policy commands.
    Policy {
        #[command(subcommand)]
        command: policy::PolicyCommand,
    },
    /// API token commands.
    Token {
        #[command(subcommand)]
        command: credentials::TokenCommand,
    },
    /// Browser session commands.
    Session {
        #[command(subcommand)]
        command: credentials::SessionCommand,
    },
    /// Audit log commands.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// AWS IAM commands.
    Aws {
        #[command(subcommand)]
        command: aws::AwsCommand,
    },
    /// Microsoft Teams and Slack approvals.
    Chat {
        #[command(subcommand)]
        command: chat::ChatCommand,
    },
    /// Directory commands.
    Directory {
        #[command(subcommand)]
        command: directory::DirectoryCommand,
    },
    /// Ask for access and decide requests through an Elevate server's API.
    Request(request::RequestArgs),
    /// Get a token for `elevate request` from the identity provider (device code sign-in).
    Login(login::LoginArgs),
}

impl Cli {
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let config = Config(self.config);
        match self.command {
            Command::Serve => serve::serve(&config).await,
            Command::Demo(args) => serve::demo(args).await,
            Command::Migrate => serve::migrate(&config).await,
            Command::Policy { command } => command.run(&config).await,
            Command::Token { command } => command.run(&config).await,
            Command::Session { command } => command.run(&config).await,
            Command::Audit { command } => command.run(&config).await,
            Command::Aws { command } => command.run(&config).await,
            Command::Chat { command } => command.run(&config).await,
            Command::Directory { command } => command.run(&config).await,
            Command::Request(args) => args.run().await,
            Command::Login(args) => args.run().await,
        }
    }
}

/// The configuration file named on the command line, loaded by the commands that need it.
struct Config(Option<PathBuf>);

impl Config {
    /// The settings, with logging set up as they say and the loader's warnings logged.
    fn load(&self) -> anyhow::Result<Settings> {
        let loaded = Settings::load(self.0.as_deref())?;
        telemetry::init(&loaded.settings.log);
        for warning in &loaded.warnings {
            tracing::warn!("{warning}");
        }
        Ok(loaded.settings)
    }
}

/// Who runs a command, as the audit log names them.
fn cli_actor() -> String {
    format!("cli:{}", std::env::var("USER").unwrap_or_else(|_| "unknown".into()))
}
