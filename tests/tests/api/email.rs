//! Approvers decide from their inbox: real mail through a real SMTP server (aiosmtpd), links
//! parsed out of the messages, opened (`GET`, which never changes anything) and confirmed
//! (`POST`), and every way a link must be refused.
use std::time::Duration;

use serde_json::{Value, json};

use crate::{
    helpers::{ALICE, BOB, CAROL, DAVE, MALLORY, POLICY, SECRET, TestApp, millis},
    notify_peers::{Mail, SmtpSink},
};

/// The test policy plus a profile that escalates and one whose links need a signed-in approver.
pub fn policy() -> String {
    format!(
        r#"{POLICY}
[profiles.Escalating]
title = "Escalates to Dave"
group = "Prod-Admins"
min_duration = "1s"
max_duration = "1h"
eligible = {{ groups = ["Engineers"] }}
approval = {{ users = ["carol@example.com"] }}
escalation = {{ users = ["dave@example.com"] }}

[profiles.SignedLinks]
title = "Links need a signed-in approver"
group = "Ticketed-Group"
min_duration = "1s"
max_duration = "1h"
eligible = {{ groups = ["Engineers"] }}
approval = {{ users = ["carol@example.com"] }}
require_sign_in_for_links = true
"#
    )
}

async fn spawn(sink: &SmtpSink, extra: &str) -> TestApp {
    TestApp::builder().policy(&policy()).config(&format!("{}\n{extra}", sink.config())).spawn().await
}

fn asks(to: &str) -> impl Fn(&Mail) -> bool + '_ {
    move |m| m.to == to && m.subject.starts_with("Approval needed")
}

