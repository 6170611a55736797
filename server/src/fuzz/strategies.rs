//! What the fuzz targets are fed: texts mutated from the documented examples, values a
//! careless hand writes, arbitrary JSON, instants.
use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{Value, json};

/// One edit of a text: where (a fraction of its length), what, and how much.
#[derive(Debug, Clone)]
enum Edit {
    Delete(f64, usize),
    Insert(f64, String),
    DuplicateLine(f64),
    SwapLines(f64, f64),
    /// The value of a `key = value` line replaced: reaches the checks past the TOML syntax.
    ReplaceValue(f64, String),
}

fn edit() -> impl Strategy<Value = Edit> {
    let at = 0.0..1.0f64;
    prop_oneof![
        (at.clone(), 1..40usize).prop_map(|(a, n)| Edit::Delete(a, n)),
        (at.clone(), insertion()).prop_map(|(a, s)| Edit::Insert(a, s)),
        at.clone().prop_map(Edit::DuplicateLine),
        (at.clone(), at.clone()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
        (at, toml_value()).prop_map(|(a, v)| Edit::ReplaceValue(a, v)),
    ]
}

/// A TOML value a careless hand might write where another was meant.
fn toml_value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "0",
            "-1",
            "1",
            "4294967296",
            "9223372036854775807",
            "true",
            "\"\"",
            "[]",
            "{}",
            "[\"\"]",
            "\"0s\"",
            "\"-1h\"",
            "\"1s\"",
            "\"9999999999999h\"",
            "\"eight hours\"",
            "\"@\"",
            "\"a@b\"",
            "{ users = [] }",
            "{ groups = [\"\"] }",
            "{ groups = [\"Approvers\"], approvals_required = 0 }",
            "{ users = [\"x@example.com\"], approvals_required = 99 }",
            "\"arn:aws:iam::1:role/\"",
            "\"high\"",
            "\"http://localhost.attacker.net\"",
            "\"postgres://u:p@ss@h/db\"",
            "\"sqlite:\"",
        ])
        .prop_map(str::to_owned),
        "\"\\PC{0,20}\"",
        any::<i64>().prop_map(|n| n.to_string()),
    ]
}

/// What a hostile or careless hand inserts: TOML's and JSON's punctuation, quotes, huge and
/// negative numbers, control and invisible characters, or anything at all.
fn insertion() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "\"",
            "'",
            "[",
            "]",
            "{",
            "}",
            "=",
            ",",
            "\n",
            "#",
            "\\",
            "\\u{0}",
            "[[",
            "]]",
            "\"\"\"",
            "-1",
            "0",
            "9223372036854775807",
            "18446744073709551616",
            "1e308",
            "nan",
            "inf",
            "true",
            "\u{202E}",
            "\u{200B}",
            "\u{0}",
            "\r\n",
            "🦀",
            "x.y.z",
            "= [",
            "= {",
        ])
        .prop_map(str::to_owned),
        "\\PC{0,12}",
        any::<String>(),
    ]
}

/// `base` with a few random edits (of any kind, or only values replaced: most texts of the
/// first kind stop at the TOML syntax, those of the second reach the checks behind it).
pub(super) fn mutated(base: &'static str) -> impl Strategy<Value = String> {
    let values = (0.0..1.0f64, toml_value()).prop_map(|(a, v)| Edit::ReplaceValue(a, v));
    let edits = prop_oneof![prop::collection::vec(edit(), 0..6), prop::collection::vec(values, 1..4)];
    edits.prop_map(move |edits| {
        let mut text = base.to_owned();
        for e in edits {
            let at = |f: f64, text: &str| {
                let i = ((text.len() as f64) * f) as usize;
                (0..=i.min(text.len())).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0)
            };
            match e {
                Edit::Delete(f, n) => {
                    let start = at(f, &text);
                    let end = text[start..].char_indices().nth(n).map_or(text.len(), |(i, _)| start + i);
                    text.replace_range(start..end, "");
                }
                Edit::Insert(f, s) => {
                    let i = at(f, &text);
                    text.insert_str(i, &s);
                }
                Edit::DuplicateLine(_) | Edit::SwapLines(..) | Edit::ReplaceValue(..)
                    if text.lines().next().is_none() => {}
                Edit::DuplicateLine(f) => {
                    let mut lines: Vec<&str> = text.lines().collect();
                    let i = ((lines.len() as f64) * f) as usize % lines.len();
                    lines.insert(i, lines[i]);
                    text = lines.join("\n");
                }
                Edit::SwapLines(a, b) => {
                    let mut lines: Vec<&str> = text.lines().collect();
                    let n = lines.len();
                    lines.swap(((n as f64) * a) as usize % n, ((n as f64) * b) as usize % n);
                    text = lines.join("\n");
                }
                Edit::ReplaceValue(f, value) => {
                    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
                    let i = ((lines.len() as f64) * f) as usize % lines.len();
                    if let Some((key, _)) = lines[i].split_once(" = ") {
                        lines[i] = format!("{key} = {value}");
                    }
                    text = lines.join("\n");
                }
            }
        }
        text
    })
}

/// Arbitrary JSON, nested a few levels, with the keys the parsers look for among others.
pub(super) fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        prop::sample::select(vec![
            "id",
            "userPrincipalName",
            "displayName",
            "mail",
            "value",
            "@odata.nextLink",
            "Statement",
            "Sid",
            "Effect",
            "Condition",
            "DateLessThan",
            "aws:TokenIssueTime",
            "StringEqualsIgnoreCase",
            "aws:userid",
        ])
        .prop_map(str::to_owned),
        "\\PC{0,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        prop_oneof!["\\PC{0,24}", Just("2020-01-01T00:00:00Z".to_owned()), Just("ALICE@Example.com".to_owned())]
            .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(key.clone(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

pub(super) fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    // Any second from 1970 to 2100: what a clock of Elevate's can say.
    (0i64..4_102_444_800).prop_map(|s| Utc.timestamp_opt(s, 0).unwrap())
}
