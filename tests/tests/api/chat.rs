//! Approvals in Microsoft Teams and Slack: approvers get a card in their personal chat, press
//! Approve there, and the grant activates; a press is exactly as trustworthy as the inbox — the
//! chat app must prove who pressed (a Bot Connector token, a Slack signature), the directory
//! names the person, and the API's rules decide. The peers are the Bot Framework and Slack test
//! servers in `tests/src`; the directory is the Graph test server (Teams names people by
//! their Entra object id).
use std::time::Duration;

use elevate_tests::{
    bot_framework::{BotFramework, ChannelToken},
    graph_server::GraphServer,
    slack_server::{self, SlackServer},
};
use serde_json::{Value, json};

use crate::{
    aws::{Moto, reference_account},
    helpers::*,
    notify_peers::OidcProvider,
};

const WAIT: Duration = Duration::from_secs(20);

/// The app with the Graph directory, the Teams bot and the Slack app; both chat apps are
/// installed for the approvers Bob and Carol (and for Bob, who also files requests).
struct ChatApps {
    app: TestApp,
    teams: BotFramework,
    slack: SlackServer,
    /// Entra object ids, and Slack user ids, of Bob and Carol.
    bob: (String, String),
    carol: (String, String),
    secrets: tempfile::TempDir,
    /// Peers that only some tests need, kept running while the app is.
    _peers: (Option<OidcProvider>, Option<Moto>),
}

/// What a test adds to the chat apps.
#[derive(Default)]
struct Setup {
    policy: Option<String>,
    /// A browser sign-in (profiles that want signed-in decisions need one).
    sign_in: bool,
    /// AWS (moto) with the reference account, where the admins' role is high-risk.
    aws: bool,
    /// A Teams channel and a Slack channel that get every notice too.
    channels: bool,
}

const TEAMS_CHANNEL: &str = "19:elevate-approvals@thread.tacv2";
const SLACK_CHANNEL: &str = "C0APPROVALS";

impl ChatApps {
    async fn start(setup: Setup) -> Self {
        let teams = BotFramework::start().await;
        let slack = SlackServer::start().await;
        let secrets = tempfile::tempdir().expect("a folder for the Slack secrets");
        let mut builder = TestApp::builder().graph(GraphServer::start().await);
        if let Some(policy) = &setup.policy {
            builder = builder.policy(policy);
        }
        let idp = if setup.sign_in { Some(OidcProvider::start().await) } else { None };
        if let Some(idp) = &idp {
            builder = builder.config(&idp.config());
        }
        let moto = if setup.aws { Some(Moto::start().await) } else { None };
        if let Some(moto) = &moto {
            reference_account(&moto.iam().await).await;
            builder = builder.config(&moto.config("1h"));
        }
        let (mut teams_config, mut slack_config) = (teams.config(), slack.config(secrets.path()));
        if setup.channels {
            teams.add_channel(TEAMS_CHANNEL);
            slack.add_channel(SLACK_CHANNEL);
            teams_config.push_str(&format!("channel_id = \"{TEAMS_CHANNEL}\"\n"));
            slack_config.push_str(&format!("channel_id = \"{SLACK_CHANNEL}\"\n"));
        }
        let app = builder.config(&teams_config).config(&slack_config).spawn().await;
        let [bob, carol] = [BOB, CAROL].map(|upn| {
            let object_id = app.graph().user_id(upn);
            teams.install_for(&object_id);
            (object_id, slack.add_user(upn, true))
        });
        Self { app, teams, slack, bob, carol, secrets, _peers: (idp, moto) }
    }

    fn bot_endpoint(&self) -> String {
        format!("{}/api/v1/teams/messages", self.app.address)
    }

    async fn teams_card(&self, object_id: &str) -> Value {
        eventually("a Teams card", WAIT, || self.teams.card_for(object_id)).await
    }

    async fn slack_message(&self, user_id: &str) -> slack_server::Posted {
        eventually("a Slack message", WAIT, || self.slack.dm_of(user_id)).await
    }

    async fn decisions(&self, id: &str) -> Vec<Value> {
        let events = self.app.audit_events(&format!("request:{id}")).await;
        events
            .into_iter()
            .filter(|e| e["action"] == "request.approval_given" || e["action"] == "request.denied")
            .collect()
    }
}

