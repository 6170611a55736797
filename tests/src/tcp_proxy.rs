//! A TCP proxy that can cut the line: an outage of the server behind it, as its clients see
//! it (connections refused mid-way and new ones dropped), without losing the server's state.
use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, Ordering},
};

use tokio::{
    net::{TcpListener, TcpStream},
    task::AbortHandle,
};

pub struct Proxy {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    down: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Proxy {
    /// Forwards connections to `target` (`host:port`).
    pub async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let down = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let (target, is_down, connections) = (target.to_owned(), down.clone(), open.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if is_down.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection closed
                }
                let target = target.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                connections.lock().unwrap_or_else(|e| e.into_inner()).push(task.abort_handle());
            }
        });
        Self { url, down, open }
    }

    /// Cuts every open connection and refuses new ones until `restore`.
    pub fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        for task in self.open.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            task.abort();
        }
    }

    pub fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}
