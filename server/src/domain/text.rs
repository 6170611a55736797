//! Free text from users: justification, ticket reference, decision comment.
use super::InvalidValue;

/// Control characters (other than line breaks and tabs in long text) are refused, so that
/// nothing a user types can forge log lines or terminal escapes; so are the bidirectional
/// marks, overrides and isolates, which would make a page or mail show text in another order
/// than it was written, the invisible ones (zero-width space, joiners, word joiner, byte-order
/// mark: `CHG-12\u{200B}34` would read as `CHG-1234`) and the Unicode line and paragraph
/// separators (an approver must read what the requester typed).
fn clean(field: &'static str, s: &str, max_chars: usize, multiline: bool) -> Result<String, InvalidValue> {
    let s = s.trim();
    if s.chars().count() > max_chars {
        return Err(InvalidValue::new(field, format!("must be at most {max_chars} characters")));
    }
    let bidi =
        |c: char| matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    let invisible = |c: char| matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{2028}' | '\u{2029}');
    let allowed = |c: char| (!c.is_control() && !bidi(c) && !invisible(c)) || (multiline && (c == '\n' || c == '\t'));
    if let Some(c) = s.chars().find(|c| !allowed(*c)) {
        return Err(InvalidValue::new(
            field,
            format!("must not contain control, invisible or text-direction characters (found U+{:04X})", c as u32),
        ));
    }
    Ok(s.to_owned())
}

/// Why the access is needed: trimmed, 1 to 1000 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Justification(String);

impl Justification {
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let s = clean("justification", s, 1000, true)?;
        if s.is_empty() {
            return Err(InvalidValue::new("justification", "must not be empty"));
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A change or incident ticket reference (`CHG-1234`): 1 to 64 visible characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket(String);

impl Ticket {
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let s = clean("ticket", s, 64, false)?;
        if s.is_empty() || s.chars().any(char::is_whitespace) {
            return Err(InvalidValue::new("ticket", "must be 1 to 64 characters without spaces"));
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An approver's or revoker's comment: up to 1000 characters, may be empty.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Comment(Option<String>);

impl Comment {
    pub fn parse(s: Option<&str>) -> Result<Self, InvalidValue> {
        let s = s.map(|s| clean("comment", s, 1000, true)).transpose()?;
        Ok(Self(s.filter(|s| !s.is_empty())))
    }

    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_bounded_and_free_of_control_characters() {
        assert_eq!(Justification::parse("  fix prod \n").map(|j| j.0), Ok("fix prod".into()));
        assert!(Justification::parse("   ").is_err());
        assert!(Justification::parse(&"x".repeat(1001)).is_err());
        assert!(Justification::parse("line\u{1b}[31m").is_err());
        assert!(Justification::parse("approve \u{202E}reversed").is_err());
        for invisible in
            ['\u{200B}', '\u{200C}', '\u{200D}', '\u{2060}', '\u{FEFF}', '\u{061C}', '\u{2028}', '\u{2029}']
        {
            assert!(Ticket::parse(&format!("CHG-12{invisible}34")).is_err(), "U+{:04X}", invisible as u32);
            assert!(Justification::parse(&format!("fix {invisible}prod")).is_err(), "U+{:04X}", invisible as u32);
        }
        assert_eq!(Justification::parse("Zürich ✓ 东京").map(|j| j.0), Ok("Zürich ✓ 东京".into()));
        assert!(Ticket::parse("CHG 1").is_err());
        assert!(Ticket::parse("CHG-1\n").is_ok());
        assert_eq!(Comment::parse(Some("  ")), Ok(Comment(None)));
    }
}
