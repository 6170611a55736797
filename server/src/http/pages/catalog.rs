//! `/profiles`: the catalog of what the signed-in user may request, with each profile's AWS
//! role, risk tier, duration bounds and approval rule.
use actix_web::{HttpResponse, get, http::StatusCode, web};
use askama::Template;

use super::{AppState, Visitor, refused, render};
use crate::{policy::ApprovalRule, workflows::queries};

struct Entry {
    key: String,
    title: String,
    description: String,
    role: String,
    risk: String,
    durations: String,
    approval: String,
}

#[derive(Template)]
#[template(path = "pages/profiles.html")]
struct CatalogPage<'a> {
    signed_in: Option<&'a Visitor>,
    entries: Vec<Entry>,
}

#[get("/profiles")]
pub(super) async fn catalog(state: web::Data<AppState>, visitor: Visitor) -> HttpResponse {
    let broker = &state.broker;
    let profiles = match queries::requestable_profiles(broker, &visitor.caller()).await {
        Ok(profiles) => profiles,
        Err(e) => return refused(e, "", &visitor),
    };
    let entries = profiles
        .into_iter()
        .map(|p| Entry {
            key: p.key.to_string(),
            title: p.title.clone(),
            description: p.description.clone().unwrap_or_default(),
            role: p.aws_role_arn.clone().unwrap_or_else(|| "—".into()),
            risk: broker.risk_tier(p).unwrap_or_else(|| "not assessed".into()),
            durations: format!("{} to {} (default {})", p.min_duration, p.max_duration, p.default_duration),
            approval: match &p.approval {
                ApprovalRule::Automatic => "approved automatically".into(),
                ApprovalRule::Approvers { first, second: None } => format!("{} approval(s)", first.required),
                ApprovalRule::Approvers { first, second: Some(second) } => {
                    format!("{} approval(s), then {} in a second stage", first.required, second.required)
                }
            },
        })
        .collect();
    render(StatusCode::OK, &CatalogPage { signed_in: Some(&visitor), entries })
}
