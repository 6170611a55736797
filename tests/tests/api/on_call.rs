//! Approval by being on call: a profile may approve at once whoever PagerDuty says is on
//! call right now in its schedules or escalation policies, for at most its own bound. Anyone
//! else — or everyone, when PagerDuty does not answer — waits for the approvers, and the
//! audit log says why.
use std::time::Duration;

use chrono::{DateTime, Utc};
use elevate_tests::pagerduty_server::{OnCall, PagerDutyServer};
use serde_json::Value;

use crate::helpers::*;

const SCHEDULE: &str = "PI7DH85";
const POLICY_ID: &str = "PT20YPA";

/// The test policy plus `OnCallProd`, approved by Carol or by being on call where `where_` says.
fn policy_on_call(where_: &str) -> String {
    format!(
        r#"{POLICY}
[profiles.OnCallProd]
title = "Production, at once for whoever is on call"
group = "Prod-Admins"
min_duration = "1s"
max_duration = "8h"
eligible = {{ groups = ["Engineers"] }}
approval = {{ users = ["carol@example.com"] }}
on_call = {{ {where_}, max_duration = "1h" }}
"#
    )
}

fn policy() -> String {
    policy_on_call(&format!(r#"pagerduty_schedules = ["{SCHEDULE}"], pagerduty_escalation_policies = ["{POLICY_ID}"]"#))
}

async fn spawn(pagerduty: &PagerDutyServer) -> TestApp {
    TestApp::builder().policy(&policy()).config(&pagerduty.config()).spawn().await
}

fn hours(h: i64) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::hours(h)
}

/// `email` on call in `schedule` (or only through the escalation policy) from `start` to `end`.
fn shift(email: &str, schedule: Option<&str>, start: DateTime<Utc>, end: DateTime<Utc>) -> OnCall {
    OnCall {
        user_id: format!("P{}", email.len()),
        name: email.to_owned(),
        email: email.to_owned(),
        schedule: schedule.map(str::to_owned),
        escalation_policy: POLICY_ID.to_owned(),
        level: 1,
        start: Some(start),
        end: Some(end),
    }
}

/// Files as Alice and returns the request as filed.
async fn file(app: &TestApp, seconds: i64) -> Value {
    let (status, body) = app.engineer().try_request("OnCallProd", seconds, serde_json::json!({})).await;
    assert_eq!(status, 201, "{body}");
    body
}

fn event<'a>(events: &'a [Value], action: &str) -> Option<&'a Value> {
    events.iter().find(|e| e["action"] == action)
}

#[tokio::test]
async fn whoever_is_on_call_now_is_approved_at_once_within_the_rules_bound() {
    let pagerduty = PagerDutyServer::start().await;
    let app = spawn(&pagerduty).await;
    pagerduty.state().oncalls.push(shift(ALICE, Some(SCHEDULE), hours(-1), hours(2)));
    let filed = file(&app, 1800).await;
    let id = filed["id"].as_str().unwrap();
    app.wait_for_status(id, "active", Duration::from_secs(15)).await;
    let events = app.audit_events(&format!("request:{id}")).await;
    let approved = event(&events, "request.approved").expect("approved");
    let d = &approved["details"];
    assert_eq!((d["rule"].as_str(), d["service"].as_str()), (Some("on_call"), Some("pagerduty")), "{d}");
    assert_eq!((d["user"].as_str(), d["schedule"].as_str()), (Some(ALICE), Some(SCHEDULE)), "{d}");
    assert!(d["shift_end"].is_string(), "{d}");
    assert_eq!(approved["actor"], "system");
    // Longer than the rule allows (1h of the profile's 8h): the approvers decide.
    let filed = file(&app, 2 * 3600).await;
    assert_eq!(filed["status"], "pending");
    // On call only through the escalation policy counts too.
    pagerduty.state().oncalls = vec![shift(ALICE, None, hours(-1), hours(1))];
    let filed = file(&app, 600).await;
    assert_eq!(filed["status"], "approved", "{filed}");
    // A bot filing for her gets no approval by her shift: she did nothing.
    let bot = app.with_token(&token(BOT, &["requester"], Some("delegate"), 3600, SECRET));
    let (status, filed) = bot.try_request("OnCallProd", 600, serde_json::json!({ "requester": ALICE })).await;
    assert_eq!((status, filed["status"].as_str()), (201, Some("pending")), "{filed}");
}

