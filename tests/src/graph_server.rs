//! A Microsoft Graph test server: the Entra ID token endpoint and the Graph v1.0 calls
//! Elevate makes, with Graph's documented behaviour — status codes, OData error bodies,
//! `@odata.nextLink` paging, and switchable throttling, faults, latency and outages.
//!
//! It keeps users, groups and memberships in memory; tests read and change them directly.
use std::{
    collections::{BTreeMap, BTreeSet, HashSet},
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, dev::ServerHandle, http::StatusCode, web};
use rand::Rng;
use serde_json::{Value, json};

pub const TENANT: &str = "11111111-2222-3333-4444-555555555555";
pub const CLIENT_ID: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
pub const CLIENT_SECRET: &str = "graph-test-client-secret";
/// The AWS IAM Identity Center app's service principal, provisioning job and rule.
pub const PROVISIONING_SP: &str = "99999999-0000-0000-0000-000000000001";
pub const PROVISIONING_JOB: &str = "AWSSingleSignOn.0f1e2d3c4b5a.00000000000000000000000000000000";
pub const PROVISIONING_RULE: &str = "03f7d90d-bf71-41b1-bda6-aaf0ddbee5d8";

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub upn: String,
    pub display_name: String,
}

/// Faults to inject into Graph calls (not into the token endpoint, which stays up).
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Share of Graph calls answered 429 with `Retry-After`.
    pub throttle_share: f64,
    /// The `Retry-After` those 429s carry (default `1`), however absurd.
    pub retry_after: Option<String>,
    /// Throttle only membership writes (Graph's write limits are tighter than its reads).
    pub throttle_writes_only: bool,
    /// Share answered 503.
    pub unavailable_share: f64,
    /// Added to every Graph call.
    pub latency: Duration,
    /// Every Graph call fails with 503 until then.
    pub outage_until: Option<Instant>,
    /// An add of a member lands at once but its answer takes this long (a slow network or a
    /// throttled front end): the caller cannot know yet that it worked.
    pub slow_add_answer: Duration,
    /// An add of a member lands only after this long (then it is answered): a write that
    /// outlives its caller's patience.
    pub late_add: Duration,
}

/// A Graph call the server answered, for tests that count what was done.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub at: Instant,
}

#[derive(Debug, Default)]
pub struct State {
    /// Every membership that a call actually changed: (group, member id, added, when).
    pub changes: Vec<(String, String, bool, Instant)>,
    pub users: BTreeMap<String, User>,
    /// Group id → member ids (users or groups: groups nest).
    pub groups: BTreeMap<String, (String, BTreeSet<String>)>,
    pub faults: Faults,
    pub page_size: usize,
    pub calls: Vec<Call>,
    tokens: HashSet<String>,
    /// Certificates registered on the app: `x5t#S256` thumbprint → public key (PEM).
    pub certificates: BTreeMap<String, String>,
    /// Lifetime of issued tokens (Entra issues 60–90 minutes).
    pub token_lifetime_secs: u64,
    pub tokens_issued: usize,
    /// (group, user) of every accepted provisionOnDemand call, in order.
    pub provisioned: Vec<(String, String)>,
    /// Answer provisionOnDemand with 403, as when the app lacks the permission.
    pub provisioning_forbidden: bool,
    provisioning_calls: Vec<Instant>,
    /// Graph calls being answered now.
    pub in_flight: usize,
    /// The most Graph calls that were ever being answered at the same time.
    pub max_in_flight: usize,
}

pub struct GraphServer {
    /// e.g. `http://127.0.0.1:PORT`: the authority URL.
    pub authority_url: String,
    /// e.g. `http://127.0.0.1:PORT/v1.0`: the Graph base URL.
    pub base_url: String,
    state: Arc<Mutex<State>>,
    handle: ServerHandle,
}

