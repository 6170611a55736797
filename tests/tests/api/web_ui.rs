//! The web UI in a real browser (headless Chromium), signed in through a real OpenID Connect
//! provider (oauth2-mock-server): the stories an engineer, an approver and an admin live
//! through, with screenshots of the main pages.
use std::time::Duration;

use crate::{
    browser::Browser,
    email::policy,
    helpers::{ADMINS_GROUP, ALICE, BOB, CAROL, DAVE, TestApp, binary},
    notify_peers::{OidcProvider, SmtpSink},
};

/// An Elevate with OpenID Connect sign-in (and mail, for the approvers' links).
async fn spawn(idp: &OidcProvider, sink: &SmtpSink) -> TestApp {
    TestApp::builder().policy(&policy()).config(&format!("{}\n{}", sink.config(), idp.config())).spawn().await
}

/// Signs `user` in through the identity provider, as the browser would by following the
/// sign-in redirects; lands on `next`.
async fn sign_in(browser: &Browser, user: &str, next: &str) {
    browser.open(&format!("/signin?login_hint={user}&next={next}")).await;
    assert_eq!(browser.path().await, next, "{}", browser.text().await);
    assert!(browser.text().await.contains(&format!("Signed in as {user}")));
}

async fn sign_out(browser: &Browser) {
    browser.press("Sign out").await;
    assert_eq!(browser.path().await, "/signedout");
    assert!(!browser.text().await.contains("Signed in as"));
}

fn request_id(path: &str) -> String {
    path.strip_prefix("/requests/").expect("on a request's page").to_owned()
}

#[tokio::test]
async fn an_engineer_requests_an_approver_approves_from_the_inbox_and_the_engineer_gives_it_back() {
    let (idp, sink) = (OidcProvider::start().await, SmtpSink::start().await);
    let app = spawn(&idp, &sink).await;
    let browser = Browser::start(&app.address).await;

    // Alice files a request with the form.
    sign_in(&browser, ALICE, "/requests/new").await;
    browser.screenshot("request-form-choices").await;
    browser.follow("Account 1 administrators").await;
    browser.choose("duration", "1800").await;
    browser.fill("justification", "Rotate the KMS key for INC-4711").await;
    browser.screenshot("request-form").await;
    assert!(browser.fits_a_phone("request-form-phone").await, "the form is wider than a phone");
    browser.press("Request").await;
    let id = request_id(&browser.path().await);
    let text = browser.text().await;
    assert!(text.contains("Request: pending") && text.contains("Rotate the KMS key for INC-4711"), "{text}");
    // The script ran: times show in the viewer's zone, with the UTC instant on hover.
    let title = browser.attr("ol.timeline time", "title").await.unwrap_or_default();
    assert!(title.ends_with("(UTC)"), "{title}");
    sign_out(&browser).await;

    // Bob approves it from his inbox.
    sign_in(&browser, BOB, "/approvals").await;
    let inbox = browser.text().await;
    assert!(inbox.contains(ALICE) && inbox.contains("Rotate the KMS key for INC-4711"), "{inbox}");
    browser.screenshot("approvals-inbox").await;
    browser.press("Approve").await;
    assert_eq!(browser.path().await, "/approvals");
    assert!(!browser.text().await.contains("Rotate the KMS key"), "decided requests leave the inbox");
    sign_out(&browser).await;

    // Alice sees it active, with the time left counting down, and she is in the group.
    sign_in(&browser, ALICE, &format!("/requests/{id}")).await;
    let text = browser.reload_until("Request: active", Duration::from_secs(20)).await;
    assert!(text.contains("request.approved") && text.contains("grant.activated"), "{text}");
    assert!(app.is_member(ADMINS_GROUP, ALICE).await);
    let ends = browser.find("time[data-countdown]").await.text().await.unwrap();
    assert!(ends.contains("min") && ends.ends_with("left)"), "{ends}");
    browser.screenshot("request-active").await;
    assert!(browser.fits_a_phone("request-active-phone").await, "the request page is wider than a phone");
    browser.open("/requests").await;
    assert!(browser.text().await.contains("active"));
    browser.screenshot("my-requests").await;
    sign_out(&browser).await;

    // Dave, an admin, sees every grant in force, and the audit log.
    sign_in(&browser, DAVE, "/grants").await;
    let grants = browser.text().await;
    assert!(grants.contains(ALICE) && grants.contains("AzureAD-Admins") && grants.contains("Revoke"), "{grants}");
    browser.screenshot("active-grants").await;
    assert!(browser.fits_a_phone("active-grants-phone").await, "the grants list is wider than a phone");
    browser.open("/audit").await;
    assert!(browser.text().await.contains("request.created"));
    browser.screenshot("audit-log").await;
    sign_out(&browser).await;

    // Alice gives it back early; the membership goes.
    sign_in(&browser, ALICE, &format!("/requests/{id}")).await;
    browser.fill("comment", "done early").await;
    browser.press("End my access now").await;
    browser.reload_until("Request: revoked", Duration::from_secs(10)).await;
    let ended = app.wait_until_ended(&id, Duration::from_secs(20)).await;
    assert_eq!(ended["status"], "revoked");
    assert!(!app.is_member(ADMINS_GROUP, ALICE).await);
    browser.close().await;
}

