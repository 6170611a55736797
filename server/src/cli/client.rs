//! Talking to an Elevate server over its REST API, for `elevate request`: where it is and the
//! token to use (flags, `ELEVATE_URL` / `ELEVATE_TOKEN`, `~/.config/elevate/cli.toml`, or the
//! token `elevate login` kept), and problem+json refusals turned into one clear line.
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

/// `~/.config/elevate/cli.toml`: `url`, and `token` or `token_file`; for `elevate login`, the
/// identity provider's `issuer`, the command line's `client_id` and the `scope` to ask for.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CliFile {
    url: Option<String>,
    pub token: Option<String>,
    pub token_file: Option<PathBuf>,
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub scope: Option<String>,
}

pub struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Server {
    /// The client: each setting from the flag, else the environment, else the file.
    pub fn connect(self) -> anyhow::Result<Client> {
        let file = cli_file()?;
        let url =
            self.url.or_else(|| env("ELEVATE_URL")).or(file.url).context(
                "no server: pass --url, set ELEVATE_URL, or write `url = \"…\"` in ~/.config/elevate/cli.toml",
            )?;
        let token_file = file.token_file.or_else(|| default_token_path().filter(|p| p.exists()));
        let token = match (self.token.or_else(|| env("ELEVATE_TOKEN")).or(file.token), token_file) {
            (Some(token), _) => token,
            (None, Some(path)) => std::fs::read_to_string(&path)
                .with_context(|| format!("reading the token file {}", path.display()))?
                .trim()
                .to_owned(),
            (None, None) => bail!(
                "no token: pass --token, set ELEVATE_TOKEN, name a token_file in the CLI file, or run `elevate login`"
            ),
        };
        let base = checked_url(url.trim_end_matches('/'))?.to_owned();
        Ok(Client { base, token, http: http()? })
    }
}

/// `url` if it may carry a token or a code: https, or plain http to this machine only.
pub fn checked_url(url: &str) -> anyhow::Result<&str> {
    if !(url.starts_with("https://") || elevate::config::is_loopback_http(url)) {
        bail!("{url} must be an https:// URL (plain http only on this machine): the token would travel in clear");
    }
    Ok(url)
}

/// The HTTP client of the command line: a server that hangs must not hang a script, and a
/// redirect could carry the token elsewhere.
pub fn http() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("building the HTTP client")
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// `~/.config/elevate` (or `$XDG_CONFIG_HOME/elevate`).
fn config_dir() -> Option<PathBuf> {
    let dir =
        env("XDG_CONFIG_HOME").map(PathBuf::from).or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".config")));
    dir.map(|d| d.join("elevate"))
}

/// Where `elevate login` keeps its token unless the CLI file names a `token_file`.
pub fn default_token_path() -> Option<PathBuf> {
    config_dir().map(|d| d.join("token"))
}

pub fn cli_file() -> anyhow::Result<CliFile> {
    let Some(path) = config_dir().map(|d| d.join("cli.toml")).filter(|p| p.exists()) else {
        return Ok(CliFile::default());
    };
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
