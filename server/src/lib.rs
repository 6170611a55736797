//! Elevate: a self-hosted just-in-time privileged access broker. The layers:
//! http/cli → workflows → store and jobs → providers; `broker` is the handle they share.
pub mod audit_checkpoint;
pub mod auth;
pub mod aws_report;
pub mod broker;
pub mod config;
pub mod demo;
pub mod directory_check;
pub mod domain;
#[cfg(test)]
mod fuzz;
pub mod http;
pub mod jobs;
pub mod metrics;
pub mod notify;
pub mod policy;
pub mod providers;
pub mod startup;
pub mod store;
pub mod sweeps;
pub mod telemetry;
pub mod workflows;
