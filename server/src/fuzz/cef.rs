//! Reading CEF back, as a collector does, to check what the forwarder wrote.

/// Splits at `sep` where it is not escaped by a backslash (CEF's rule), into at most `max`
/// parts (the extension after the header's seven separators may hold `|` unescaped).
pub(super) fn split_unescaped(s: &str, sep: char, max: usize) -> Vec<String> {
    let (mut parts, mut current, mut escaped) = (vec![], String::new(), false);
    for c in s.chars() {
        if !escaped && c == sep && parts.len() + 1 < max {
            parts.push(std::mem::take(&mut current));
            continue;
        }
        escaped = !escaped && c == '\\';
        current.push(c);
    }
    parts.push(current);
    parts
}

/// CEF extension `key=value key=value`: a key is the word before an unescaped `=`.
pub(super) fn extension_fields(s: &str) -> Vec<(String, String)> {
    let pieces = split_unescaped(s, '=', usize::MAX);
    let mut fields = vec![];
    let mut key = pieces[0].clone();
    for (i, piece) in pieces.iter().enumerate().skip(1) {
        let (value, next) = if i + 1 == pieces.len() {
            (piece.as_str(), "")
        } else {
            piece.rsplit_once(' ').unwrap_or((piece.as_str(), ""))
        };
        fields.push((key.clone(), value.to_owned()));
        key = next.to_owned();
    }
    fields
}

pub(super) fn unescape(s: &str) -> String {
    let (mut out, mut chars) = (String::new(), s.chars());
    while let Some(c) = chars.next() {
        out.push(match (c, c == '\\') {
            (_, true) => match chars.next() {
                Some('n') => '\n',
                Some('r') => '\r',
                Some(other) => other,
                None => '\\',
            },
            (c, false) => c,
        });
    }
    out
}
