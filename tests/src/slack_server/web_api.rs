//! The Web API methods, one handler for `/api/{method}`, in the order Slack answers: an outage
//! (503), an unknown method (before the token is looked at), the arguments, the token, a rate
//! limit (429), then the method itself.
use actix_web::{HttpRequest, HttpResponse, http::header, web};
use serde_json::{Map, Value, json};

use super::{
    BOT_ID, BOT_USER_ID, BOT_USER_NAME, Posted, SLACK_BOT_TOKEN, Shared, State, TEAM_DOMAIN, TEAM_ID, TEAM_NAME, User,
    lock, message_json, new_id, next_ts, parse_blocks,
};

/// The methods served, and whether each takes a JSON body ("json_input_supported" in Slack's
/// method reference); the others read only the query string and a form body.
const METHODS: &[(&str, bool)] = &[
    ("auth.test", true),
    ("users.lookupByEmail", false),
    ("users.info", false),
    ("conversations.open", true),
    ("chat.postMessage", true),
    ("chat.update", true),
];

type Args = Map<String, Value>;

pub(super) async fn call(state: Shared, req: HttpRequest, method: web::Path<String>, body: web::Bytes) -> HttpResponse {
    let method = method.into_inner();
    let mut s = lock(&state);
    s.calls.push(method.clone());
    if s.outage {
        return HttpResponse::ServiceUnavailable().json(json!({ "ok": false, "error": "service_unavailable" }));
    }
    let Some(&(_, json_body)) = METHODS.iter().find(|(name, _)| *name == method) else {
        // Slack names the method it does not know, token or not.
        return HttpResponse::Ok().json(json!({ "ok": false, "error": "unknown_method", "req_method": method }));
    };
    let (args, body_token) = match arguments(&req, &body, json_body) {
        Ok(parsed) => parsed,
        Err(code) => return error(code),
    };
    // "Tokens should be passed as an HTTP Authorization header or alternatively, as a POST
    // parameter" (never in a JSON body, nor any more in the query string).
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned());
    match bearer.or(body_token) {
        None => return error("not_authed"),
        Some(token) if token != SLACK_BOT_TOKEN => return error("invalid_auth"),
        Some(_) => {}
    }
    // Limits are per app and workspace, so only calls Slack can attribute are throttled.
    if s.throttle_next > 0 {
        s.throttle_next -= 1;
        s.throttled += 1;
        return HttpResponse::TooManyRequests()
            .insert_header((header::RETRY_AFTER, "1"))
            .json(json!({ "ok": false, "error": "ratelimited" }));
    }
    let mut answer = match method.as_str() {
        "auth.test" => ok(json!({
            "url": format!("https://{TEAM_DOMAIN}.slack.com/"), "team": TEAM_NAME, "user": BOT_USER_NAME,
            "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": BOT_ID, "is_enterprise_install": false,
        })),
        "users.lookupByEmail" => lookup_by_email(&s, &args),
        "users.info" => users_info(&s, &args),
        "conversations.open" => conversations_open(&mut s, &args),
        "chat.postMessage" => post_message(&mut s, &args),
        _ => update(&mut s, &args),
    };
    // Every answer to a token names the scopes it was granted.
    if let Ok(scopes) = header::HeaderValue::from_str(&s.scopes.join(",")) {
        answer.headers_mut().insert(header::HeaderName::from_static("x-oauth-scopes"), scopes);
    }
    answer
}

/// Slack's answers: HTTP 200 either way, `ok` saying which.
fn ok(mut body: Value) -> HttpResponse {
    body["ok"] = json!(true);
    HttpResponse::Ok().json(body)
}

fn error(code: &str) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "ok": false, "error": code }))
}

fn missing(field: &str) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "ok": false, "error": "invalid_arguments",
        "response_metadata": { "messages": [format!("[ERROR] missing required field: {field}")] },
    }))
}

/// The query string's arguments and the body's (which win), and a form body's `token`. A JSON
/// body sent to a method that takes none is not read: its arguments are simply missing.
fn arguments(req: &HttpRequest, body: &[u8], json_body: bool) -> Result<(Args, Option<String>), &'static str> {
    let mut args = form(req.query_string().as_bytes())?;
    args.remove("token");
    if body.is_empty() {
        return Ok((args, None));
    }
    let content_type =
        req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    let mut token = None;
    if content_type.starts_with("application/json") {
        if json_body {
            let Value::Object(fields) = serde_json::from_slice::<Value>(body).map_err(|_| "invalid_json")? else {
                return Err("json_not_object");
            };
            args.extend(fields);
        }
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        let mut fields = form(body)?;
        token = fields.remove("token").and_then(|t| t.as_str().map(str::to_owned));
        args.extend(fields);
    } else {
        // Slack also reads multipart/form-data, which Elevate does not send.
        return Err("invalid_post_type");
    }
    Ok((args, token))
}

fn form(bytes: &[u8]) -> Result<Args, &'static str> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(bytes).map_err(|_| "invalid_form_data")?;
    Ok(pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect())
}

