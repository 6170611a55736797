//! The authorization matrix, walked: every API route with every kind of caller, and the web
//! pages with every kind of signed-in user, against the statuses written down here (by hand,
//! from the table in README "Who may do what"). Each state-changing call gets a request of its
//! own in the right state, so one caller's success never changes what the next one meets.
use std::time::Duration;

use serde_json::{Value, json};

use crate::{
    entra_tokens::{AUDIENCE, BOT_APP, application, entra_config, issued},
    helpers::*,
    notify_peers::OidcProvider,
    pages::{csrf_of, demo_sign_in_as, page, post_form},
};

/// Another chat-ops bot with the delegate scope and the approver role: it files nothing here.
const RELAY_BOT: &str = "relay-bot@example.com";

/// Who calls.
#[derive(Clone, Copy)]
enum Who {
    Anonymous,
    /// Elevate's own token: subject, roles, whether it has the `delegate` scope.
    Token(&'static str, &'static [&'static str], bool),
    /// An Entra ID user token for Alice (by object id: the built-in directory's ids are its
    /// UPNs), with or without a multi-factor `amr`.
    EntraUser {
        mfa: bool,
    },
    /// An Entra ID application token (`idtyp = app`) of the filer bot's client id.
    EntraApp,
}

/// The kinds of API caller, by name.
const CALLERS: [(&str, Who); 13] = [
    ("anonymous", Who::Anonymous),
    ("requester (owner)", Who::Token(ALICE, &["requester"], false)),
    ("another requester", Who::Token(MALLORY, &["requester"], false)),
    ("the profile's approver", Who::Token(BOB, &["requester", "approver"], false)),
    ("another profile's approver", Who::Token(ERIN, &["approver"], false)),
    ("admin", Who::Token(DAVE, &["admin"], false)),
    ("auditor", Who::Token(MALLORY, &["auditor"], false)),
    ("bot without delegate", Who::Token(BOT, &["requester"], false)),
    ("bot with delegate (the filer)", Who::Token(BOT, &["requester", "approver"], true)),
    ("bot with delegate (not the filer)", Who::Token(RELAY_BOT, &["requester", "approver"], true)),
    ("Entra user token with MFA (owner)", Who::EntraUser { mfa: true }),
    ("Entra user token without amr (owner)", Who::EntraUser { mfa: false }),
    ("Entra app-only token (the filer)", Who::EntraApp),
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
const API: [(&str, Needs, [u16; 13]); 19] = [
    ("GET /api/v1/profiles", Needs::Nothing, [401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET /api/v1/requests", Needs::Nothing, [401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    (
        "GET /api/v1/requests?requester=alice@example.com",
        Needs::Nothing,
        [401, 200, 403, 403, 403, 200, 200, 403, 200, 200, 200, 200, 200],
    ),
    // A delegate sees what it filed only.
    ("GET /api/v1/requests/{id}", Needs::Pending, [401, 200, 404, 200, 404, 200, 200, 404, 200, 404, 200, 200, 200]),
    // What the grant did in AWS: whoever may see the request.
    (
        "GET /api/v1/requests/{id}/activity",
        Needs::Active,
        [401, 200, 404, 200, 404, 200, 200, 404, 200, 404, 200, 200, 200],
    ),
    // A bot asking for itself: it is no user of the directory (400, naming the requester).
    ("POST /api/v1/requests", Needs::Nothing, [401, 201, 403, 201, 403, 403, 403, 400, 400, 400, 201, 201, 400]),
    (
        "POST /api/v1/requests (for alice)",
        Needs::Nothing,
        [401, 201, 403, 403, 403, 403, 403, 403, 201, 201, 201, 201, 201],
    ),
    // require_mfa: only the requester, with a recent second factor (403 mfa-required).
    (
        "POST /api/v1/requests (Sensitive)",
        Needs::Nothing,
        [401, 403, 403, 403, 403, 403, 403, 400, 400, 400, 201, 403, 400],
    ),
    // A bot decides only for a human approver it names (400 without one) ...
    (
        "POST /api/v1/requests/{id}/approve",
        Needs::Pending,
        [401, 403, 403, 200, 403, 403, 403, 403, 400, 400, 403, 403, 400],
    ),
    (
        "POST /api/v1/requests/{id}/deny",
        Needs::Pending,
        [401, 403, 403, 200, 403, 403, 403, 403, 400, 400, 403, 403, 400],
    ),
    // ... who may decide; never a request it filed itself. Others may not name anyone (400).
    (
        "POST /api/v1/requests/{id}/approve (on behalf of bob)",
        Needs::Pending,
        [401, 400, 400, 400, 400, 400, 400, 400, 403, 200, 400, 400, 403],
    ),
    (
        "POST /api/v1/requests/{id}/cancel",
        Needs::Pending,
        [401, 200, 403, 403, 403, 403, 403, 403, 200, 403, 200, 200, 200],
    ),
    (
        "POST /api/v1/requests/{id}/revoke",
        Needs::Active,
        [401, 200, 403, 403, 403, 200, 403, 403, 200, 403, 200, 200, 200],
    ),
    (
        "POST /api/v1/requests/{id}/extend",
        Needs::Active,
        [401, 201, 403, 403, 403, 403, 403, 403, 201, 403, 201, 201, 201],
    ),
    ("GET /api/v1/approvals", Needs::Nothing, [401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET /api/v1/reviews", Needs::Nothing, [401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET /api/v1/audit", Needs::Nothing, [401, 403, 403, 403, 403, 200, 200, 403, 403, 403, 403, 403, 403]),
    ("GET /api/v1/audit/export", Needs::Nothing, [401, 403, 403, 403, 403, 200, 200, 403, 403, 403, 403, 403, 403]),
    (
        "GET /api/v1/requests?requester=bob@example.com",
        Needs::Nothing,
        [401, 403, 403, 200, 403, 200, 200, 403, 200, 200, 403, 403, 200],
    ),
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

/// The caller's bearer token (none for the anonymous).
async fn token_of(idp: &OidcProvider, who: Who) -> Option<String> {
    let user = |amr: Value| {
        json!({ "aud": AUDIENCE, "oid": ALICE, "tid": elevate_tests::graph_server::TENANT, "scp": "Elevate.Access",
                "roles": ["Elevate.Requester"], "amr": amr })
    };
    match who {
        Who::Anonymous => None,
        Who::Token(upn, roles, delegate) => Some(token(upn, roles, delegate.then_some("delegate"), 3600, SECRET)),
        Who::EntraUser { mfa: true } => Some(issued(idp, user(json!(["pwd", "mfa"]))).await),
        Who::EntraUser { mfa: false } => Some(issued(idp, user(json!([]))).await),
        Who::EntraApp => Some(
            issued(idp, application(BOT_APP, &["Elevate.Requester", "Elevate.Approver", "Elevate.Delegate"])).await,
        ),
    }
}

async fn call(app: &TestApp, route: &str, id: &str, token: Option<&str>) -> u16 {
    let (method, rest) = route.split_once(' ').unwrap();
    let path = rest.split(" (").next().unwrap().replace("{id}", id);
    let http = reqwest::Client::new();
    let body = match route {
        r if r.ends_with("(for alice)") => {
            json!({ "profile": "AzureAD-Admins", "duration_seconds": 600, "justification": "x", "requester": ALICE })
        }
        r if r.ends_with("(Sensitive)") => json!({ "profile": "Sensitive", "duration_seconds": 600 }),
        r if r.ends_with("(on behalf of bob)") => json!({ "comment": "matrix", "on_behalf_of": BOB }),
        r if r.ends_with("/extend") => json!({ "duration_seconds": 600 }),
        r if r.contains("{id}/") => json!({ "comment": "matrix" }),
        _ => json!({ "profile": "AzureAD-Admins", "duration_seconds": 600, "justification": "x" }),
    };
    let mut req = match method {
        "POST" => http.post(format!("{}{path}", app.address)).json(&body),
        _ => http.get(format!("{}{path}", app.address)),
    };
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn every_api_route_answers_every_kind_of_caller_as_the_table_says() {
    let idp = OidcProvider::start().await;
    let app = TestApp::builder().config(&entra_config(&idp)).spawn().await;
    let mut wrong = Vec::new();
    for (route, needs, expected) in API {
        for ((who, caller), want) in CALLERS.iter().zip(expected) {
            let id = match needs {
                Needs::Nothing => String::new(),
                needs => prepare(&app, needs).await,
            };
            let token = token_of(&idp, *caller).await;
            let got = call(&app, route, &id, token.as_deref()).await;
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
    // (user, signed in with a second factor)
    let users = [
        None,
        Some((ALICE, false)),
        Some((ALICE, true)),
        Some((BOB, false)),
        Some((DAVE, false)),
        Some((MALLORY, false)),
    ];
    let mut sessions = Vec::new();
    for user in users {
        sessions.push(match user {
            Some((upn, mfa)) => demo_sign_in_as(&app, upn, mfa).await,
            None => String::new(),
        });
    }
    // (route, needs, expected for: anonymous, Alice the requester (without, then with a
    // multi-factor sign-in), Bob the approver, Dave the admin and auditor, Mallory who may
    // request nothing)
    let pages: [(&str, Needs, [u16; 6]); 15] = [
        ("GET /requests", Needs::Nothing, [303, 200, 200, 200, 200, 200]),
        ("GET /profiles", Needs::Nothing, [303, 200, 200, 200, 200, 200]),
        ("GET /requests/new", Needs::Nothing, [303, 200, 200, 200, 200, 200]),
        ("GET /approvals", Needs::Nothing, [303, 200, 200, 200, 200, 200]),
        ("GET /reviews", Needs::Nothing, [303, 200, 200, 200, 200, 200]),
        ("GET /requests/new?profile=AzureAD-Admins", Needs::Nothing, [303, 200, 200, 200, 404, 404]),
        // require_mfa: the form sends a session without a recent second factor to sign in again.
        ("POST /requests/new (Sensitive)", Needs::Nothing, [303, 403, 303, 403, 403, 403]),
        ("GET /grants", Needs::Nothing, [303, 200, 200, 200, 200, 200]),
        ("GET /audit", Needs::Nothing, [303, 403, 403, 403, 200, 403]),
        ("GET /audit/export.jsonl", Needs::Nothing, [303, 403, 403, 403, 200, 403]),
        ("GET /requests/{id}", Needs::Pending, [303, 200, 200, 200, 200, 404]),
        ("POST /requests/{id}/decide", Needs::Pending, [303, 403, 403, 303, 403, 403]),
        ("POST /requests/{id}/cancel", Needs::Pending, [303, 303, 303, 403, 403, 403]),
        ("POST /requests/{id}/revoke", Needs::Active, [303, 303, 303, 403, 303, 403]),
        ("POST /requests/{id}/extend", Needs::Active, [303, 303, 303, 403, 403, 403]),
    ];
    let mut wrong = Vec::new();
    for (route, needs, expected) in pages {
        for ((user, session), want) in users.iter().zip(&sessions).zip(expected) {
            let id = match needs {
                Needs::Nothing => String::new(),
                needs => prepare(&app, needs).await,
            };
            let (method, path) = route.split_once(' ').unwrap();
            let path = path.split(" (").next().unwrap().replace("{id}", &id);
            let got = if method == "GET" {
                page(&app, &path, session).await.0
            } else {
                let csrf =
                    if session.is_empty() { String::new() } else { csrf_of(&page(&app, "/requests", session).await.1) };
                let profile = if route.ends_with("(Sensitive)") { "Sensitive" } else { "" };
                let form = [
                    ("csrf", csrf.as_str()),
                    ("decision", "approve"),
                    ("duration_seconds", "600"),
                    ("profile", profile),
                ];
                post_form(&app, &path, session, &form).await.0
            };
            if got != want {
                let who = user
                    .map_or("anonymous".to_owned(), |(upn, mfa)| format!("{upn}{}", if mfa { " (MFA)" } else { "" }));
                wrong.push(format!("{route} as {who}: {got}, expected {want}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{} mismatches:\n{}", wrong.len(), wrong.join("\n"));
}