fn to_with_subject<'a>(to: &'a str, prefix: &'a str) -> impl Fn(&Mail) -> bool + 'a {
    move |m| m.to == to && m.subject.starts_with(prefix)
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// `GET` a URL (as a mail scanner or a browser would), with an optional session cookie.
async fn open(url: &str, cookie: Option<&str>) -> (u16, String) {
    let mut req = http().get(url);
    if let Some(c) = cookie {
        req = req.header("Cookie", c);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// Presses the confirmation page's button: `POST /act` with the link's token.
async fn confirm(app: &TestApp, link: &str, cookie: Option<&str>) -> (u16, String) {
    let token = link.split_once("token=").map(|(_, t)| t).expect("a token in the link");
    let mut req = http().post(format!("{}/act", app.address)).form(&[("token", token), ("comment", "from my inbox")]);
    if let Some(c) = cookie {
        req = req.header("Cookie", c);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// Signs in on the demo sign-in page; returns the session cookie.
async fn sign_in(app: &TestApp, upn: &str) -> String {
    let resp =
        http().post(format!("{}/signin/demo", app.address)).form(&[("upn", upn), ("next", "/")]).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    let cookie = resp.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    cookie.split(';').next().unwrap().to_owned()
}

/// Everything a `GET` could have changed: the request, the audit log and the spent tokens.
async fn everything(app: &TestApp, id: &str) -> (Value, usize, usize) {
    let (_, request) = app.admin().get(&format!("/api/v1/requests/{id}")).await;
    let (_, audit) = app.admin().get("/api/v1/audit?limit=1000").await;
    let db = app.db().await;
    use sea_orm::{EntityTrait, PaginatorTrait};
    let spent = entity::used_link_tokens::Entity::find().count(&db).await.unwrap() as usize;
    // Not counted: the `token.used` events of this check's own API calls.
    let events = audit["items"].as_array().unwrap().iter().filter(|e| e["action"] != "token.used").count();
    (request, events, spent)
}

#[tokio::test]
async fn an_approver_approves_from_the_mail_and_no_get_changes_anything() {
    let sink = SmtpSink::start().await;
    let app = spawn(&sink, "").await;
    let (status, body) = app
        .engineer()
        .try_request("AzureAD-Admins", 3600, json!({ "justification": "fix <b>prod</b> & \"db\"", "ticket": "INC-42" }))
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap();

    // Both approvers of the Approvers group are asked; the requester is not.
    let bob_mail = sink.wait_for(1, asks(BOB)).await.remove(0);
    let carol_mail = sink.wait_for(1, asks(CAROL)).await.remove(0);
    assert!(sink.messages().iter().all(|m| !(m.to == ALICE && m.subject.starts_with("Approval needed"))));
    for needle in [
        ALICE,
        "Account 1 administrators",
        "123456789012",
        "arn:aws:iam::123456789012:role/AzureAD-Admins",
        "1h",
        "INC-42",
    ] {
        assert!(
            bob_mail.text.contains(needle) && bob_mail.html.contains(needle),
            "{needle} missing:\n{}",
            bob_mail.text
        );
    }
    // The justification is shown as text, never as markup.
    assert!(!bob_mail.html.contains("<b>prod"), "{}", bob_mail.html);
    assert!(bob_mail.html.contains("fix &#60;b&#62;prod&#60;/b&#62; &#38; &#34;db&#34;"), "{}", bob_mail.html);
    assert!(bob_mail.text.contains("fix <b>prod</b> & \"db\""), "{}", bob_mail.text);
    assert!(bob_mail.html.contains(">Approve</a>") && bob_mail.html.contains(">Deny</a>"));

    // A mail scanner fetches every link of every mail: nothing changes. (Each delivery is
    // audited just after the SMTP server took it: wait for all three records first — Bob's,
    // Carol's, and Alice's, who is told who can decide.)
    app.wait_for_audit(&format!("request:{id}"), "notification.mailed", 3).await;
    let before = everything(&app, id).await;
    for mail in [&bob_mail, &carol_mail] {
        let links = mail.links();
        assert!(links.len() >= 3, "{links:?}");
        for link in links {
            let (status, page) = open(&link, None).await;
            assert!(status < 500, "{link}: {status}");
            if link.contains("/act?") {
                assert_eq!(status, 200, "{page}");
                assert!(page.contains("Nothing happens until you press the button"), "{page}");
                assert!(page.contains(ALICE) && page.contains("INC-42"));
            }
        }
    }
    assert_eq!(everything(&app, id).await, before, "a GET changed something");
    assert_eq!(before.0["status"], "pending");

    // Bob presses Approve on the confirmation page: the request is approved and goes active.
    let (status, page) = confirm(&app, &bob_mail.link("Approve"), None).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("You approved the request of alice@example.com"), "{page}");
    app.wait_for_status(id, "active", Duration::from_secs(10)).await;
    let decision = app
        .audit_events(&format!("request:{id}"))
        .await
        .into_iter()
        .find(|e| e["action"] == "request.approval_given")
        .unwrap();
    assert_eq!((decision["actor"].as_str(), decision["details"]["via"].as_str()), (Some(BOB), Some("email_link")));

    // The same link again, and Carol's links for the request already decided, are refused.
    let (status, page) = confirm(&app, &bob_mail.link("Approve"), None).await;
    assert_eq!(status, 409, "{page}");
    assert!(page.contains("already been used"), "{page}");
    let (status, page) = open(&carol_mail.link("Deny"), None).await;
    assert_eq!(status, 409, "{page}");
    assert!(page.contains("the request is already"), "{page}");

    // The requester hears of the approval and of the activation.
    sink.wait_for(1, to_with_subject(ALICE, "Approved")).await;
    let active = sink.wait_for(1, to_with_subject(ALICE, "Active")).await;
    assert!(active[0].text.contains("until"), "{}", active[0].text);

    // The mail's page link shows the request to those who may see it, once signed in.
    let page = bob_mail.links().into_iter().find(|l| l.contains("/requests/")).unwrap();
    assert_eq!(open(&page, None).await.0, 303);
    let (status, html) = open(&page, Some(&sign_in(&app, BOB).await)).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("status-active\">active") && html.contains("INC-42") && html.contains(BOB), "{html}");
    let (status, html) = open(&page, Some(&sign_in(&app, MALLORY).await)).await;
    assert_eq!(status, 404, "{html}");
}

#[tokio::test]
async fn links_are_refused_when_altered_not_theirs_cancelled_or_for_oneself() {
    let sink = SmtpSink::start().await;
    let app = spawn(&sink, "").await;

    // Bob is an engineer and an approver: his own request is only sent to Carol.
    let bobs = app.approver(BOB).request("AzureAD-Admins", 600).await;
    let carol_mail = sink.wait_for(1, asks(CAROL)).await.remove(0);
    assert!(carol_mail.text.contains(BOB));
    // (He is mailed who can decide it, as every requester is; never asked to decide it.)
    assert!(!sink.messages().iter().any(asks(BOB)), "the requester was asked to approve");
    // A genuinely signed link for Bob on his own request (say, from a stolen key) is refused too.
    let forged = forge_link(&bobs, BOB, "approve", 1, 1);
    let (status, page) = open(&format!("{}/act?token={forged}", app.address), None).await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("nobody can approve their own request"), "{page}");

    // Alice's request: Bob's link altered by one character.
    let id = app.engineer().request("AzureAD-Admins", 600).await;
    let bob_mail = sink.wait_for(1, asks(BOB)).await.remove(0);
    let approve = bob_mail.link("Approve");
    let mut altered = approve.clone();
    let last = altered.pop().unwrap();
    altered.push(if last == 'A' { 'B' } else { 'A' });
    let (status, page) = open(&altered, None).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("not valid"), "{page}");
    let (status, _) = confirm(&app, &altered, None).await;
    assert_eq!(status, 400);

    // Bob's link opened in Carol's signed-in browser: refused, for Carol and for Bob's link.
    let carol = sign_in(&app, CAROL).await;
    let (status, page) = open(&approve, Some(&carol)).await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("was sent to bob@example.com, but you are signed in as carol@example.com"), "{page}");
    let (status, _) = confirm(&app, &approve, Some(&carol)).await;
    assert_eq!(status, 403);
    app.wait_for_status(&id, "pending", Duration::from_secs(1)).await;

    // Alice cancels: every link for the request is refused, saying why.
    let (status, body) = app.engineer().act(&id, "cancel").await;
    assert_eq!(status, 200, "{body}");
    let (status, page) = confirm(&app, &approve, None).await;
    assert_eq!(status, 409, "{page}");
    assert!(page.contains("the request is already cancelled"), "{page}");
    assert!(app.audit_actions(&format!("request:{id}")).await.iter().all(|a| a != "request.approval_given"));
}