impl GraphServer {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(State { page_size: 100, token_lifetime_secs: 3599, ..Default::default() }));
        let data = web::Data::from(state.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let counter = state.clone();
        let server = HttpServer::new(move || {
            let counter = counter.clone();
            App::new()
                .app_data(data.clone())
                .wrap_fn(move |req, srv| {
                    let counter = counter.clone();
                    let graph_call = req.path().starts_with("/v1.0/");
                    let call = actix_web::dev::Service::call(srv, req);
                    async move {
                        if graph_call {
                            let mut s = counter.lock().unwrap_or_else(|e| e.into_inner());
                            s.in_flight += 1;
                            s.max_in_flight = s.max_in_flight.max(s.in_flight);
                        }
                        let response = call.await;
                        if graph_call {
                            counter.lock().unwrap_or_else(|e| e.into_inner()).in_flight -= 1;
                        }
                        response
                    }
                })
                .route("/{tenant}/oauth2/v2.0/token", web::post().to(token))
                .route("/v1.0/users/{id}", web::get().to(get_user))
                .route("/v1.0/users/{id}/memberOf", web::get().to(member_of))
                .route("/v1.0/users/{id}/transitiveMemberOf", web::get().to(transitive_member_of))
                .route("/v1.0/groups/{id}", web::get().to(get_group))
                .route("/v1.0/groups/{id}/members", web::get().to(list_members))
                .route("/v1.0/groups/{id}/members/{ref}", web::post().to(add_member))
                .route("/v1.0/groups/{id}/members/{uid}/{ref}", web::delete().to(remove_member))
                .route(
                    "/v1.0/servicePrincipals/{sp}/synchronization/jobs/{job}/provisionOnDemand",
                    web::post().to(provision_on_demand),
                )
                .default_service(web::to(|| async {
                    error(
                        StatusCode::BAD_REQUEST,
                        "BadRequest",
                        "Invalid request: this test server does not know that resource.",
                    )
                }))
        })
        .workers(2)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        let authority_url = format!("http://127.0.0.1:{port}");
        Self { base_url: format!("{authority_url}/v1.0"), authority_url, state, handle }
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a user with a fresh object id, which it returns.
    pub fn add_user(&self, upn: &str) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        let user =
            User { id: id.clone(), upn: upn.to_owned(), display_name: upn.split('@').next().unwrap_or(upn).to_owned() };
        self.state().users.insert(id.clone(), user);
        id
    }

    pub fn user_id(&self, upn: &str) -> String {
        find_user(&self.state(), upn).map(|u| u.id.clone()).unwrap_or_default()
    }

    pub fn add_group(&self, id: &str, members: &[&str]) {
        let members = members.iter().map(|m| (*m).to_owned()).collect();
        self.state().groups.insert(id.to_owned(), (id.to_owned(), members));
    }

    pub fn is_member(&self, group: &str, user_id: &str) -> bool {
        self.state().groups.get(group).is_some_and(|(_, m)| m.contains(user_id))
    }

    pub fn set_member(&self, group: &str, user_id: &str, member: bool) {
        if let Some((_, m)) = self.state().groups.get_mut(group) {
            if member {
                m.insert(user_id.to_owned());
            } else {
                m.remove(user_id);
            }
        }
    }

    pub fn set_faults(&self, faults: Faults) {
        self.state().faults = faults;
    }

    /// Successful (2xx) calls of `method` whose path contains `fragment`.
    pub fn successful(&self, method: &str, fragment: &str) -> Vec<Call> {
        self.state()
            .calls
            .iter()
            .filter(|c| c.method == method && c.path.contains(fragment) && c.status < 300)
            .cloned()
            .collect()
    }

    /// Forgets every issued token, as a revoked or rotated credential would.
    pub fn revoke_tokens(&self) {
        self.state().tokens.clear();
    }

    /// When the user's membership of the group was really added (`true`) or removed, in order.
    pub fn membership_history(&self, group: &str, user_id: &str) -> Vec<(bool, Instant)> {
        let s = self.state();
        s.changes.iter().filter(|(g, u, _, _)| g == group && u == user_id).map(|(_, _, a, at)| (*a, *at)).collect()
    }

    /// How many calls really added and really removed `user_id` in `group` (a duplicate add or
    /// the removal of a non-member changes nothing and is not counted).
    pub fn membership_changes(&self, group: &str, user_id: &str) -> (usize, usize) {
        let s = self.state();
        let of =
            |added: bool| s.changes.iter().filter(|(g, u, a, _)| g == group && u == user_id && *a == added).count();
        (of(true), of(false))
    }

    pub fn count_status(&self, status: u16) -> usize {
        self.state().calls.iter().filter(|c| c.status == status).count()
    }

    /// Registers a certificate on the app: its public key (PEM) under its `x5t#S256`.
    pub fn trust_certificate(&self, thumbprint: &str, public_key_pem: &str) {
        self.state().certificates.insert(thumbprint.to_owned(), public_key_pem.to_owned());
    }

    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

