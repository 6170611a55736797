//! The pages beyond one's own requests: active grants (admins revoke anyone's), the audit log
//! with its filters and JSON-lines download (auditors and admins), and extending a grant.
use std::time::Duration;

use serde_json::Value;

use crate::{
    helpers::{ALICE, BOB, DAVE, TestApp},
    pages::{csrf_of, demo_sign_in, page, post_form},
};

/// An active AzureAD-Admins grant of Alice's, approved by Bob.
async fn active_grant(app: &TestApp) -> String {
    let id = app.engineer().request("AzureAD-Admins", 600).await;
    app.approver(BOB).approve(&id).await;
    app.wait_for_status(&id, "active", Duration::from_secs(5)).await;
    id
}

#[tokio::test]
async fn admins_see_and_revoke_any_grant_while_others_see_only_their_own() {
    let app = TestApp::spawn().await;
    let id = active_grant(&app).await;

    // Bob is no admin: Alice's grant is not on his page, and he cannot revoke it.
    let bob = demo_sign_in(&app, BOB).await;
    let (status, html) = page(&app, "/grants", &bob).await;
    assert_eq!(status, 200);
    assert!(!html.contains(&id) && html.contains("No access is in force"), "{html}");
    assert!(!html.contains("href=\"/audit\""), "no audit log in Bob's navigation: {html}");
    let form = [
        ("csrf", csrf_of(&page(&app, "/requests/new?profile=AzureAD-Admins", &bob).await.1)),
        ("back", "grants".into()),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _) = post_form(&app, &format!("/requests/{id}/revoke"), &bob, &form).await;
    assert_eq!(status, 403);
    app.wait_for_status(&id, "active", Duration::from_secs(1)).await;

    // Alice sees hers, with the button to give it back.
    let alice = demo_sign_in(&app, ALICE).await;
    let (_, html) = page(&app, "/grants", &alice).await;
    assert!(html.contains(&id) && html.contains("End my access now"), "{html}");

    // Dave, an admin, sees it and revokes it from the list.
    let dave = demo_sign_in(&app, DAVE).await;
    let (_, html) = page(&app, "/grants", &dave).await;
    assert!(html.contains(&id) && html.contains(ALICE) && html.contains(">Revoke<"), "{html}");
    let csrf = csrf_of(&html);
    let form = [("csrf", csrf.as_str()), ("back", "grants"), ("comment", "offboarding")];
    let (status, location) = post_form(&app, &format!("/requests/{id}/revoke"), &dave, &form).await;
    assert_eq!((status, location.as_deref()), (303, Some("/grants")));
    let ended = app.wait_until_ended(&id, Duration::from_secs(5)).await;
    assert_eq!(ended["status"], "revoked");
    let revoked = app.audit_events(&format!("request:{id}")).await;
    let revoked = revoked.iter().find(|e| e["action"] == "request.revoked").expect("the revocation is audited");
    assert_eq!(revoked["actor"], DAVE);
    let (_, html) = page(&app, "/grants", &dave).await;
    assert!(!html.contains(&id), "{html}");
}