#[tokio::test]
async fn an_expired_link_is_refused() {
    let sink = SmtpSink::start().await;
    let app = spawn(&sink, "[links]\nttl = \"1s\"\n").await;
    let id = app.engineer().request("AzureAD-Admins", 600).await;
    let mail = sink.wait_for(1, asks(BOB)).await.remove(0);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, page) = open(&mail.link("Approve"), None).await;
    assert_eq!(status, 410, "{page}");
    assert!(page.contains("expired"), "{page}");
    let (status, _) = confirm(&app, &mail.link("Approve"), None).await;
    assert_eq!(status, 410);
    app.wait_for_status(&id, "pending", Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_profile_can_demand_that_the_approver_is_signed_in() {
    let sink = SmtpSink::start().await;
    let app = spawn(&sink, "").await;
    let id = app.engineer().request("SignedLinks", 600).await;
    let mail = sink.wait_for(1, asks(CAROL)).await.remove(0);
    assert!(mail.text.contains("signed in to Elevate"), "{}", mail.text);
    let link = mail.link("Approve");
    let (status, page) = open(&link, None).await;
    assert_eq!(status, 401, "{page}");
    assert!(
        page.contains("sign in to Elevate as carol@example.com")
            && page.contains("/signin?login_hint=carol%40example%2Ecom"),
        "{page}"
    );
    let (status, _) = confirm(&app, &link, None).await;
    assert_eq!(status, 401);
    let carol = sign_in(&app, CAROL).await;
    let (status, page) = open(&link, Some(&carol)).await;
    assert_eq!(status, 200, "{page}");
    let (status, page) = confirm(&app, &link, Some(&carol)).await;
    assert_eq!(status, 200, "{page}");
    app.wait_for_status(&id, "active", Duration::from_secs(10)).await;
}

#[tokio::test]
async fn a_decision_stands_while_smtp_is_down_and_the_mail_follows() {
    let mut sink = SmtpSink::start().await;
    let app = spawn(&sink, "").await;
    sink.stop().await;
    let id = app.engineer().request("AzureAD-Admins", 600).await;
    app.approver(CAROL).approve(&id).await;
    app.wait_for_status(&id, "active", Duration::from_secs(10)).await;
    // Delivery attempts fail meanwhile (and are audited); nothing was sent.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (_, audit) = app.admin().get("/api/v1/audit?limit=1000").await;
        let failed = audit["items"].as_array().unwrap().iter().any(|e| {
            e["action"] == "job.attempt_failed" && e["details"]["kind"] == "send_mail" && e["details"]["final"] == false
        });
        if failed {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no failed delivery was recorded: {audit}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(sink.messages().is_empty());
    sink.restart().await;
    let approved = sink.wait_for(1, to_with_subject(ALICE, "Approved")).await;
    assert_eq!(approved.len(), 1);
    sink.wait_for(1, to_with_subject(ALICE, "Active")).await;
    // The ask for a decision already made is not sent late.
    assert!(!sink.messages().iter().any(|m| m.subject.starts_with("Approval needed")));
}

/// The line of a mail that names who can decide.
fn who_can_decide(mail: &Mail) -> String {
    mail.text.lines().find(|l| l.contains("Who can decide it:")).expect("a line naming the deciders").to_owned()
}

#[tokio::test]
async fn the_requester_is_told_who_can_decide_and_when_escalation_calls_in_more() {
    let sink = SmtpSink::start().await;
    let app = spawn(&sink, "").await;
    // Bob, an approver himself, asks: Carol can decide it, never Bob.
    app.approver(BOB).request("AzureAD-Admins", 600).await;
    let waiting = sink.wait_for(1, to_with_subject(BOB, "Waiting for a decision")).await.remove(0);
    let line = who_can_decide(&waiting);
    assert!(line.contains(CAROL) && !line.contains(BOB) && !line.contains("escalation"), "{line}");
    // A profile with escalation says when more approvers are called in (here after 8 hours).
    let id = app.engineer().request("Escalating", 600).await;
    let waiting = sink.wait_for(1, to_with_subject(ALICE, "Waiting for a decision")).await.remove(0);
    let line = who_can_decide(&waiting);
    assert!(line.contains(CAROL) && !line.contains(DAVE) && line.contains("escalation approvers"), "{line}");
    let (_, body) = app.engineer().get(&format!("/api/v1/requests/{id}")).await;
    assert_eq!(millis(&body["escalates_at"]) - millis(&body["created_at"]), 8 * 3600 * 1000, "{body}");
}

#[tokio::test]
async fn undecided_requests_are_reminded_escalated_and_timed_out_by_mail() {
    let sink = SmtpSink::start().await;
    let app = spawn(&sink, "[notify]\nremind_after = \"1s\"\nescalate_after = \"2s\"\n").await;
    let id = app.engineer().request("Escalating", 600).await;
    sink.wait_for(1, asks(CAROL)).await;
    sink.wait_for(1, to_with_subject(CAROL, "Reminder")).await;
    let escalated = sink.wait_for(1, to_with_subject(DAVE, "Escalated")).await.remove(0);
    let actions = app.audit_actions(&format!("request:{id}")).await;
    assert_eq!(actions.iter().filter(|a| *a == "request.reminder_sent").count(), 1, "{actions:?}");
    assert_eq!(actions.iter().filter(|a| *a == "request.escalated").count(), 1, "{actions:?}");
    // The escalation approver may decide from the mail.
    let (status, page) = confirm(&app, &escalated.link("Approve"), None).await;
    assert_eq!(status, 200, "{page}");
    app.wait_for_status(&id, "active", Duration::from_secs(10)).await;

    // A request nobody decides in time ends, and the requester is told.
    let ticketed = app.engineer().try_request("Ticketed", 600, json!({ "ticket": "CHG-1" })).await.1;
    let ticketed = ticketed["id"].as_str().unwrap();
    app.wait_for_status(ticketed, "timed_out", Duration::from_secs(15)).await;
    let timed_out = sink.wait_for(1, to_with_subject(ALICE, "Timed out")).await;
    assert!(timed_out[0].text.contains(ticketed));
}

/// A link signed with the server's link key (derived from the token secret as the server
/// does), as someone holding the key could make.
fn forge_link(request: &str, approver: &str, action: &str, stage: i32, version: i32) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(b"elevate action links v1");
    let key = mac.finalize().into_bytes();
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "iss": "elevate", "aud": "elevate-action-link", "sub": approver, "req": request, "act": action,
        "stg": stage, "ver": version, "jti": uuid::Uuid::new_v4().to_string(), "iat": now, "nbf": now, "exp": now + 600,
    });
    let key = jsonwebtoken::EncodingKey::from_secret(&key).unwrap();
    jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256), &claims, &key).unwrap()
}

