//! Durations written the way people write them: `"30s"`, `"90m"`, `"8h"`, `"1h 30m"`.
use std::{fmt, time::Duration};

use super::InvalidValue;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(Duration);

impl HumanDuration {
    pub fn parse(field: &'static str, s: &str) -> Result<Self, InvalidValue> {
        humantime::parse_duration(s.trim()).map(Self).map_err(|e| {
            InvalidValue::new(field, format!("{s:?} is not a duration like \"30s\", \"90m\" or \"8h\": {e}"))
        })
    }

    pub const fn from_secs(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }

    pub fn get(self) -> Duration {
        self.0
    }

    pub fn as_secs(self) -> i64 {
        i64::try_from(self.0.as_secs()).unwrap_or(i64::MAX)
    }

    pub fn as_millis(self) -> i64 {
        i64::try_from(self.0.as_millis()).unwrap_or(i64::MAX)
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        humantime::format_duration(self.0).fmt(f)
    }
}

impl<'de> serde::Deserialize<'de> for HumanDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(s.trim()).map(Self).map_err(|e| {
            serde::de::Error::custom(format!("{s:?} is not a duration like \"30s\", \"90m\" or \"8h\": {e}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_human_durations() {
        assert_eq!(HumanDuration::parse("d", "90m").map(HumanDuration::as_secs), Ok(5400));
        assert_eq!(HumanDuration::parse("d", "8h").map(HumanDuration::as_secs), Ok(28800));
        let err = HumanDuration::parse("max_duration", "eight hours").unwrap_err();
        assert_eq!(err.field, "max_duration");
    }
}
