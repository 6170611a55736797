//! The endpoints the chat apps call: `POST /api/v1/teams/messages` (the bot's messaging
//! endpoint: Bot Framework activities) and `POST /api/v1/slack/interactions` (the Slack app's
//! interactivity request URL). Neither takes Elevate's tokens: each is authenticated as its
//! service prescribes, then a press of Approve or Deny is decided by the chat workflow.
use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, problem::ApiError};
use crate::{
    domain::ChatApp,
    workflows::{
        WorkflowError,
        chat_decision::{self, PressResult, Presser},
    },
};

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Activity {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    service_url: String,
    channel_id: String,
    from: Account,
    conversation: Conversation,
    channel_data: Value,
    value: Value,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Account {
    id: String,
    aad_object_id: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Conversation {
    tenant_id: Option<String>,
}

/// A Bot Framework activity. Only `adaptiveCard/action` invokes (a press of Approve or Deny)
/// do something; everything else authenticated is acknowledged.
#[post("/teams/messages")]
pub(super) async fn teams_messages(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let activity: Activity = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad("activity", format!("not a Bot Framework activity: {e}")))?;
    let authorization = req.headers().get("Authorization").and_then(|h| h.to_str().ok());
    let tenant = activity.conversation.tenant_id.as_deref().or_else(|| activity.channel_data["tenant"]["id"].as_str());
    let broker = &state.broker;
    chat_decision::accept_teams(broker, authorization, &activity.channel_id, &activity.service_url, tenant).await?;
    if activity.kind != "invoke" || activity.name != "adaptiveCard/action" {
        return Ok(HttpResponse::Ok().finish());
    }
    let action = &activity.value["action"];
    let approve = match action["verb"].as_str() {
        Some("approve") => true,
        Some("deny") => false,
        _ => return Ok(invoke_message("Elevate does not know this button.")),
    };
    let card = match chat_decision::card_action(&action["data"]) {
        Ok(card) => card,
        Err(e) => return Ok(invoke_message(&format!("Not decided: {e}"))),
    };
    let Some(object_id) = activity.from.aad_object_id.as_deref() else {
        return Ok(invoke_message("Not decided: Teams did not say who you are in Entra ID."));
    };
    let presser = Presser::Teams { chat_user: &activity.from.id, object_id };
    let result = chat_decision::press(broker, presser, &card, approve).await;
    Ok(invoke_answer(result))
}

/// The invoke response Teams shows: the refreshed card (with why nothing was decided, if so),
/// or a message when there is no card to show.
fn invoke_answer(result: PressResult) -> HttpResponse {
    let refusal = result.outcome.err().map(|e| format!("Not decided: {}", refusal_text(e)));
    match result.card {
        Some(card) => {
            let card = card.with_status(refusal).render(ChatApp::Teams);
            HttpResponse::Ok().json(json!({
                "statusCode": 200, "type": "application/vnd.microsoft.card.adaptive", "value": card.body,
            }))
        }
        None => invoke_message(refusal.as_deref().unwrap_or("Done.")),
    }
}

fn invoke_message(text: &str) -> HttpResponse {
    HttpResponse::Ok()
        .json(json!({ "statusCode": 200, "type": "application/vnd.microsoft.activity.message", "value": text }))
}

/// What the presser is told about a refusal (internal detail stays in the log).
fn refusal_text(e: WorkflowError) -> String {
    let api = ApiError::Workflow(e);
    api.log_if_ours();
    api.detail()
}

#[derive(Deserialize)]
struct InteractionForm {
    payload: String,
}

/// A Slack interaction. Presses of Approve and Deny decide; the message is then updated by
/// the refresh job, and a refusal is told to the presser alone (an ephemeral reply).
#[post("/slack/interactions")]
pub(super) async fn slack_interactions(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let header = |name: &str| req.headers().get(name).and_then(|h| h.to_str().ok());
    let broker = &state.broker;
    chat_decision::accept_slack(broker, header("X-Slack-Request-Timestamp"), header("X-Slack-Signature"), &body)
        .await?;
    let form: InteractionForm = serde_urlencoded::from_bytes(&body)
        .map_err(|e| ApiError::bad("payload", format!("not a Slack interaction: {e}")))?;
    let payload: Value =
        serde_json::from_str(&form.payload).map_err(|e| ApiError::bad("payload", format!("not JSON: {e}")))?;
    let action = &payload["actions"][0];
    let approve = match (payload["type"].as_str(), action["action_id"].as_str()) {
        (Some("block_actions"), Some("approve")) => true,
        (Some("block_actions"), Some("deny")) => false,
        // Link buttons (Open in Elevate) are reported too: nothing to do.
        _ => return Ok(HttpResponse::Ok().finish()),
    };
    let Some(user_id) = payload["user"]["id"].as_str() else {
        return Err(ApiError::bad("payload", "the interaction names no user"));
    };
    let value: Value = action["value"].as_str().and_then(|v| serde_json::from_str(v).ok()).unwrap_or_default();
    let result = match chat_decision::card_action(&value) {
        Ok(card) => chat_decision::press(broker, Presser::Slack { user_id }, &card, approve).await.outcome.map(drop),
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        let text = format!("Not decided: {}", refusal_text(e));
        chat_decision::tell_slack_presser(broker, payload["response_url"].as_str(), text);
    }
    Ok(HttpResponse::Ok().finish())
}
