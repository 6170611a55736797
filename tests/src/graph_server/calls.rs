//! The Graph v1.0 calls Elevate makes: users, groups, memberships, paging, and the
//! provisioning push; each passes the gate (authentication, faults, latency) first.
use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use actix_web::{HttpMessage, HttpRequest, HttpResponse, http::StatusCode, web};
use rand::Rng;
use serde_json::{Value, json};

use super::{
    Call, PROVISIONING_JOB, PROVISIONING_RULE, PROVISIONING_SP, Shared, State, User, error, find_user, lock, not_found,
};

/// Waits `latency`, to the tenth of a millisecond: tokio's timer rounds up to the next
/// millisecond and wakes late (a 50 ms sleep took 51.1 ms on average on the 2-core bench
/// machine, 2 % more latency than asked for), so it sleeps all but the last 2 ms and a
/// thread's sleep, which is precise, waits the rest.
async fn wait(latency: Duration) {
    let deadline = Instant::now() + latency;
    if let Some(coarse) = latency.checked_sub(Duration::from_millis(2)) {
        tokio::time::sleep(coarse).await;
    }
    let rest = deadline.saturating_duration_since(Instant::now());
    if !rest.is_zero() {
        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(rest)).await;
    }
}

/// Authentication, injected faults and latency, in the order Graph applies them; records the
/// call. `Err` is the response to send instead of handling the call.
async fn gate(state: &Shared, req: &HttpRequest) -> Result<(), HttpResponse> {
    // A request inside a `$batch` waited with its batch.
    let latency = if req.headers().contains_key(IN_BATCH) { Duration::ZERO } else { lock(state).faults.latency };
    wait(latency).await;
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
    let refusal = refusal.or_else(|| write_quota(&mut s, req));
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

/// Takes a write's token from the quota's bucket (see `WriteQuota`): `Some` 429 when none is
/// left for it.
fn write_quota(s: &mut State, req: &HttpRequest) -> Option<HttpResponse> {
    let quota = s.faults.write_quota?;
    // A `$batch` costs what the requests it carries cost, each taken when it runs.
    if req.method() == actix_web::http::Method::GET || req.path().ends_with("/$batch") {
        return None;
    }
    let capacity = f64::from(quota.writes);
    let rate = capacity / quota.per.as_secs_f64();
    let now = Instant::now();
    let (tokens, at) = s.write_bucket.unwrap_or((capacity, now));
    let tokens = (tokens + now.duration_since(at).as_secs_f64() * rate).min(capacity);
    let high = req.headers().get("x-ms-throttle-priority").and_then(|v| v.to_str().ok()) == Some("high");
    let needed = if high { 1.0 } else { 1.0 + capacity / 10.0 };
    if tokens >= needed {
        let left = tokens - 1.0;
        s.write_bucket = Some((left, now));
        let used = (capacity - left) / capacity;
        if used > 0.8 {
            req.extensions_mut().insert(LimitPercentage(used));
        }
        return None;
    }
    s.write_bucket = Some((tokens, now));
    let wait = ((needed - tokens) / rate).ceil().max(1.0);
    let mut r = error(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
        "Too many requests. The write quota of this application in this tenant is used up.",
    );
    let headers = r.headers_mut();
    let scope = format!("Tenant_Application/Write/{}/{}", super::CLIENT_ID, super::TENANT);
    for (name, value) in [
        ("retry-after", format!("{wait:.0}")),
        ("x-ms-throttle-scope", scope),
        ("x-ms-throttle-information", "WriteLimitExceeded".to_owned()),
    ] {
        if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&value) {
            headers.insert(actix_web::http::header::HeaderName::from_static(name), value);
        }
    }
    Some(r)
}

/// How much of the write quota is used, past 0.8: answered as `x-ms-throttle-limit-percentage`.
#[derive(Clone, Copy)]
struct LimitPercentage(f64);

fn record(s: &mut State, req: &HttpRequest, status: u16) {
    s.calls.push(Call { method: req.method().to_string(), path: req.path().to_owned(), status, at: Instant::now() });
}

fn done(state: &Shared, req: &HttpRequest, mut response: HttpResponse) -> HttpResponse {
    record(&mut lock(state), req, response.status().as_u16());
    let used = req.extensions().get::<LimitPercentage>().copied();
    if let Some(LimitPercentage(used)) = used
        && let Ok(value) = actix_web::http::header::HeaderValue::from_str(&format!("{used:.2}"))
    {
        response
            .headers_mut()
            .insert(actix_web::http::header::HeaderName::from_static("x-ms-throttle-limit-percentage"), value);
    }
    response
}

fn user_json(u: &User) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.user", "id": u.id, "userPrincipalName": u.upn,
        "displayName": u.display_name, "mail": u.upn,
    })
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

pub(super) async fn get_user(state: Shared, req: HttpRequest, id: web::Path<String>) -> HttpResponse {
    if let Err(r) = gate(&state, &req).await {
        return r;
    }
    let response = match find_user(&lock(&state), &id) {
        Some(u) => HttpResponse::Ok().json(user_json(u)),
        None => not_found(&id),
    };
    done(&state, &req, response)
}