/// The actions of an Adaptive Card: (type, title).
fn card_actions(card: &Value) -> Vec<(String, String)> {
    card["actions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            (a["type"].as_str().unwrap_or_default().to_owned(), a["title"].as_str().unwrap_or_default().to_owned())
        })
        .collect()
}

/// The buttons of a Slack message: (action_id, url if a link).
fn slack_buttons(message: &slack_server::Posted) -> Vec<(String, Option<String>)> {
    let actions = message.blocks.as_array().into_iter().flatten().filter(|b| b["type"] == "actions");
    actions
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .map(|e| (e["action_id"].as_str().unwrap_or_default().to_owned(), e["url"].as_str().map(str::to_owned)))
        .collect()
}

#[tokio::test]
async fn an_approver_approves_in_teams_and_the_other_approvers_card_says_so() {
    let chat = ChatApps::start(Setup::default()).await;
    let id = chat.app.engineer().request("AzureAD-Admins", 600).await;
    let card = chat.teams_card(&chat.bob.0).await;
    assert!(card.to_string().contains(ALICE) && card.to_string().contains("investigating an incident"), "{card}");
    let actions = card_actions(&card);
    assert!(actions.contains(&("Action.Execute".into(), "Approve".into())), "{actions:?}");
    chat.teams_card(&chat.carol.0).await;

    let (status, answer) = chat.teams.press(&chat.bot_endpoint(), &chat.bob.0, "approve").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["type"], "application/vnd.microsoft.card.adaptive", "{answer}");
    assert!(answer["value"].to_string().contains("Approved by bob@example.com"), "{answer}");
    assert!(!card_actions(&answer["value"]).iter().any(|(kind, _)| kind == "Action.Execute"), "{answer}");
    chat.app.wait_for_status(&id, "active", WAIT).await;

    let carols = eventually("Carol's card updated", WAIT, || {
        let card = chat.teams.card_for(&chat.carol.0)?;
        card.to_string().contains("Approved by bob@example.com").then_some(card)
    })
    .await;
    assert!(!card_actions(&carols).iter().any(|(kind, _)| kind == "Action.Execute"), "{carols}");
    let decisions = chat.decisions(&id).await;
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    assert_eq!(decisions[0]["actor"], BOB);
    assert_eq!(decisions[0]["details"]["via"], "teams");
    assert!(decisions[0]["details"]["chat_user"].as_str().is_some_and(|u| u.starts_with("29:")), "{decisions:?}");
}

#[tokio::test]
async fn an_approver_approves_in_slack_and_the_other_approvers_message_says_so() {
    let chat = ChatApps::start(Setup::default()).await;
    let id = chat.app.engineer().request("AzureAD-Admins", 600).await;
    let message = chat.slack_message(&chat.bob.1).await;
    assert!(message.text.contains(ALICE), "{}", message.text);
    let buttons = slack_buttons(&message);
    assert!(buttons.contains(&("approve".into(), None)) && buttons.contains(&("deny".into(), None)), "{buttons:?}");
    chat.slack_message(&chat.carol.1).await;

    let (status, body) = chat.slack.press(&chat.app.address, &chat.bob.1, "approve").await;
    assert_eq!(status, 200, "{body}");
    chat.app.wait_for_status(&id, "active", WAIT).await;
    for user in [&chat.bob.1, &chat.carol.1] {
        let updated = eventually("the message updated", WAIT, || {
            let m = chat.slack.dm_of(user)?;
            (m.updates > 0 && m.blocks.to_string().contains("Approved by bob@example.com")).then_some(m)
        })
        .await;
        assert!(!slack_buttons(&updated).iter().any(|(id, _)| id == "approve"), "{:?}", updated.blocks);
    }
    let decisions = chat.decisions(&id).await;
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    assert_eq!((decisions[0]["actor"].as_str(), decisions[0]["details"]["via"].as_str()), (Some(BOB), Some("slack")));
    assert_eq!(decisions[0]["details"]["chat_user"], chat.bob.1);
}

