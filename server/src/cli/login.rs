//! `elevate login`: an access token for Elevate's API from the organisation's identity provider
//! by the device authorization grant (RFC 8628), for deployments that accept Entra ID tokens
//! (`[auth.entra]`). The command shows a code; the person signs in with it in any browser
//! (with the provider's MFA and Conditional Access); the token is kept, readable by its owner
//! only, where `elevate request` finds it.
use std::{path::Path, time::Duration};

use anyhow::{Context, bail};
use serde::Deserialize;

use super::client::{self, CliFile};

const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

#[derive(clap::Args)]
pub struct LoginArgs {
    /// The identity provider's issuer, e.g. https://login.microsoftonline.com/TENANT/v2.0
    /// (or `issuer` in ~/.config/elevate/cli.toml).
    #[arg(long)]
    issuer: Option<String>,
    /// The command line's client id: a public client registration that allows the device code
    /// flow (or `client_id` in the CLI file).
    #[arg(long)]
    client_id: Option<String>,
    /// The scope to ask for, e.g. api://elevate/Elevate.Access (or `scope` in the CLI file).
    #[arg(long)]
    scope: Option<String>,
}

/// The provider's discovery document: the two endpoints the grant uses.
#[derive(Deserialize)]
struct Discovery {
    device_authorization_endpoint: Option<String>,
    token_endpoint: String,
}

/// RFC 8628 §3.2.
#[derive(Deserialize)]
struct DeviceAuthorization {
    device_code: String,
    user_code: String,
    verification_uri: String,
    verification_uri_complete: Option<String>,
    expires_in: u64,
    interval: Option<u64>,
}

/// A token endpoint's answer: the token, or an error (RFC 6749 §5.2, RFC 8628 §3.5).
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    expires_in: Option<u64>,
    error: Option<String>,
    error_description: Option<String>,
}

impl LoginArgs {
    pub async fn run(self) -> anyhow::Result<std::process::ExitCode> {
        let file = client::cli_file()?;
        let hint = "in ~/.config/elevate/cli.toml";
        let issuer = self
            .issuer
            .or(file.issuer.clone())
            .with_context(|| format!("no issuer: pass --issuer or write `issuer = \"…\"` {hint}"))?;
        let client_id = self
            .client_id
            .or(file.client_id.clone())
            .with_context(|| format!("no client id: pass --client-id or write `client_id = \"…\"` {hint}"))?;
        let scope = self
            .scope
            .or(file.scope.clone())
            .with_context(|| format!("no scope: pass --scope or write `scope = \"…\"` {hint}"))?;
        let http = client::http()?;
        let issuer = issuer.trim_end_matches('/');
        let discovery: Discovery = json(
            http.get(format!("{}/.well-known/openid-configuration", client::checked_url(issuer)?)),
            "the provider's discovery document",
        )
        .await?;
        let device_endpoint = discovery.device_authorization_endpoint.with_context(|| {
            format!("{issuer} does not offer the device authorization grant (no device_authorization_endpoint)")
        })?;
        let form = [("client_id", client_id.as_str()), ("scope", scope.as_str())];
        let grant: DeviceAuthorization =
            json(http.post(client::checked_url(&device_endpoint)?).form(&form), "the device authorization").await?;
        match &grant.verification_uri_complete {
            Some(complete) => eprintln!(
                "To sign in, open {complete}\n(or {} and enter the code {}).",
                grant.verification_uri, grant.user_code
            ),
            None => eprintln!("To sign in, open {} and enter the code {}.", grant.verification_uri, grant.user_code),
        }
        eprintln!("Waiting for the sign-in (the code expires in {} min)…", grant.expires_in.div_ceil(60));
        let (token, expires_in) =
            poll(&http, client::checked_url(&discovery.token_endpoint)?, &client_id, &grant).await?;
        let path = file.login_token_path()?;
        save(&path, &token)?;
        let valid = expires_in.map(|s| format!(" (valid for {} min)", s / 60)).unwrap_or_default();
        println!("Signed in: the token{valid} is in {}; `elevate request` uses it.", path.display());
        // Said, not silently ignored: a token given otherwise comes first.
        if std::env::var_os("ELEVATE_TOKEN").is_some_and(|t| !t.is_empty()) || file.token.is_some() {
            eprintln!("note: ELEVATE_TOKEN or `token` in the CLI file is set, and `elevate request` uses that first");
        }
        Ok(std::process::ExitCode::SUCCESS)
    }
}

