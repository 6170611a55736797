//! The chat apps approvers decide in.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatApp {
    Teams,
    Slack,
}

impl ChatApp {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Teams => "teams",
            Self::Slack => "slack",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "teams" => Some(Self::Teams),
            "slack" => Some(Self::Slack),
            _ => None,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Self::Teams => "Microsoft Teams",
            Self::Slack => "Slack",
        }
    }
}