#[tokio::test]
async fn a_form_with_bad_values_shows_each_error_next_to_its_field_and_keeps_what_was_typed() {
    let (idp, sink) = (OidcProvider::start().await, SmtpSink::start().await);
    let app = spawn(&idp, &sink).await;
    let browser = Browser::start(&app.address).await;
    sign_in(&browser, ALICE, "/requests/new?profile=Ticketed").await;

    // No justification, and a ticket with markup in it.
    browser.fill("ticket", "<b>T-1</b>").await;
    browser.press("Request").await;
    assert_eq!(browser.path().await, "/requests/new", "still on the form");
    let error = browser.find("#justification-error").await.text().await.unwrap();
    assert!(error.contains("required"), "{error}");
    assert_eq!(browser.attr("#justification", "aria-invalid").await.as_deref(), Some("true"));
    assert_eq!(browser.value("ticket").await, "<b>T-1</b>", "kept as typed, shown as text");
    browser.screenshot("request-form-errors").await;

    // Fixed: filed, and nothing was filed before.
    browser.fill("justification", "Deploy hotfix").await;
    browser.press("Request").await;
    let id = request_id(&browser.path().await);
    let (_, mine) = app.engineer().get("/api/v1/requests").await;
    let ids: Vec<_> = mine["items"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [id.as_str()]);
    browser.close().await;
}

#[tokio::test]
async fn an_engineer_schedules_access_in_her_own_time_zone_and_the_approvers_mail_names_the_window() {
    let (idp, sink) = (OidcProvider::start().await, SmtpSink::start().await);
    let app = spawn(&idp, &sink).await;
    // Moscow is UTC+03:00 all year: no daylight saving to make the expected instant move.
    let browser = Browser::start_in_zone(&app.address, "Europe/Moscow").await;
    sign_in(&browser, ALICE, "/requests/new?profile=AzureAD-Admins").await;
    let label = browser.find("label[for=start_at]").await.text().await.unwrap();
    assert!(label.contains("your time, Europe/Moscow"), "{label}");

    // A start in the past: the error is next to the field, and what she typed stays.
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1)).date_naive();
    browser.set("start_at", &format!("{yesterday}T09:30")).await;
    browser.fill("justification", "Database failover drill").await;
    browser.press("Request").await;
    assert_eq!(browser.path().await, "/requests/new", "still on the form");
    let error = browser.find("#start_at-error").await.text().await.unwrap();
    assert!(error.contains("must be in the future"), "{error}");
    assert_eq!(browser.value("start_at").await, format!("{yesterday}T09:30"));

    // Tomorrow at 09:30 her time is 06:30 UTC.
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).date_naive();
    browser.set("start_at", &format!("{tomorrow}T09:30")).await;
    browser.choose("duration", "3600").await;
    browser.press("Request").await;
    let id = request_id(&browser.path().await);
    let (opens, ends) = (format!("{tomorrow}T06:30:00.000Z"), format!("{tomorrow}T07:30:00.000Z"));
    let (_, request) = app.engineer().get(&format!("/api/v1/requests/{id}")).await;
    assert_eq!(request["start_at"], opens.as_str(), "{request}");
    let page = browser.text().await;
    assert!(page.contains(&format!("{opens} to {ends}")), "the page shows the window: {page}");
    browser.screenshot("request-scheduled").await;

    // The approvers' mail says which window they approve.
    let mails = sink.wait_for(1, |m| m.to == BOB && m.subject.starts_with("Approval needed")).await;
    assert!(mails[0].text.contains(&format!("from {opens}")), "{}", mails[0].text);
    assert!(mails[0].text.contains(&format!("{opens} to {ends}")), "{}", mails[0].text);
    browser.close().await;
}