#[tokio::test]
async fn the_channels_get_the_ask_a_member_decides_there_and_the_channel_cards_show_it() {
    let chat = ChatApps::start(Setup { channels: true, ..Setup::default() }).await;
    let id = chat.app.engineer().request("AzureAD-Admins", 600).await;
    let channel_card = eventually("the Teams channel's card", WAIT, || {
        chat.teams.sent().into_iter().find(|s| s.conversation == TEAMS_CHANNEL && s.activity.to_string().contains(&id))
    })
    .await;
    let card = channel_card.activity["attachments"][0]["content"].clone();
    assert!(card_actions(&card).contains(&("Action.Execute".into(), "Approve".into())), "{card}");
    eventually("the Slack channel's message", WAIT, || chat.slack.in_channel(SLACK_CHANNEL).into_iter().next()).await;

    // Mallory, in the channel but no approver, is refused and shown nothing of the request.
    let mallory = chat.app.graph().user_id(MALLORY);
    let press = chat.teams.invoke(&mallory, TEAMS_CHANNEL, &card, "approve");
    let token = chat.teams.channel_token(ChannelToken::genuine(&chat.teams));
    let (status, answer) = chat.teams.post_activity(&chat.bot_endpoint(), Some(&token), &press).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["value"].as_str().is_some_and(|v| v.contains("is not an approver")), "{answer}");
    assert!(!answer.to_string().contains(ALICE), "{answer}");
    // Carol presses Approve in the channel: Teams names her, and she is an approver.
    let press = chat.teams.invoke(&chat.carol.0, TEAMS_CHANNEL, &card, "approve");
    let token = chat.teams.channel_token(ChannelToken::genuine(&chat.teams));
    let (status, answer) = chat.teams.post_activity(&chat.bot_endpoint(), Some(&token), &press).await;
    assert_eq!(status, 200, "{answer}");
    chat.app.wait_for_status(&id, "active", WAIT).await;
    let decided = |text: &str| text.contains("Approved by carol@example.com");
    eventually("the Teams channel's card updated", WAIT, || {
        let now = chat.teams.sent().into_iter().find(|s| s.activity_id == channel_card.activity_id)?;
        decided(&now.activity.to_string()).then_some(())
    })
    .await;
    eventually("the Slack channel's ask updated", WAIT, || {
        let ask = chat.slack.in_channel(SLACK_CHANNEL).into_iter().next()?;
        (ask.updates > 0 && decided(&ask.blocks.to_string())).then_some(())
    })
    .await;
    // Bob's personal card says so too, and the channel heard of the activation.
    eventually("Bob's card updated", WAIT, || chat.teams.card_for(&chat.bob.0).filter(|c| decided(&c.to_string())))
        .await;
    eventually("the activation in the channel", WAIT, || {
        chat.slack.in_channel(SLACK_CHANNEL).into_iter().find(|m| m.text.starts_with("Active:"))
    })
    .await;
}

#[tokio::test]
async fn a_cancelled_requests_cards_lose_their_buttons_and_say_why() {
    let chat = ChatApps::start(Setup::default()).await;
    let id = chat.app.engineer().request("AzureAD-Admins", 600).await;
    chat.teams_card(&chat.bob.0).await;
    chat.slack_message(&chat.carol.1).await;
    let (status, body) = chat.app.engineer().act(&id, "cancel").await;
    assert_eq!(status, 200, "{body}");
    let cancelled = |text: &str| text.contains("Cancelled by the requester");
    let card = eventually("Bob's card closed", WAIT, || {
        chat.teams.card_for(&chat.bob.0).filter(|c| cancelled(&c.to_string()))
    })
    .await;
    assert!(!card_actions(&card).iter().any(|(kind, _)| kind == "Action.Execute"), "{card}");
    let message = eventually("Carol's message closed", WAIT, || {
        chat.slack.dm_of(&chat.carol.1).filter(|m| cancelled(&m.blocks.to_string()))
    })
    .await;
    assert!(!slack_buttons(&message).iter().any(|(id, _)| id == "approve"), "{:?}", message.blocks);
}