#[tokio::test]
async fn auditors_search_the_audit_log_and_download_it_as_json_lines() {
    let app = TestApp::spawn().await;
    let granted = active_grant(&app).await;
    let ticketed = app
        .engineer()
        .try_request("Ticketed", 600, serde_json::json!({ "justification": "fix", "ticket": "CHG-1" }))
        .await
        .1["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Only auditors and admins.
    let alice = demo_sign_in(&app, ALICE).await;
    assert_eq!(page(&app, "/audit", &alice).await.0, 403);
    assert_eq!(page(&app, "/audit/export.jsonl", &alice).await.0, 403);

    let dave = demo_sign_in(&app, DAVE).await;
    let (status, html) = page(&app, "/audit", &dave).await;
    assert_eq!(status, 200);
    assert!(html.contains("request.created") && html.contains("user.signed_in"), "{html}");
    // By profile: the Ticketed request's events, not the other's.
    let (_, html) = page(&app, "/audit?profile=Ticketed", &dave).await;
    assert!(html.contains(&ticketed) && !html.contains(&granted), "{html}");
    // By action, exact or a whole family.
    let (_, html) = page(&app, "/audit?action=request.approved", &dave).await;
    assert!(html.contains(&granted) && !html.contains(&ticketed) && !html.contains("request.created"), "{html}");
    let (_, html) = page(&app, "/audit?action=grant", &dave).await;
    assert!(html.contains("grant.activated") && !html.contains("request.created"), "{html}");
    // By user: what Bob did (his approval, his sign-in), not what only concerned Alice.
    let (_, html) = page(&app, &format!("/audit?user={BOB}"), &dave).await;
    assert!(html.contains("request.approval_given") && !html.contains("request.created"), "{html}");
    // By time: nothing before the first event, everything from then.
    let (_, html) = page(&app, "/audit?to=2000-01-01T00:00", &dave).await;
    assert!(html.contains("No event matches"), "{html}");
    // A bad filter: the error next to its field, the value kept, nothing else changed.
    let (status, html) = page(&app, "/audit?from=yesterday&action=grant", &dave).await;
    assert_eq!(status, 400);
    assert!(html.contains("id=\"f-from-error\"") && html.contains("aria-invalid=\"true\""), "{html}");
    assert!(html.contains("value=\"grant\""), "{html}");

    // The download: JSON lines, oldest first, the same events and hashes as the API's log.
    let resp = reqwest::Client::new()
        .get(format!("{}/audit/export.jsonl", app.address))
        .header("Cookie", &dave)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
    assert!(resp.headers()["content-disposition"].to_str().unwrap().contains("attachment"));
    let lines: Vec<Value> =
        resp.text().await.unwrap().lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect();
    let (_, api) = app.admin().get("/api/v1/audit?limit=1000").await;
    let api = api["items"].as_array().unwrap();
    // Read after the download: the list may hold events appended since (never fewer).
    assert!(!lines.is_empty() && api.len() >= lines.len(), "{} lines, {} events", lines.len(), api.len());
    for (line, event) in lines.iter().zip(api) {
        assert_eq!((&line["seq"], &line["hash"]), (&event["seq"], &event["hash"]));
    }
    // Filtered downloads hold only what the filter matches.
    let text = reqwest::Client::new()
        .get(format!("{}/audit/export.jsonl?profile=Ticketed", app.address))
        .header("Cookie", &dave)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.is_empty());
    for line in text.lines() {
        let event: Value = serde_json::from_str(line).unwrap();
        assert_eq!(event["subject"], format!("request:{ticketed}"));
    }
}

#[tokio::test]
async fn the_requester_extends_an_active_grant_from_its_page() {
    let app = TestApp::spawn().await;
    let id = active_grant(&app).await;
    let alice = demo_sign_in(&app, ALICE).await;
    let (_, html) = page(&app, &format!("/requests/{id}"), &alice).await;
    assert!(html.contains("Extend by") && html.contains("value=\"1800\""), "{html}");
    let csrf = csrf_of(&html);
    let form = [("csrf", csrf.as_str()), ("duration_seconds", "1800"), ("justification", "still rotating")];
    let (status, location) = post_form(&app, &format!("/requests/{id}/extend"), &alice, &form).await;
    assert_eq!(status, 303);
    let extension = location.unwrap().strip_prefix("/requests/").unwrap().to_owned();
    let (_, filed) = app.engineer().get(&format!("/api/v1/requests/{extension}")).await;
    assert_eq!(filed["extends"], id.as_str());
    assert_eq!(filed["status"], "pending", "an extension of an approval profile needs approval again");
    // Beyond the profile's maximum (8h): refused with the reason, nothing filed; invalid
    // input, 400, as the API answers it (one table for both).
    let form = [("csrf", csrf.as_str()), ("duration_seconds", "86400")];
    let (status, _) = post_form(&app, &format!("/requests/{id}/extend"), &alice, &form).await;
    assert_eq!(status, 400);
    // Bob, not the requester, gets no Extend button and cannot extend it.
    let bob = demo_sign_in(&app, BOB).await;
    let (_, html) = page(&app, &format!("/requests/{id}"), &bob).await;
    assert!(!html.contains("Extend by"), "{html}");
    let bob_csrf = csrf_of(&page(&app, "/requests/new?profile=AzureAD-Admins", &bob).await.1);
    let form = [("csrf", bob_csrf.as_str()), ("duration_seconds", "1800")];
    assert_eq!(post_form(&app, &format!("/requests/{id}/extend"), &bob, &form).await.0, 403);
}
