//! SeaORM entities: Elevate's tables as Rust types, nothing else.
//!
//! Every instant is stored as Unix milliseconds (`i64`): it compares correctly as a number on
//! both SQLite and PostgreSQL, where text timestamps would not.

pub mod api_tokens;
pub mod audit_entries;
pub mod audit_events;
pub mod audit_forwarding;
pub mod break_glass_reviews;
pub mod browser_sessions;
pub mod chat_messages;
pub mod decisions;
pub mod grant_activity;
pub mod grants;
pub mod ids;
pub mod jobs;
pub mod local_group_members;
pub mod local_groups;
pub mod memberships;
pub mod processes;
pub mod requests;
pub mod token_cutoffs;
pub mod used_link_tokens;
pub mod users;