#[tokio::test]
async fn an_approver_opens_the_emailed_link_signs_in_and_confirms() {
    let (idp, sink) = (OidcProvider::start().await, SmtpSink::start().await);
    let app = spawn(&idp, &sink).await;
    let id = app.engineer().request("SignedLinks", 600).await;
    let mail = sink.wait_for(1, |m| m.to == CAROL && m.subject.starts_with("Approval needed")).await.remove(0);
    let browser = Browser::start(&app.address).await;

    // The profile wants a signed-in approver: the link page says so and offers the sign-in.
    browser.open(&mail.link("Approve")).await;
    assert!(browser.text().await.contains("sign in"), "{}", browser.text().await);
    browser.follow("Sign in").await;
    // Back on the link's page, signed in as Carol, with one button that decides.
    let text = browser.text().await;
    assert!(text.contains(&format!("Signed in as {CAROL}")) && text.contains(ALICE), "{text}");
    assert_eq!(
        app.engineer().get(&format!("/api/v1/requests/{id}")).await.1["status"],
        "pending",
        "opening decides nothing"
    );
    browser.screenshot("emailed-link-confirm").await;
    browser.press("Approve").await;
    assert!(browser.text().await.contains("Decision recorded"), "{}", browser.text().await);
    app.wait_for_status(&id, "active", Duration::from_secs(20)).await;
    browser.close().await;
}

/// `elevate demo` on a free port, as the README starts it; its address.
async fn start_demo(dir: &std::path::Path) -> (tokio::process::Child, String) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(binary())
        .args(["demo", "--bind", "127.0.0.1:0", "--no-walkthrough", "--dir"])
        .arg(dir.join("demo-data"))
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let base = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(base) = line.strip_prefix("Elevate demo running at ") {
                return base.trim().to_owned();
            }
        }
        panic!("the demo ended without saying where it runs")
    })
    .await
    .expect("the demo did not start");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, base)
}

/// The README's "demo in a browser", step by step, with the demo's own sign-in page.
#[tokio::test]
async fn the_readme_demo_walkthrough_works_in_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let (_demo, base) = start_demo(dir.path()).await;
    let browser = Browser::start(&base).await;
    let demo_sign_in = |who: &'static str| {
        let browser = &browser;
        async move {
            browser.press(who).await;
            assert!(browser.text().await.contains("Signed in as"), "{}", browser.text().await);
        }
    };

    // 1. Open it, pick Alice. 2. Request 30 seconds of Account 1 administrators.
    browser.open("/").await;
    assert_eq!(browser.path().await, "/signin?next=%2Frequests");
    demo_sign_in("Alice (engineer)").await;
    browser.follow("Request access").await;
    browser.follow("Account 1 administrators").await;
    assert_eq!(browser.value("duration").await, "30");
    browser.fill("justification", "demo").await;
    browser.press("Request").await;
    let id = request_id(&browser.path().await);
    assert!(browser.text().await.contains("Request: pending"));
    // 3. Bob approves it under Approvals.
    browser.press("Sign out").await;
    browser.follow("Sign in").await;
    demo_sign_in("Bob (approver)").await;
    browser.follow("Approvals").await;
    assert!(browser.text().await.contains(&id) || browser.text().await.contains("demo"));
    browser.press("Approve").await;
    // 4. Alice sees it active with the time left; 5. then expired, the membership removed.
    browser.press("Sign out").await;
    browser.follow("Sign in").await;
    demo_sign_in("Alice (engineer)").await;
    browser.follow("My requests").await;
    browser.follow("AzureAD-Admins").await;
    let text = browser.reload_until("Request: active", Duration::from_secs(10)).await;
    assert!(text.contains("left)") && text.contains("End my access now") && text.contains("Extend"), "{text}");
    // The request turns expired, then (a moment later) the membership's removal is recorded.
    let text = browser.reload_until("membership.removed", Duration::from_secs(45)).await;
    assert!(text.contains("Request: expired") && text.contains("grant.expired"), "{text}");
    // 6. Dave sees no grant left in force, and the whole story in the audit log.
    browser.press("Sign out").await;
    browser.follow("Sign in").await;
    demo_sign_in("Dave").await;
    browser.follow("Active grants").await;
    assert!(browser.text().await.contains("No access is in force"));
    browser.follow("Audit log").await;
    let audit = browser.text().await;
    assert!(audit.contains("membership.removed") && audit.contains("request.approval_given"), "{audit}");
    browser.close().await;
}