/// Asks the token endpoint every `interval` seconds (5 by default, 5 more after each
/// `slow_down`) until the person signed in, refused, or the code expired.
async fn poll(
    http: &reqwest::Client,
    token_endpoint: &str,
    client_id: &str,
    grant: &DeviceAuthorization,
) -> anyhow::Result<(String, Option<u64>)> {
    let mut interval = grant.interval.unwrap_or(5).max(1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(grant.expires_in);
    let form =
        [("grant_type", DEVICE_CODE_GRANT), ("device_code", grant.device_code.as_str()), ("client_id", client_id)];
    loop {
        tokio::time::sleep(Duration::from_secs(interval)).await;
        if tokio::time::Instant::now() > deadline {
            bail!("the code expired before anyone signed in with it: run `elevate login` again");
        }
        let answer = match http.post(token_endpoint).form(&form).send().await {
            Ok(answer) => answer,
            // RFC 8628 §3.5: on a connection failure, back off and ask again while the code lasts.
            Err(e) if e.is_connect() || e.is_timeout() => {
                eprintln!("the token endpoint could not be reached ({e}); asking again");
                interval = (interval * 2).min(60);
                continue;
            }
            Err(e) => return Err(e).context("the token endpoint could not be reached"),
        };
        let status = answer.status();
        let answer: TokenAnswer =
            answer.json().await.with_context(|| format!("the token endpoint answered {status} without JSON"))?;
        if let Some(token) = answer.access_token.filter(|_| status.is_success()) {
            return Ok((token, answer.expires_in));
        }
        let described = answer.error_description.map(|d| format!(": {d}")).unwrap_or_default();
        match answer.error.as_deref() {
            Some("authorization_pending") => {}
            Some("slow_down") => interval += 5,
            // RFC 8628's names, and Entra ID's.
            Some("access_denied" | "authorization_declined") => bail!("the sign-in was refused{described}"),
            Some("expired_token" | "code_expired") => {
                bail!("the code expired before anyone signed in with it: run `elevate login` again")
            }
            Some(other) => bail!("the identity provider refused the token: {other}{described}"),
            None => bail!("the token endpoint answered {status} without a token"),
        }
    }
}

/// GETs or POSTs and reads the JSON answer, naming `what` when it fails.
async fn json<T: serde::de::DeserializeOwned>(request: reqwest::RequestBuilder, what: &str) -> anyhow::Result<T> {
    let answer = request.send().await.with_context(|| format!("{what}: the identity provider could not be reached"))?;
    let status = answer.status();
    let text = answer.text().await.with_context(|| format!("reading {what}"))?;
    if !status.is_success() {
        let body: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let error = body["error_description"].as_str().or(body["error"].as_str()).unwrap_or(&text);
        bail!("{what}: {} {error}", status.as_u16());
    }
    serde_json::from_str(&text).with_context(|| format!("{what} is not what RFC 8628 describes"))
}

/// Writes the token readable and writable by its owner only (created so, and narrowed if the
/// file was there before).
fn save(path: &Path, token: &str) -> anyhow::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        if path.exists() {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("making {} private", path.display()))?;
        }
    }
    let mut file = options.open(path).with_context(|| format!("writing {}", path.display()))?;
    writeln!(file, "{token}").with_context(|| format!("writing {}", path.display()))
}

impl CliFile {
    /// Where `elevate login` keeps its token: the file's `token_file`, else
    /// `~/.config/elevate/token`.
    fn login_token_path(&self) -> anyhow::Result<std::path::PathBuf> {
        match &self.token_file {
            Some(path) => Ok(path.clone()),
            None => client::default_token_path().context("no home directory: set HOME or XDG_CONFIG_HOME"),
        }
    }
}
