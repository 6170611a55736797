//! Domain types: values that are valid by construction. Parse at the boundary, trust inside.
mod caller;
mod chat;
mod duration;
mod ids;
mod status;
mod text;
mod time;

pub use caller::{Caller, Role};
pub use chat::ChatApp;
pub use duration::{GrantDuration, HumanDuration};
pub use ids::{GrantId, GroupId, NotAnId, ProfileKey, RequestId, Upn};
pub use status::{Lifecycle, RequestEvent, RequestStatus, TransitionError};
pub use text::{Comment, Justification, Ticket};
pub use time::{Millis, format_millis, now, parse_instant, parse_rfc3339};

/// A value from outside that is not acceptable; `field` names what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidValue {
    pub field: &'static str,
    pub reason: String,
}

impl InvalidValue {
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self { field, reason: reason.into() }
    }
}
