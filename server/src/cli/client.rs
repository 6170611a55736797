//! Talking to an Elevate server over its REST API, for `elevate request`: where it is and the
//! token to use (flags, `ELEVATE_URL` / `ELEVATE_TOKEN`, or `~/.config/elevate/cli.toml`), and
//! problem+json refusals turned into one clear line.
use std::path::PathBuf;

use anyhow::{Context, bail};
use serde::Deserialize;
use serde_json::Value;

/// Where the server is and who we are, from the command line or the environment.
#[derive(clap::Args)]
pub struct Server {
    /// The Elevate server, e.g. https://elevate.example.com [env: ELEVATE_URL]
    #[arg(long, global = true)]
    url: Option<String>,
    /// An API token (`elevate token issue`, or an Entra ID access token) [env: ELEVATE_TOKEN]
    #[arg(long, global = true, hide_env_values = true)]
    token: Option<String>,
}

/// `~/.config/elevate/cli.toml`: `url`, and `token` or `token_file`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    url: Option<String>,
    token: Option<String>,
    token_file: Option<PathBuf>,
}

pub struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Server {
    /// The client: each setting from the flag, else the environment, else the file.
    pub fn connect(self) -> anyhow::Result<Client> {
        let file = config_file()?;
        let url =
            self.url.or_else(|| env("ELEVATE_URL")).or(file.url).context(
                "no server: pass --url, set ELEVATE_URL, or write `url = \"…\"` in ~/.config/elevate/cli.toml",
            )?;
        let token = match (self.token.or_else(|| env("ELEVATE_TOKEN")).or(file.token), file.token_file) {
            (Some(token), _) => token,
            (None, Some(path)) => std::fs::read_to_string(&path)
                .with_context(|| format!("reading the token file {}", path.display()))?
                .trim()
                .to_owned(),
            (None, None) => bail!("no token: pass --token, set ELEVATE_TOKEN, or name a token_file in the CLI file"),
        };
        let base = url.trim_end_matches('/').to_owned();
        if !(base.starts_with("https://") || elevate::config::is_loopback_http(&base)) {
            bail!("{base} must be an https:// URL (plain http only on this machine): the token would travel in clear");
        }
        // A server that hangs must not hang a script; a redirect could carry the token elsewhere.
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the HTTP client")?;
        Ok(Client { base, token, http })
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn config_file() -> anyhow::Result<File> {
    let dir =
        env("XDG_CONFIG_HOME").map(PathBuf::from).or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".config")));
    let Some(path) = dir.map(|d| d.join("elevate/cli.toml")).filter(|p| p.exists()) else { return Ok(File::default()) };
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("{}", path.display()))
}

impl Client {
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(self.http.get(format!("{}/api/v1{path}", self.base))).await
    }

    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.send(self.http.post(format!("{}/api/v1{path}", self.base)).json(&body)).await
    }

    /// The answer's JSON, or the refusal as one line: status, title, detail and the field at fault.
    async fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let response = request.bearer_auth(&self.token).send().await.context("the server could not be reached")?;
        let status = response.status();
        let text = response.text().await.context("reading the server's answer")?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status.is_success() {
            return Ok(body);
        }
        let title = body["title"].as_str().or(status.canonical_reason()).unwrap_or("refused");
        let detail = body["detail"].as_str().map(|d| format!(": {d}")).unwrap_or_default();
        let field = body["field"].as_str().map(|f| format!(" (field {f})")).unwrap_or_default();
        bail!("{} {title}{detail}{field}", status.as_u16())
    }
}
