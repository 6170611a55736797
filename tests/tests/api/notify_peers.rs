//! The peers of the notification tests: a real SMTP server (aiosmtpd, writing each message to
//! a folder) and a webhook receiver that records what was posted.
use std::{
    path::PathBuf,
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, dev::ServerHandle, web};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

/// One message as the SMTP server received it.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Mail {
    /// Every http(s) link in the plain-text part.
    pub fn links(&self) -> Vec<String> {
        self.text
            .split_whitespace()
            .filter(|w| w.starts_with("http://") || w.starts_with("https://"))
            .map(str::to_owned)
            .collect()
    }

    /// The link after `label:` in the plain-text part (`Approve`, `Deny`).
    pub fn link(&self, label: &str) -> String {
        self.text
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{label}:")))
            .map(|l| l.trim().to_owned())
            .unwrap_or_else(|| panic!("no {label} link in {}", self.text))
    }
}

pub struct SmtpSink {
    pub port: u16,
    folder: tempfile::TempDir,
    child: Option<Child>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut sink = Self { port, folder: tempfile::tempdir().unwrap(), child: None };
        sink.restart().await;
        sink
    }

    /// The `[smtp]` section that sends to this server.
    pub fn config(&self) -> String {
        format!(
            "[smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\nfrom = \"Elevate <elevate@example.com>\"\ntimeout = \"5s\"\n",
            self.port
        )
    }

    /// Stops the server as an outage would.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
            let _ = child.wait().await;
        }
    }

    /// Starts (again) on the same port and folder.
    pub async fn restart(&mut self) {
        let python = std::env::var("ELEVATE_TEST_PYTHON").unwrap_or_else(|_| {
            let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
            if venv.exists() { venv.display().to_string() } else { "python3".into() }
        });
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("smtp_sink.py");
        let mut child = Command::new(python)
            .arg(script)
            .arg(self.port.to_string())
            .arg(self.folder.path())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python with aiosmtpd (scripts/test installs it into .venv)");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await;
        assert!(matches!(ready, Ok(Ok(Some(ref l))) if l == "ready"), "the SMTP server did not start: {ready:?}");
        self.child = Some(child);
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<Mail> {
        let mut files: Vec<_> = std::fs::read_dir(self.folder.path())
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        files.sort();
        files.iter().map(|f| parse(&std::fs::read(f).unwrap())).collect()
    }

    /// Waits until `count` messages satisfy `wanted`; returns them.
    pub async fn wait_for(&self, count: usize, wanted: impl Fn(&Mail) -> bool) -> Vec<Mail> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let found: Vec<Mail> = self.messages().into_iter().filter(|m| wanted(m)).collect();
            if found.len() >= count {
                return found;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "expected {count} matching message(s); received: {:#?}",
                self.messages().iter().map(|m| (&m.to, &m.subject)).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn parse(raw: &[u8]) -> Mail {
    let message = mail_parser::MessageParser::default().parse(raw).expect("a MIME message");
    Mail {
        to: message.to().and_then(|a| a.first()).and_then(|a| a.address()).unwrap_or_default().to_owned(),
        subject: message.subject().unwrap_or_default().to_owned(),
        text: message.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
        html: message.body_html(0).map(|t| t.into_owned()).unwrap_or_default(),
    }
}

/// A call a webhook received: its headers of interest and its body.
#[derive(Debug, Clone)]
pub struct Posted {
    pub path: String,
    pub timestamp: Option<String>,
    pub signature: Option<String>,
    pub body: String,
}

pub struct WebhookReceiver {
    pub url: String,
    pub posted: Arc<Mutex<Vec<Posted>>>,
    handle: ServerHandle,
}

impl WebhookReceiver {
    pub async fn start() -> Self {
        let posted: Arc<Mutex<Vec<Posted>>> = Arc::default();
        let store = posted.clone();
        let server = HttpServer::new(move || {
            let store = store.clone();
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let store = store.clone();
                async move {
                    let header = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
                    store.lock().unwrap().push(Posted {
                        path: req.path().to_owned(),
                        timestamp: header("X-Elevate-Timestamp"),
                        signature: header("X-Elevate-Signature"),
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                    HttpResponse::Ok().finish()
                }
            }))
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Self { url: format!("http://127.0.0.1:{port}"), posted, handle }
    }

    /// Waits until a call to `path` satisfies `wanted`.
    pub async fn wait_for(&self, path: &str, wanted: impl Fn(&Posted) -> bool) -> Posted {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(p) = self.posted.lock().unwrap().iter().find(|p| p.path == path && wanted(p)) {
                return p.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no such call to {path}: {:#?}",
                self.posted.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        tokio::spawn(async move { handle.stop(false).await });
    }
}

/// The OpenID Connect provider of the sign-in tests: oauth2-mock-server (npm), started with
/// `tests/oidc/mock-oidc.mjs` (scripts/test runs `npm ci` there).
pub struct OidcProvider {
    pub issuer: String,
    _child: Child,
}

impl OidcProvider {
    pub async fn start() -> Self {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("oidc/mock-oidc.mjs");
        let mut child = Command::new("node")
            .arg(script)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node (scripts/test installs oauth2-mock-server into tests/oidc)");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await;
        let Ok(Ok(Some(line))) = ready else { panic!("the OpenID Connect provider did not start: {ready:?}") };
        let issuer = line.strip_prefix("ready ").expect("ready <issuer>").trim().to_owned();
        Self { issuer, _child: child }
    }

    /// The `[oidc]` section that signs in with this provider.
    pub fn config(&self) -> String {
        format!(
            "[oidc]\nissuer = \"{}\"\nclient_id = \"elevate-web\"\nclient_secret = \"oidc-test-client-secret\"\n",
            self.issuer
        )
    }
}
