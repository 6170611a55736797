//! The test harness: `TestApp::spawn()` (or `TestApp::builder()`) starts the real `elevate` binary on a random port
//! with its own database (a fresh SQLite file, or a fresh PostgreSQL database when
//! `ELEVATE_TEST_DB=postgres`), and helpers that speak the domain's language.
//! `fixtures` holds what every test starts from, `app` the process, `actors` the people
//! calling it, `waits` the polling for states.
mod actors;
mod app;
mod fixtures;
mod waits;

pub use actors::*;
pub use app::*;
pub use fixtures::*;
pub use waits::eventually;
