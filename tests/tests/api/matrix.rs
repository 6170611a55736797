//! The authorization matrix, walked: every API route with every kind of caller, and the web
//! pages with every kind of signed-in user, against the statuses written down here (by hand,
//! from the table in README "Who may do what"). Each state-changing call gets a request of its
//! own in the right state, so one caller's success never changes what the next one meets.
use std::time::Duration;

use serde_json::json;

use crate::{
    helpers::*,
    pages::{csrf_of, demo_sign_in, page, post_form},
};

/// A token's subject, roles and whether it has the `delegate` scope.
type Credential = (&'static str, &'static [&'static str], bool);

/// The kinds of API caller, by name; `None` is anonymous.
const CALLERS: [(&str, Option<Credential>); 9] = [
    ("anonymous", None),
    ("requester (owner)", Some((ALICE, &["requester"], false))),
    ("another requester", Some((MALLORY, &["requester"], false))),
    ("the profile's approver", Some((BOB, &["requester", "approver"], false))),
    ("another profile's approver", Some((ERIN, &["approver"], false))),
    ("admin", Some((DAVE, &["admin"], false))),
    ("auditor", Some((MALLORY, &["auditor"], false))),
    ("bot without delegate", Some((BOT, &["requester"], false))),
    ("bot with delegate (the filer)", Some((BOT, &["requester"], true))),
];

#[derive(Clone, Copy)]
enum Needs {
    Nothing,
    /// A pending request of Alice's, filed by the delegate bot.
    Pending,
    /// An active grant of Alice's, filed by the delegate bot.
    Active,
}

/// (route, what it needs, expected status for each caller in `CALLERS` order)
/// (`POST …/review` needs a break-glass profile: tests/tests/api/break_glass.rs walks it.)
const API: [(&str, Needs, [u16; 9]); 15] = [
    ("GET /api/v1/profiles", Needs::Nothing, [401, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET /api/v1/requests", Needs::Nothing, [401, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET /api/v1/requests?requester=alice@example.com", Needs::Nothing, [401, 200, 403, 403, 403, 200, 200, 403, 200]),
    ("GET /api/v1/requests/{id}", Needs::Pending, [401, 200, 404, 200, 404, 200, 200, 404, 200]),
    // A bot asking for itself: it is no user of the directory (400, naming the requester).
    ("POST /api/v1/requests", Needs::Nothing, [401, 201, 403, 201, 403, 403, 403, 400, 400]),
    ("POST /api/v1/requests (for alice)", Needs::Nothing, [401, 201, 403, 403, 403, 403, 403, 403, 201]),
    ("POST /api/v1/requests/{id}/approve", Needs::Pending, [401, 403, 403, 200, 403, 403, 403, 403, 403]),
    ("POST /api/v1/requests/{id}/deny", Needs::Pending, [401, 403, 403, 200, 403, 403, 403, 403, 403]),
    ("POST /api/v1/requests/{id}/cancel", Needs::Pending, [401, 200, 403, 403, 403, 403, 403, 403, 200]),
    ("POST /api/v1/requests/{id}/revoke", Needs::Active, [401, 200, 403, 403, 403, 200, 403, 403, 200]),
    ("POST /api/v1/requests/{id}/extend", Needs::Active, [401, 201, 403, 403, 403, 403, 403, 403, 201]),
    ("GET /api/v1/approvals", Needs::Nothing, [401, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET /api/v1/reviews", Needs::Nothing, [401, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET /api/v1/audit", Needs::Nothing, [401, 403, 403, 403, 403, 200, 200, 403, 403]),
    ("GET /api/v1/audit/export", Needs::Nothing, [401, 403, 403, 403, 403, 200, 200, 403, 403]),
];

async fn prepare(app: &TestApp, needs: Needs) -> String {
    let bot_token = token(BOT, &["requester"], Some("delegate"), 3600, SECRET);
    let bot = app.with_token(&bot_token);
    let (status, filed) =
        bot.try_request("AzureAD-Admins", 600, json!({ "requester": ALICE, "justification": "matrix" })).await;
    assert_eq!(status, 201, "{filed}");
    let id = filed["id"].as_str().unwrap().to_owned();
    if let Needs::Active = needs {
        app.approver(BOB).approve(&id).await;
        app.wait_for_status(&id, "active", Duration::from_secs(10)).await;
    }
    id
}

async fn call(app: &TestApp, route: &str, id: &str, caller: Option<Credential>) -> u16 {
    let (method, rest) = route.split_once(' ').unwrap();
    let path = rest.split(" (").next().unwrap().replace("{id}", id);
    let http = reqwest::Client::new();
    let body = match route {
        r if r.ends_with("(for alice)") => {
            json!({ "profile": "AzureAD-Admins", "duration_seconds": 600, "justification": "x", "requester": ALICE })
        }
        r if r.ends_with("/extend") => json!({ "duration_seconds": 600 }),
        r if r.contains("{id}/") => json!({ "comment": "matrix" }),
        _ => json!({ "profile": "AzureAD-Admins", "duration_seconds": 600, "justification": "x" }),
    };
    let mut req = match method {
        "POST" => http.post(format!("{}{path}", app.address)).json(&body),
        _ => http.get(format!("{}{path}", app.address)),
    };
    if let Some((upn, roles, delegate)) = caller {
        req = req.bearer_auth(token(upn, roles, delegate.then_some("delegate"), 3600, SECRET));
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn every_api_route_answers_every_kind_of_caller_as_the_table_says() {
    let app = TestApp::spawn().await;
    let mut wrong = Vec::new();
    for (route, needs, expected) in API {
        for ((who, caller), want) in CALLERS.iter().zip(expected) {
            let id = match needs {
                Needs::Nothing => String::new(),
                needs => prepare(&app, needs).await,
            };
            let got = call(&app, route, &id, *caller).await;
            if got != want {
                wrong.push(format!("{route} as {who}: {got}, expected {want}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{} mismatches:\n{}", wrong.len(), wrong.join("\n"));
}

/// The web pages, signed in as each kind of user (roles from `auth.admins`/`auditors`).
#[tokio::test]
async fn every_page_answers_every_kind_of_user_as_the_table_says() {
    let app = TestApp::spawn().await;
    let users = [None, Some(ALICE), Some(BOB), Some(DAVE), Some(MALLORY)];
    let mut sessions = Vec::new();
    for user in users {
        sessions.push(match user {
            Some(upn) => demo_sign_in(&app, upn).await,
            None => String::new(),
        });
    }
    // (route, needs, expected for: anonymous, Alice the requester, Bob the approver, Dave the
    // admin and auditor, Mallory who may request nothing)
    let pages: [(&str, Needs, [u16; 5]); 14] = [
        ("GET /requests", Needs::Nothing, [303, 200, 200, 200, 200]),
        ("GET /profiles", Needs::Nothing, [303, 200, 200, 200, 200]),
        ("GET /requests/new", Needs::Nothing, [303, 200, 200, 200, 200]),
        ("GET /approvals", Needs::Nothing, [303, 200, 200, 200, 200]),
        ("GET /reviews", Needs::Nothing, [303, 200, 200, 200, 200]),
        ("GET /requests/new?profile=AzureAD-Admins", Needs::Nothing, [303, 200, 200, 404, 404]),
        ("GET /grants", Needs::Nothing, [303, 200, 200, 200, 200]),
        ("GET /audit", Needs::Nothing, [303, 403, 403, 200, 403]),
        ("GET /audit/export.jsonl", Needs::Nothing, [303, 403, 403, 200, 403]),
        ("GET /requests/{id}", Needs::Pending, [303, 200, 200, 200, 404]),
        ("POST /requests/{id}/decide", Needs::Pending, [303, 403, 303, 403, 403]),
        ("POST /requests/{id}/cancel", Needs::Pending, [303, 303, 403, 403, 403]),
        ("POST /requests/{id}/revoke", Needs::Active, [303, 303, 403, 303, 403]),
        ("POST /requests/{id}/extend", Needs::Active, [303, 303, 403, 403, 403]),
    ];
    let mut wrong = Vec::new();
    for (route, needs, expected) in pages {
        for ((user, session), want) in users.iter().zip(&sessions).zip(expected) {
            let id = match needs {
                Needs::Nothing => String::new(),
                needs => prepare(&app, needs).await,
            };
            let (method, path) = route.split_once(' ').unwrap();
            let path = path.replace("{id}", &id);
            let got = if method == "GET" {
                page(&app, &path, session).await.0
            } else {
                let csrf =
                    if session.is_empty() { String::new() } else { csrf_of(&page(&app, "/requests", session).await.1) };
                let form = [("csrf", csrf.as_str()), ("decision", "approve"), ("duration_seconds", "600")];
                post_form(&app, &path, session, &form).await.0
            };
            if got != want {
                wrong.push(format!("{route} as {}: {got}, expected {want}", user.unwrap_or("anonymous")));
            }
        }
    }
    assert!(wrong.is_empty(), "{} mismatches:\n{}", wrong.len(), wrong.join("\n"));
}