#[tokio::test]
async fn the_requester_pressing_approve_on_their_own_request_is_refused_in_both() {
    let chat = ChatApps::start(Setup::default()).await;
    // Bob, an approver, asks; only Carol is asked to decide. Bob presses Approve on her card.
    let id = chat.app.approver(BOB).request("AzureAD-Admins", 600).await;
    let routed = chat.app.wait_for_audit(&format!("request:{id}"), "notification.routed", 2).await;
    let ask = |e: &&Value| e["action"] == "notification.routed" && e["details"]["event"] == "approval_needed";
    let routed = routed.iter().find(ask).expect("the ask was routed");
    assert_eq!(routed["details"]["chat"], 2, "Carol's card in Teams and in Slack, none for Bob: {routed}");
    let carols_card = chat.teams_card(&chat.carol.0).await;
    let conversation = chat.teams.conversation_of(&chat.carol.0).unwrap_or_default();
    let press = chat.teams.invoke(&chat.bob.0, &conversation, &carols_card, "approve");
    let token = chat.teams.channel_token(ChannelToken::genuine(&chat.teams));
    let (status, answer) = chat.teams.post_activity(&chat.bot_endpoint(), Some(&token), &press).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.to_string().contains("Not decided: you cannot decide your own request"), "{answer}");
    assert_eq!(answer["type"], "application/vnd.microsoft.activity.message", "a refusal shows no card: {answer}");

    let carols_message = chat.slack_message(&chat.carol.1).await;
    let body = chat.slack.press_body(&chat.bob.1, &carols_message, "approve");
    let at = chrono::Utc::now().timestamp();
    let (status, text) =
        slack_server::post_interaction(&chat.app.address, &body, at, Some(&slack_server::sign(&body, at))).await;
    assert_eq!(status, 200, "{text}");
    let told = eventually("a private reply", WAIT, || {
        let replies = chat.slack.state().ephemeral.clone();
        replies.into_iter().find(|r| r.text.contains("you cannot decide your own request"))
    })
    .await;
    assert!(told.text.starts_with("Not decided"), "{}", told.text);

    assert!(chat.decisions(&id).await.is_empty());
    assert_eq!(chat.app.wait_for_status(&id, "pending", WAIT).await["status"], "pending");
    assert!(chat.teams.card_for(&chat.bob.0).is_none() && chat.slack.dm_of(&chat.bob.1).is_none());
}

#[tokio::test]
async fn forged_expired_misdirected_and_replayed_presses_are_refused_with_nothing_decided() {
    let chat = ChatApps::start(Setup::default()).await;
    let id = chat.app.engineer().request("AzureAD-Admins", 600).await;
    let card = chat.teams_card(&chat.bob.0).await;
    let conversation = chat.teams.conversation_of(&chat.bob.0).unwrap_or_default();
    let press = chat.teams.invoke(&chat.bob.0, &conversation, &card, "approve");
    let genuine = ChannelToken::genuine(&chat.teams);
    let forgeries = [
        ("signed by a key the Bot Connector does not publish", ChannelToken { stranger: true, ..genuine.clone() }),
        ("expired beyond the allowed skew", ChannelToken { lifetime_secs: -600, ..genuine.clone() }),
        ("for another bot", ChannelToken { audience: "another-bot-app-id".into(), ..genuine.clone() }),
        (
            "for another service URL",
            ChannelToken { service_url: "https://attacker.example/teams/".into(), ..genuine.clone() },
        ),
        ("from another issuer", ChannelToken { issuer: "https://sts.attacker.example/".into(), ..genuine.clone() }),
    ];
    for (what, forged) in forgeries {
        let token = chat.teams.channel_token(forged);
        let (status, body) = chat.teams.post_activity(&chat.bot_endpoint(), Some(&token), &press).await;
        assert_eq!(status, 401, "a token {what}: {body}");
    }
    let (status, _) = chat.teams.post_activity(&chat.bot_endpoint(), None, &press).await;
    assert_eq!(status, 401, "no token");
    // A genuine token, but an activity of another channel (Web Chat lets the client say who
    // it is) or of another tenant.
    let token = chat.teams.channel_token(genuine.clone());
    let mut webchat = press.clone();
    webchat["channelId"] = json!("webchat");
    let (status, body) = chat.teams.post_activity(&chat.bot_endpoint(), Some(&token), &webchat).await;
    assert_eq!(status, 401, "another channel: {body}");
    let mut other_tenant = press.clone();
    other_tenant["conversation"]["tenantId"] = json!("99999999-8888-7777-6666-555555555555");
    other_tenant["channelData"]["tenant"]["id"] = json!("99999999-8888-7777-6666-555555555555");
    let (status, body) = chat.teams.post_activity(&chat.bot_endpoint(), Some(&token), &other_tenant).await;
    assert_eq!(status, 403, "another tenant: {body}");

    let message = chat.slack_message(&chat.bob.1).await;
    let body = chat.slack.press_body(&chat.bob.1, &message, "approve");
    let now = chrono::Utc::now().timestamp();
    let for_another_body = slack_server::sign(&format!("{body}&forged=1"), now);
    let refusals = [
        ("a signature of another body", now, Some(for_another_body)),
        ("an old timestamp", now - 600, Some(slack_server::sign(&body, now - 600))),
        ("no signature", now, None),
    ];
    for (what, at, signature) in refusals {
        let (status, text) = slack_server::post_interaction(&chat.app.address, &body, at, signature.as_deref()).await;
        assert_eq!(status, 401, "{what}: {text}");
    }
    // Signed by Slack, but by someone whose email Slack has not confirmed.
    let unconfirmed = chat.slack.add_user(ERIN, false);
    let press_body = chat.slack.press_body(&unconfirmed, &message, "approve");
    let signature = slack_server::sign(&press_body, now);
    let (status, _) = slack_server::post_interaction(&chat.app.address, &press_body, now, Some(&signature)).await;
    assert_eq!(status, 200);
    eventually("a private refusal", WAIT, || {
        chat.slack.state().ephemeral.iter().find(|r| r.text.contains("no confirmed email")).cloned()
    })
    .await;
    assert!(chat.decisions(&id).await.is_empty(), "nothing was decided");
    assert_eq!(chat.app.wait_for_status(&id, "pending", WAIT).await["status"], "pending");

    // A genuine press decides once; the same request sent again is a replay.
    let signature = slack_server::sign(&body, now);
    let (status, text) = slack_server::post_interaction(&chat.app.address, &body, now, Some(&signature)).await;
    assert_eq!(status, 200, "{text}");
    let (status, text) = slack_server::post_interaction(&chat.app.address, &body, now, Some(&signature)).await;
    assert_eq!(status, 401, "a replay: {text}");
    let shouted = format!("v0={}", signature.trim_start_matches("v0=").to_uppercase());
    let (status, text) = slack_server::post_interaction(&chat.app.address, &body, now, Some(&shouted)).await;
    assert_eq!(status, 401, "a replay in upper case: {text}");
    chat.app.wait_for_status(&id, "active", WAIT).await;
    assert_eq!(chat.decisions(&id).await.len(), 1);
}

