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

    pub const fn from_millis(millis: u64) -> Self {
        Self(Duration::from_millis(millis))
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

/// How long a grant or an extension lasts: whole seconds, from 1 up to `GrantDuration::MAX`
/// (and within a profile's bounds where it is made), so that adding it to an instant can never
/// overflow. Made only by `within`, at the boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct GrantDuration(i64);

impl GrantDuration {
    /// The longest any profile may grant (the policy refuses a longer `max_duration`).
    pub const MAX: HumanDuration = HumanDuration::from_secs(30 * 24 * 3600);

    /// `secs`, when it lies within `min..=max` (themselves clamped to 1 s..=`MAX`).
    pub fn within(secs: i64, min: HumanDuration, max: HumanDuration) -> Option<Self> {
        let (min, max) = (min.as_secs().max(1), max.min(Self::MAX).as_secs());
        (min..=max).contains(&secs).then_some(Self(secs))
    }

    pub fn as_secs(self) -> i64 {
        self.0
    }

    pub fn as_millis(self) -> i64 {
        self.0 * 1000
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

    #[test]
    fn a_grant_duration_lies_within_its_bounds_and_never_past_the_longest_grant() {
        let (min, max) = (HumanDuration::from_secs(60), HumanDuration::from_secs(7200));
        assert_eq!(GrantDuration::within(60, min, max).map(GrantDuration::as_millis), Some(60_000));
        assert_eq!(GrantDuration::within(59, min, max), None);
        assert_eq!(GrantDuration::within(7201, min, max), None);
        assert_eq!(GrantDuration::within(0, HumanDuration::from_secs(0), max), None);
        let huge = HumanDuration::from_secs(u64::MAX);
        assert_eq!(GrantDuration::within(9_223_372_036_854_776, min, huge), None);
        assert!(GrantDuration::within(GrantDuration::MAX.as_secs(), min, huge).is_some());
    }
}
