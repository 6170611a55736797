//! The audit log is a hash chain that `elevate audit verify` checks.
use std::time::Duration;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};

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
    // Counted once Elevate is stopped: the admin's own token use lands after the list was read.
    let stored = {
        use sea_orm::PaginatorTrait;
        entity::audit_events::Entity::find().count(&app.db().await).await.unwrap()
    };
    assert!(stored >= events.len() as u64);

    let ok = app.cli(&["audit", "verify"]);
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{out} {}", String::from_utf8_lossy(&ok.stderr));
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
