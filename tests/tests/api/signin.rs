//! Signing in to the web pages with OpenID Connect (authorization code + PKCE) against a real
//! provider (oauth2-mock-server), and what a signed-in session is good for.
use std::time::Duration;

use elevate_tests::graph_server::{GraphServer, TENANT};

use crate::{
    email::policy,
    helpers::{ALICE, CAROL, DAVE, TestApp},
    notify_peers::{OidcProvider, SmtpSink},
};

fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn location(resp: &reqwest::Response) -> String {
    resp.headers().get("location").expect("a redirect").to_str().unwrap().to_owned()
}

fn cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")) && !c.starts_with(&format!("{name}=;")))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

/// Signs in through the provider as `user`; returns the session cookie and where it led.
pub async fn sign_in(app: &TestApp, user: &str, next: &str) -> (String, String) {
    sign_in_from(app, &format!("/signin?login_hint={user}&next={next}")).await
}

/// Follows a sign-in that starts at `start` (a `/signin?…` path) through the provider.
async fn sign_in_from(app: &TestApp, start: &str) -> (String, String) {
    match attempt_sign_in(app, start, &serde_json::json!({})).await {
        Ok(signed_in) => signed_in,
        Err((status, page)) => panic!("the sign-in failed with {status}: {page}"),
    }
}

/// A sign-in whose ID token carries `claims` besides (null removes one): the session cookie
/// and where it led, or the refusal's status and page.
async fn attempt_sign_in(
    app: &TestApp,
    start: &str,
    claims: &serde_json::Value,
) -> Result<(String, String), (u16, String)> {
    let http = http();
    let start = http.get(format!("{}{start}", app.address)).send().await.unwrap();
    assert_eq!(start.status().as_u16(), 303);
    let pending = cookie(&start, "elevate_signin").expect("the sign-in state cookie");
    let authorize = location(&start);
    assert!(authorize.contains("code_challenge=") && authorize.contains("code_challenge_method=S256"), "{authorize}");
    assert!(authorize.contains("nonce=") && authorize.contains("state="), "{authorize}");
    let claims =
        percent_encoding::utf8_percent_encode(&claims.to_string(), percent_encoding::NON_ALPHANUMERIC).to_string();
    let back = http.get(format!("{authorize}&test_claims={claims}")).send().await.unwrap();
    let callback = location(&back);
    assert!(callback.starts_with(&format!("{}/signin/callback?", app.address)), "{callback}");
    let done = http.get(&callback).header("Cookie", &pending).send().await.unwrap();
    if done.status().as_u16() != 303 {
        return Err((done.status().as_u16(), done.text().await.unwrap()));
    }
    let session = cookie(&done, "elevate_session").expect("a session cookie");
    Ok((session, location(&done)))
}

#[tokio::test]
async fn an_approver_signs_in_with_openid_connect_and_confirms_a_link_that_demands_it() {
    let idp = OidcProvider::start().await;
    let sink = SmtpSink::start().await;
    let app =
        TestApp::builder().policy(&policy()).config(&format!("{}\n{}", sink.config(), idp.config())).spawn().await;
    let id = app.engineer().request("SignedLinks", 600).await;
    let mail = sink.wait_for(1, |m| m.to == CAROL && m.subject.starts_with("Approval needed")).await.remove(0);
    let link = mail.link("Approve");
    assert_eq!(http().get(&link).send().await.unwrap().status().as_u16(), 401, "not signed in yet");

    let (session, next) = sign_in(&app, CAROL, &format!("/requests/{id}")).await;
    assert_eq!(next, format!("/requests/{id}"));
    let page = http().get(&link).header("Cookie", &session).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let token = link.split_once("token=").unwrap().1;
    let confirmed = http()
        .post(format!("{}/act", app.address))
        .header("Cookie", &session)
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status().as_u16(), 200);
    app.wait_for_status(&id, "active", Duration::from_secs(10)).await;

    let signed_in = app.audit_events(&format!("user:{CAROL}")).await;
    let event = signed_in.iter().find(|e| e["action"] == "user.signed_in").expect("the sign-in is audited");
    assert_eq!(event["details"]["method"], "oidc");
    assert_eq!(event["details"]["amr"][0], "pwd");
}

