//! Test peers written for Elevate's tests. The only one we write ourselves is the Microsoft
//! Graph test server; everything else is the real thing (SQLite, PostgreSQL, moto, aiosmtpd).
pub mod expiry;
pub mod graph_server;
pub mod tcp_proxy;
