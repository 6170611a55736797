//! The web pages, driven over HTTP as a browser without JavaScript would: the request form
//! (its errors next to the fields, the values kept, the anti-forgery token) and the list of
//! one's own requests.
use crate::helpers::{ALICE, BOB, MALLORY, TestApp};

fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

pub async fn demo_sign_in(app: &TestApp, upn: &str) -> String {
    demo_sign_in_as(app, upn, false).await
}

/// The demo sign-in, standing in for a multi-factor one when `mfa`.
pub async fn demo_sign_in_as(app: &TestApp, upn: &str, mfa: bool) -> String {
    let form: &[(&str, &str)] = if mfa { &[("upn", upn), ("mfa", "1")] } else { &[("upn", upn)] };
    let resp = http().post(format!("{}/signin/demo", app.address)).form(form).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    resp.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_owned()
}

pub async fn page(app: &TestApp, path: &str, cookie: &str) -> (u16, String) {
    let resp = http().get(format!("{}{path}", app.address)).header("Cookie", cookie).send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

async fn submit(app: &TestApp, cookie: &str, form: &[(&str, &str)]) -> (u16, String, Option<String>) {
    let resp =
        http().post(format!("{}/requests/new", app.address)).header("Cookie", cookie).form(form).send().await.unwrap();
    let location = resp.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
    (resp.status().as_u16(), resp.text().await.unwrap(), location)
}

/// Posts a page's form; the status and where it leads.
pub async fn post_form(app: &TestApp, path: &str, cookie: &str, form: &[(&str, &str)]) -> (u16, Option<String>) {
    let resp = http().post(format!("{}{path}", app.address)).header("Cookie", cookie).form(form).send().await.unwrap();
    let location = resp.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
    (resp.status().as_u16(), location)
}

pub fn csrf_of(html: &str) -> String {
    let (_, rest) = html.split_once("name=\"csrf\" value=\"").expect("a csrf field");
    rest.split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn the_request_form_offers_only_what_one_may_request_and_keeps_values_on_errors() {
    let app = TestApp::spawn().await;
    let (status, _) = page(&app, "/requests/new", "").await;
    assert_eq!(status, 303, "signed out: sent to sign in");

    let mallory = demo_sign_in(&app, MALLORY).await;
    let (_, html) = page(&app, "/requests/new", &mallory).await;
    assert!(!html.contains("profile=AzureAD-Admins"), "{html}");
    assert_eq!(page(&app, "/requests/new?profile=AzureAD-Admins", &mallory).await.0, 404);

    let alice = demo_sign_in(&app, ALICE).await;
    let (_, html) = page(&app, "/requests/new", &alice).await;
    assert!(html.contains("profile=AzureAD-Admins") && html.contains("profile=Ticketed"), "{html}");
    let (status, html) = page(&app, "/requests/new?profile=Ticketed", &alice).await;
    assert_eq!(status, 200);
    assert!(html.contains("Ticket (required)") && html.contains("Justification (required)"), "{html}");
    // The picker offers the profile's bounds (1m to 2h) and nothing outside them.
    assert!(
        html.contains("value=\"60\"") && html.contains("value=\"7200\"") && !html.contains("value=\"14400\""),
        "{html}"
    );
    let csrf = csrf_of(&html);

    // Without the form's token (another site posting it): refused, nothing filed.
    let (status, _, _) = submit(
        &app,
        &alice,
        &[("profile", "Ticketed"), ("duration_seconds", "600"), ("justification", "x"), ("ticket", "T-1")],
    )
    .await;
    assert_eq!(status, 403);
    let (status, _, _) = submit(
        &app,
        &alice,
        &[
            ("csrf", "forged"),
            ("profile", "Ticketed"),
            ("duration_seconds", "600"),
            ("justification", "x"),
            ("ticket", "T-1"),
        ],
    )
    .await;
    assert_eq!(status, 403);

    // A missing justification: the error sits next to that field, the rest is kept (escaped).
    let form = [
        ("csrf", csrf.as_str()),
        ("profile", "Ticketed"),
        ("duration_seconds", "1800"),
        ("justification", ""),
        ("ticket", "CHG-<b>7</b>"),
    ];
    let (status, html, _) = submit(&app, &alice, &form).await;
    assert_eq!(status, 400, "{html}");
    assert!(html.contains("id=\"justification-error\"") && html.contains("is required for profile Ticketed"), "{html}");
    assert!(html.contains("value=\"1800\" selected"), "the duration is kept: {html}");
    assert!(html.contains("CHG-&#60;b&#62;7&#60;/b&#62;") && !html.contains("CHG-<b>"), "{html}");
    let (_, list) = page(&app, "/requests", &alice).await;
    assert!(!list.contains("Ticketed"), "nothing was filed: {list}");

    // Corrected: filed, and listed among Alice's requests.
    let form = [
        ("csrf", csrf.as_str()),
        ("profile", "Ticketed"),
        ("duration_seconds", "1800"),
        ("justification", "db failover"),
        ("ticket", "CHG-7"),
    ];
    let (status, _, location) = submit(&app, &alice, &form).await;
    assert_eq!(status, 303);
    let location = location.unwrap();
    assert!(location.starts_with("/requests/"), "{location}");
    let (_, list) = page(&app, "/requests", &alice).await;
    assert!(list.contains("Ticketed") && list.contains("pending") && list.contains(&location), "{list}");
    // Mallory's session cannot use Alice's token.
    let (status, _, _) = submit(&app, &mallory, &form).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn an_approver_decides_from_the_inbox_page() {
    let app = TestApp::spawn().await;
    let first = app.engineer().request("AzureAD-Admins", 600).await;
    let second = app.engineer().request("AzureAD-Admins", 600).await;
    let bob = demo_sign_in(&app, BOB).await;
    let (status, html) = page(&app, "/approvals", &bob).await;
    assert_eq!(status, 200);
    assert!(html.contains(&first) && html.contains(&second) && html.contains(ALICE), "{html}");
    let csrf = csrf_of(&html);
    let decide = |id: String, decision: &'static str, token: String, cookie: String| {
        let address = app.address.clone();
        async move {
            http()
                .post(format!("{address}/requests/{id}/decide"))
                .header("Cookie", cookie)
                .form(&[("csrf", token.as_str()), ("decision", decision), ("comment", "ok from the inbox")])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(decide(first.clone(), "approve", "forged".into(), bob.clone()).await, 403);
    assert_eq!(decide(first.clone(), "approve", csrf.clone(), bob.clone()).await, 303);
    assert_eq!(decide(second.clone(), "deny", csrf.clone(), bob.clone()).await, 303);
    app.wait_for_status(&first, "active", std::time::Duration::from_secs(5)).await;
    app.wait_for_status(&second, "denied", std::time::Duration::from_secs(1)).await;
    let (_, html) = page(&app, "/approvals", &bob).await;
    assert!(html.contains("Nothing waits for you"), "{html}");
    // Alice cannot decide her own request from a page either.
    let third = app.engineer().request("AzureAD-Admins", 600).await;
    let alice = demo_sign_in(&app, ALICE).await;
    let (_, html) = page(&app, "/approvals", &alice).await;
    assert!(!html.contains(&third), "{html}");
    let alice_csrf = csrf_of(&page(&app, "/requests/new?profile=AzureAD-Admins", &alice).await.1);
    assert_eq!(decide(third.clone(), "approve", alice_csrf, alice).await, 403);
    app.wait_for_status(&third, "pending", std::time::Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_request_page_shows_its_timeline_and_lets_the_requester_cancel_or_give_back() {
    let app = TestApp::spawn().await;
    let alice = demo_sign_in(&app, ALICE).await;
    let pending = app.engineer().request("AzureAD-Admins", 600).await;
    let (status, html) = page(&app, &format!("/requests/{pending}"), &alice).await;
    assert_eq!(status, 200);
    assert!(html.contains("request.created") && html.contains("Cancel this request"), "{html}");
    let csrf = csrf_of(&html);
    let post = |path: String, token: String| {
        let (address, cookie) = (app.address.clone(), alice.clone());
        async move {
            let form = [("csrf", token.as_str())];
            http()
                .post(format!("{address}{path}"))
                .header("Cookie", cookie)
                .form(&form)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(post(format!("/requests/{pending}/cancel"), "forged".into()).await, 403);
    assert_eq!(post(format!("/requests/{pending}/cancel"), csrf.clone()).await, 303);
    app.wait_for_status(&pending, "cancelled", std::time::Duration::from_secs(1)).await;

    // An active grant: "End my access now" revokes it, and the timeline shows every step.
    let active = app.engineer().request("AzureAD-Admins", 600).await;
    app.approver(BOB).approve(&active).await;
    app.wait_for_status(&active, "active", std::time::Duration::from_secs(5)).await;
    let (_, html) = page(&app, &format!("/requests/{active}"), &alice).await;
    assert!(html.contains("End my access now") && !html.contains("Cancel this request"), "{html}");
    assert_eq!(post(format!("/requests/{active}/revoke"), csrf.clone()).await, 303);
    app.wait_until_ended(&active, std::time::Duration::from_secs(5)).await;
    let (_, html) = page(&app, &format!("/requests/{active}"), &alice).await;
    for step in [
        "request.created",
        "request.approval_given",
        "request.approved",
        "grant.activated",
        "request.revoked",
        "membership.removed",
    ] {
        assert!(html.contains(step), "{step} missing from the timeline: {html}");
    }
    // Someone else's request: neither shown nor changeable.
    let mallory = demo_sign_in(&app, MALLORY).await;
    assert_eq!(page(&app, &format!("/requests/{active}"), &mallory).await.0, 404);
}

#[tokio::test]
async fn pages_load_only_their_own_stylesheet_and_script_and_refuse_framing() {
    let app = TestApp::spawn().await;
    let alice = demo_sign_in(&app, ALICE).await;
    let resp = http().get(format!("{}/requests", app.address)).header("Cookie", &alice).send().await.unwrap();
    let header = |name: &str| resp.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let csp = header("content-security-policy");
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(header("x-frame-options"), "DENY");
    assert!(!header("referrer-policy").is_empty());
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("src=\"/static/elevate.js\"") && !html.contains("<script>") && !html.contains("style=\""),
        "{html}"
    );
    // Signing out takes the session's form token too: another site cannot sign people out.
    assert_eq!(post_form(&app, "/signout", &alice, &[]).await.0, 403);
    assert_eq!(page(&app, "/requests", &alice).await.0, 200, "still signed in");
    let csrf = csrf_of(&page(&app, "/requests", &alice).await.1);
    let (status, location) = post_form(&app, "/signout", &alice, &[("csrf", csrf.as_str())]).await;
    assert_eq!((status, location.as_deref()), (303, Some("/signedout")));
    let script = http().get(format!("{}/static/elevate.js", app.address)).send().await.unwrap();
    assert!(script.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    assert!(script.text().await.unwrap().contains("toLocaleString"));
}

#[tokio::test]
async fn the_catalog_shows_each_requestable_profile_with_its_rules() {
    let app = TestApp::spawn().await;
    let alice = demo_sign_in(&app, ALICE).await;
    let (status, html) = page(&app, "/profiles", &alice).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Account 1 administrators") && html.contains("arn:aws:iam::123456789012:role/AzureAD-Admins"),
        "{html}"
    );
    assert!(html.contains("1s to 8h (default 1h)") && html.contains("1 approval(s)"), "{html}");
    assert!(
        html.contains("2 approval(s), then 1 in a second stage") && html.contains("approved automatically"),
        "{html}"
    );
    let mallory = demo_sign_in(&app, MALLORY).await;
    let (_, html) = page(&app, "/profiles", &mallory).await;
    assert!(!html.contains("Account 1 administrators"), "{html}");
}

#[tokio::test]
async fn signing_in_never_leads_off_the_site() {
    let app = TestApp::spawn().await;
    let lands = |next: &'static str| {
        let address = app.address.clone();
        async move {
            let form = [("upn", ALICE), ("next", next)];
            let resp = http().post(format!("{address}/signin/demo")).form(&form).send().await.unwrap();
            assert_eq!(resp.status().as_u16(), 303, "next = {next:?}");
            resp.headers().get("location").unwrap().to_str().unwrap().to_owned()
        }
    };
    // Browsers drop tabs and line breaks from a Location and read `\` as `/`: each of these
    // would have gone to evil.example.
    for next in ["/\t/evil.example/", "/\n/evil.example", "//evil.example", "/\\evil.example", "https://evil.example/"]
    {
        assert_eq!(lands(next).await, "/requests", "next = {next:?}");
    }
    assert_eq!(
        lands("/requests/new?profile=AzureAD-Admins&x=%2F%2Fa").await,
        "/requests/new?profile=AzureAD-Admins&x=%2F%2Fa"
    );
}
