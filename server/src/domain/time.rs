//! Instants as Unix milliseconds, the unit the database stores.
use chrono::{DateTime, SecondsFormat, Utc};

pub type Millis = i64;

pub fn now() -> Millis {
    Utc::now().timestamp_millis()
}

/// RFC 3339 in UTC with milliseconds, the format of every instant in the API.
pub fn format_millis(ms: Millis) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An instant a program sent: RFC 3339 with its zone (`2026-11-29T08:00:00Z`), nothing else.
pub fn parse_rfc3339(field: &'static str, s: &str) -> Result<Millis, super::InvalidValue> {
    DateTime::parse_from_rfc3339(s.trim()).map(|at| at.timestamp_millis()).map_err(|_| {
        super::InvalidValue::new(
            field,
            format!("{s:?} is not an RFC 3339 date and time with a zone, like 2026-11-29T08:00:00Z"),
        )
    })
}

/// An instant typed by a person or a program: RFC 3339 (`2026-11-29T08:00:00Z`), or a
/// date and time without a zone (`2026-11-29T08:00`, as an HTML `datetime-local` field sends
/// it), read as UTC.
pub fn parse_instant(field: &'static str, s: &str) -> Result<Millis, super::InvalidValue> {
    let s = s.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(s) {
        return Ok(at.timestamp_millis());
    }
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(s, f).ok())
        .map(|at| at.and_utc().timestamp_millis())
        .ok_or_else(|| {
            super::InvalidValue::new(field, format!("{s:?} is not a date and time like 2026-11-29T08:00 (UTC)"))
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn instants_read_as_utc() {
        let at = super::parse_instant("from", "2026-11-29T08:00").map(super::format_millis);
        assert_eq!(at.as_deref(), Ok("2026-11-29T08:00:00.000Z"));
        let at = super::parse_instant("from", "2026-11-29T09:00:00+01:00").map(super::format_millis);
        assert_eq!(at.as_deref(), Ok("2026-11-29T08:00:00.000Z"));
        assert!(super::parse_instant("from", "yesterday").is_err_and(|e| e.field == "from"));
    }
}
