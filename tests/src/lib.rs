//! Test peers written for Elevate's tests where no runnable server exists: Microsoft Graph,
//! the Bot Framework (Teams), Slack, PagerDuty and Opsgenie, each following the service's
//! documentation. Everything else is the real thing (SQLite, PostgreSQL, moto, aiosmtpd, an
//! OpenID Connect provider, Chromium).
pub mod bot_framework;
pub mod cloudtrail;
pub mod expiry;
pub mod graph_server;
pub mod on_call_peer;
pub mod opsgenie_server;
pub mod pagerduty_server;
pub mod slack_server;
pub mod tcp_proxy;
