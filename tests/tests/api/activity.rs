//! What a grant did in AWS: its role session's calls, read from the organisation's CloudTrail
//! trail in moto's S3 (log files written as CloudTrail writes them), shown on the request's
//! page, the break-glass review and `GET /api/v1/requests/{id}/activity`, audited once final.
//! An S3 outage or a bucket Elevate may not read delays the activity, says so, and heals.
use std::time::Duration;

use chrono::{DateTime, Utc};
use elevate_tests::{
    cloudtrail::{Call, Trail},
    tcp_proxy::Proxy,
};
use serde_json::{Value, json};

use crate::{
    aws::{Moto, reference_account},
    helpers::*,
    pages::{demo_sign_in, page},
};

const ACCOUNT: &str = "123456789012";
const ADMINS: &str = "AzureAD-Admins";
const BUCKET: &str = "org-cloudtrail-logs";

/// The tests' policy, and a break-glass profile onto the admins' role.
fn policy() -> String {
    format!(
        r#"{POLICY}
[profiles.Emergency]
title = "Production emergency access"
aws_role_arn = "arn:aws:iam::{ACCOUNT}:role/{ADMINS}"
group = "Prod-Admins"
min_duration = "1m"
max_duration = "2h"
eligible = {{ groups = ["Engineers"] }}
approval = {{ groups = ["Approvers"] }}
break_glass = true
break_glass_users = ["{ALICE}"]
"#
    )
}

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap()
}

/// The monotonic instant at which the wall clock reads `ms`.
fn instant_of(ms: i64) -> tokio::time::Instant {
    let ahead = u64::try_from(ms - now_ms()).unwrap_or(0);
    tokio::time::Instant::now() + Duration::from_millis(ahead)
}

/// A call by `session` of `role`, `offset_ms` after `start`.
fn call<'a>(role: &'a str, session: &'a str, start: i64, offset_ms: i64, what: (&'a str, &'a str, bool)) -> Call<'a> {
    let (source, name, read_only) = what;
    Call {
        account: ACCOUNT,
        role,
        session,
        at: at(start + offset_ms),
        source,
        name,
        read_only,
        error: None,
        region: "us-east-1",
    }
}

/// The activity of a request once it is `status` (60 s at most).
async fn activity_when(actor: &Actor<'_>, id: &str, status: &str) -> Value {
    activity_once(actor, id, &format!("the activity never became {status}"), |b| b["status"] == status).await
}

/// The activity of a request once an attempt to read the logs failed (60 s at most).
async fn activity_failed(actor: &Actor<'_>, id: &str) -> Value {
    activity_once(actor, id, "no failed attempt recorded", |b| b["last_error"].is_string()).await
}