#[tokio::test]
async fn being_on_call_approves_no_access_that_would_outlast_the_shift() {
    let pagerduty = PagerDutyServer::start().await;
    let app = spawn(&pagerduty).await;
    let ends = Utc::now() + chrono::Duration::minutes(5);
    pagerduty.state().oncalls.push(shift(ALICE, Some(SCHEDULE), hours(-1), ends));
    // Ten minutes, with five left of her shift: the approvers decide, and the log says why.
    let filed = file(&app, 600).await;
    assert_eq!(filed["status"], "pending", "{filed}");
    let events = app.audit_events(&format!("request:{}", filed["id"].as_str().unwrap())).await;
    let short = event(&events, "request.on_call_shift_too_short").expect("the short shift is audited");
    assert_eq!(short["details"]["fallback"], "approvers decide", "{short}");
    assert!(short["details"]["shift"]["shift_end"].is_string(), "{short}");
    assert!(event(&events, "request.approved").is_none());
    // Two minutes fit in it.
    assert_eq!(file(&app, 120).await["status"], "approved");
}

#[tokio::test]
async fn only_the_first_responder_in_a_real_shift_counts() {
    let pagerduty = PagerDutyServer::start().await;
    let app = spawn(&pagerduty).await;
    // Alice is the secondary (escalation level 2) …
    let mut secondary = shift(ALICE, Some(SCHEDULE), hours(-1), hours(1));
    secondary.level = 2;
    // … and named in the policy's first level directly: PagerDuty reports her on call for
    // ever (no start, no end). Neither is being on call now.
    let mut named = shift(ALICE, None, hours(-1), hours(1));
    (named.start, named.end) = (None, None);
    pagerduty.state().oncalls = vec![secondary, named];
    assert_eq!(file(&app, 600).await["status"], "pending");
}

#[tokio::test]
async fn not_on_call_now_or_under_another_address_waits_for_the_approvers() {
    let pagerduty = PagerDutyServer::start().await;
    let app = spawn(&pagerduty).await;
    {
        let mut state = pagerduty.state();
        state.oncalls.push(shift(BOB, Some(SCHEDULE), hours(-1), hours(2)));
        // Alice's shift ended an hour ago, the next starts in an hour.
        state.oncalls.push(shift(ALICE, Some(SCHEDULE), hours(-3), hours(-1)));
        state.oncalls.push(shift(ALICE, Some(SCHEDULE), hours(1), hours(3)));
        // Another schedule of hers that the profile does not name.
        let mut other = shift(ALICE, Some("POTHER1"), hours(-1), hours(1));
        other.escalation_policy = "POTHER2".into();
        state.oncalls.push(other);
        // Someone on call as alice@… of another domain is not Alice.
        state.oncalls.push(shift("alice@other.example", Some(SCHEDULE), hours(-1), hours(1)));
    }
    let filed = file(&app, 600).await;
    assert_eq!(filed["status"], "pending", "{filed}");
    let events = app.audit_events(&format!("request:{}", filed["id"].as_str().unwrap())).await;
    assert!(event(&events, "request.approved").is_none() && event(&events, "request.on_call_unknown").is_none());
    // The address is compared as mail is: without regard to case.
    pagerduty.state().oncalls.push(shift("Alice@Example.COM", Some(SCHEDULE), hours(-1), hours(1)));
    assert_eq!(file(&app, 600).await["status"], "approved");
}