/// An argument as text (JSON bodies may carry numbers and booleans).
fn arg(args: &Args, name: &str) -> Option<String> {
    match args.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The user object of `users.info` and `users.lookupByEmail`.
fn user_json(u: &User) -> Value {
    json!({
        "id": u.id, "team_id": TEAM_ID, "name": u.name, "deleted": u.deleted, "real_name": u.name,
        "tz": "Etc/UTC", "tz_label": "Coordinated Universal Time", "tz_offset": 0,
        "profile": {
            "real_name": u.name, "real_name_normalized": u.name, "display_name": u.name,
            "display_name_normalized": u.name, "email": u.email, "team": TEAM_ID,
        },
        "is_admin": false, "is_owner": false, "is_primary_owner": false, "is_restricted": false,
        "is_ultra_restricted": false, "is_bot": false, "is_app_user": false,
        "is_email_confirmed": u.email_confirmed, "has_2fa": false,
    })
}

fn lookup_by_email(s: &State, args: &Args) -> HttpResponse {
    let Some(email) = arg(args, "email") else {
        return missing("email");
    };
    match s.users.iter().find(|u| u.email.eq_ignore_ascii_case(email.trim())) {
        Some(u) => ok(json!({ "user": user_json(u) })),
        None => error("users_not_found"),
    }
}

fn users_info(s: &State, args: &Args) -> HttpResponse {
    let Some(id) = arg(args, "user") else {
        return missing("user");
    };
    match s.users.iter().find(|u| u.id == id) {
        Some(u) => ok(json!({ "user": user_json(u) })),
        None => error("user_not_found"),
    }
}

/// Opens (or finds again) the direct conversation with `users` (comma separated; one user for
/// a 1:1 DM), or resumes one by its `channel` id.
fn conversations_open(s: &mut State, args: &Args) -> HttpResponse {
    let users: Vec<String> = arg(args, "users")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
        .collect();
    if users.is_empty() {
        return match arg(args, "channel") {
            Some(id) if s.dms.values().any(|d| *d == id) => {
                ok(json!({ "channel": { "id": id }, "no_op": true, "already_open": true }))
            }
            Some(_) => error("channel_not_found"),
            None => error("users_list_not_supplied"),
        };
    }
    if users.len() > 8 {
        return error("too_many_users");
    }
    for id in &users {
        match s.users.iter().find(|u| u.id == *id) {
            None => return error("user_not_found"),
            Some(u) if u.deleted => return error("user_disabled"),
            Some(_) => {}
        }
    }
    let mut members = users;
    members.sort();
    members.dedup();
    let key = members.join(",");
    if let Some(id) = s.dms.get(&key) {
        // Slack's warnings for a conversation that was open already.
        return ok(json!({ "channel": { "id": id }, "no_op": true, "already_open": true }));
    }
    let id = new_id(if members.len() == 1 { 'D' } else { 'G' });
    s.dms.insert(key, id.clone());
    ok(json!({ "channel": { "id": id } }))
}

/// Where the bot may post: a conversation it opened, or a channel it is a member of.
fn known_channel(s: &State, id: &str) -> bool {
    s.channels.contains(id) || s.dms.values().any(|d| d == id)
}

/// The channel, blocks and text of `chat.postMessage` or `chat.update`; else Slack's error.
fn message_args(s: &State, args: &Args) -> Result<(String, Option<Value>, Option<String>), &'static str> {
    let channel = arg(args, "channel").filter(|c| known_channel(s, c)).ok_or("channel_not_found")?;
    let blocks = parse_blocks(args.get("blocks"))?;
    Ok((channel, blocks, arg(args, "text").filter(|t| !t.is_empty())))
}

fn post_message(s: &mut State, args: &Args) -> HttpResponse {
    let (channel, blocks, text) = match message_args(s, args) {
        Ok(parsed) => parsed,
        Err(code) => return error(code),
    };
    if text.is_none() && blocks.as_ref().and_then(Value::as_array).is_none_or(|b| b.is_empty()) {
        return error("no_text");
    }
    let ts = next_ts(s);
    let posted =
        Posted { channel, ts, text: text.unwrap_or_default(), blocks: blocks.unwrap_or_else(|| json!([])), updates: 0 };
    let answer = json!({ "channel": posted.channel, "ts": posted.ts, "message": message_json(&posted) });
    s.messages.push(posted);
    ok(answer)
}

/// `chat.update`: what is not given stays as it was (an empty `blocks` array removes the blocks).
fn update(s: &mut State, args: &Args) -> HttpResponse {
    let (channel, blocks, text) = match message_args(s, args) {
        Ok(parsed) => parsed,
        Err(code) => return error(code),
    };
    if text.is_none() && blocks.is_none() {
        return error("no_text");
    }
    let ts = arg(args, "ts").unwrap_or_default();
    let Some(message) = s.messages.iter_mut().find(|m| m.channel == channel && m.ts == ts) else {
        return error("message_not_found");
    };
    if let Some(text) = text {
        message.text = text;
    }
    if let Some(blocks) = blocks {
        message.blocks = blocks;
    }
    message.updates += 1;
    ok(json!({ "channel": channel, "ts": ts, "text": message.text, "message": message_json(message) }))
}