#[tokio::test]
async fn a_high_risk_roles_buttons_lead_to_the_signed_in_confirmation_page() {
    // The admins' role holds AdministratorAccess: AWS discovery rates it high-risk.
    let chat = ChatApps::start(Setup { aws: true, ..Setup::default() }).await;
    decisions_go_to_the_signed_in_confirmation_page(&chat).await;
}

#[tokio::test]
async fn a_profile_that_wants_signed_in_decisions_gets_buttons_to_the_confirmation_page() {
    let policy = POLICY.replacen("permanent_members", "require_sign_in_for_links = true\npermanent_members", 1);
    let chat = ChatApps::start(Setup { policy: Some(policy), sign_in: true, ..Setup::default() }).await;
    decisions_go_to_the_signed_in_confirmation_page(&chat).await;
}

/// The admins' profile is decided only signed in: its cards carry the approver's own links to
/// the confirmation page (which asks them to sign in), and a press that decides anyway is
/// refused.
async fn decisions_go_to_the_signed_in_confirmation_page(chat: &ChatApps) {
    let id = chat.app.engineer().request("AzureAD-Admins", 600).await;
    let card = chat.teams_card(&chat.bob.0).await;
    let actions = card_actions(&card);
    assert!(!actions.iter().any(|(kind, _)| kind == "Action.Execute"), "{actions:?}");
    assert!(actions.contains(&("Action.OpenUrl".into(), "Approve in Elevate".into())), "{actions:?}");
    let link = card["actions"][0]["url"].as_str().expect("a link").to_owned();
    assert!(link.starts_with(&format!("{}/act?token=", chat.app.address)), "{link}");
    // Opened without a session, the confirmation page asks Bob to sign in first.
    let page = reqwest::get(&link).await.unwrap();
    assert_eq!(page.status().as_u16(), 401);
    assert!(page.text().await.unwrap().contains("sign in to Elevate as bob@example.com"));

    let message = chat.slack_message(&chat.bob.1).await;
    let buttons = slack_buttons(&message);
    assert!(buttons.iter().all(|(_, url)| url.as_deref().is_some_and(|u| u.contains("/act?token="))), "{buttons:?}");

    // A press that claims to decide anyway (a forged card) is refused.
    let forged = json!({ "type": "AdaptiveCard", "actions": [{ "type": "Action.Execute", "verb": "approve",
        "data": { "request": id, "stage": 1, "version": 1 } }] });
    let conversation = chat.teams.conversation_of(&chat.bob.0).unwrap_or_default();
    let press = chat.teams.invoke(&chat.bob.0, &conversation, &forged, "approve");
    let token = chat.teams.channel_token(ChannelToken::genuine(&chat.teams));
    let (status, answer) = chat.teams.post_activity(&chat.bot_endpoint(), Some(&token), &press).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.to_string().contains("decided only in Elevate, signed in"), "{answer}");
    assert!(chat.decisions(&id).await.is_empty());
}