pub(super) async fn get_group(state: Shared, req: HttpRequest, id: web::Path<String>) -> HttpResponse {
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

pub(super) async fn member_of(state: Shared, req: HttpRequest, id: web::Path<String>) -> HttpResponse {
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

pub(super) async fn transitive_member_of(state: Shared, req: HttpRequest, id: web::Path<String>) -> HttpResponse {
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

/// `GET /users?$filter=mail eq '…'`: the users with that mail (compared without case, as
/// Graph does), paged; any other filter is refused as Graph refuses an unsupported query.
pub(super) async fn list_users(state: Shared, req: HttpRequest) -> HttpResponse {
    if let Err(r) = gate(&state, &req).await {
        return r;
    }
    let query = web::Query::<BTreeMap<String, String>>::from_query(req.query_string()).map(|q| q.into_inner());
    let filter = query.unwrap_or_default().remove("$filter").unwrap_or_default();
    // `mail eq 'x'`, optionally `or userPrincipalName eq 'x'` (this server's users have their
    // UPN as mail).
    let mail_clause = filter.split(" or userPrincipalName eq ").next().unwrap_or_default();
    let Some(mail) = mail_clause.strip_prefix("mail eq '").and_then(|rest| rest.strip_suffix('\'')) else {
        let message = "Unsupported or invalid query filter clause specified for property 'mail' of resource 'User'.";
        let r = error(StatusCode::BAD_REQUEST, "Request_UnsupportedQuery", message);
        return done(&state, &req, r);
    };
    let mail = mail.replace("''", "'");
    let s = lock(&state);
    let items = s.users.values().filter(|u| u.upn.eq_ignore_ascii_case(&mail)).map(user_json).collect();
    let response = page(&req, &s, items);
    drop(s);
    done(&state, &req, response)
}

pub(super) async fn list_members(state: Shared, req: HttpRequest, id: web::Path<String>) -> HttpResponse {
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

pub(super) async fn add_member(
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

pub(super) async fn remove_member(
    state: Shared,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> HttpResponse {
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
pub(super) async fn provision_on_demand(
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

/// Marks a request that a `$batch` of this server sends on to itself.
pub(super) const IN_BATCH: &str = "x-test-in-batch";

/// The most requests one `$batch` may carry.
const BATCH_LIMIT: usize = 20;

/// JSON batching, `POST /$batch`: up to 20 requests (`id`, `method`, a `url` relative to the
/// version, optional `headers` and `body`), each answered as if sent alone — authenticated,
/// throttled and counted against the write quota on its own — and side by side, since none
/// names `dependsOn`; the batch is answered 200 with one response per request (`id`,
/// `status`, `headers`, `body`). A malformed batch, more than 20 requests or a repeated `id`
/// is refused with 400 as a whole.
pub(super) async fn batch(state: Shared, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    if let Err(r) = gate(&state, &req).await {
        return r;
    }
    let bad = |message: &str| error(StatusCode::BAD_REQUEST, "BadRequest", message);
    let parsed: Value = serde_json::from_slice(&body).unwrap_or_default();
    let Some(requests) = parsed["requests"].as_array() else {
        return done(&state, &req, bad("Invalid batch payload format."));
    };
    if requests.len() > BATCH_LIMIT {
        return done(&state, &req, bad("Number of requests in a batch cannot exceed 20."));
    }
    let mut ids = BTreeSet::new();
    for r in requests {
        let well_formed = r["id"].as_str().is_some_and(|id| ids.insert(id.to_owned()))
            && r["method"].as_str().is_some()
            && r["url"].as_str().is_some_and(|u| u.starts_with('/'));
        if !well_formed {
            return done(
                &state,
                &req,
                bad("Invalid batch payload format: each request needs a unique id, a method and a relative url."),
            );
        }
    }
    let (base, http) = {
        let mut s = lock(&state);
        s.batches += 1;
        s.batched_requests += requests.len();
        (s.base_url.clone(), s.http.clone())
    };
    let authorization = req.headers().get("Authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let answers = requests.iter().map(|r| {
        let (http, base, authorization) = (http.clone(), base.clone(), authorization.clone());
        async move {
            let id = r["id"].clone();
            let method = reqwest::Method::from_bytes(r["method"].as_str().unwrap_or("GET").as_bytes()).unwrap_or(reqwest::Method::GET);
            let mut call = http
                .request(method, format!("{base}{}", r["url"].as_str().unwrap_or_default()))
                .header("Authorization", authorization)
                .header(IN_BATCH, "1");
            if let Some(headers) = r["headers"].as_object() {
                for (name, value) in headers {
                    call = call.header(name.as_str(), value.as_str().unwrap_or_default());
                }
            }
            if !r["body"].is_null() {
                call = call.header("Content-Type", "application/json").body(r["body"].to_string());
            }
            match call.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let headers: serde_json::Map<String, Value> = response
                        .headers()
                        .iter()
                        .filter(|(name, _)| {
                            let name = name.as_str();
                            name == "retry-after" || name == "content-type" || name.starts_with("x-ms-")
                        })
                        .map(|(name, value)| (name.as_str().to_owned(), json!(value.to_str().unwrap_or_default())))
                        .collect();
                    let body: Value = response.json().await.unwrap_or(Value::Null);
                    let mut answer = json!({ "id": id, "status": status, "headers": headers });
                    if !body.is_null() {
                        answer["body"] = body;
                    }
                    answer
                }
                Err(e) => json!({ "id": id, "status": 500, "body": { "error": { "code": "InternalServerError", "message": e.to_string() } } }),
            }
        }
    });
    let responses = futures_util::future::join_all(answers).await;
    done(&state, &req, HttpResponse::Ok().json(json!({ "responses": responses })))
}