/// Graph's OData error body.
fn error(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": chrono_like_now(),
                "request-id": uuid::Uuid::new_v4().to_string(),
                "client-request-id": uuid::Uuid::new_v4().to_string(),
            }
        }
    }))
}

fn chrono_like_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    format!("{secs}")
}

fn not_found(id: &str) -> HttpResponse {
    error(
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
        &format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."),
    )
}

type Shared = web::Data<Mutex<State>>;

fn lock(state: &Shared) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// The client-credentials grant, with Entra's errors for a wrong tenant or secret.
async fn token(
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

/// Authentication, injected faults and latency, in the order Graph applies them; records the
/// call. `Err` is the response to send instead of handling the call.
async fn gate(state: &Shared, req: &HttpRequest) -> Result<(), HttpResponse> {
    let latency = lock(state).faults.latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let mut s = lock(state);
    let bearer =
        req.headers().get("Authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let refusal = match bearer {
        None => Some(error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", "Access token is empty.")),
        Some(t) if !s.tokens.contains(t) => Some(error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token validation failure. Invalid audience.",
        )),
        Some(_) => None,
    };
    let refusal = refusal.or_else(|| {
        let f = &s.faults;
        let mut rng = rand::rng();
        if f.outage_until.is_some_and(|t| Instant::now() < t) || rng.random_bool(f.unavailable_share.clamp(0.0, 1.0)) {
            Some(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "serviceNotAvailable",
                "The service is temporarily unavailable. Please retry later.",
            ))
        } else if (!f.throttle_writes_only
            || (req.method() != actix_web::http::Method::GET && req.path().contains("/members/")))
            && rng.random_bool(f.throttle_share.clamp(0.0, 1.0))
        {
            let mut r =
                error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", "Too many requests. Please try again later.");
            let after = f.retry_after.as_deref().unwrap_or("1");
            if let Ok(value) = actix_web::http::header::HeaderValue::from_str(after) {
                r.headers_mut().insert(actix_web::http::header::RETRY_AFTER, value);
            }
            Some(r)
        } else {
            None
        }
    });
    if let Some(r) = refusal {
        record(&mut s, req, r.status().as_u16());
        return Err(r);
    }
    Ok(())
}

fn record(s: &mut State, req: &HttpRequest, status: u16) {
    s.calls.push(Call { method: req.method().to_string(), path: req.path().to_owned(), status, at: Instant::now() });
}

fn done(state: &Shared, req: &HttpRequest, response: HttpResponse) -> HttpResponse {
    record(&mut lock(state), req, response.status().as_u16());
    response
}

fn user_json(u: &User) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.user", "id": u.id, "userPrincipalName": u.upn,
        "displayName": u.display_name, "mail": u.upn,
    })
}

fn find_user<'a>(s: &'a State, key: &str) -> Option<&'a User> {
    s.users.get(key).or_else(|| s.users.values().find(|u| u.upn.eq_ignore_ascii_case(key)))
}