async fn activity_once(actor: &Actor<'_>, id: &str, never: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (code, body) = actor.get(&format!("/api/v1/requests/{id}/activity")).await;
        assert_eq!(code, 200, "{body}");
        if done(&body) {
            return body;
        }
        assert!(tokio::time::Instant::now() < deadline, "{never}: {body}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn event_ids(records: &Value) -> Vec<String> {
    let mut ids: Vec<String> =
        records.as_array().unwrap().iter().map(|r| r["eventID"].as_str().unwrap().to_owned()).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn the_page_the_review_and_the_api_show_exactly_the_grants_session_calls() {
    let moto = Moto::start().await;
    reference_account(&moto.iam().await).await;
    let trail = Trail::create(&moto.url, BUCKET).await.unwrap();
    let config = moto.config("1h") + &trail.config(&moto.url, "2s", "1s");
    let app = TestApp::builder().policy(&policy()).config(&config).spawn().await;

    let (code, filed) = app
        .engineer()
        .post(
            "/api/v1/requests",
            json!({ "profile": "Emergency", "duration_seconds": 3600, "break_glass": true, "justification": "INC-7: prod down" }),
        )
        .await;
    assert_eq!(code, 201, "{filed}");
    let id = filed["id"].as_str().unwrap().to_owned();
    let active = app.wait_for_status(&id, "active", Duration::from_secs(30)).await;
    let start = millis(&active["activated_at"]);

    // Entra's AWS app sends the UPN as the directory spells it: the session name differs from
    // Elevate's lower-cased UPN only in case, and is hers.
    let alice = "Alice@Example.COM";
    let sign_in = call(ADMINS, alice, start, 1000, ("signin.amazonaws.com", "ConsoleLogin", false));
    let create_user = call(ADMINS, alice, start, 2000, ("iam.amazonaws.com", "CreateUser", false));
    let list_buckets = call(ADMINS, alice, start, 3000, ("s3.amazonaws.com", "ListBuckets", true));
    let refused = Call {
        error: Some("Client.UnauthorizedOperation"),
        region: "eu-west-1",
        ..call(ADMINS, alice, start, 4000, ("ec2.amazonaws.com", "RunInstances", false))
    };
    let get_object = call(ADMINS, alice, start, 6000, ("s3.amazonaws.com", "GetObject", true));
    let mine = [&sign_in, &create_user, &list_buckets, &refused, &get_object].map(Call::record);
    // Not hers, or not in the window: another user of the role, her session of another role,
    // the same session in the second before the grant's.
    let bobs = call(ADMINS, "bob@example.com", start, 2000, ("iam.amazonaws.com", "DeleteUser", false)).record();
    let other_role =
        call("AzureAD-Developers", alice, start, 2000, ("iam.amazonaws.com", "CreateRole", false)).record();
    let before = call(ADMINS, alice, start, -1000, ("iam.amazonaws.com", "CreateAccessKey", false)).record();

    // The trail writes its files after the calls, named after the minute written: per region,
    // and in two files for us-east-1. The grant ends a moment later, at a set instant; a call
    // an hour after that end (as if logged in the same file) is not its grant's.
    tokio::time::sleep_until(instant_of(start + 7000)).await;
    let written = Utc::now();
    let end = now_ms() + 1000;
    let after_end = call(ADMINS, alice, end, 3_600_000, ("iam.amazonaws.com", "AttachUserPolicy", false)).record();
    let us = [mine[0].clone(), mine[1].clone(), bobs, mine[2].clone(), other_role, before];
    trail.deliver(ACCOUNT, "us-east-1", written, &us).await.unwrap();
    trail.deliver(ACCOUNT, "eu-west-1", written, &[mine[3].clone()]).await.unwrap();
    trail.deliver(ACCOUNT, "us-east-1", written, &[mine[4].clone(), after_end]).await.unwrap();
    app.set_expiry(std::slice::from_ref(&id), end.max(now_ms())).await;
    let ended = app.wait_until_ended(&id, Duration::from_secs(30)).await;

    let activity = activity_when(&app.engineer(), &id, "complete").await;
    assert_eq!(activity["window_from"], active["activated_at"], "{activity}");
    assert_eq!(activity["window_to"], ended["ended_at"], "{activity}");
    let s = &activity["summary"];
    let counts = |k: &str| s[k].as_u64().unwrap();
    assert_eq!(
        [counts("calls"), counts("reads"), counts("writes"), counts("console_sign_ins"), counts("sensitive_writes")],
        [5, 2, 3, 1, 1],
        "{s}"
    );
    let iam = s["actions"].as_array().unwrap().iter().find(|a| a["service"] == "iam").unwrap();
    assert_eq!((iam["action"].as_str(), iam["sensitive"].as_bool()), (Some("CreateUser"), Some(true)), "{s}");
    assert_eq!(s["errors"], json!([{ "key": "Client.UnauthorizedOperation", "calls": 1 }]));
    assert_eq!(event_ids(&s["write_records"]), event_ids(&json!([mine[0], mine[1], mine[3]])));
    assert_eq!(
        (millis(&s["first_call_at"]), millis(&s["last_call_at"])),
        (millis(&mine[0]["eventTime"]), millis(&mine[4]["eventTime"]))
    );
    assert_eq!(s["source_ips"], json!([{ "key": "198.51.100.7", "calls": 5 }]));

    // Audited once final, with the counts and the sensitive writes.
    let events = app.wait_for_audit(&format!("request:{id}"), "grant.activity", 1).await;
    let audited: Vec<&Value> = events.iter().filter(|e| e["action"] == "grant.activity").collect();
    assert_eq!(audited.len(), 1, "audited once, when final: {audited:?}");
    let details = &audited[0]["details"];
    assert_eq!((details["calls"].as_u64(), details["writes"].as_u64()), (Some(5), Some(3)), "{details}");
    assert_eq!(details["sensitive_writes"][0]["action"], "iam:CreateUser", "{details}");

    // The request's page and the break-glass review show it; the reviewer decides with it.
    let cookie = demo_sign_in(&app, ALICE).await;
    let (code, html) = page(&app, &format!("/requests/{id}"), &cookie).await;
    assert_eq!(code, 200);
    assert!(html.contains("What was done") && html.contains("5 calls from"), "{html}");
    assert!(html.contains("iam:CreateUser <strong>sensitive</strong>"), "{html}");
    assert!(html.contains("<svg") && html.contains("Calls per minute"), "{html}");
    let reviewer = demo_sign_in(&app, BOB).await;
    let (code, html) = page(&app, "/reviews", &reviewer).await;
    assert_eq!(code, 200);
    assert!(html.contains("What was done") && html.contains("iam:CreateUser"), "{html}");

    // Someone who may not see the request learns nothing of its activity.
    let (code, body) = app.as_user(MALLORY, &[]).get(&format!("/api/v1/requests/{id}/activity")).await;
    assert_problem(code, &body, 404, None);
}

#[tokio::test]
async fn an_s3_outage_delays_the_activity_which_comes_once_s3_answers() {
    let moto = Moto::start().await;
    reference_account(&moto.iam().await).await;
    let trail = Trail::create(&moto.url, BUCKET).await.unwrap();
    let s3 = Proxy::start(moto.url.trim_start_matches("http://")).await;
    let config = moto.config("1h") + &trail.config(&s3.url, "1s", "1s");
    let app = TestApp::builder().config(&config).spawn().await;

    s3.cut();
    let id = app.engineer().request(ADMINS, 3600).await;
    app.approver(BOB).approve(&id).await;
    let active = app.wait_for_status(&id, "active", Duration::from_secs(30)).await;
    let start = millis(&active["activated_at"]);
    let done = call(ADMINS, ALICE, start, 1000, ("iam.amazonaws.com", "CreateRole", false)).record();
    tokio::time::sleep_until(instant_of(start + 1500)).await;
    trail.deliver(ACCOUNT, "us-east-1", Utc::now(), &[done]).await.unwrap();

    let failing = activity_failed(&app.engineer(), &id).await;
    assert_eq!(failing["status"], "pending", "{failing}");
    assert!(failing["last_error"].as_str().unwrap().starts_with("S3 did not answer"), "{failing}");
    let cookie = demo_sign_in(&app, ALICE).await;
    let (code, html) = page(&app, &format!("/requests/{id}"), &cookie).await;
    assert_eq!(code, 200, "an outage is no error of the page");
    assert!(html.contains("The CloudTrail logs could not be read") && html.contains("Elevate tries again"), "{html}");

    s3.restore();
    app.set_expiry(std::slice::from_ref(&id), now_ms() + 500).await;
    let activity = activity_when(&app.engineer(), &id, "complete").await;
    assert_eq!(activity["summary"]["calls"], 1, "{activity}");
    assert_eq!(activity["last_error"], Value::Null, "{activity}");
}

#[tokio::test]
async fn a_bucket_elevate_may_not_read_is_named_with_the_fix_and_read_once_allowed() {
    let moto = Moto::start().await;
    let iam = moto.iam().await;
    reference_account(&iam).await;
    let trail = Trail::create(&moto.url, BUCKET).await.unwrap();
    trail.deliver(ACCOUNT, "us-east-1", Utc::now(), &[]).await.unwrap();
    trail.deliver(ACCOUNT, "eu-west-1", Utc::now(), &[]).await.unwrap();
    // Elevate's own IAM user, allowed IAM (the role checks and revocations) and not S3.
    iam.create_user().user_name("elevate").send().await.unwrap();
    let allow = |actions: &[&str]| {
        json!({ "Version": "2012-10-17", "Statement": [{ "Effect": "Allow", "Action": actions, "Resource": "*" }] })
            .to_string()
    };
    iam.put_user_policy()
        .user_name("elevate")
        .policy_name("iam")
        .policy_document(allow(&["iam:*"]))
        .send()
        .await
        .unwrap();
    let key = iam.create_access_key().user_name("elevate").send().await.unwrap();
    let key = key.access_key().unwrap();
    let (key_id, secret) = (key.access_key_id().to_owned(), key.secret_access_key().to_owned());
    moto.enforce_iam().await;

    let config = moto.config("1h") + &trail.config(&moto.url, "1s", "1s");
    let app = TestApp::builder().config(&config).aws_credentials(&key_id, &secret).spawn().await;
    let creds = [("AWS_ACCESS_KEY_ID", key_id.as_str()), ("AWS_SECRET_ACCESS_KEY", secret.as_str())];
    let out = app.cli_with_env(&["aws", "activity-check"], &creds);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        text.contains(&format!("FAIL  s3://{BUCKET}/org-trail/AWSLogs/o-a1b2c3d4e5/{ACCOUNT}/CloudTrail/us-east-1/"))
            && text.contains("AccessDenied")
            && text.contains(&format!(
                "allow s3:ListBucket on arn:aws:s3:::{BUCKET} and s3:GetObject on arn:aws:s3:::{BUCKET}/*"
            )),
        "{text}"
    );

    let id = app.engineer().request(ADMINS, 3600).await;
    app.approver(BOB).approve(&id).await;
    app.wait_for_status(&id, "active", Duration::from_secs(30)).await;
    let refused = activity_failed(&app.engineer(), &id).await;
    assert!(refused["last_error"].as_str().unwrap().contains("may not read the CloudTrail bucket"), "{refused}");
    let cookie = demo_sign_in(&app, ALICE).await;
    let (code, html) = page(&app, &format!("/requests/{id}"), &cookie).await;
    assert_eq!(code, 200);
    assert!(html.contains("may not read the CloudTrail bucket"), "{html}");

    // Once allowed, the check passes and the activity comes without anyone retrying it.
    let as_elevate = moto.iam_as(&key_id, &secret).await;
    as_elevate
        .put_user_policy()
        .user_name("elevate")
        .policy_name("trail")
        .policy_document(allow(&["s3:ListBucket", "s3:GetObject"]))
        .send()
        .await
        .unwrap();
    let out = app.cli_with_env(&["aws", "activity-check"], &creds);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.matches("ok    ").count() == 2, "{text}");
    app.set_expiry(std::slice::from_ref(&id), now_ms() + 500).await;
    let activity = activity_when(&app.engineer(), &id, "complete").await;
    assert_eq!(activity["summary"]["calls"], 0, "{activity}");
}