#[tokio::test]
async fn without_an_answer_from_pagerduty_the_approvers_decide_and_the_audit_log_says_why() {
    let pagerduty = PagerDutyServer::start().await;
    let app = spawn(&pagerduty).await;
    pagerduty.state().oncalls.push(shift(ALICE, Some(SCHEDULE), hours(-1), hours(2)));
    let unknown = |filed: Value| {
        let app = &app;
        async move {
            assert_eq!(filed["status"], "pending", "{filed}");
            let events = app.audit_events(&format!("request:{}", filed["id"].as_str().unwrap())).await;
            let e = event(&events, "request.on_call_unknown").cloned().expect("the missing answer is audited");
            e["details"]["error"].as_str().unwrap().to_owned()
        }
    };
    pagerduty.state().rate_limited = Some(20);
    let error = unknown(file(&app, 600).await).await;
    assert!(error.contains("rate limit"), "{error}");
    pagerduty.state().rate_limited = None;
    pagerduty.state().down = true;
    let error = unknown(file(&app, 600).await).await;
    assert!(error.contains("500"), "{error}");
    pagerduty.stop().await;
    let error = unknown(file(&app, 600).await).await;
    assert!(error.contains("could not be reached"), "{error}");
}

#[tokio::test]
async fn a_wrong_token_is_refused_and_no_one_is_approved_by_it() {
    let pagerduty = PagerDutyServer::start().await;
    let config = pagerduty.config().replace("y_NbAkKc66ryYTWUXYEu", "not-the-token");
    let app = TestApp::builder().policy(&policy()).config(&config).spawn().await;
    pagerduty.state().oncalls.push(shift(ALICE, Some(SCHEDULE), hours(-1), hours(2)));
    let filed = file(&app, 600).await;
    assert_eq!(filed["status"], "pending");
    let events = app.audit_events(&format!("request:{}", filed["id"].as_str().unwrap())).await;
    let error = event(&events, "request.on_call_unknown").expect("audited")["details"]["error"].to_string();
    assert!(error.contains("401") && error.contains("2006"), "{error}");
}

#[tokio::test]
async fn the_on_call_list_is_read_page_by_page() {
    let pagerduty = PagerDutyServer::start().await;
    let app = spawn(&pagerduty).await;
    {
        let mut state = pagerduty.state();
        for n in 0..150 {
            state.oncalls.push(shift(&format!("engineer{n}@example.com"), Some(SCHEDULE), hours(-1), hours(1)));
        }
        state.oncalls.push(shift(ALICE, Some(SCHEDULE), hours(-1), hours(1)));
    }
    assert_eq!(file(&app, 600).await["status"], "approved");
    let calls = pagerduty.state().calls.clone();
    assert!(calls.iter().any(|q| q.contains("offset=100")), "{calls:?}");
    assert!(calls.iter().all(|q| q.contains("include%5B%5D=users") || q.contains("include[]=users")), "{calls:?}");
}

#[tokio::test]
async fn a_profile_that_approves_by_on_call_needs_pagerduty_configured() {
    let (dir, config) = fresh_config(&policy(), false).await;
    let serve = tokio::process::Command::new(binary())
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .current_dir(dir.path())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(30), serve).await.expect("serve stops at once").unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("oncall.pagerduty") && stderr.contains("OnCallProd"), "{stderr}");
}

mod opsgenie {
    use elevate_tests::opsgenie_server::{OpsgenieServer, Rotation};

    use super::*;

    const SCHEDULE_ID: &str = "d875a1f4-9b4e-4219-a803-0c26936d18de";