/// One page of `items`, with an absolute `@odata.nextLink` (carrying `$skiptoken`) when more follow.
fn page(req: &HttpRequest, s: &State, items: Vec<Value>) -> HttpResponse {
    let query = web::Query::<BTreeMap<String, String>>::from_query(req.query_string())
        .map(|q| q.into_inner())
        .unwrap_or_default();
    let skip: usize = query.get("$skiptoken").and_then(|t| t.parse().ok()).unwrap_or(0);
    let top: usize = query.get("$top").and_then(|t| t.parse().ok()).unwrap_or(100).min(999);
    let size = top.min(s.page_size).max(1);
    let chunk: Vec<Value> = items.iter().skip(skip).take(size).cloned().collect();
    let mut body =
        json!({ "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#directoryObjects", "value": chunk });
    if skip + size < items.len() {
        let host = req.connection_info().host().to_owned();
        let mut rest: Vec<String> =
            query.iter().filter(|(k, _)| *k != "$skiptoken").map(|(k, v)| format!("{k}={v}")).collect();
        rest.push(format!("$skiptoken={}", skip + size));
        body["@odata.nextLink"] = json!(format!("http://{host}{}?{}", req.path(), rest.join("&")));
    }
    HttpResponse::Ok().json(body)
}

async fn get_user(state: Shared, req: HttpRequest, id: web::Path<String>) -> HttpResponse {
    if let Err(r) = gate(&state, &req).await {
        return r;
    }
    let response = match find_user(&lock(&state), &id) {
        Some(u) => HttpResponse::Ok().json(user_json(u)),
        None => not_found(&id),
    };
    done(&state, &req, response)
}

async fn get_group(state: Shared, req: HttpRequest, id: web::Path<String>) -> HttpResponse {
    if let Err(r) = gate(&state, &req).await {
        return r;
    }
    let response = match lock(&state).groups.get(id.as_str()) {
        Some((name, _)) => {
            HttpResponse::Ok().json(json!({ "@odata.type": "#microsoft.graph.group", "id": *id, "displayName": name }))
        }
        None => not_found(&id),
    };
    done(&state, &req, response)
}

fn groups_containing(s: &State, member: &str) -> Vec<String> {
    s.groups.iter().filter(|(_, (_, m))| m.contains(member)).map(|(g, _)| g.clone()).collect()
}

fn group_json(id: &str) -> Value {
    json!({ "@odata.type": "#microsoft.graph.group", "id": id })
}

async fn member_of(state: Shared, req: HttpRequest, id: web::Path<String>) -> HttpResponse {
    if let Err(r) = gate(&state, &req).await {
        return r;
    }
    let s = lock(&state);
    let response = match find_user(&s, &id) {
        Some(u) => page(&req, &s, groups_containing(&s, &u.id).iter().map(|g| group_json(g)).collect()),
        None => not_found(&id),
    };
    drop(s);
    done(&state, &req, response)
}

async fn transitive_member_of(state: Shared, req: HttpRequest, id: web::Path<String>) -> HttpResponse {
    if let Err(r) = gate(&state, &req).await {
        return r;
    }
    let s = lock(&state);
    let response = match find_user(&s, &id) {
        Some(u) => {
            let mut seen = BTreeSet::new();
            let mut frontier = groups_containing(&s, &u.id);
            while let Some(g) = frontier.pop() {
                if seen.insert(g.clone()) {
                    frontier.extend(groups_containing(&s, &g));
                }
            }
            page(&req, &s, seen.iter().map(|g| group_json(g)).collect())
        }
        None => not_found(&id),
    };
    drop(s);
    done(&state, &req, response)
}

async fn list_members(state: Shared, req: HttpRequest, id: web::Path<String>) -> HttpResponse {
    if let Err(r) = gate(&state, &req).await {
        return r;
    }
    let s = lock(&state);
    let response = match s.groups.get(id.as_str()) {
        Some((_, members)) => {
            let items =
                members.iter().map(|m| s.users.get(m).map(user_json).unwrap_or_else(|| group_json(m))).collect();
            page(&req, &s, items)
        }
        None => not_found(&id),
    };
    drop(s);
    done(&state, &req, response)
}