#[tokio::test]
async fn a_callback_that_was_not_started_here_or_was_altered_is_refused() {
    let idp = OidcProvider::start().await;
    let app = TestApp::builder().policy(&policy()).config(&idp.config()).spawn().await;
    let http = http();
    let start = http.get(format!("{}/signin?login_hint={ALICE}", app.address)).send().await.unwrap();
    let pending = cookie(&start, "elevate_signin").unwrap();
    let callback = location(&http.get(location(&start)).send().await.unwrap());

    // Without the sign-in cookie (a callback link sent to someone else): refused.
    let resp = http.get(&callback).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    assert!(cookie(&resp, "elevate_session").is_none());
    // With another state: refused.
    let forged = callback.replace("state=", "state=x");
    let resp = http.get(&forged).header("Cookie", &pending).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    assert!(cookie(&resp, "elevate_session").is_none());
    // A provider error is shown, not a session.
    let resp = http
        .get(format!("{}/signin/callback?error=access_denied&error_description=no", app.address))
        .header("Cookie", &pending)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    // The genuine callback, with its own cookie, signs in.
    let resp = http.get(&callback).header("Cookie", &pending).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 303, "{}", resp.text().await.unwrap());
}

#[tokio::test]
async fn a_profile_that_requires_mfa_sends_a_password_only_session_back_to_sign_in_with_mfa() {
    let idp = OidcProvider::start().await;
    let app = TestApp::builder().policy(&policy()).config(&idp.config()).spawn().await;
    let (password_only, _) = sign_in(&app, ALICE, "/requests").await;
    let form_page = |cookie: String| {
        let address = app.address.clone();
        async move {
            let resp = http().get(format!("{address}/requests/new?profile=Sensitive")).header("Cookie", cookie);
            let resp = resp.send().await.unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    let (status, html) = form_page(password_only.clone()).await;
    assert_eq!(status, 403);
    assert!(html.contains("Multi-factor sign-in needed") && html.contains("did not use it"), "{html}");
    let (_, rest) = html.split_once("href=\"/signin?").expect("a link to sign in again");
    let again = format!("/signin?{}", rest.split('"').next().unwrap().replace("&#38;", "&"));
    assert!(again.contains("mfa=1"), "{again}");
    // Posting the form anyway (a crafted POST) files nothing.
    let csrf = crate::pages::csrf_of(
        &crate::pages::page(&app, "/requests/new?profile=AzureAD-Admins", &password_only).await.1,
    );
    let form = [("csrf", csrf.as_str()), ("profile", "Sensitive"), ("duration_seconds", "600")];
    let (status, _) = crate::pages::post_form(&app, "/requests/new", &password_only, &form).await;
    assert_eq!(status, 403);
    let (_, mine) = app.engineer().get("/api/v1/requests").await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 0);

    // Signed in again: the provider is asked for MFA (acr_values), the ID token says so (amr),
    // and the form opens, back where the user was.
    let (with_mfa, next) = sign_in_from(&app, &again).await;
    assert_eq!(next, "/requests/new?profile=Sensitive");
    assert_eq!(form_page(with_mfa.clone()).await.0, 200);
    let signed_in = app.audit_events(&format!("user:{ALICE}")).await;
    assert!(signed_in.iter().any(|e| e["details"]["amr"].as_array().is_some_and(|a| a.contains(&"mfa".into()))));
    // And the request is filed.
    let csrf = crate::pages::csrf_of(&form_page(with_mfa.clone()).await.1);
    let form = [("csrf", csrf.as_str()), ("profile", "Sensitive"), ("duration_seconds", "600")];
    let (status, location) = crate::pages::post_form(&app, "/requests/new", &with_mfa, &form).await;
    assert_eq!(status, 303);
    assert!(location.unwrap().starts_with("/requests/"));
    let (_, mine) = app.engineer().get("/api/v1/requests").await;
    assert_eq!(mine["items"][0]["profile"], "Sensitive");
}

#[tokio::test]
async fn with_a_sign_in_configured_an_emailed_link_decides_nothing_without_it() {
    // AzureAD-Admins sets no require_sign_in_for_links: the default follows [oidc], so a
    // forwarded mail is no capability by itself.
    let idp = OidcProvider::start().await;
    let sink = SmtpSink::start().await;
    let app =
        TestApp::builder().policy(&policy()).config(&format!("{}\n{}", sink.config(), idp.config())).spawn().await;
    let id = app.engineer().request("AzureAD-Admins", 600).await;
    let mail = sink.wait_for(1, |m| m.to == CAROL && m.subject.starts_with("Approval needed")).await.remove(0);
    let link = mail.link("Approve");
    assert_eq!(http().get(&link).send().await.unwrap().status().as_u16(), 401, "not signed in");
    let token = link.split_once("token=").unwrap().1;
    let forged = http().post(format!("{}/act", app.address)).header("Origin", &app.address).form(&[("token", token)]);
    assert_eq!(forged.send().await.unwrap().status().as_u16(), 401);
    let (_, still) = app.engineer().get(&format!("/api/v1/requests/{id}")).await;
    assert_eq!(still["status"], "pending", "the link decided nothing");

    // Signed in as Carol, the same link decides.
    let (session, _) = sign_in(&app, CAROL, "/requests").await;
    let confirmed =
        http().post(format!("{}/act", app.address)).header("Cookie", &session).form(&[("token", token)]).send().await;
    assert_eq!(confirmed.unwrap().status().as_u16(), 200);
    app.wait_for_status(&id, "active", Duration::from_secs(10)).await;
}

#[tokio::test]
async fn a_sign_in_is_the_directory_object_the_provider_names_never_a_name_it_does_not_vouch_for() {
    let idp = OidcProvider::start().await;
    let app =
        TestApp::builder().policy(&policy()).graph(GraphServer::start().await).config(&idp.config()).spawn().await;
    let as_dave = format!("/signin?login_hint={DAVE}&next=/requests");
    let signed_in_as = |session: String| {
        let app = &app;
        async move {
            let page = http().get(format!("{}/requests", app.address)).header("Cookie", &session).send().await.unwrap();
            let html = page.text().await.unwrap();
            let audit = http().get(format!("{}/audit", app.address)).header("Cookie", &session).send().await.unwrap();
            (html, audit.status().as_u16())
        }
    };

    // The provider's preferred_username says Dave (an admin), its oid is Alice's: Alice it is,
    // without Dave's admin pages.
    let alice = serde_json::json!({ "oid": app.graph().user_id(ALICE), "tid": TENANT });
    let (session, _) = attempt_sign_in(&app, &as_dave, &alice).await.expect("signed in");
    let (html, audit) = signed_in_as(session).await;
    assert!(html.contains(&format!("Signed in as <strong>{ALICE}</strong>")), "{html}");
    assert_eq!(audit, 403, "not an admin");

    // Only an email the provider verified stands in for a missing preferred_username.
    let unverified = serde_json::json!({ "preferred_username": null, "email": DAVE, "email_verified": false });
    let (status, page) = attempt_sign_in(&app, &as_dave, &unverified).await.expect_err("refused");
    assert!(status == 401 && page.contains("verified email"), "{status}: {page}");
    let verified = serde_json::json!({ "preferred_username": null, "email": DAVE, "email_verified": true });
    let (session, _) = attempt_sign_in(&app, &as_dave, &verified).await.expect("signed in");
    let (html, audit) = signed_in_as(session).await;
    assert!(html.contains(&format!("Signed in as <strong>{DAVE}</strong>")), "{html}");
    assert_eq!(audit, 200, "auth.admins names Dave: matched by his directory object");

    // An object the directory has no user for (a service principal, another tenant's user),
    // and a name it does not know, sign nobody in.
    let stranger = serde_json::json!({ "oid": "5e1f0000-0000-4000-8000-00000000b075", "tid": TENANT });
    let (status, page) = attempt_sign_in(&app, &as_dave, &stranger).await.expect_err("refused");
    assert!(status == 403 && page.contains("no user with object id"), "{status}: {page}");
    let nobody = "/signin?login_hint=nobody@example.com&next=/requests";
    let (status, page) = attempt_sign_in(&app, nobody, &serde_json::json!({})).await.expect_err("refused");
    assert!(status == 403 && page.contains("not a user of this directory"), "{status}: {page}");
}
