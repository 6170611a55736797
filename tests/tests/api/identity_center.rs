//! IAM Identity Center profiles: the Entra membership through Graph, and the Identity
//! Center membership removed directly at expiry (moto's identity store), not by SCIM later.
use std::time::Duration;

use aws_sdk_identitystore::{Client, types::MemberId};
use elevate_tests::{graph_server::GraphServer, tcp_proxy::Proxy};
use serde_json::Value;

use crate::{
    aws::{Moto, reference_account},
    helpers::*,
};

const STORE: &str = "d-1234567890";
const IC_GROUP: &str = "AWS-IC-Admins";

struct IdentityCenterApp {
    app: TestApp,
    store: Client,
    group_id: String,
    proxy: Proxy,
    _moto: Moto,
}

async fn identity_center_app(worker: &str) -> IdentityCenterApp {
    let moto = Moto::start().await;
    reference_account(&moto.iam().await).await;
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&moto.url)
        .credentials_provider(aws_sdk_identitystore::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await;
    let store = Client::new(&config);
    for upn in [ALICE, BOB, MALLORY] {
        let name = aws_sdk_identitystore::types::Name::builder().given_name("Test").family_name("User").build();
        store.create_user().identity_store_id(STORE).user_name(upn).display_name(upn).name(name).send().await.unwrap();
    }
    let group_id = store
        .create_group()
        .identity_store_id(STORE)
        .display_name(IC_GROUP)
        .send()
        .await
        .unwrap()
        .group_id()
        .to_owned();

    let graph = GraphServer::start().await;
    graph.add_group(IC_GROUP, &[]);
    let proxy = Proxy::start(moto.url.trim_start_matches("http://")).await;
    let policy = format!(
        "{POLICY}\n[profiles.IC-Admins]\ntitle = \"Account 1 administrators through IAM Identity Center\"\ngroup = \"{IC_GROUP}\"\n\
         min_duration = \"1s\"\nmax_duration = \"1h\"\naws_target = \"identity_center\"\nreconcile = \"enforce\"\n\
         identity_center = {{ identity_store_id = \"{STORE}\", group = \"{IC_GROUP}\" }}\n\
         eligible = {{ groups = [\"Engineers\"] }}\napproval = {{ auto_approve = true }}\n"
    );
    // `[aws]` keys must precede its `[[aws.accounts]]` table: rebuild the section in order.
    let (head, account) =
        moto.config("1h").split_once("[[aws.accounts]]").map(|(h, a)| (h.to_owned(), a.to_owned())).unwrap();
    let aws = format!(
        "{head}identity_center_endpoint_url = \"{}\"\nidentity_center_wait = \"1s\"\n[[aws.accounts]]{account}",
        proxy.url
    );
    let app = TestApp::builder().policy(&policy).graph(graph).worker(worker).config(&aws).spawn().await;
    IdentityCenterApp { app, store, group_id, proxy, _moto: moto }
}

impl IdentityCenterApp {
    async fn ic_user(&self, upn: &str) -> String {
        let id = aws_sdk_identitystore::types::UniqueAttribute::builder()
            .attribute_path("userName")
            .attribute_value(aws_smithy_types::Document::String(upn.into()))
            .build()
            .unwrap();
        let alt = aws_sdk_identitystore::types::AlternateIdentifier::UniqueAttribute(id);
        self.store
            .get_user_id()
            .identity_store_id(STORE)
            .alternate_identifier(alt)
            .send()
            .await
            .unwrap()
            .user_id()
            .to_owned()
    }

    async fn ic_members(&self) -> Vec<String> {
        let out =
            self.store.list_group_memberships().identity_store_id(STORE).group_id(&self.group_id).send().await.unwrap();
        out.group_memberships()
            .iter()
            .filter_map(|m| match m.member_id() {
                Some(MemberId::UserId(id)) => Some(id.clone()),
                _ => None,
            })
            .collect()
    }