    fn policy() -> String {
        policy_on_call(&format!(r#"opsgenie_schedules = ["Platform Primary", "{SCHEDULE_ID}"]"#))
    }

    fn rotation(id: &str, name: &str, email: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> Rotation {
        Rotation { schedule_id: id.into(), schedule_name: name.into(), email: email.into(), start, end }
    }

    #[tokio::test]
    async fn whoever_opsgenie_has_on_call_now_is_approved_by_schedule_name_or_id() {
        let opsgenie = OpsgenieServer::start().await;
        let app = TestApp::builder().policy(&policy()).config(&opsgenie.config()).spawn().await;
        {
            let mut state = opsgenie.state();
            let other = "0b1c2d3e-0000-4000-8000-000000000001";
            state.rotations.push(rotation(other, "Platform Primary", BOB, hours(-1), hours(1)));
            state.rotations.push(rotation(other, "Platform Primary", ALICE, hours(1), hours(3)));
            state.rotations.push(rotation(SCHEDULE_ID, "Database", ALICE, hours(-1), hours(1)));
        }
        // Not on call in "Platform Primary" now (later), but in the other schedule, named by id.
        let filed = file(&app, 600).await;
        assert_eq!(filed["status"], "approved", "{filed}");
        let events = app.audit_events(&format!("request:{}", filed["id"].as_str().unwrap())).await;
        let d = &event(&events, "request.approved").expect("approved")["details"];
        assert_eq!((d["service"].as_str(), d["schedule"].as_str()), (Some("opsgenie"), Some(SCHEDULE_ID)), "{d}");
        assert_eq!(d["user"], ALICE);
        let calls = opsgenie.state().calls.clone();
        assert!(
            calls
                .iter()
                .any(|c| c.contains("Platform%20Primary/on-calls") && c.contains("scheduleIdentifierType=name")),
            "{calls:?}"
        );
        assert!(calls.iter().all(|c| c.contains("flat=true") && c.contains("date=")), "{calls:?}");
        // Off call everywhere: the approvers decide.
        opsgenie.state().rotations.retain(|r| r.email != ALICE);
        assert_eq!(file(&app, 600).await["status"], "pending");
    }

    #[tokio::test]
    async fn without_an_answer_from_opsgenie_the_approvers_decide_and_the_audit_log_says_why() {
        let opsgenie = OpsgenieServer::start().await;
        let app = TestApp::builder().policy(&policy()).config(&opsgenie.config()).spawn().await;
        opsgenie.state().rotations.push(rotation(SCHEDULE_ID, "Database", ALICE, hours(-1), hours(1)));
        let why = |filed: Value| {
            let app = &app;
            async move {
                assert_eq!(filed["status"], "pending", "{filed}");
                let events = app.audit_events(&format!("request:{}", filed["id"].as_str().unwrap())).await;
                event(&events, "request.on_call_unknown").expect("audited")["details"]["error"].to_string()
            }
        };
        opsgenie.state().rate_limited = true;
        let error = why(file(&app, 600).await).await;
        assert!(error.contains("opsgenie") && error.contains("THROTTLED"), "{error}");
        opsgenie.state().rate_limited = false;
        // "Platform Primary" does not exist (404): that hides no yes from the other schedule …
        assert_eq!(file(&app, 600).await["status"], "approved");
        // … and without one, it is the answer.
        opsgenie.state().rotations[0].end = hours(-1);
        let error = why(file(&app, 600).await).await;
        assert!(error.contains("404") && error.contains("Platform Primary"), "{error}");
        opsgenie.stop().await;
        let error = why(file(&app, 600).await).await;
        assert!(error.contains("could not be reached"), "{error}");
    }

    #[tokio::test]
    async fn a_wrong_key_is_refused_and_no_one_is_approved_by_it() {
        let opsgenie = OpsgenieServer::start().await;
        let config = opsgenie.config().replace(elevate_tests::opsgenie_server::OG_KEY, "not-the-key");
        let app = TestApp::builder().policy(&policy()).config(&config).spawn().await;
        opsgenie.state().rotations.push(rotation(SCHEDULE_ID, "Database", ALICE, hours(-1), hours(1)));
        let filed = file(&app, 600).await;
        assert_eq!(filed["status"], "pending");
        let events = app.audit_events(&format!("request:{}", filed["id"].as_str().unwrap())).await;
        let error = event(&events, "request.on_call_unknown").expect("audited")["details"]["error"].to_string();
        assert!(error.contains("401") && error.contains("Could not authenticate"), "{error}");
    }
}
