//! The audit log forwarded to a syslog collector as CEF: every event, in order, once, also
//! when the collector was down for a while; values cannot forge fields or lines.
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::json;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    net::{TcpListener, UdpSocket},
};

use crate::helpers::*;

/// A collector's received lines.
type Received = Arc<Mutex<Vec<String>>>;

async fn tcp_collector(port: u16) -> Received {
    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let received: Received = Arc::default();
    let store = received.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let store = store.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    store.lock().unwrap().push(line);
                }
            });
        }
    });
    received
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The `cs1` (sequence number) of each received message.
fn sequence(received: &Received) -> Vec<i64> {
    received.lock().unwrap().iter().filter_map(|l| l.split(" cs1=").nth(1)?.split(' ').next()?.parse().ok()).collect()
}

async fn wait_for_all(app: &TestApp, received: &Received) -> Vec<i64> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (_, page) = app.admin().get("/api/v1/audit?limit=1000").await;
        let newest = page["items"].as_array().unwrap().last().unwrap()["seq"].as_i64().unwrap();
        let got = sequence(received);
        // The admin's own token use is audited too: wait until the collector holds the newest
        // event seen before this look.
        if got.last().is_some_and(|last| *last >= newest - 1) {
            return got;
        }
        assert!(tokio::time::Instant::now() < deadline, "forwarded {got:?}, the log reaches {newest}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn every_event_reaches_the_collector_in_order_once_even_after_an_outage() {
    // The collector is down at first: nothing is lost meanwhile.
    let port = free_port();
    let config = format!("[audit.syslog]\naddress = \"127.0.0.1:{port}\"\nprotocol = \"tcp\"\n");
    let app = TestApp::builder().config(&config).spawn().await;
    let forged = "fix prod x=1\nCEF:0|Evil|Evil|1|forged|forged|10|suser=mallory";
    let (status, filed) = app.engineer().try_request("AzureAD-Admins", 600, json!({ "justification": forged })).await;
    assert_eq!(status, 201, "{filed}");
    let id = filed["id"].as_str().unwrap().to_owned();
    app.approver(BOB).approve(&id).await;
    app.wait_for_status(&id, "active", Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let received = tcp_collector(port).await;
    let forwarded = wait_for_all(&app, &received).await;
    let expected: Vec<i64> = (1..=*forwarded.last().unwrap()).collect();
    assert_eq!(forwarded, expected, "every event, in order, once");

    let lines = received.lock().unwrap().clone();
    for line in &lines {
        assert!(line.starts_with("<134>1 ") && line.contains(" CEF:0|Elevate|Elevate|"), "{line}");
    }
    let created = lines.iter().find(|l| l.contains("|request.created|")).expect("request.created forwarded");
    assert!(created.contains(&format!("suser={ALICE}")) && created.contains(&format!("msg=request:{id}")), "{created}");
    // The justification travels escaped: no extra line, no forged field.
    assert!(created.contains(r"x\=1\\nCEF:0|Evil"), "{created}");
    assert!(!lines.iter().any(|l| l.starts_with("CEF:0|Evil")) && !created.contains(" suser=mallory"));
}

#[tokio::test]
async fn udp_carries_the_same_messages() {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = socket.local_addr().unwrap().port();
    let config = format!("[audit.syslog]\naddress = \"127.0.0.1:{port}\"\nprotocol = \"udp\"\n");
    let app = TestApp::builder().config(&config).spawn().await;
    let id = app.engineer().request("AzureAD-Admins", 600).await;
    let mut buf = vec![0u8; 65536];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let n = tokio::time::timeout(left, socket.recv(&mut buf)).await.expect("a datagram in time").unwrap();
        let message = String::from_utf8_lossy(&buf[..n]).into_owned();
        if message.contains("|request.created|") {
            assert!(message.contains(&format!("msg=request:{id}")), "{message}");
            break;
        }
    }
}

/// Where the forwarder's saved cursor stands (0 before its first batch).
async fn cursor(app: &TestApp) -> i64 {
    use sea_orm::EntityTrait;
    let db = app.db().await;
    let row = entity::audit_forwarding::Entity::find_by_id("syslog").one(&db).await.unwrap();
    db.close().await.ok();
    row.map_or(0, |c| c.last_seq)
}

#[tokio::test]
async fn forwarding_never_holds_the_database_its_cursor_follows_each_batch() {
    // On SQLite a forwarder holding a write transaction while it sent saved its cursor through
    // a connection that waited for that very lock: the cursor never moved, and every grant,
    // revoke and filing waited behind it.
    let port = free_port();
    let received = tcp_collector(port).await;
    let config = format!("[audit.syslog]\naddress = \"127.0.0.1:{port}\"\nprotocol = \"tcp\"\n");
    let app = TestApp::builder().config(&config).spawn().await;
    for _ in 0..3 {
        let id = app.engineer().request("AzureAD-Admins", 600).await;
        app.approver(BOB).approve(&id).await;
        app.wait_for_status(&id, "active", Duration::from_secs(10)).await;
    }
    let forwarded = wait_for_all(&app, &received).await;
    let last = *forwarded.last().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while cursor(&app).await < last {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the cursor stayed at {} after {last} went out",
            cursor(&app).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(forwarded, (1..=last).collect::<Vec<_>>(), "every event, in order, once");
    assert!(!app.log().contains("forwarding the audit log to syslog failed"), "{}", app.log());
}
