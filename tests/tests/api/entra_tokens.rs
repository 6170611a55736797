//! Entra ID access tokens for the API: a token that the identity provider (oauth2-mock-server,
//! standing in for Entra ID) issued for Elevate's API registration is accepted with its app
//! roles; every kind of forged, misdirected or stale token is refused. Tokens carry the claims
//! Entra documents (access-token and optional-claims references): a user token `oid`, `tid`
//! and `scp`; an application's own token `idtyp = app`, `azp` and the service principal's
//! `oid`. The directory is the Graph test server, whose users have object ids.
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use elevate_tests::graph_server::{GraphServer, TENANT};

use crate::{helpers::*, notify_peers::OidcProvider};

pub const AUDIENCE: &str = "api://elevate-test";
pub const BOT_APP: &str = "chatops-app-client-id";
/// The bot's service principal: an object the directory has, but not a user.
const BOT_SERVICE_PRINCIPAL: &str = "5e1f0000-0000-4000-8000-00000000b075";

/// `[auth.entra]` accepting the provider's tokens for Elevate's API, the bot's client id
/// acting as the chat-ops bot.
pub fn entra_config(idp: &OidcProvider) -> String {
    format!(
        "[auth.entra]\ntenant_id = \"{TENANT}\"\nissuer = \"{0}\"\njwks_url = \"{0}/jwks\"\naudience = \"{AUDIENCE}\"\nmfa_auth_context = \"c1\"\n[auth.entra.apps]\n\"{BOT_APP}\" = \"{BOT}\"\n",
        idp.issuer
    )
}

async fn spawn(idp: &OidcProvider) -> TestApp {
    TestApp::builder().graph(GraphServer::start().await).config(&entra_config(idp)).spawn().await
}

/// A user's delegated token as Entra issues it: object and tenant ids and a scope (and no
/// name Elevate would read), with `extra` claims merged in.
fn user(app: &TestApp, upn: &str, roles: &[&str], extra: Value) -> Value {
    let mut claims = json!({ "aud": AUDIENCE, "oid": app.graph().user_id(upn), "tid": TENANT,
                             "scp": "Elevate.Access", "roles": roles });
    claims.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    claims
}

/// An application's own token (client credentials) as Entra issues it with the `idtyp`
/// optional claim: `oid` is its service principal, `azp` its client id.
pub fn application(client_id: &str, roles: &[&str]) -> Value {
    json!({ "aud": AUDIENCE, "idtyp": "app", "azp": client_id, "oid": BOT_SERVICE_PRINCIPAL, "sub": BOT_SERVICE_PRINCIPAL,
            "tid": TENANT, "roles": roles })
}

/// An access token the provider signs with its own key, with `claims` merged in.
pub async fn issued(idp: &OidcProvider, claims: Value) -> String {
    let form = [("grant_type", "client_credentials"), ("claims", &claims.to_string())];
    let resp = reqwest::Client::new().post(format!("{}/token", idp.issuer)).form(&form).send().await.unwrap();
    let body: Value = resp.json().await.unwrap();
    body["access_token"].as_str().expect("an access token").to_owned()
}

async fn call(app: &TestApp, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let http = reqwest::Client::new();
    let req = match method {
        "POST" => http.post(format!("{}{path}", app.address)).json(&body.unwrap_or(json!({}))),
        _ => http.get(format!("{}{path}", app.address)),
    };
    let resp = req.bearer_auth(token).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn unsigned(header: Value, claims: Value) -> String {
    format!("{}.{}.", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()))
}

#[tokio::test]
async fn entra_tokens_act_with_their_app_roles_for_users_and_known_applications() {
    let idp = OidcProvider::start().await;
    let app = spawn(&idp).await;

    // A script signed in as Alice, with the requester app role.
    let alice = issued(&idp, user(&app, ALICE, &["Elevate.Requester"], json!({}))).await;
    let body = json!({ "profile": "AzureAD-Admins", "duration_seconds": 600, "justification": "via Entra" });
    let (status, filed) = call(&app, "POST", "/api/v1/requests", &alice, Some(body)).await;
    assert_eq!(status, 201, "{filed}");
    assert_eq!(filed["requester"], ALICE);
    assert_eq!(call(&app, "GET", "/api/v1/audit", &alice, None).await.0, 403, "no auditor role");

    // The chat-ops bot's own token (no user): the identity configured for its client id, and
    // the delegate role lets it file for Alice.
    let bot = issued(&idp, application(BOT_APP, &["Elevate.Requester", "Elevate.Delegate"])).await;
    let body = json!({ "profile": "AzureAD-Admins", "duration_seconds": 600, "justification": "for Alice", "requester": ALICE });
    let (status, filed) = call(&app, "POST", "/api/v1/requests", &bot, Some(body)).await;
    assert_eq!(status, 201, "{filed}");
    assert_eq!((filed["requester"].as_str(), filed["filed_by"].as_str()), (Some(ALICE), Some(BOT)));

    // An auditor's token reads the audit log, where the tokens' use is recorded.
    let dave = issued(&idp, user(&app, DAVE, &["Elevate.Auditor"], json!({}))).await;
    let (status, log) = call(&app, "GET", "/api/v1/audit?limit=1000", &dave, None).await;
    assert_eq!(status, 200);
    let used: Vec<&Value> = log["items"].as_array().unwrap().iter().filter(|e| e["action"] == "token.used").collect();
    assert!(used.iter().any(|e| e["actor"] == ALICE) && used.iter().any(|e| e["actor"] == BOT), "{used:?}");

    // An application Elevate does not know acts as nobody.
    let stranger = issued(&idp, application("some-other-app", &["Elevate.Admin"])).await;
    let (status, problem) = call(&app, "GET", "/api/v1/requests", &stranger, None).await;
    assert_problem(status, &problem, 401, None);
    assert!(problem["detail"].as_str().unwrap().contains("some-other-app"), "{problem}");
}

