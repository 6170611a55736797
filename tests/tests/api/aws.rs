//! AWS IAM against moto in server mode: discovery and risk tiers, the mapping check, and
//! revocation of live role sessions when a grant ends (merged per user, pruned later).
use std::time::Duration;

use aws_sdk_iam::Client;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use elevate_tests::graph_server::GraphServer;

use crate::notify_peers::SmtpSink;

use crate::helpers::*;

const ACCOUNT: &str = "123456789012";
const SAML: &str = "arn:aws:iam::123456789012:saml-provider/AzureAD";
const REVOCATIONS: &str = "ElevateSessionRevocations";

/// moto's IAM in server mode, one per test (started from the venv `scripts/test` makes).
pub struct Moto {
    pub url: String,
    _child: Child,
}

impl Moto {
    pub async fn start() -> Self {
        let bin = std::env::var("ELEVATE_TEST_MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{bin} does not start ({e}): scripts/test installs moto"));
        let url = format!("http://127.0.0.1:{port}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while reqwest::get(format!("{url}/moto-api/")).await.is_err() {
            assert!(tokio::time::Instant::now() < deadline, "moto did not come up");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Self { url, _child: child }
    }

    pub async fn iam(&self) -> Client {
        self.iam_as("testing", "testing").await
    }

    /// IAM signed with one of moto's IAM users' access keys (needed once IAM is enforced).
    pub async fn iam_as(&self, key_id: &str, secret: &str) -> Client {
        let creds = aws_sdk_iam::config::Credentials::new(key_id, secret, None, None, "tests");
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(&self.url)
            .credentials_provider(creds)
            .load()
            .await;
        Client::new(&config)
    }

    /// From now on moto checks every call against its IAM users and their policies, as AWS
    /// does (until now it took any credentials).
    pub async fn enforce_iam(&self) {
        let reply = reqwest::Client::new().post(format!("{}/moto-api/reset-auth", self.url)).body("0").send().await;
        assert!(reply.is_ok_and(|r| r.status().is_success()), "moto does not enforce IAM");
    }

    /// The `[aws]` section pointing Elevate at this moto.
    pub fn config(&self, prune_interval: &str) -> String {
        format!(
            "\n[aws]\nregion = \"us-east-1\"\nprune_interval = \"{prune_interval}\"\n[[aws.accounts]]\naccount_id = \"{ACCOUNT}\"\n\
             saml_provider_arn = \"{SAML}\"\nendpoint_url = \"{}\"\n",
            self.url
        )
    }
}

fn trust(federated: bool) -> String {
    let statement = if federated {
        json!({ "Effect": "Allow", "Principal": { "Federated": SAML }, "Action": "sts:AssumeRoleWithSAML",
                "Condition": { "StringEquals": { "SAML:aud": "https://signin.aws.amazon.com/saml" } } })
    } else {
        json!({ "Effect": "Allow", "Principal": { "Service": "ec2.amazonaws.com" }, "Action": "sts:AssumeRole" })
    };
    json!({ "Version": "2012-10-17", "Statement": [statement] }).to_string()
}

async fn role(iam: &Client, name: &str, federated: bool, managed: &[&str]) -> String {
    let out = iam
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust(federated))
        .max_session_duration(3600)
        .send()
        .await
        .unwrap();
    for policy in managed {
        iam.attach_role_policy()
            .role_name(name)
            .policy_arn(format!("arn:aws:iam::aws:policy/{policy}"))
            .send()
            .await
            .unwrap();
    }
    out.role().unwrap().role_id().to_owned()
}

/// The SAML provider and the two federated roles of the reference deployment.
pub async fn reference_account(iam: &Client) -> String {
    let metadata = format!(
        "<EntityDescriptor xmlns=\"urn:oasis:names:tc:SAML:2.0:metadata\" entityID=\"https://sts.windows.net/tenant/\">{}</EntityDescriptor>",
        "<!-- padding -->".repeat(80)
    );
    iam.create_saml_provider().name("AzureAD").saml_metadata_document(metadata).send().await.unwrap();
    role(iam, "AzureAD-Developers", true, &["ReadOnlyAccess"]).await;
    role(iam, "AzureAD-Admins", true, &["AdministratorAccess"]).await
}

