//! The people of a test, calling the API with tokens: requests filed, decided, read.
use std::time::Duration;

use serde_json::{Value, json};

use super::{
    TestApp,
    fixtures::{ALICE, DAVE, SECRET},
};

impl TestApp {
    pub fn as_user(&self, upn: &str, roles: &[&str]) -> Actor<'_> {
        Actor { app: self, token: token(upn, roles, None, 3600, SECRET) }
    }

    pub fn engineer(&self) -> Actor<'_> {
        self.as_user(ALICE, &["requester"])
    }

    pub fn approver(&self, upn: &str) -> Actor<'_> {
        self.as_user(upn, &["requester", "approver"])
    }

    pub fn admin(&self) -> Actor<'_> {
        self.as_user(DAVE, &["admin", "auditor"])
    }

    pub fn with_token(&self, token: &str) -> Actor<'_> {
        Actor { app: self, token: token.to_owned() }
    }

    pub async fn get_raw(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self.http.get(format!("{}{path}", self.address));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        response(req.send().await.expect("the server answers")).await
    }
}

/// Signs a token the way `elevate token issue` does (or, with other arguments, the way it
/// must not be accepted).
pub fn token(sub: &str, roles: &[&str], scope: Option<&str>, ttl_secs: i64, secret: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "iss": "elevate", "aud": "elevate-api", "sub": sub, "iat": now, "nbf": now, "exp": now + ttl_secs,
        "jti": uuid::Uuid::new_v4().to_string(), "roles": roles, "scope": scope,
    });
    sign(&claims, secret)
}

pub fn sign(claims: &Value, secret: &str) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()).expect("key");
    jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256), claims, &key).expect("token")
}

async fn response(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Someone calling the API with a token.
pub struct Actor<'a> {
    app: &'a TestApp,
    pub token: String,
}

impl Actor<'_> {
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.app.get_raw(path, Some(&self.token)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let req = self.app.http.post(format!("{}{path}", self.app.address)).bearer_auth(&self.token).json(&body);
        response(req.send().await.expect("the server answers")).await
    }

    pub async fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
        let req = self
            .app
            .http
            .post(format!("{}{path}", self.app.address))
            .bearer_auth(&self.token)
            .header("Content-Type", content_type)
            .body(body);
        response(req.send().await.expect("the server answers")).await
    }

    /// Files a request and returns the server's answer.
    pub async fn try_request(&self, profile: &str, seconds: i64, extra: Value) -> (u16, Value) {
        let mut body =
            json!({ "profile": profile, "duration_seconds": seconds, "justification": "investigating an incident" });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        self.post("/api/v1/requests", body).await
    }

    /// Like `try_request`, but, as a well-behaved bot would, tries again while Elevate says
    /// the directory is temporarily unavailable (503).
    pub async fn request_patiently(&self, profile: &str, seconds: i64) -> String {
        for _ in 0..20 {
            let (status, body) = self.try_request(profile, seconds, json!({})).await;
            if status == 201 {
                return body["id"].as_str().expect("id").to_owned();
            }
            assert_eq!(status, 503, "{body}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        panic!("the directory stayed unavailable");
    }

    /// Files a request that must be accepted; returns its id.
    pub async fn request(&self, profile: &str, seconds: i64) -> String {
        let (status, body) = self.try_request(profile, seconds, json!({})).await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().expect("id").to_owned()
    }

    pub async fn act(&self, id: &str, action: &str) -> (u16, Value) {
        self.post(&format!("/api/v1/requests/{id}/{action}"), json!({ "comment": format!("{action} by test") })).await
    }

    pub async fn approve(&self, id: &str) -> Value {
        let (status, body) = self.act(id, "approve").await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

/// Now, in milliseconds since the epoch (the unit of the instants tests set).
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Milliseconds since the epoch of an RFC 3339 instant from the API.
pub fn millis(v: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(v.as_str().expect("an instant")).expect("RFC 3339").timestamp_millis()
}

/// The shape every error must have: problem+json with a status and a detail.
pub fn assert_problem(status: u16, body: &Value, expected: u16, field: Option<&str>) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["status"], expected, "{body}");
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
    if let Some(field) = field {
        assert_eq!(body["field"], field, "{body}");
    }
}
