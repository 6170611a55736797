//! Entra ID's token endpoint: the client-credentials grant with a secret or a certificate.
use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use serde_json::{Value, json};

use super::{CLIENT_ID, CLIENT_SECRET, Shared, State, TENANT, chrono_like_now, lock};

/// The client-credentials grant, with Entra's errors for a wrong tenant or secret.
pub(super) async fn token(
    state: Shared,
    req: HttpRequest,
    tenant: web::Path<String>,
    form: web::Form<BTreeMap<String, String>>,
) -> HttpResponse {
    let bad = |status: StatusCode, error: &str, description: &str| {
        HttpResponse::build(status).json(json!({ "error": error, "error_description": description, "error_codes": [], "timestamp": chrono_like_now() }))
    };
    if tenant.as_str() != TENANT {
        return bad(StatusCode::BAD_REQUEST, "invalid_request", &format!("AADSTS90002: Tenant '{tenant}' not found."));
    }
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return bad(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "AADSTS70003: The app requested an unsupported grant type.",
        );
    }
    if form.get("scope").map(String::as_str) != Some("https://graph.microsoft.com/.default") {
        return bad(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "AADSTS1002012: The provided value for scope is not valid.",
        );
    }
    if form.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
        return bad(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "AADSTS700016: Application not found in the directory.",
        );
    }
    if let Some(assertion) = form.get("client_assertion") {
        let token_url = format!("http://{}/{tenant}/oauth2/v2.0/token", req.connection_info().host());
        if form.get("client_assertion_type").map(String::as_str)
            != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        {
            return bad(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "AADSTS50027: Invalid JWT token: bad client_assertion_type.",
            );
        }
        if let Err(why) = check_assertion(&lock(&state), assertion, &token_url) {
            return bad(StatusCode::UNAUTHORIZED, "invalid_client", &why);
        }
    } else if form.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET) {
        return bad(StatusCode::UNAUTHORIZED, "invalid_client", "AADSTS7000215: Invalid client secret provided.");
    }
    let token = format!("graph-test-token-{}", uuid::Uuid::new_v4());
    let mut s = lock(&state);
    s.tokens.insert(token.clone());
    s.tokens_issued += 1;
    HttpResponse::Ok().json(json!({
        "token_type": "Bearer", "expires_in": s.token_lifetime_secs, "ext_expires_in": s.token_lifetime_secs, "access_token": token,
    }))
}

/// A client assertion as Entra checks it: signed (PS256 or RS256) by a registered certificate
/// named by `x5t#S256`, for this token URL, issued by and about the client, short-lived.
fn check_assertion(s: &State, assertion: &str, token_url: &str) -> Result<(), String> {
    let header = jsonwebtoken::decode_header(assertion).map_err(|e| format!("AADSTS50027: Invalid JWT token: {e}"))?;
    let thumbprint = header.x5t_s256.ok_or("AADSTS700023: The client assertion has no x5t#S256 header.")?;
    let public_key = s.certificates.get(&thumbprint).ok_or(
        "AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on application.",
    )?;
    if !matches!(header.alg, jsonwebtoken::Algorithm::PS256 | jsonwebtoken::Algorithm::RS256) {
        return Err("AADSTS5002730: Invalid JWT token: unsupported algorithm.".into());
    }
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(public_key.as_bytes()).map_err(|e| e.to_string())?;
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&[token_url]);
    validation.set_issuer(&[CLIENT_ID]);
    validation.sub = Some(CLIENT_ID.to_owned());
    let claims = jsonwebtoken::decode::<Value>(assertion, &key, &validation)
        .map_err(|e| format!("AADSTS700027: Client assertion failed signature validation: {e}"))?
        .claims;
    let lifetime = claims["exp"].as_i64().unwrap_or(0) - claims["nbf"].as_i64().unwrap_or(0);
    if claims["jti"].as_str().is_none() || lifetime > 600 {
        return Err("AADSTS700024: Client assertion is not within its valid time range or has no jti.".into());
    }
    Ok(())
}
