//! `GET /metrics`: what an operator graphs and alerts on.
use std::time::Duration;

use elevate_tests::graph_server::GraphServer;

use crate::helpers::{BOB, TestApp};

/// The value of one sample line (`name{labels} value`) of the exposition text.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
}

#[tokio::test]
async fn metrics_show_requests_grants_jobs_decisions_lags_and_graph_calls() {
    let app = TestApp::builder().graph(GraphServer::start().await).spawn().await;
    let id = app.engineer().request("AzureAD-Admins", 2).await;
    app.approver(BOB).approve(&id).await;
    app.wait_for_status(&id, "active", Duration::from_secs(5)).await;
    app.engineer().request("AzureAD-Admins", 60).await;

    let text = reqwest::get(format!("{}/metrics", app.address)).await.unwrap().text().await.unwrap();
    assert_eq!(sample(&text, "elevate_requests{status=\"active\"}"), Some(1.0), "{text}");
    assert_eq!(sample(&text, "elevate_requests{status=\"pending\"}"), Some(1.0), "{text}");
    assert_eq!(sample(&text, "elevate_grants_active"), Some(1.0), "{text}");
    assert_eq!(sample(&text, "elevate_decisions_total{decision=\"approve\"}"), Some(1.0), "{text}");
    assert_eq!(sample(&text, "elevate_grant_lag_seconds_count"), Some(1.0), "{text}");
    assert!(
        sample(&text, "elevate_job_attempts_total{kind=\"sync_membership\",outcome=\"done\"}") >= Some(1.0),
        "{text}"
    );
    let graph_posts =
        "elevate_provider_call_duration_seconds_count{operation=\"POST\",outcome=\"ok\",provider=\"graph\"}";
    assert!(sample(&text, graph_posts) >= Some(1.0), "{text}");
    assert!(
        text.contains("elevate_jobs{state=\"due\"}") && text.contains("elevate_jobs{state=\"failed\"} 0"),
        "{text}"
    );

    app.wait_until_ended(&id, Duration::from_secs(5)).await;
    let text = reqwest::get(format!("{}/metrics", app.address)).await.unwrap().text().await.unwrap();
    assert_eq!(sample(&text, "elevate_grants_active"), Some(0.0), "{text}");
    assert_eq!(sample(&text, "elevate_revocation_lag_seconds_count{side=\"entra\"}"), Some(1.0), "{text}");
    assert_eq!(sample(&text, "elevate_requests{status=\"expired\"}"), Some(1.0), "{text}");
}
