//! The web pages, driven over HTTP as a browser without JavaScript would: the request form
//! (its errors next to the fields, the values kept, the anti-forgery token) and the list of
//! one's own requests.
use crate::helpers::{ALICE, MALLORY, TestApp};

fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

async fn demo_sign_in(app: &TestApp, upn: &str) -> String {
    let resp = http().post(format!("{}/signin/demo", app.address)).form(&[("upn", upn)]).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    resp.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_owned()
}

async fn page(app: &TestApp, path: &str, cookie: &str) -> (u16, String) {
    let resp = http().get(format!("{}{path}", app.address)).header("Cookie", cookie).send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

async fn submit(app: &TestApp, cookie: &str, form: &[(&str, &str)]) -> (u16, String, Option<String>) {
    let resp =
        http().post(format!("{}/requests/new", app.address)).header("Cookie", cookie).form(form).send().await.unwrap();
    let location = resp.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
    (resp.status().as_u16(), resp.text().await.unwrap(), location)
}

fn csrf_of(html: &str) -> String {
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
