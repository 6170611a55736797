//! The Bot Connector's conversations API under the service URL (`{url}/teams/`), answered as
//! Teams answers a bot: its status codes and `{"error":{"code","message"}}` bodies.
use actix_web::{
    HttpRequest, HttpResponse,
    http::{StatusCode, header},
    web,
};
use serde_json::{Value, json};

use super::{BOT_APP_ID, Posted, Shared, State, lock, random_text};
use crate::graph_server::TENANT;

/// The connector's `ErrorResponse`.
fn error(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": { "code": code, "message": message } }))
}

fn bad_argument(message: &str) -> HttpResponse {
    error(StatusCode::BAD_REQUEST, "BadArgument", message)
}

fn conversation_not_found() -> HttpResponse {
    error(StatusCode::NOT_FOUND, "ConversationNotFound", "Conversation not found.")
}

/// What every call meets first: an outage, then the bot's token, then throttling.
fn gate(s: &mut State, req: &HttpRequest) -> Option<HttpResponse> {
    if s.outage {
        return Some(error(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", "The service is unavailable."));
    }
    let bearer =
        req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if !bearer.is_some_and(|token| s.tokens.contains(token)) {
        // ASP.NET's refusal, not an ErrorResponse: it comes before the connector's own code.
        return Some(
            HttpResponse::Unauthorized().json(json!({ "message": "Authorization has been denied for this request." })),
        );
    }
    if s.throttle_next > 0 {
        s.throttle_next -= 1;
        s.throttled += 1;
        let mut refused = error(StatusCode::TOO_MANY_REQUESTS, "Throttled", "Too many requests.");
        refused.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        return Some(refused);
    }
    None
}

/// An activity as the connector takes it: a JSON object with a `type`; else why not.
fn activity(body: &[u8]) -> Result<Value, String> {
    match serde_json::from_slice::<Value>(body) {
        Ok(activity) if activity["type"].is_string() => Ok(activity),
        Ok(_) => Err("Activity must have a type.".to_owned()),
        Err(e) => Err(format!("The request body is not valid JSON: {e}")),
    }
}

/// Appends an activity to a conversation; its id is a millisecond timestamp, as Teams' are.
fn append(s: &mut State, conversation: &str, activity: Value) -> String {
    let now = chrono::Utc::now().timestamp_millis();
    s.last_activity_id = now.max(s.last_activity_id + 1);
    let id = s.last_activity_id.to_string();
    s.posted.push(Posted { conversation: conversation.to_owned(), id: id.clone(), activity, updates: 0 });
    id
}

/// `POST /v3/conversations`: the personal conversation with one user, named by object id (or
/// by the `29:` id Teams gave them), created once and reused; 403 unless the app is installed
/// for them.
pub(super) async fn create_conversation(state: Shared, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let mut s = lock(&state);
    if let Some(refused) = gate(&mut s, &req) {
        return refused;
    }
    let Ok(params) = serde_json::from_slice::<Value>(&body) else {
        return bad_argument("The request body is not a valid ConversationParameters object.");
    };
    if params["isGroup"].as_bool() == Some(true) {
        return bad_argument("A bot cannot create a group conversation.");
    }
    let members = params["members"].as_array().map(Vec::as_slice).unwrap_or_default();
    let [member] = members else {
        return bad_argument("A personal conversation has exactly one member.");
    };
    let Some(member_id) = member["id"].as_str() else {
        return bad_argument("The member has no id.");
    };
    let tenant = params["channelData"]["tenant"]["id"].as_str().or(params["tenantId"].as_str());
    if tenant != Some(TENANT) {
        return bad_argument(&format!("The tenant {tenant:?} is not the bot's tenant."));
    }
    let bot = params["bot"]["id"].as_str().unwrap_or(BOT_APP_ID);
    if bot != BOT_APP_ID && bot != format!("28:{BOT_APP_ID}") {
        return bad_argument(&format!("The bot id {bot} is not this bot's."));
    }
    // An initial activity is sent with the conversation's creation.
    let initial = match &params["activity"] {
        Value::Null => None,
        given if given["type"].is_string() => Some(given.clone()),
        _ => return bad_argument("Activity must have a type."),
    };
    let user = s.teams_ids.iter().find(|(_, id)| *id == member_id).map_or(member_id.to_owned(), |(aad, _)| aad.clone());
    if !s.installed.contains(&user) {
        // What Teams answers for an object id whose user has not installed the app.
        return error(StatusCode::FORBIDDEN, "BadArgument", "Bot is not installed in user's personal scope");
    }
    let id = match s.conversation_of(&user) {
        Some(id) => id,
        None => {
            let id = format!("a:{}", random_text(3));
            s.conversations.insert(id.clone(), Some(user));
            id
        }
    };
    let mut answer = json!({ "id": id });
    if let Some(initial) = initial {
        answer["activityId"] = json!(append(&mut s, &id, initial));
    }
    HttpResponse::Created().json(answer)
}

/// `POST /v3/conversations/{conversationId}/activities`.
pub(super) async fn send_to_conversation(
    state: Shared,
    req: HttpRequest,
    conversation: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    send(&mut lock(&state), &req, &conversation, &body)
}

/// `POST /v3/conversations/{conversationId}/activities/{activityId}`: a personal chat has no
/// threads, so a reply is sent like any message.
pub(super) async fn reply_to_activity(
    state: Shared,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    send(&mut lock(&state), &req, &path.0, &body)
}

fn send(s: &mut State, req: &HttpRequest, conversation: &str, body: &[u8]) -> HttpResponse {
    if let Some(refused) = gate(s, req) {
        return refused;
    }
    if !s.conversations.contains_key(conversation) {
        return conversation_not_found();
    }
    match activity(body) {
        Ok(activity) => HttpResponse::Created().json(json!({ "id": append(s, conversation, activity) })),
        Err(why) => bad_argument(&why),
    }
}

/// `PUT /v3/conversations/{conversationId}/activities/{activityId}`: replaces the activity.
pub(super) async fn update_activity(
    state: Shared,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (conversation, activity_id) = path.into_inner();
    let mut s = lock(&state);
    if let Some(refused) = gate(&mut s, &req) {
        return refused;
    }
    if !s.conversations.contains_key(&conversation) {
        return conversation_not_found();
    }
    let content = match activity(&body) {
        Ok(content) => content,
        Err(why) => return bad_argument(&why),
    };
    let Some(posted) = s.posted.iter_mut().find(|p| p.conversation == conversation && p.id == activity_id) else {
        // Teams' documented message for this code, odd as it reads.
        return error(StatusCode::NOT_FOUND, "ActivityNotFoundInConversation", "Conversation not found.");
    };
    posted.activity = content;
    posted.updates += 1;
    HttpResponse::Ok().json(json!({ "id": activity_id }))
}
