//! Connections: a client's pooled connection, idle for a while, still carries its next call.
use std::time::Duration;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::TestApp;

/// Sends `GET /healthz` on `stream` and reads the whole answer (headers, then the body its
/// `Content-Length` announces); `None` when the server closed the connection instead.
async fn health_check(stream: &mut TcpStream) -> Option<String> {
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: elevate\r\n\r\n").await.ok()?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&answer).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= length {
                return Some(text);
            }
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
}

/// Clients keep idle connections in their pools for a minute or more, and reuse them: a
/// server that closed them after a few seconds (actix's default is 5 s) would race the next
/// call, and lose it when the close wins.
#[tokio::test]
async fn an_idle_connection_is_not_closed_after_a_few_seconds() {
    let app = TestApp::spawn().await;
    let mut stream = TcpStream::connect(app.address.trim_start_matches("http://")).await.unwrap();
    let first = health_check(&mut stream).await.expect("the first call is answered");
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");

    tokio::time::sleep(Duration::from_secs(7)).await;
    let second = health_check(&mut stream).await.expect("the connection is still open after 7 s idle");
    assert!(second.starts_with("HTTP/1.1 200"), "{second}");
}
