//! The identity side: Entra's token endpoint for the bot (client credentials with a secret, the
//! Bot Framework scope), and login.botframework.com's OpenID metadata and signing keys.
use std::{collections::BTreeMap, path::Path, process::Command};

use actix_web::{HttpResponse, http::StatusCode, web};
use serde_json::{Value, json};

use super::{BOT_APP_ID, BOT_SCOPE, BOT_SECRET, ISSUER, Shared, lock};
use crate::graph_server::TENANT;

/// A signing key: its `kid`, its public JWK and its private half for `jsonwebtoken`.
pub(super) struct KeyPair {
    pub(super) kid: String,
    pub(super) jwk: Value,
    pub(super) signing: jsonwebtoken::EncodingKey,
}

/// A fresh 2048-bit RSA key made by openssl in `dir`.
pub(super) fn generate(dir: &Path, name: &str) -> KeyPair {
    let file = dir.join(format!("{name}.pem"));
    let made = Command::new("openssl").args(["genrsa", "-out"]).arg(&file).arg("2048").output().expect("openssl runs");
    assert!(made.status.success(), "openssl genrsa: {}", String::from_utf8_lossy(&made.stderr));
    let printed =
        Command::new("openssl").args(["rsa", "-noout", "-modulus", "-in"]).arg(&file).output().expect("openssl runs");
    assert!(printed.status.success(), "openssl rsa: {}", String::from_utf8_lossy(&printed.stderr));
    let printed = String::from_utf8_lossy(&printed.stdout);
    let hex = printed.trim().strip_prefix("Modulus=").expect("openssl prints Modulus=HEX");
    let modulus = from_hex(hex);
    // Shaped like the real kids (27 base64url characters), and different for every key.
    let kid = base64url(&modulus[modulus.len().saturating_sub(20)..]);
    let pem = std::fs::read(&file).expect("the key openssl wrote");
    KeyPair {
        jwk: json!({
            "kty": "RSA", "use": "sig", "kid": kid, "x5t": kid, "n": base64url(&modulus), "e": "AQAB",
            "endorsements": ["msteams"],
        }),
        kid,
        signing: jsonwebtoken::EncodingKey::from_rsa_pem(&pem).expect("an RSA private key"),
    }
}

fn from_hex(hex: &str) -> Vec<u8> {
    let hex = if hex.len() % 2 == 1 { format!("0{hex}") } else { hex.to_owned() };
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex digits")).collect()
}

/// Base64url without padding (RFC 7515 §2), by hand: `base64` is only a dev-dependency.
pub(super) fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut text = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let bits = chunk.iter().enumerate().fold(0u32, |bits, (i, byte)| bits | (u32::from(*byte) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            text.push(char::from(ALPHABET[((bits >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    text
}

/// `GET /v1/.well-known/openidconfiguration`, as login.botframework.com publishes it.
pub(super) async fn openid_configuration(state: Shared) -> HttpResponse {
    let url = lock(&state).url.clone();
    HttpResponse::Ok().json(json!({
        "issuer": ISSUER,
        "authorization_endpoint": "https://invalid.botframework.com",
        "jwks_uri": format!("{url}/v1/.well-known/keys"),
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
    }))
}

/// `GET /v1/.well-known/keys`: JWKs with the channels each key endorses.
pub(super) async fn keys(state: Shared) -> HttpResponse {
    let mut s = lock(&state);
    s.jwks_fetches += 1;
    HttpResponse::Ok().json(json!({ "keys": s.published }))
}

/// `POST /{tenant}/oauth2/v2.0/token`: the client-credentials grant of a single-tenant bot,
/// with Entra's errors.
pub(super) async fn token(state: Shared, tenant: web::Path<String>, body: web::Bytes) -> HttpResponse {
    let form = form_fields(&body);
    let field = |name: &str| form.get(name).map(String::as_str);
    let refuse = |status: StatusCode, error: &str, code: u32, description: &str| {
        HttpResponse::build(status).json(json!({
            "error": error, "error_description": format!("AADSTS{code}: {description}"), "error_codes": [code],
            "timestamp": chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string(),
            "trace_id": uuid::Uuid::new_v4().to_string(), "correlation_id": uuid::Uuid::new_v4().to_string(),
        }))
    };
    // A single-tenant bot is unknown to the multi-tenant `botframework.com` authority.
    if tenant.as_str() == "botframework.com" {
        let text =
            format!("Application with identifier '{BOT_APP_ID}' was not found in the directory 'Bot Framework'.");
        return refuse(StatusCode::BAD_REQUEST, "unauthorized_client", 700016, &text);
    }
    if tenant.as_str() != TENANT {
        return refuse(StatusCode::BAD_REQUEST, "invalid_request", 90002, &format!("Tenant '{tenant}' not found."));
    }
    if field("grant_type") != Some("client_credentials") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        );
    }
    let scope = field("scope").unwrap_or_default();
    if !scope.ends_with("/.default") {
        let text = format!(
            "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
        );
        return refuse(StatusCode::BAD_REQUEST, "invalid_scope", 1002012, &text);
    }
    if scope != BOT_SCOPE {
        let resource = scope.trim_end_matches("/.default");
        let text = format!("The resource principal named {resource} was not found in the tenant named {TENANT}.");
        return refuse(StatusCode::BAD_REQUEST, "invalid_resource", 500011, &text);
    }
    let client = field("client_id").unwrap_or_default();
    if client != BOT_APP_ID {
        let text = format!("Application with identifier '{client}' was not found in the directory '{TENANT}'.");
        return refuse(StatusCode::BAD_REQUEST, "unauthorized_client", 700016, &text);
    }
    if field("client_secret") != Some(BOT_SECRET) {
        let text = format!(
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{BOT_APP_ID}'."
        );
        return refuse(StatusCode::UNAUTHORIZED, "invalid_client", 7000215, &text);
    }
    let token = format!("bf-test-token-{}", uuid::Uuid::new_v4());
    let mut s = lock(&state);
    s.tokens.insert(token.clone());
    s.tokens_issued += 1;
    HttpResponse::Ok()
        .json(json!({ "token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token }))
}

/// An `application/x-www-form-urlencoded` body, decoded by `url`'s query parser.
fn form_fields(body: &[u8]) -> BTreeMap<String, String> {
    let text = String::from_utf8_lossy(body);
    reqwest::Url::parse(&format!("http://entra/?{text}"))
        .map(|url| url.query_pairs().into_owned().collect())
        .unwrap_or_default()
}