async fn revocations(iam: &Client) -> Vec<Value> {
    match iam.get_role_policy().role_name("AzureAD-Admins").policy_name(REVOCATIONS).send().await {
        Ok(out) => {
            let text = percent_decode(out.policy_document());
            serde_json::from_str::<Value>(&text).unwrap()["Statement"].as_array().cloned().unwrap_or_default()
        }
        Err(_) => vec![],
    }
}

/// The statements of the role's revocation policy, once there are any (10 s at most).
async fn first_revocations(iam: &Client) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let statements = revocations(iam).await;
        if !statements.is_empty() {
            return statements;
        }
        assert!(tokio::time::Instant::now() < deadline, "no revocation written");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

#[tokio::test]
async fn discover_lists_the_federated_roles_with_their_policies_and_risk() {
    let moto = Moto::start().await;
    let iam = moto.iam().await;
    reference_account(&iam).await;
    role(&iam, "AzureAD-S3", true, &["AmazonS3FullAccess"]).await;
    role(&iam, "AzureAD-Inline", true, &[]).await;
    let star = json!({ "Version": "2012-10-17", "Statement": [{ "Effect": "Allow", "Action": "*", "Resource": "*" }] });
    iam.put_role_policy()
        .role_name("AzureAD-Inline")
        .policy_name("everything")
        .policy_document(star.to_string())
        .send()
        .await
        .unwrap();
    role(&iam, "ec2-service-role", false, &["AdministratorAccess"]).await;

    let app = TestApp::builder().config(&moto.config("1h")).spawn().await;
    let out = app.cli(&["aws", "discover"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{table}{}", String::from_utf8_lossy(&out.stderr));
    let row = |name: &str| {
        table.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name} missing:\n{table}")).to_owned()
    };
    assert!(
        row("AzureAD-Admins ").contains("high") && row("AzureAD-Admins ").contains("AdministratorAccess"),
        "{table}"
    );
    assert!(row("AzureAD-Developers").contains("low"), "{table}");
    assert!(row("AzureAD-S3").contains("medium"), "{table}");
    assert!(row("AzureAD-Inline").contains("high") && row("AzureAD-Inline").contains("everything"), "{table}");
    assert!(!table.contains("ec2-service-role"), "a role the SAML provider does not federate is not listed:\n{table}");

    let out = app.cli(&["aws", "discover", "--format", "toml"]);
    let stanzas = String::from_utf8_lossy(&out.stdout);
    assert!(stanzas.contains("[profiles.AzureAD-Admins]") && stanzas.contains("revoke_sessions = true"), "{stanzas}");
    assert!(
        stanzas.contains(&format!("aws_role_arn = \"arn:aws:iam::{ACCOUNT}:role/AzureAD-Developers\"")),
        "{stanzas}"
    );

    let (_, profiles) = app.engineer().get("/api/v1/profiles").await;
    let admins = profiles.as_array().unwrap().iter().find(|p| p["key"] == "AzureAD-Admins").unwrap().clone();
    assert_eq!((admins["risk_tier"].as_str(), admins["revoke_sessions"].as_bool()), (Some("high"), Some(true)));
}

#[tokio::test]
async fn the_mapping_check_names_missing_and_untrusting_roles() {
    let moto = Moto::start().await;
    let iam = moto.iam().await;
    reference_account(&iam).await;
    role(&iam, "Not-Federated", false, &[]).await;
    let app = TestApp::builder().config(&moto.config("1h")).spawn().await;
    let bad = app.dir.path().join("bad-policy.toml");
    let text = POLICY
        .replace("role/AzureAD-Admins", "role/Does-Not-Exist")
        .replace("role/AzureAD-Developers", "role/Not-Federated");
    std::fs::write(&bad, text).unwrap();
    let out = app.cli(&["policy", "check", "--aws", bad.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("profile AzureAD-Admins: role arn:aws:iam::123456789012:role/Does-Not-Exist does not exist"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "profile AzureAD-Developers: role arn:aws:iam::123456789012:role/Not-Federated does not trust {SAML}"
        )),
        "{text}"
    );

    let out = app.cli_with_env(
        &["serve"],
        &[("ELEVATE_POLICY__PATH", bad.to_str().unwrap()), ("ELEVATE_SERVER__BIND", "127.0.0.1:0")],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("AWS mapping check failed") && err.contains("Does-Not-Exist"),
        "{err}"
    );
}

#[tokio::test]
async fn ending_a_grant_denies_exactly_that_users_older_sessions_merged_per_role_and_pruned_later() {
    let moto = Moto::start().await;
    let iam = moto.iam().await;
    let role_id = reference_account(&iam).await;
    let app = TestApp::builder().config(&moto.config("2s")).spawn().await;

    let alice = app.engineer().request("AzureAD-Admins", 1).await;
    app.approver(BOB).approve(&alice).await;
    let ended = app.wait_until_ended(&alice, Duration::from_secs(10)).await;
    let statements = first_revocations(&iam).await;
    assert_eq!(statements.len(), 1, "{statements:?}");
    let s = &statements[0];
    assert_eq!(
        (s["Effect"].as_str(), s["Action"].as_str(), s["Resource"].as_str()),
        (Some("Deny"), Some("*"), Some("*"))
    );
    assert_eq!(s["Condition"]["StringEqualsIgnoreCase"]["aws:userid"], format!("{role_id}:{ALICE}"));
    let issued_before = millis(&s["Condition"]["DateLessThan"]["aws:TokenIssueTime"]);
    let end = millis(&ended["ended_at"]);
    assert!(
        issued_before >= end && issued_before - end <= 1000,
        "deny sessions issued before the end ({end}), got {issued_before}"
    );
    app.wait_for_audit(&format!("request:{alice}"), "aws.sessions_revoked", 1).await;

    // A second user of the same role: merged into the same policy, one statement each.
    let bob = app.approver(BOB).request("AzureAD-Admins", 1).await;
    app.approver(CAROL).approve(&bob).await;
    app.wait_until_ended(&bob, Duration::from_secs(10)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while revocations(&iam).await.len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the second revocation was not merged: {:?}",
            revocations(&iam).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let users: Vec<Value> = revocations(&iam)
        .await
        .iter()
        .map(|s| s["Condition"]["StringEqualsIgnoreCase"]["aws:userid"].clone())
        .collect();
    assert_eq!(users, [json!(format!("{role_id}:{ALICE}")), json!(format!("{role_id}:{BOB}"))]);

    // A statement older than the role's MaxSessionDuration can match no live session: pruned.
    let mut doc = json!({ "Version": "2012-10-17", "Statement": revocations(&iam).await });
    doc["Statement"].as_array_mut().unwrap().push(json!({
        "Sid": "ElevateRevokeOld", "Effect": "Deny", "Action": "*", "Resource": "*",
        "Condition": { "StringLike": { "aws:userid": format!("{role_id}:old@example.com") },
                       "DateLessThan": { "aws:TokenIssueTime": "2020-01-01T00:00:00Z" } },
    }));
    iam.put_role_policy()
        .role_name("AzureAD-Admins")
        .policy_name(REVOCATIONS)
        .policy_document(doc.to_string())
        .send()
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while revocations(&iam).await.len() != 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the old statement was not pruned: {:?}",
            revocations(&iam).await
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn the_inventory_flags_admin_users_missing_mfa_old_keys_and_a_second_saml_provider() {
    let moto = Moto::start().await;
    let iam = moto.iam().await;
    reference_account(&iam).await;
    let admin = "arn:aws:iam::aws:policy/AdministratorAccess";
    iam.create_user().user_name("legacy-admin").send().await.unwrap();
    iam.attach_user_policy().user_name("legacy-admin").policy_arn(admin).send().await.unwrap();
    iam.create_login_profile().user_name("legacy-admin").password("Passw0rd!Passw0rd!").send().await.unwrap();
    iam.create_access_key().user_name("legacy-admin").send().await.unwrap();
    iam.create_group().group_name("Ops").send().await.unwrap();
    iam.attach_group_policy().group_name("Ops").policy_arn(admin).send().await.unwrap();
    iam.add_user_to_group().group_name("Ops").user_name("legacy-admin").send().await.unwrap();
    let doc = json!({ "Version": "2012-10-17", "Statement": [{ "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*" }] });
    let policy = iam.create_policy().policy_name("custom-s3").policy_document(doc.to_string()).send().await.unwrap();
    let policy_arn = policy.policy().unwrap().arn().unwrap().to_owned();
    iam.attach_role_policy().role_name("AzureAD-Developers").policy_arn(&policy_arn).send().await.unwrap();
    let metadata = format!("<EntityDescriptor entityID=\"okta\">{}</EntityDescriptor>", "<!-- padding -->".repeat(80));
    iam.create_saml_provider().name("Okta").saml_metadata_document(metadata).send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let app = TestApp::builder().config(&moto.config("1h")).spawn().await;
    let out = app.cli(&["aws", "inventory", "--format", "json", "--max-key-age", "0s"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let inv: Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings: Vec<&str> = inv["findings"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    let has = |needle: &str| findings.iter().any(|f| f.contains(needle));
    assert!(has("user legacy-admin: holds AdministratorAccess directly"), "{findings:?}");
    assert!(has("user legacy-admin: no MFA device (has console access)"), "{findings:?}");
    assert!(has("user legacy-admin: access key"), "{findings:?}");
    assert!(has("group Ops: grants AdministratorAccess to legacy-admin"), "{findings:?}");
    assert!(has("2 SAML providers"), "{findings:?}");
    let user = &inv["users"][0];
    assert_eq!(
        (user["name"].as_str(), user["mfa"].as_bool(), user["password_age_days"].as_i64()),
        (Some("legacy-admin"), Some(false), Some(0))
    );
    let custom =
        inv["customer_policies"].as_array().unwrap().iter().find(|p| p["name"] == "custom-s3").unwrap().clone();
    assert_eq!(custom["attached_to"], json!(["role AzureAD-Developers"]));
    let custom_roles: Vec<&str> =
        inv["custom_roles"].as_array().unwrap().iter().filter_map(|r| r["name"].as_str()).collect();
    assert!(custom_roles.contains(&"AzureAD-Admins"), "{custom_roles:?}");

    let out = app.cli(&["aws", "inventory"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && table.contains("! user legacy-admin: no MFA device"), "{table}");
    assert!(!table.contains("days old"), "a fresh key is no finding at the default 90 days:\n{table}");

    let out = app.cli(&["aws", "setup-guide"]);
    let guide = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && guide.contains(SAML) && guide.contains("sts:AssumeRoleWithSAML"), "{guide}");
    assert!(guide.contains("\"iam:ListRoles\"") && guide.contains("\"iam:ListAccountAliases\""), "{guide}");
    let after = iam.list_roles().send().await.unwrap().roles().len();
    assert_eq!(after, 2, "the guide changed nothing in AWS");
}

#[tokio::test]
async fn a_revocation_during_an_aws_outage_is_retried_until_aws_is_back() {
    let moto = Moto::start().await;
    let iam = moto.iam().await;
    reference_account(&iam).await;
    let proxy = elevate_tests::tcp_proxy::Proxy::start(moto.url.trim_start_matches("http://")).await;
    let through_proxy = Moto { url: proxy.url.clone(), ..moto };
    let app = TestApp::builder().config(&through_proxy.config("1h")).spawn().await;

    let id = app.engineer().request("AzureAD-Admins", 2).await;
    app.approver(BOB).approve(&id).await;
    app.wait_for_status(&id, "active", Duration::from_secs(5)).await;
    proxy.cut();
    app.wait_until_ended(&id, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(revocations(&iam).await.is_empty(), "nothing reached IAM during the outage");
    let restored_at = chrono::Utc::now().timestamp_millis();
    proxy.restore();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while revocations(&iam).await.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the revocation was not retried after the outage");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let events = app.wait_for_audit(&format!("request:{id}"), "aws.sessions_revoked", 1).await;
    let revoked = events.iter().find(|e| e["action"] == "aws.sessions_revoked").expect("audited");
    let lag = millis(&revoked["at"]) - restored_at;
    assert!(lag < 5000, "revoked {lag} ms after AWS came back");
    let grant = {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let db = app.db().await;
        entity::grants::Entity::find()
            .filter(entity::grants::Column::RequestId.eq(id.as_str()))
            .one(&db)
            .await
            .unwrap()
            .unwrap()
            .id
    };
    let failures = app.audit_events(&format!("grant:{grant}")).await;
    assert!(
        failures.iter().any(|e| e["details"]["kind"] == "revoke_aws_sessions"),
        "failed attempts are audited: {failures:?}"
    );
}

#[tokio::test]
async fn drift_removed_by_reconciliation_also_loses_its_live_sessions() {
    let moto = Moto::start().await;
    let iam = moto.iam().await;
    reference_account(&iam).await;
    let app = TestApp::builder().worker("reconcile_interval = \"1s\"").config(&moto.config("1h")).spawn().await;
    // Mallory was added to the developers' group by hand: no grant, and the profile enforces.
    {
        use sea_orm::{ActiveValue::Set, EntityTrait};
        let db = app.db().await;
        let row = entity::local_group_members::ActiveModel {
            group_id: Set(DEVELOPERS_GROUP.into()),
            user_id: Set(MALLORY.into()),
            added_at: Set(chrono::Utc::now().timestamp_millis()),
        };
        entity::local_group_members::Entity::insert(row).exec(&db).await.unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let developers_revocations = || async {
        match iam.get_role_policy().role_name("AzureAD-Developers").policy_name(REVOCATIONS).send().await {
            Ok(out) => {
                serde_json::from_str::<Value>(&percent_decode(out.policy_document())).unwrap()["Statement"].clone()
            }
            Err(_) => Value::Null,
        }
    };
    while developers_revocations().await.is_null() {
        assert!(tokio::time::Instant::now() < deadline, "no revocation after the drift removal");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(!app.is_member(DEVELOPERS_GROUP, MALLORY).await);
    let statements = developers_revocations().await;
    let userid = statements[0]["Condition"]["StringEqualsIgnoreCase"]["aws:userid"].as_str().unwrap().to_owned();
    assert!(userid.ends_with(&format!(":{MALLORY}")), "{statements}");
    app.wait_for_audit(&format!("group:{DEVELOPERS_GROUP}"), "aws.sessions_revoked", 1).await;
    let events = app.audit_actions(&format!("group:{DEVELOPERS_GROUP}")).await;
    assert!(events.contains(&"drift.removed".to_owned()), "{events:?}");
}

/// Whether `statement` denies a session with `userid` issued at `issued_at` (RFC 3339), under
/// the condition operators' documented semantics (IAM User Guide, "IAM JSON policy elements:
/// Condition operators"): `StringEquals` and `StringLike` compare case-sensitively (the latter
/// with `*` and `?`), `StringEqualsIgnoreCase` ignores case. moto stores policies without
/// evaluating them, so the test evaluates what Elevate wrote.
fn denies(statement: &Value, userid: &str, issued_at: &str) -> bool {
    fn like(pattern: &[char], value: &[char]) -> bool {
        match (pattern.first(), value.first()) {
            (None, None) => true,
            (Some('*'), _) => like(&pattern[1..], value) || (!value.is_empty() && like(pattern, &value[1..])),
            (Some('?'), Some(_)) => like(&pattern[1..], &value[1..]),
            (Some(p), Some(v)) => p == v && like(&pattern[1..], &value[1..]),
            _ => false,
        }
    }
    assert_eq!(statement["Effect"], "Deny", "{statement}");
    let conditions = statement["Condition"].as_object().expect("a condition");
    conditions.iter().all(|(operator, keys)| {
        keys.as_object().unwrap().iter().all(|(key, want)| {
            let have = match key.as_str() {
                "aws:userid" => userid,
                "aws:TokenIssueTime" => issued_at,
                other => panic!("a condition on {other}: {statement}"),
            };
            let want = want.as_str().expect("one value");
            match operator.as_str() {
                "StringEquals" => have == want,
                "StringEqualsIgnoreCase" => have.to_lowercase() == want.to_lowercase(),
                "StringLike" => like(&want.chars().collect::<Vec<_>>(), &have.chars().collect::<Vec<_>>()),
                "DateLessThan" => {
                    chrono::DateTime::parse_from_rfc3339(have).unwrap()
                        < chrono::DateTime::parse_from_rfc3339(want).unwrap()
                }
                other => panic!("an operator this test does not know: {other}"),
            }
        })
    })
}

#[tokio::test]
async fn a_mixed_case_users_live_sessions_are_denied_under_the_name_entra_gives_them() {
    // Entra's AWS app sends RoleSessionName as the directory stores the UPN, case and all.
    const MIXED: &str = "Erin.Mixed@Contoso.example";
    let moto = Moto::start().await;
    let iam = moto.iam().await;
    let role_id = reference_account(&iam).await;
    let graph = GraphServer::start().await;
    let app = TestApp::builder().graph(graph).config(&moto.config("2s")).spawn().await;
    let erin = app.graph().add_user(MIXED);
    app.graph().set_member("Engineers", &erin, true);

    let id = app.as_user(MIXED, &["requester"]).request("AzureAD-Admins", 1).await;
    app.approver(BOB).approve(&id).await;
    let ended = app.wait_until_ended(&id, Duration::from_secs(10)).await;
    let statements = first_revocations(&iam).await;
    let s = &statements[0];
    let during = chrono::DateTime::from_timestamp_millis(millis(&ended["ended_at"]) - 500).unwrap().to_rfc3339();
    let after = chrono::DateTime::from_timestamp_millis(millis(&ended["ended_at"]) + 5_000).unwrap().to_rfc3339();
    for name in [MIXED, "erin.mixed@contoso.example", "ERIN.MIXED@CONTOSO.EXAMPLE"] {
        assert!(denies(s, &format!("{role_id}:{name}"), &during), "the session of {name} is not denied: {s}");
    }
    assert!(!denies(s, &format!("{role_id}:{MIXED}"), &after), "a session issued after the end is denied: {s}");
    assert!(!denies(s, &format!("{role_id}:{ALICE}"), &during), "another user's session is denied: {s}");
    assert!(!denies(s, &format!("AROAOTHERROLE:{MIXED}"), &during), "another role's session is denied: {s}");
    // The same evaluator finds the case-sensitive StringLike of before wanting.
    let mut before = s.clone();
    before["Condition"] = json!({ "StringLike": s["Condition"]["StringEqualsIgnoreCase"].clone(),
                                  "DateLessThan": s["Condition"]["DateLessThan"].clone() });
    assert!(!denies(&before, &format!("{role_id}:{MIXED}"), &during));
    app.wait_for_audit(&format!("request:{id}"), "aws.sessions_revoked", 1).await;
}

#[tokio::test]
async fn a_high_risk_roles_emailed_link_decides_only_for_its_signed_in_approver_whatever_the_settings_say() {
    let moto = Moto::start().await;
    reference_account(&moto.iam().await).await; // AzureAD-Admins holds AdministratorAccess: high risk
    let sink = SmtpSink::start().await;
    // The profile and [links] both say its links need no sign-in.
    let policy = POLICY.replacen("permanent_members", "require_sign_in_for_links = false\npermanent_members", 1);
    let extra = format!("{}\n{}\n[links]\nrequire_sign_in = false\n", sink.config(), moto.config("1h"));
    let app = TestApp::builder().policy(&policy).config(&extra).spawn().await;
    let id = app.engineer().request("AzureAD-Admins", 600).await;
    let mail = sink.wait_for(1, |m| m.to == BOB && m.subject.starts_with("Approval needed")).await.remove(0);
    assert!(mail.text.contains("signed in to Elevate"), "{}", mail.text);
    let link = mail.link("Approve");
    let token = link.split_once("token=").unwrap().1.to_owned();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let open = |cookie: Option<String>| {
        let (http, link) = (&http, &link);
        async move {
            let mut req = http.get(link);
            if let Some(c) = cookie {
                req = req.header("Cookie", c);
            }
            let resp = req.send().await.unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    let confirm = |cookie: Option<String>| {
        let (http, app, token) = (&http, &app, &token);
        async move {
            let mut req = http.post(format!("{}/act", app.address)).form(&[("token", token.as_str())]);
            if let Some(c) = cookie {
                req = req.header("Cookie", c);
            }
            req.send().await.unwrap().status().as_u16()
        }
    };

    // Whoever holds the forwarded mail: asked to sign in as Bob, nothing decided.
    let (status, page) = open(None).await;
    assert!(status == 401 && page.contains("sign in to Elevate as bob@example.com"), "{status}: {page}");
    assert_eq!(confirm(None).await, 401);
    // The requester, signed in, is refused outright.
    let alice = crate::pages::demo_sign_in(&app, ALICE).await;
    let (status, page) = open(Some(alice.clone())).await;
    assert!(status == 403 && page.contains("own request"), "{status}: {page}");
    assert_eq!(confirm(Some(alice)).await, 403);
    let (_, still) = app.admin().get(&format!("/api/v1/requests/{id}")).await;
    assert_eq!(still["status"], "pending", "{still}");
    // Bob, signed in, decides.
    let bob = crate::pages::demo_sign_in(&app, BOB).await;
    assert_eq!(open(Some(bob.clone())).await.0, 200);
    assert_eq!(confirm(Some(bob)).await, 200);
    app.wait_for_status(&id, "active", Duration::from_secs(10)).await;
}
