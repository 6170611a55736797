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

use actix_web::{App, HttpResponse, HttpServer, dev::ServerHandle, http::StatusCode, web};
use serde_json::json;

mod calls;
mod token;

use calls::{
    add_member, batch, get_group, get_user, list_members, list_users, member_of, provision_on_demand, remove_member,
    transitive_member_of,
};
use token::token;

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
    /// Graph's write quota per app and tenant, enforced as Graph does (a token bucket).
    pub write_quota: Option<WriteQuota>,
}

/// Graph's identity-and-access write quota for one application+tenant pair ("3,000 requests
/// per 2 minutes and 30 seconds", Microsoft Graph service-specific throttling limits): a token
/// bucket of `writes` tokens, refilled evenly over `per`. Every POST, PATCH, PUT and DELETE
/// (inside a `$batch` too) takes one. An empty bucket answers 429 with `Retry-After`,
/// `x-ms-throttle-scope` and `x-ms-throttle-information`; past 0.8 of the quota answers carry
/// `x-ms-throttle-limit-percentage`. Normal-priority writes are refused while a tenth of the
/// bucket is left, which only `x-ms-throttle-priority: high` writes may take ("low priority
/// requests will be throttled first, normal priority requests second, and high priority
/// requests last").
#[derive(Debug, Clone, Copy)]
pub struct WriteQuota {
    pub writes: u32,
    pub per: Duration,
}

impl WriteQuota {
    /// The documented quota.
    pub const GRAPH: Self = Self { writes: 3000, per: Duration::from_secs(150) };
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
    /// The write quota's bucket: tokens left, as of when.
    write_bucket: Option<(f64, Instant)>,
    /// `$batch` requests answered, and the requests they carried.
    pub batches: usize,
    pub batched_requests: usize,
    /// This server's Graph base URL, where a `$batch` sends the requests it carries.
    base_url: String,
    http: reqwest::Client,
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
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(Mutex::new(State {
            page_size: 100,
            token_lifetime_secs: 3599,
            base_url: format!("http://127.0.0.1:{port}/v1.0"),
            ..Default::default()
        }));
        let data = web::Data::from(state.clone());
        let counter = state.clone();
        let server = HttpServer::new(move || {
            let counter = counter.clone();
            App::new()
                .app_data(data.clone())
                .wrap_fn(move |req, srv| {
                    let counter = counter.clone();
                    // What a `$batch` carries is Graph's own work, not a call of the client's.
                    let graph_call = req.path().starts_with("/v1.0/") && !req.headers().contains_key(calls::IN_BATCH);
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
                .route("/v1.0/$batch", web::post().to(batch))
                .route("/v1.0/users", web::get().to(list_users))
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

    /// Sets the faults; a write quota starts with a full bucket.
    pub fn set_faults(&self, faults: Faults) {
        let mut s = self.state();
        s.write_bucket = None;
        s.faults = faults;
    }

    /// Empties the write quota's bucket, as another application writing to the tenant would.
    pub fn spend_write_quota(&self) {
        self.state().write_bucket = Some((0.0, Instant::now()));
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

fn find_user<'a>(s: &'a State, key: &str) -> Option<&'a User> {
    s.users.get(key).or_else(|| s.users.values().find(|u| u.upn.eq_ignore_ascii_case(key)))
}
