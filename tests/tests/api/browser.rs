//! A real browser for the web UI tests: Debian's headless Chromium, driven through
//! chromedriver (WebDriver) with fantoccini. Each `Browser` has its own chromedriver on a free
//! port and its own empty profile. Screenshots go to `target/tmp/screenshots/`.
use std::{path::PathBuf, process::Stdio, time::Duration};

use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use serde_json::json;
use tokio::process::{Child, Command};

/// Flags for a headless Chromium on a closed network: no GPU, no sandbox (tests run as root
/// in CI), and none of the background connections to Google that would be refused.
const CHROMIUM_ARGS: [&str; 11] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1200,1000",
    "--lang=en-US",
];

pub struct Browser {
    client: Client,
    base: String,
    _driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// A fresh browser for the Elevate at `base`.
    pub async fn start(base: &str) -> Self {
        Self::start_in_zone(base, "UTC").await
    }

    /// A fresh browser whose viewer lives in time zone `zone` (an IANA name: Chromium takes
    /// it from `TZ`).
    pub async fn start_in_zone(base: &str, zone: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new("chromedriver")
            .env("TZ", zone)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver (scripts/test installs Debian's chromium-driver)");
        let driver_url = format!("http://127.0.0.1:{port}");
        let ready = async {
            loop {
                if let Ok(resp) = reqwest::get(format!("{driver_url}/status")).await
                    && resp.status().is_success()
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(20), ready).await.expect("chromedriver did not start");
        let profile = tempfile::tempdir().unwrap();
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| (*a).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let capabilities = json!({ "goog:chromeOptions": { "binary": "/usr/bin/chromium", "args": args } });
        let serde_json::Value::Object(capabilities) = capabilities else { unreachable!() };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&driver_url)
            .await
            .expect("a Chromium session through chromedriver");
        Self { client, base: base.to_owned(), _driver: driver, _profile: profile }
    }

    /// Opens a page of Elevate (`/requests`) or any absolute URL.
    pub async fn open(&self, path: &str) {
        let url = if path.starts_with("http") { path.to_owned() } else { format!("{}{path}", self.base) };
        self.client.goto(&url).await.unwrap();
    }

    /// The path (and query) the browser is on.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// The page's visible text.
    pub async fn text(&self) -> String {
        self.client.find(Locator::Css("body")).await.unwrap().text().await.unwrap()
    }

    pub async fn find(&self, css: &str) -> Element {
        self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css} on the page: {e}"))
    }

    /// Clicks the button whose text starts with `label` (the first, when several do).
    pub async fn press(&self, label: &str) {
        let xpath = format!("//button[starts-with(normalize-space(), '{label}')]");
        let Ok(button) = self.client.find(Locator::XPath(&xpath)).await else {
            panic!("no button {label:?} on {}:\n{}", self.path().await, self.text().await)
        };
        self.click_to_next_page(button).await;
    }

    /// Follows the first link whose text contains `label`.
    pub async fn follow(&self, label: &str) {
        let xpath = format!("//a[contains(normalize-space(), '{label}')]");
        let Ok(link) = self.client.find(Locator::XPath(&xpath)).await else {
            panic!("no link {label:?} on {}:\n{}", self.path().await, self.text().await)
        };
        self.click_to_next_page(link).await;
    }

    /// Clicks, then waits until the page it was on has gone (the click may return before the
    /// browser navigates; WebDriver waits for the new page to load on the next command).
    async fn click_to_next_page(&self, element: Element) {
        let page = self.client.find(Locator::Css("html")).await.unwrap();
        element.click().await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while page.tag_name().await.is_ok() {
            assert!(tokio::time::Instant::now() < deadline, "the click led to no new page");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Types `value` into the field labelled by element id `id` (replacing what was there).
    pub async fn fill(&self, id: &str, value: &str) {
        let field = self.find(&format!("#{id}")).await;
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    /// Sets the value of field `id` as its picker would (date and time fields take no typing
    /// through WebDriver), telling the page's script it changed.
    pub async fn set(&self, id: &str, value: &str) {
        let script = "const f = document.getElementById(arguments[0]); f.value = arguments[1]; \
                      f.dispatchEvent(new Event('input', { bubbles: true }));";
        self.client.execute(script, vec![json!(id), json!(value)]).await.unwrap();
    }

    pub async fn choose(&self, id: &str, value: &str) {
        self.find(&format!("#{id}")).await.select_by_value(value).await.unwrap();
    }

    /// A field's current value, as the browser holds it.
    pub async fn value(&self, id: &str) -> String {
        self.find(&format!("#{id}")).await.prop("value").await.unwrap().unwrap_or_default()
    }

    pub async fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.find(css).await.attr(name).await.unwrap()
    }

    /// Reloads until the page's text contains `wanted` (a status that the worker changes).
    pub async fn reload_until(&self, wanted: &str, timeout: Duration) -> String {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let text = self.text().await;
            if text.contains(wanted) {
                return text;
            }
            assert!(tokio::time::Instant::now() < deadline, "{wanted:?} never showed:\n{text}");
            tokio::time::sleep(Duration::from_millis(300)).await;
            self.client.refresh().await.unwrap();
        }
    }

    /// Shows the page at a phone's width (390 px): nothing may stick out sideways. Goes back
    /// to the desktop size afterwards.
    pub async fn fits_a_phone(&self, screenshot: &str) -> bool {
        self.client.set_window_size(390, 844).await.unwrap();
        let overflow = self
            .client
            .execute("return document.documentElement.scrollWidth - document.documentElement.clientWidth;", vec![])
            .await
            .unwrap();
        self.screenshot(screenshot).await;
        self.client.set_window_size(1200, 1000).await.unwrap();
        overflow.as_i64() == Some(0)
    }

    /// Saves the page as `target/tmp/screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    pub async fn close(self) {
        self.client.close().await.unwrap();
    }
}