#[tokio::test]
async fn the_requester_hears_of_activation_the_coming_end_and_the_end() {
    let sink = SmtpSink::start().await;
    let app = spawn(&sink, "[notify]\nexpiry_warning = \"2s\"\n").await;
    // Developers are approved automatically.
    let id = app.engineer().request("AzureAD-Developers", 4).await;
    let approved = sink.wait_for(1, to_with_subject(ALICE, "Approved")).await.remove(0);
    assert!(approved.text.contains(&id));
    let active = sink.wait_for(1, to_with_subject(ALICE, "Active")).await.remove(0);
    let soon = sink.wait_for(1, to_with_subject(ALICE, "Ending soon")).await.remove(0);
    assert!(soon.text.contains("Ask for an extension"), "{}", soon.text);
    let ended = sink.wait_for(1, to_with_subject(ALICE, "Ended")).await.remove(0);
    assert!(ended.subject.contains("expired"), "{}", ended.subject);
    let subjects: Vec<_> = sink.messages().into_iter().map(|m| m.subject).collect();
    let position = |m: &Mail| subjects.iter().position(|s| *s == m.subject).unwrap();
    assert!(position(&active) < position(&soon) && position(&soon) < position(&ended), "{subjects:?}");
    // Nobody was asked to approve an automatically approved request.
    assert!(!subjects.iter().any(|s| s.starts_with("Approval needed")), "{subjects:?}");
}