#[tokio::test]
async fn forged_misdirected_expired_and_foreign_tokens_are_refused() {
    let idp = OidcProvider::start().await;
    let app = spawn(&idp).await;
    let good = user(&app, ALICE, &["Elevate.Admin"], json!({}));
    let genuine = issued(&idp, good.clone()).await;
    assert_eq!(call(&app, "GET", "/api/v1/requests", &genuine, None).await.0, 200, "the genuine token works");
    let kid = jsonwebtoken::decode_header(&genuine).unwrap().kid.unwrap();
    let now = chrono::Utc::now().timestamp();
    let claims =
        user(&app, ALICE, &["Elevate.Admin"], json!({ "iss": idp.issuer, "iat": now, "nbf": now, "exp": now + 600 }));

    // `alg: none`, unsigned.
    let none = unsigned(json!({ "alg": "none", "typ": "JWT", "kid": kid }), claims.clone());
    // HS256 keyed with the provider's public key (the classic algorithm confusion).
    let jwks: Value = reqwest::get(format!("{}/jwks", idp.issuer)).await.unwrap().json().await.unwrap();
    let public = jwks["keys"][0].to_string();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.clone());
    let confused =
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(public.as_bytes()).unwrap()).unwrap();
    // Signed by a key the provider never published, claiming a key id of its own.
    let dir = tempfile::tempdir().unwrap();
    let rogue_pem = dir.path().join("rogue.pem");
    let ok = std::process::Command::new("openssl").args(["genrsa", "-out"]).arg(&rogue_pem).arg("2048").status();
    assert!(ok.unwrap().success());
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("rogue-key".into());
    let rogue_key = EncodingKey::from_rsa_pem(&std::fs::read(&rogue_pem).unwrap()).unwrap();
    let rogue = jsonwebtoken::encode(&header, &claims, &rogue_key).unwrap();
    // … or the genuine key id with the rogue key's signature.
    header.kid = Some(kid.clone());
    let resigned = jsonwebtoken::encode(&header, &claims, &rogue_key).unwrap();
    // Genuinely signed, but for another tenant, another audience, or long expired.
    let admin = |extra: Value| user(&app, ALICE, &["Elevate.Admin"], extra);
    let other_tenant =
        issued(&idp, admin(json!({ "iss": "https://login.microsoftonline.com/another-tenant/v2.0" }))).await;
    let other_tid = issued(&idp, admin(json!({ "tid": "99999999-2222-3333-4444-555555555555" }))).await;
    let other_audience = issued(&idp, admin(json!({ "aud": "api://some-other-api" }))).await;
    let expired = issued(&idp, admin(json!({ "iat": now - 7200, "nbf": now - 7200, "exp": now - 3600 }))).await;
    let not_yet = issued(&idp, admin(json!({ "nbf": now + 3600, "exp": now + 7200 }))).await;

    for (what, token, says) in [
        ("alg none", none, "malformed"),
        ("HS256 with the public key", confused, "bad signature"),
        ("an unknown key", rogue, "unknown key"),
        ("a forged signature", resigned, "bad signature"),
        ("another tenant", other_tenant, "another tenant"),
        ("another tenant's object", other_tid, "another tenant"),
        ("another audience", other_audience, "another audience"),
        ("an expired token", expired, "expired"),
        ("a token not valid yet", not_yet, "not valid yet"),
    ] {
        let (status, problem) = call(&app, "GET", "/api/v1/requests", &token, None).await;
        assert_eq!(status, 401, "{what} must be refused: {problem}");
        assert!(problem["detail"].as_str().unwrap_or_default().contains(says), "{what}: {problem}");
    }
    // Nothing was filed or changed by any of them.
    let (_, mine) = call(&app, "GET", "/api/v1/requests", &genuine, None).await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn a_profile_that_requires_mfa_is_filed_and_extended_only_with_a_recent_second_factor() {
    let idp = OidcProvider::start().await;
    let app = spawn(&idp).await;
    let file = |token: String, extra: Value| {
        let app = &app;
        async move {
            let mut body = json!({ "profile": "Sensitive", "duration_seconds": 600 });
            body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            call(app, "POST", "/api/v1/requests", &token, Some(body)).await
        }
    };
    let refused = |(status, body): (u16, Value)| {
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["type"], "https://elevate.dev/problems/mfa-required", "{body}");
        body["detail"].as_str().unwrap().to_owned()
    };
    let alice = |claims: Value| issued(&idp, user(&app, ALICE, &["Elevate.Requester"], claims));

    // Elevate's own token proves no second factor, nor does a password-only Entra token, nor
    // one whose multi-factor sign-in is older than auth.mfa_max_age (15 minutes).
    let detail = refused(app.engineer().try_request("Sensitive", 600, json!({})).await);
    assert!(detail.contains("Sensitive") && detail.contains("/signin?mfa=1"), "{detail}");
    refused(file(alice(json!({ "amr": ["pwd"] })).await, json!({})).await);
    let an_hour_ago = chrono::Utc::now().timestamp() - 3600;
    refused(
        file(alice(json!({ "amr": ["pwd", "mfa"], "iat": an_hour_ago, "nbf": an_hour_ago })).await, json!({})).await,
    );
    // A bot cannot prove the requester's presence: refused even for a delegate.
    let bot = issued(&idp, application(BOT_APP, &["Elevate.Requester", "Elevate.Delegate"])).await;
    let detail = refused(file(bot, json!({ "requester": ALICE })).await);
    assert!(detail.contains(ALICE), "{detail}");
    let (_, none) = app.engineer().get("/api/v1/requests").await;
    assert_eq!(none["items"].as_array().unwrap().len(), 0, "nothing filed");

    // A v1.0 token whose amr says mfa, and a v2.0 token that satisfied the MFA authentication
    // context (acrs), both file.
    let with_mfa = alice(json!({ "amr": ["pwd", "mfa"] })).await;
    let (status, filed) = file(with_mfa.clone(), json!({})).await;
    assert_eq!(status, 201, "{filed}");
    let (status, body) = file(alice(json!({ "acrs": ["c1"] })).await, json!({})).await;
    assert_eq!(status, 201, "{body}");

    // Extending follows the same rule.
    let id = filed["id"].as_str().unwrap().to_owned();
    app.wait_for_status(&id, "active", std::time::Duration::from_secs(10)).await;
    let extend = format!("/api/v1/requests/{id}/extend");
    let (status, body) = app.engineer().post(&extend, json!({ "duration_seconds": 600 })).await;
    refused((status, body));
    let (status, body) = call(&app, "POST", &extend, &with_mfa, Some(json!({ "duration_seconds": 600 }))).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn a_token_stands_for_the_directory_object_it_names_never_for_the_names_it_claims() {
    let idp = OidcProvider::start().await;
    let app = spawn(&idp).await;
    let whoami = |token: String| {
        let app = &app;
        async move {
            let body = json!({ "profile": "AzureAD-Admins", "duration_seconds": 600, "justification": "who am I" });
            call(app, "POST", "/api/v1/requests", &token, Some(body)).await
        }
    };

    // Alice's object, whatever names the token carries: the request is hers, not Dave's.
    let claims =
        user(&app, ALICE, &["Elevate.Requester"], json!({ "upn": DAVE, "preferred_username": DAVE, "email": DAVE }));
    let (status, filed) = whoami(issued(&idp, claims).await).await;
    assert_eq!((status, filed["requester"].as_str()), (201, Some(ALICE)), "{filed}");

    // A user token that names the bot's client id is still the user's, never the bot's.
    let claims = user(&app, ALICE, &["Elevate.Requester", "Elevate.Delegate"], json!({ "azp": BOT_APP }));
    let (status, filed) = whoami(issued(&idp, claims).await).await;
    assert_eq!((status, filed["filed_by"].as_str()), (201, Some(ALICE)), "{filed}");

    for (what, claims, says) in [
        // No user claims and no idtyp: formerly taken for the bot's own token.
        (
            "a token that is neither a user's nor an application's",
            json!({ "aud": AUDIENCE, "azp": BOT_APP, "roles": ["Elevate.Admin"] }),
            "idtyp",
        ),
        (
            "a user token without an object id",
            json!({ "aud": AUDIENCE, "upn": ALICE, "scp": "Elevate.Access", "roles": ["Elevate.Admin"] }),
            "oid",
        ),
        (
            "the object id of a service principal presented as a user",
            json!({ "aud": AUDIENCE, "oid": BOT_SERVICE_PRINCIPAL, "tid": TENANT, "scp": "Elevate.Access", "roles": ["Elevate.Admin"] }),
            "no user with object id",
        ),
        (
            "a UPN where the object id belongs",
            json!({ "aud": AUDIENCE, "oid": DAVE, "tid": TENANT, "scp": "Elevate.Access", "roles": ["Elevate.Admin"] }),
            "no user with object id",
        ),
    ] {
        let (status, problem) = call(&app, "GET", "/api/v1/requests", &issued(&idp, claims).await, None).await;
        assert_eq!(status, 401, "{what} must be refused: {problem}");
        assert!(problem["detail"].as_str().unwrap_or_default().contains(says), "{what}: {problem}");
    }
}
