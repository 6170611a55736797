//! The audit log is a hash chain that `elevate audit verify` checks.
use std::time::Duration;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn the_chain_verifies_and_a_hand_edited_event_is_named_by_its_sequence_number() {
    let mut app = TestApp::spawn().await;
    let id = app.engineer().request("AzureAD-Admins", 1).await;
    app.approver(BOB).approve(&id).await;
    app.wait_until_ended(&id, Duration::from_secs(10)).await;

    let (_, page) = app.admin().get("/api/v1/audit?limit=1000").await;
    let events = page["items"].as_array().unwrap();
    assert!(events.len() >= 6, "{page}");
    for pair in events.windows(2) {
        assert_eq!(pair[1]["prev_hash"], pair[0]["hash"]);
        assert_eq!(pair[1]["seq"].as_i64().unwrap(), pair[0]["seq"].as_i64().unwrap() + 1);
    }
    app.kill().await;
    let ok = app.cli(&["audit", "verify"]);
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{out} {}", String::from_utf8_lossy(&ok.stderr));
    // Counted once Elevate is stopped and verify has chained what was still waiting (the
    // admin's own token use lands after the list was read).
    let stored = {
        use sea_orm::PaginatorTrait;
        entity::audit_events::Entity::find().count(&app.db().await).await.unwrap()
    };
    assert!(stored >= events.len() as u64);
    assert!(out.contains(&format!("audit chain intact: {stored} event(s)")), "{out}");

    // Someone with database access rewrites who approved.
    let approval = events.iter().find(|e| e["action"] == "request.approval_given").unwrap();
    let seq = approval["seq"].as_i64().unwrap();
    let db = app.db().await;
    entity::audit_events::Entity::update_many()
        .col_expr(entity::audit_events::Column::Actor, Expr::value("mallory@example.com"))
        .filter(entity::audit_events::Column::Seq.eq(seq))
        .exec(&db)
        .await
        .unwrap();
    let bad = app.cli(&["audit", "verify"]);
    let out = String::from_utf8_lossy(&bad.stdout);
    assert!(!bad.status.success(), "verify must fail: {out}");
    assert!(out.contains(&format!("broken at seq {seq}")), "{out}");

    // Deleting an event instead is caught as well.
    entity::audit_events::Entity::delete_many()
        .filter(entity::audit_events::Column::Seq.eq(seq))
        .exec(&db)
        .await
        .unwrap();
    let bad = app.cli(&["audit", "verify"]);
    let out = String::from_utf8_lossy(&bad.stdout);
    assert!(!bad.status.success() && out.contains(&format!("broken at seq {seq}")), "{out}");
}

/// An event is committed first and chained by the sealer a moment later. Someone with database
/// access who removes, alters or forges an event in that moment is found out when it is sealed.
#[tokio::test]
async fn an_event_removed_altered_or_forged_before_it_is_sealed_is_found_when_it_is() {
    // The sealer of `serve` chains once at start, then not for an hour: the window held open.
    let app = TestApp::builder().config("[audit]\nseal_interval = \"1h\"").spawn().await;
    let mut filed = Vec::new();
    for _ in 0..3 {
        filed.push(app.engineer().request("AzureAD-Admins", 600).await);
    }
    let db = app.db().await;
    let entry_of = |rows: &[entity::audit_entries::Model], id: &str| {
        let subject = format!("request:{id}");
        rows.iter().find(|e| e.subject == subject && e.action == "request.created").cloned().expect("filed, not sealed")
    };
    let rows = entity::audit_entries::Entity::find().all(&db).await.unwrap();
    let (altered, removed) = (entry_of(&rows, &filed[0]), entry_of(&rows, &filed[1]));

    // The first filing is made to look like someone else's, the second disappears, and an
    // approval nobody gave is slipped in.
    entity::audit_entries::Entity::update_many()
        .col_expr(entity::audit_entries::Column::Actor, Expr::value("mallory@example.com"))
        .filter(entity::audit_entries::Column::Id.eq(altered.id))
        .exec(&db)
        .await
        .unwrap();
    entity::audit_entries::Entity::delete_many()
        .filter(entity::audit_entries::Column::Id.eq(removed.id))
        .exec(&db)
        .await
        .unwrap();
    let forged = entity::audit_entries::ActiveModel {
        at: sea_orm::Set(altered.at),
        actor: sea_orm::Set(BOB.into()),
        action: sea_orm::Set("request.approved".into()),
        subject: sea_orm::Set(format!("request:{}", filed[2])),
        details: sea_orm::Set("{}".into()),
        mac: sea_orm::Set(Some("0".repeat(64))),
        ..Default::default()
    };
    entity::audit_entries::Entity::insert(forged).exec_without_returning(&db).await.unwrap();

    // `audit verify` chains what waits, and the sealer's findings are the first broken links.
    let bad = app.cli(&["audit", "verify"]);
    let out = String::from_utf8_lossy(&bad.stdout);
    assert!(!bad.status.success(), "verify must fail: {out}");
    let altered_entry = altered.entry.unwrap();
    assert!(
        out.contains("audit.entry_suspect") && out.contains(&format!("entry {altered_entry} is not as it was written")),
        "{out}"
    );

    let (_, page) = app.admin().get("/api/v1/audit?limit=1000").await;
    let events = page["items"].as_array().unwrap();
    let findings: Vec<&Value> =
        events.iter().filter(|e| e["action"].as_str().unwrap().starts_with("audit.entr")).collect();
    let removed_entry = removed.entry.unwrap();
    assert!(
        findings.iter().any(|e| e["action"] == "audit.entries_missing"
            && e["details"]["from"] == removed_entry
            && e["details"]["to"] == removed_entry),
        "{findings:?}"
    );
    let forged_event =
        events.iter().find(|e| e["action"] == "request.approved").expect("the forgery is chained as found");
    assert!(
        findings.iter().any(|e| e["action"] == "audit.entry_suspect"
            && e["seq"].as_i64() == forged_event["seq"].as_i64().map(|s| s + 1)),
        "the forgery is followed by a finding: {findings:?}"
    );
    // What was not touched is chained as written, in the order it was committed.
    let third: Vec<&str> = events
        .iter()
        .filter(|e| e["subject"] == format!("request:{}", filed[2]))
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(third.first(), Some(&"request.created"), "{third:?}");
}
