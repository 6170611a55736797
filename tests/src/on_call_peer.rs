//! What the on-call test servers share: their state behind a lock, served on a free loopback
//! port by one worker, stoppable.
use std::sync::{Arc, Mutex, MutexGuard};

use actix_web::{App, HttpServer, dev::ServerHandle, web};

pub struct Peer<S> {
    /// e.g. `http://127.0.0.1:PORT`.
    pub url: String,
    state: Arc<Mutex<S>>,
    handle: ServerHandle,
}

impl<S: Default + Send + 'static> Peer<S> {
    /// Serves the routes `configure` adds, each with the state as `web::Data<Mutex<S>>`.
    pub async fn serve(configure: fn(&mut web::ServiceConfig)) -> Self {
        let state = Arc::new(Mutex::new(S::default()));
        let data = web::Data::from(state.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = HttpServer::new(move || App::new().app_data(data.clone()).configure(configure))
            .workers(1)
            .disable_signals()
            .listen(listener)
            .expect("listen")
            .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self { url: format!("http://127.0.0.1:{port}"), state, handle }
    }

    pub fn state(&self) -> MutexGuard<'_, S> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stops answering: calls are refused from now on.
    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}
