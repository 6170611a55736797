//! Abuse limits: a caller or an address over its rate gets 429 with `Retry-After` (others are
//! not affected), and one user cannot pile up pending requests.
use std::time::Duration;

use serde_json::json;

use crate::{
    helpers::*,
    pages::{demo_sign_in, page},
};

async fn get(app: &TestApp, path: &str, token: Option<&str>) -> (u16, Option<u64>, String) {
    let mut req = reqwest::Client::new().get(format!("{}{path}", app.address));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.unwrap();
    let retry = resp.headers().get("retry-after").map(|v| v.to_str().unwrap().parse().expect("whole seconds"));
    (resp.status().as_u16(), retry, resp.text().await.unwrap())
}

/// Fires requests concurrently, 20 at a time, until one is refused with 429, and returns the
/// refusal. Whatever this machine's speed, no more may get through than the bucket allows for
/// the time the volleys took: its burst and `per_second` more for every second begun.
async fn until_refused<F, Fut>(burst: u64, per_second: u64, send: F) -> (u16, Option<u64>, String)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = (u16, Option<u64>, String)>,
{
    let started = std::time::Instant::now();
    let mut through = 0;
    for _ in 0..10 {
        let answers = futures_util::future::join_all((0..20).map(|_| send())).await;
        assert!(answers.iter().all(|(status, ..)| [200, 429].contains(status)), "{answers:?}");
        through += answers.iter().filter(|(status, ..)| *status == 200).count() as u64;
        let allowed = burst + per_second * (started.elapsed().as_secs() + 1);
        assert!(through <= allowed, "{through} got through in {:?}; the limit allows {allowed}", started.elapsed());
        if let Some(refused) = answers.into_iter().find(|(status, ..)| *status == 429) {
            return refused;
        }
    }
    panic!("200 requests in a row and none refused");
}

#[tokio::test]
async fn a_caller_over_its_rate_is_told_when_to_retry_and_others_carry_on() {
    let limits = "[limits]\nper_ip_per_second = 0\nper_caller_per_second = 1\nper_caller_burst = 5\n";
    let app = TestApp::builder().config(limits).spawn().await;
    let bob = token(BOB, &["requester", "approver"], None, 3600, SECRET);
    let alice = token(ALICE, &["requester"], None, 3600, SECRET);
    let (status, retry, body) = until_refused(5, 1, || get(&app, "/api/v1/approvals", Some(&bob))).await;
    assert!(retry.is_some_and(|s| (1..=2).contains(&s)), "{retry:?}");
    let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_problem(status, &problem, 429, None);
    assert!(problem["detail"].as_str().unwrap().contains("caller"), "{problem}");
    // Alice is not slowed down by Bob.
    assert_eq!(get(&app, "/api/v1/requests", Some(&alice)).await.0, 200);
    // After the wait Bob may go on.
    tokio::time::sleep(Duration::from_secs(retry.unwrap())).await;
    assert_eq!(get(&app, "/api/v1/approvals", Some(&bob)).await.0, 200);
}

#[tokio::test]
async fn a_session_reloading_pages_in_a_loop_is_slowed_down_as_an_api_caller_is() {
    let limits = "[limits]\nper_ip_per_second = 0\nper_caller_per_second = 1\nper_caller_burst = 5\n";
    let app = TestApp::builder().config(limits).spawn().await;
    let bob = demo_sign_in(&app, BOB).await;
    let alice = demo_sign_in(&app, ALICE).await;
    let reload = || async {
        let resp = reqwest::Client::new()
            .get(format!("{}/approvals", app.address))
            .header("Cookie", &bob)
            .send()
            .await
            .unwrap();
        let retry = resp.headers().get("retry-after").map(|v| v.to_str().unwrap().parse().expect("whole seconds"));
        (resp.status().as_u16(), retry, resp.text().await.unwrap())
    };
    let (_, retry, page_text) = until_refused(5, 1, reload).await;
    let retry = retry.expect("Retry-After");
    assert!((1..=2).contains(&retry), "{retry}");
    assert!(page_text.contains("try again in"), "{page_text}");
    // The API with Bob's token shares his bucket; Alice's session is not slowed down.
    let bob_token = token(BOB, &["requester", "approver"], None, 3600, SECRET);
    // (A bucket of its own would let its burst of 5 through at once.)
    let (_, retry, _) = until_refused(0, 1, || get(&app, "/api/v1/approvals", Some(&bob_token))).await;
    assert_eq!(page(&app, "/requests", &alice).await.0, 200);
    tokio::time::sleep(Duration::from_secs(retry.expect("Retry-After"))).await;
    assert_eq!(page(&app, "/approvals", &bob).await.0, 200);
}

#[tokio::test]
async fn an_address_over_its_rate_is_refused_everywhere_but_health_checks() {
    let limits = "[limits]\nper_ip_per_second = 1\nper_ip_burst = 3\nper_caller_per_second = 0\n";
    let app = TestApp::builder().config(limits).spawn().await;
    // Refused unauthenticated (401) until the address is over its rate (429).
    let unauthenticated = || async {
        let (status, retry, body) = get(&app, "/api/v1/profiles", None).await;
        (if status == 401 { 200 } else { status }, retry, body)
    };
    let (_, retry, _) = until_refused(3, 1, unauthenticated).await;
    assert!(retry.is_some());
    assert_eq!(get(&app, "/signin", None).await.0, 429, "pages are limited too");
    for _ in 0..5 {
        assert_eq!(get(&app, "/healthz", None).await.0, 200, "health checks never are");
    }
}

#[tokio::test]
async fn one_user_cannot_pile_up_pending_requests() {
    let limits = "[limits]\nper_ip_per_second = 0\nper_caller_per_second = 0\nmax_pending_per_user = 2\n";
    let app = TestApp::builder().config(limits).spawn().await;
    let first = app.engineer().request("AzureAD-Admins", 600).await;
    app.engineer().request("AzureAD-Admins", 600).await;
    let (status, body) = app.engineer().try_request("AzureAD-Admins", 600, json!({ "justification": "third" })).await;
    assert_problem(status, &body, 409, None);
    assert!(body["detail"].as_str().unwrap().contains("2 pending request(s)"), "{body}");
    // Bob is not affected by Alice's.
    let (status, _) = app.approver(BOB).try_request("AzureAD-Admins", 600, json!({ "justification": "mine" })).await;
    assert_eq!(status, 201);
    // Once one is decided (or cancelled), Alice may ask again.
    assert_eq!(app.engineer().act(&first, "cancel").await.0, 200);
    let (status, _) = app.engineer().try_request("AzureAD-Admins", 600, json!({ "justification": "again" })).await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn the_pending_cap_holds_when_a_user_files_many_at_the_same_instant() {
    let limits = "[limits]\nper_ip_per_second = 0\nper_caller_per_second = 0\nmax_pending_per_user = 3\n";
    let app = TestApp::builder().config(limits).spawn().await;
    let alice = app.engineer();
    let answers = futures_util::future::join_all(
        (0..12).map(|i| alice.try_request("AzureAD-Admins", 600, json!({ "justification": format!("burst {i}") }))),
    )
    .await;
    let mut statuses: Vec<u16> = answers.iter().map(|(s, _)| *s).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 201, 201, 409, 409, 409, 409, 409, 409, 409, 409, 409], "{answers:?}");
    let (_, mine) = alice.get("/api/v1/requests?status=pending").await;
    assert_eq!(mine["items"].as_array().map(Vec::len), Some(3));
}
