//! `elevate serve`, `elevate demo` and `elevate migrate`.
use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use elevate::{
    auth::TokenAuthority,
    demo,
    startup::{self, Application},
    telemetry,
};

use super::Config;

#[derive(clap::Args)]
pub struct DemoArgs {
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// Folder for the demo's database, policy and signing key.
    #[arg(long, default_value = "demo-data")]
    dir: PathBuf,
    /// Do not drive a sample request through its life at start.
    #[arg(long)]
    no_walkthrough: bool,
}

pub async fn serve(config: &Config) -> anyhow::Result<ExitCode> {
    let app = Application::build(config.load()?).await?;
    println!("listening on http://127.0.0.1:{}", app.port());
    app.run_until_stopped().await?;
    Ok(ExitCode::SUCCESS)
}

pub async fn demo(DemoArgs { bind, dir, no_walkthrough }: DemoArgs) -> anyhow::Result<ExitCode> {
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
    Ok(ExitCode::SUCCESS)
}

pub async fn migrate(config: &Config) -> anyhow::Result<ExitCode> {
    let settings = config.load()?;
    startup::open_store(&settings).await?;
    println!("migrations applied to {}", settings.database.redacted_url());
    Ok(ExitCode::SUCCESS)
}