#[tokio::test]
async fn chat_outages_delay_only_the_messages_and_a_request_decided_meanwhile_is_not_announced_late() {
    let chat = ChatApps::start(Setup::default()).await;
    chat.teams.set_outage(true);
    chat.slack.set_outage(true);
    let decided = chat.app.engineer().request("AzureAD-Admins", 600).await;
    chat.app.approver(CAROL).approve(&decided).await;
    chat.app.wait_for_status(&decided, "active", WAIT).await;

    // Slack answers again but throttles the first calls; Teams comes back.
    let waiting = chat.app.engineer().request("AzureAD-Admins", 600).await;
    chat.slack.throttle_next(2);
    chat.slack.set_outage(false);
    let message = chat.slack_message(&chat.bob.1).await;
    assert!(chat.slack.throttled() >= 2, "Slack's 429s were answered");
    // Teams is still down: its cards fail, are retried, and arrive once it is back.
    let failed_teams_sends = || async {
        let (_, audit) = chat.app.admin().get("/api/v1/audit?limit=1000").await;
        let events = audit["items"].as_array().cloned().unwrap_or_default();
        events
            .iter()
            .filter(|e| {
                e["action"] == "job.attempt_failed"
                    && e["details"]["kind"] == "send_chat"
                    && e["details"]["error"].as_str().is_some_and(|m| m.contains("Teams"))
            })
            .count()
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    while failed_teams_sends().await == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no Teams send failed during the outage");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Back, but throttling at first: the 429s' Retry-After is waited out.
    chat.teams.throttle_next(2);
    chat.teams.set_outage(false);
    let card = chat.teams_card(&chat.bob.0).await;
    assert!(chat.teams.throttled() >= 2, "the Bot Connector's 429s were answered");
    for (what, text) in [("card", card.to_string()), ("message", message.blocks.to_string())] {
        assert!(text.contains(&waiting), "the {what} is about the waiting request: {text}");
        assert!(!text.contains(&decided), "the decided request is not announced late: {text}");
    }
    let about_decided = chat.teams.sent().into_iter().filter(|s| s.activity.to_string().contains(&decided)).count();
    assert_eq!(about_decided, 0);
    assert!(chat.slack.posted().iter().all(|m| !m.blocks.to_string().contains(&decided)));
}

#[tokio::test]
async fn chat_check_proves_the_configuration_and_names_what_is_wrong() {
    let chat = ChatApps::start(Setup::default()).await;
    let check = || {
        let out = chat.app.cli(&["chat", "check"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.code(), text + &String::from_utf8_lossy(&out.stderr))
    };
    let (code, text) = check();
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(text.matches("ok    ").count(), 3, "{text}");

    // A secret that Entra refuses, a token missing a scope, a revoked token.
    let config = std::fs::read_to_string(&chat.app.config_path).unwrap();
    let broken = config.replace("client_secret = \"bot-framework-test-secret\"", "client_secret = \"wrong\"");
    assert_ne!(broken, config);
    std::fs::write(&chat.app.config_path, broken).unwrap();
    chat.slack.state().scopes.retain(|s| s != "users:read.email");
    let (code, text) = check();
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("FAIL  Teams") && text.contains("AADSTS7000215"), "{text}");
    assert!(text.contains("FAIL  Slack") && text.contains("lacks the scope(s) users:read.email"), "{text}");
    assert!(text.contains("ok    Teams: 1 Bot Connector signing key"), "{text}");

    std::fs::write(chat.secrets.path().join("slack-bot-token"), "xoxb-revoked-token").unwrap();
    let (code, text) = check();
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("invalid_auth") && text.contains("slack.bot_token_file"), "{text}");
}
