//! Black-box tests of the `elevate` binary: one test binary, one module per story.
mod helpers;

mod audit;
mod auth;
mod aws;
mod break_glass;
mod browser;
mod cli;
mod email;
mod entra_tokens;
mod evidence;
mod grants;
mod graph;
mod identity_center;
mod input;
mod lifecycle;
mod limits;
mod matrix;
mod notify_peers;
mod observability;
mod pages;
mod reliability;
mod replicas;
mod signin;
mod staff_pages;
mod web_ui;
mod webhooks;