    async fn wait_ic(&self, what: &str, done: impl AsyncFn(&Self) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !done(self).await {
            assert!(tokio::time::Instant::now() < deadline, "{what} did not happen");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test]
async fn an_identity_center_grant_ends_in_identity_center_within_a_second_of_expiry() {
    let ic = identity_center_app("").await;
    let alice = ic.ic_user(ALICE).await;
    let id = ic.app.engineer().request("IC-Admins", 4).await;
    ic.app.wait_for_status(&id, "active", Duration::from_secs(5)).await;
    assert!(ic.app.is_member(IC_GROUP, ALICE).await, "the Entra membership comes first");
    // No SCIM cycle here: after the grace period Elevate adds the Identity Center membership.
    ic.wait_ic("the Identity Center membership", async |s| s.ic_members().await.contains(&alice)).await;

    let ended = ic
        .app
        .wait_for(&id, Duration::from_secs(15), |b| {
            b["identity_center_ended_at"].is_string() && b["ended_at"].is_string()
        })
        .await;
    let expires = millis(&ended["expires_at"]);
    let ic_lag = millis(&ended["identity_center_ended_at"]) - expires;
    let entra_lag = millis(&ended["ended_at"]) - expires;
    assert!((0..1000).contains(&ic_lag), "Identity Center membership removed {ic_lag} ms after expiry");
    assert!((0..1000).contains(&entra_lag), "Entra membership removed {entra_lag} ms after expiry");
    assert!(!ic.ic_members().await.contains(&alice), "gone from Identity Center, verified through its API");
    assert!(!ic.app.is_member(IC_GROUP, ALICE).await, "gone from Entra, verified through Graph");
    let (_, metrics) = ic.app.get_raw("/metrics", None).await;
    let metrics = metrics.as_str().unwrap_or_default().to_owned();
    assert!(metrics.contains("elevate_revocation_lag_seconds_count{side=\"identity_center\"} 1"), "{metrics}");
    assert!(metrics.contains("elevate_revocation_lag_seconds_count{side=\"entra\"} 1"), "{metrics}");
}

#[tokio::test]
async fn overlapping_identity_center_grants_keep_the_membership_until_the_last_ends() {
    let ic = identity_center_app("").await;
    let alice = ic.ic_user(ALICE).await;
    let short = ic.app.engineer().request("IC-Admins", 3).await;
    let long = ic.app.engineer().request("IC-Admins", 6).await;
    ic.wait_ic("the Identity Center membership", async |s| s.ic_members().await.contains(&alice)).await;
    let first = ic.app.wait_until_ended(&short, Duration::from_secs(10)).await;
    assert_eq!(first["membership_outcome"], "kept_overlap");
    assert!(first["identity_center_ended_at"].is_null());
    assert!(ic.ic_members().await.contains(&alice), "still a member while the longer grant lasts");
    ic.app.wait_for(&long, Duration::from_secs(15), |b| b["identity_center_ended_at"].is_string()).await;
    assert!(!ic.ic_members().await.contains(&alice));
    assert_eq!(ic.ic_members().await.len(), 0, "added once, removed once");
}

#[tokio::test]
async fn an_identity_center_outage_during_expiry_is_retried_until_it_is_back() {
    let ic = identity_center_app("").await;
    let alice = ic.ic_user(ALICE).await;
    let id = ic.app.engineer().request("IC-Admins", 4).await;
    ic.wait_ic("the Identity Center membership", async |s| s.ic_members().await.contains(&alice)).await;
    ic.proxy.cut();
    let ended = ic.app.wait_until_ended(&id, Duration::from_secs(10)).await;
    assert_eq!(ended["membership_outcome"], "removed", "Entra does not wait for Identity Center");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(ic.ic_members().await.contains(&alice), "nothing reached Identity Center during the outage");
    ic.proxy.restore();
    ic.wait_ic("the removal after the outage", async |s| !s.ic_members().await.contains(&alice)).await;
    let done = ic.app.wait_for(&id, Duration::from_secs(10), |b| b["identity_center_ended_at"].is_string()).await;
    assert!(millis(&done["identity_center_ended_at"]) > millis(&done["ended_at"]));
}

#[tokio::test]
async fn a_member_of_the_identity_center_group_without_a_grant_is_drift() {
    let ic = identity_center_app("reconcile_interval = \"1s\"").await;
    let mallory = ic.ic_user(MALLORY).await;
    ic.store
        .create_group_membership()
        .identity_store_id(STORE)
        .group_id(&ic.group_id)
        .member_id(MemberId::UserId(mallory.clone()))
        .send()
        .await
        .unwrap();
    ic.wait_ic("the drift removal", async |s| !s.ic_members().await.contains(&mallory)).await;
    let subject = format!("identity-center:{}", ic.group_id);
    let events = ic.app.wait_for_audit(&subject, "drift.removed", 1).await;
    let actions: Vec<&str> = events.iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(actions.contains(&"drift.found") && actions.contains(&"drift.removed"), "{events:?}");
    assert!(events.iter().all(|e| e["details"]["user_id"] == Value::String(mallory.clone())));
}