async fn add_member(
    state: Shared,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (group, reference) = path.into_inner();
    if let Err(r) = gate(&state, &req).await {
        return r;
    }
    let late = lock(&state).faults.late_add;
    if !late.is_zero() {
        tokio::time::sleep(late).await;
    }
    if reference != "$ref" {
        return done(&state, &req, error(StatusCode::BAD_REQUEST, "BadRequest", "Unsupported segment type."));
    }
    let odata_id = serde_json::from_slice::<Value>(&body).ok().and_then(|v| v["@odata.id"].as_str().map(str::to_owned));
    let Some(member) =
        odata_id.as_deref().and_then(|u| u.rsplit_once("/directoryObjects/")).map(|(_, id)| id.to_owned())
    else {
        let r = error(StatusCode::BAD_REQUEST, "Request_BadRequest", "Invalid object identifier ''.");
        return done(&state, &req, r);
    };
    let (response, slow) = {
        let mut guard = lock(&state);
        let s = &mut *guard;
        let response = if !s.users.contains_key(&member) {
            not_found(&member)
        } else {
            match s.groups.get_mut(&group) {
                None => not_found(&group),
                Some((_, members)) if members.contains(&member) => error(
                    StatusCode::BAD_REQUEST,
                    "Request_BadRequest",
                    "One or more added object references already exist for the following modified properties: 'members'.",
                ),
                Some((_, members)) => {
                    members.insert(member.clone());
                    s.changes.push((group.clone(), member, true, Instant::now()));
                    HttpResponse::NoContent().finish()
                }
            }
        };
        (response, s.faults.slow_add_answer)
    };
    if !slow.is_zero() {
        tokio::time::sleep(slow).await;
    }
    done(&state, &req, response)
}

async fn remove_member(state: Shared, req: HttpRequest, path: web::Path<(String, String, String)>) -> HttpResponse {
    let (group, member, reference) = path.into_inner();
    if let Err(r) = gate(&state, &req).await {
        return r;
    }
    if reference != "$ref" {
        return done(&state, &req, error(StatusCode::BAD_REQUEST, "BadRequest", "Unsupported segment type."));
    }
    let mut guard = lock(&state);
    let s = &mut *guard;
    let response = match s.groups.get_mut(&group) {
        None => not_found(&group),
        Some((_, members)) => {
            if members.remove(&member) {
                s.changes.push((group.clone(), member.clone(), false, Instant::now()));
                HttpResponse::NoContent().finish()
            } else {
                // Graph answers a non-member with 404 naming the member.
                not_found(&member)
            }
        }
    };
    drop(guard);
    done(&state, &req, response)
}

/// `provisionOnDemand`: one group with its member, at most 5 calls per 10 s per app.
async fn provision_on_demand(
    state: Shared,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (sp, job) = path.into_inner();
    if let Err(r) = gate(&state, &req).await {
        return r;
    }
    let mut s = lock(&state);
    let now = Instant::now();
    s.provisioning_calls.retain(|t| now.duration_since(*t) < Duration::from_secs(10));
    let response = if sp != PROVISIONING_SP || job != PROVISIONING_JOB {
        not_found(if sp != PROVISIONING_SP { &sp } else { &job })
    } else if s.provisioning_forbidden {
        error(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )
    } else if s.provisioning_calls.len() >= 5 {
        let mut r =
            error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", "Too many requests. Please try again later.");
        r.headers_mut()
            .insert(actix_web::http::header::RETRY_AFTER, actix_web::http::header::HeaderValue::from_static("2"));
        r
    } else {
        let v: Value = serde_json::from_slice(&body).unwrap_or_default();
        let p = &v["parameters"][0];
        let subject = &p["subjects"][0];
        let member = &subject["links"]["members"][0];
        let group = subject["objectId"].as_str().unwrap_or_default().to_owned();
        let user = member["objectId"].as_str().unwrap_or_default().to_owned();
        if p["ruleId"] != PROVISIONING_RULE
            || subject["objectTypeName"] != "Group"
            || member["objectTypeName"] != "User"
        {
            error(StatusCode::BAD_REQUEST, "BadRequest", "The provisionOnDemand parameters are not valid.")
        } else if !s.groups.contains_key(&group) || !s.users.contains_key(&user) {
            not_found(if s.groups.contains_key(&group) { &user } else { &group })
        } else {
            s.provisioning_calls.push(now);
            s.provisioned.push((group, user));
            HttpResponse::Ok().json(json!({
                "@odata.type": "#microsoft.graph.stringKeyStringValuePair",
                "key": "ProvisioningResult", "value": "Success",
            }))
        }
    };
    record(&mut s, &req, response.status().as_u16());
    response
}
