//! Outside systems, behind traits with real implementations.
pub mod aws;
pub mod directory;
pub mod mail;
pub mod syslog;
pub mod webhook;
