//! Fuzz targets: every parser that reads what someone else wrote (files, requests, tokens,
//! peers' answers) is fed random and mutated input; none may panic, and each keeps the promise
//! it makes about what it accepts. Property-based (proptest) so they run in the ordinary test
//! suite on the stable toolchain: `scripts/test` runs a bounded number of cases of each,
//! `scripts/fuzz` runs them for as long as it is given. A failing case is shrunk and saved
//! under `proptest-regressions/` to be replayed first on every later run.
use std::path::Path;

use proptest::prelude::*;
use secrecy::SecretString;

use crate::{
    auth::{LinkAction, LinkSigner, LinkTarget, Sessions, TokenAuthority},
    domain::{Comment, HumanDuration, Justification, RequestId, Role, Ticket, Upn},
    providers::{aws, directory::graph, syslog},
};

mod cef;
mod strategies;

use cef::{extension_fields, split_unescaped, unescape};
use strategies::{instant, json_value, mutated};

const SECRET: &str = "fuzz-secret-0123456789abcdef0123456789abcdef";

proptest! {
    #[test]
    fn policy_file(text in prop_oneof![mutated(include_str!("../../../docs/policy.example.toml")), any::<String>()]) {
        let path = Path::new("fuzz/policy.toml");
        if let Err(e) = crate::policy::Policy::parse(path, &text) {
            let said = e.to_string();
            prop_assert!(said.starts_with("fuzz/policy.toml"), "the error names the file: {said}");
            if let Some(line) = e.line {
                prop_assert!(line >= 1 && line <= text.lines().count() + 1, "line {line} of {said}");
            }
        }
    }

    #[test]
    fn config_file(text in prop_oneof![mutated(include_str!("../../../docs/elevate.example.toml")), any::<String>()]) {
        let dir = std::env::temp_dir().join(format!("elevate-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{}.toml", uuid::Uuid::new_v4()));
        std::fs::write(&path, &text).unwrap();
        let loaded = crate::config::Settings::load(Some(&path));
        std::fs::remove_file(&path).unwrap();
        if let Err(e) = loaded {
            prop_assert!(!e.to_string().trim().is_empty());
        }
    }

    #[test]
    fn durations(text in prop_oneof!["[0-9]{1,30} ?(ns|us|ms|s|m|h|d|w|M|y|seconds|minutes)( [0-9]{1,25}[smh])?", any::<String>()]) {
        if let Ok(d) = HumanDuration::parse("fuzz", &text) {
            // The conversions saturate rather than wrap: nothing negative comes out.
            prop_assert!(d.as_secs() >= 0 && d.as_millis() >= d.as_secs());
        }
    }

    #[test]
    fn free_text(text in prop_oneof!["\\PC{0,40}", any::<String>(), "[a-z \u{200B}\u{202E}\u{2028}\u{0}\n\t]{0,20}"]) {
        let forbidden = |c: char| (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'
                | '\u{2066}'..='\u{2069}' | '\u{FEFF}' | '\u{2028}' | '\u{2029}');
        if let Ok(j) = Justification::parse(&text) {
            prop_assert!(!j.as_str().is_empty() && j.as_str().chars().count() <= 1000);
            prop_assert!(!j.as_str().chars().any(forbidden), "{:?}", j.as_str());
        }
        if let Ok(t) = Ticket::parse(&text) {
            prop_assert!(!t.as_str().chars().any(|c| forbidden(c) || c == '\n' || c == '\t'), "{:?}", t.as_str());
        }
        if let Ok(c) = Comment::parse(Some(&text)) {
            prop_assert!(!c.as_deref().unwrap_or_default().chars().any(forbidden));
        }
        if let Ok(upn) = Upn::parse(&text) {
            prop_assert!(upn.as_str().contains('@') && !upn.as_str().chars().any(char::is_control));
            prop_assert_eq!(Upn::parse(upn.as_str()).ok(), Some(upn.clone()), "parsing is idempotent");
        }
        let _ = RequestId::parse(&text);
    }

    #[test]
    fn api_tokens(garbage in any::<String>(), edit in any::<prop::sample::Index>(), c in any::<char>()) {
        let authority = TokenAuthority::new(&SecretString::from(SECRET), "elevate", "elevate-api").unwrap();
        prop_assert!(authority.verify(&garbage).is_err());
        let user = Upn::parse("alice@example.com").unwrap();
        let issued = authority.issue(&user, &[Role::Requester], false, std::time::Duration::from_secs(600)).unwrap();
        let tampered = replace_at(&issued.token, edit, c);
        prop_assert_eq!(authority.verify(&tampered).is_ok(), tampered == issued.token, "{}", tampered);
    }

    #[test]
    fn link_tokens(garbage in any::<String>(), edit in any::<prop::sample::Index>(), c in any::<char>()) {
        let signer = LinkSigner::new(&SecretString::from(SECRET)).unwrap();
        prop_assert!(signer.verify(&garbage).is_err());
        let (approver, request) = (Upn::parse("bob@example.com").unwrap(), RequestId::new());
        let target = LinkTarget { approver: &approver, request: &request, action: LinkAction::Approve, stage: 1,
            version: 1, expires_at: crate::domain::now() + 600_000 };
        let link = signer.mint(target).unwrap();
        let tampered = replace_at(&link, edit, c);
        prop_assert_eq!(signer.verify(&tampered).is_ok(), tampered == link, "{}", tampered);
    }

    #[test]
    fn sign_in_cookies(garbage in any::<String>(), edit in any::<prop::sample::Index>(), c in any::<char>()) {
        let sessions = Sessions::new(&SecretString::from(SECRET), true, std::time::Duration::from_secs(600)).unwrap();
        prop_assert!(sessions.open_pending(&garbage).is_none());
        let pending = crate::auth::oidc::PendingSignIn {
            state: "s".into(), nonce: "n".into(), verifier: "v".into(), next: "/requests".into(),
        };
        let cookie = sessions.seal_pending(pending).unwrap();
        let tampered = replace_at(cookie.value(), edit, c);
        prop_assert_eq!(sessions.open_pending(&tampered).is_some(), tampered == cookie.value(), "{}", tampered);
        // A session's key is opaque: its hash is what the server looks up, and a forged
        // anti-forgery token never matches.
        let key = sessions.new_key();
        prop_assert_eq!(crate::auth::key_hash(&garbage) == key.hash, garbage == key.cookie.value());
        prop_assert!(!sessions.csrf_matches(key.cookie.value(), &garbage));
    }

    #[test]
    fn cef_lines(actor in any::<String>(), action in any::<String>(), subject in any::<String>(),
                 details in any::<String>(), seq in any::<i64>()) {
        let settings = crate::config::SyslogSettings { address: "127.0.0.1:514".to_owned().try_into().unwrap(), protocol: Default::default() };
        let line = syslog::Syslog::new(&settings).message(&syslog::Event {
            seq, at: "2026-01-01T00:00:00.000Z", actor: &actor, action: &action, subject: &subject,
            details: &details, hash: "abc",
        });
        prop_assert!(!line.contains('\n') && !line.contains('\r'), "one line: {line:?}");
        let cef = &line[line.find("CEF:0|").unwrap()..];
        let header = split_unescaped(cef, '|', 8);
        prop_assert_eq!(header.len(), 8, "seven header separators: {:?}", cef);
        prop_assert!(header[..7].iter().map(|h| unescape(h)).eq(["CEF:0", "Elevate", "Elevate", env!("CARGO_PKG_VERSION"), &action, &action, &header[6]].map(str::to_owned)));
        prop_assert_eq!(unescape(&header[4]), action.clone());
        let extension = extension_fields(&header[7]);
        let field = |key: &str| extension.iter().find(|(k, _)| k == key).map(|(_, v)| unescape(v));
        prop_assert_eq!(field("suser"), Some(actor));
        prop_assert_eq!(field("act"), Some(action));
        prop_assert_eq!(field("msg"), Some(subject));
        prop_assert_eq!(field("cs3"), Some(details));
        prop_assert_eq!(field("cs1"), Some(seq.to_string()));
        let keys: Vec<&str> = extension.iter().map(|(k, _)| k.as_str()).collect();
        prop_assert_eq!(keys, ["rt", "suser", "act", "msg", "cs1Label", "cs1", "cs2Label", "cs2", "cs3Label", "cs3"]);
    }

    #[test]
    fn graph_answers(user in json_value(), link in prop_oneof!["\\PC{0,40}", "https?://[a-z.@:]{0,30}/v1.0/[a-z?=&]{0,10}"],
                     retry_after in prop_oneof!["[0-9]{1,30}", "\\PC{0,12}"]) {
        if let Ok(u) = graph::user_from(&user) {
            prop_assert_eq!(Some(u.id.as_str()), user["id"].as_str());
        }
        let _ = crate::providers::origin_of(&link);
        let mut headers = reqwest::header::HeaderMap::new();
        if let Ok(v) = reqwest::header::HeaderValue::from_str(&retry_after) {
            headers.insert(reqwest::header::RETRY_AFTER, v);
        }
        if let Some(wait) = crate::providers::retry_after(&headers) {
            prop_assert!(wait <= crate::providers::MAX_RETRY_AFTER);
        }
    }

    #[test]
    fn aws_policies(existing in json_value(), encoded in "\\PC{0,60}", arn in "\\PC{0,60}",
                    before in instant(), now in instant(), user in "[A-Za-z0-9.@]{1,30}") {
        let _ = aws::decode_policy(&encoded);
        if let Ok((account, name)) = aws::parse_role_arn(&arn) {
            prop_assert!(!name.is_empty() && arn.contains(&account));
        }
        // Whatever an operator left in the inline policy, Elevate's statement is added, stays
        // within the size it is given, and denies that user's sessions.
        let userid = format!("AROAFUZZ:{user}");
        let statements = aws::revocation::add(aws::revocation::statements(Some(&existing)), &userid, before);
        let statements = aws::revocation::prune(statements, now, chrono::Duration::hours(12));
        let document = aws::revocation::document(statements, aws::revocation::ROLE_INLINE_LIMIT);
        prop_assert!(serde_json::to_string(&document).unwrap().len() <= aws::revocation::ROLE_INLINE_LIMIT);
    }
}

fn replace_at(token: &str, at: prop::sample::Index, c: char) -> String {
    let chars: Vec<char> = token.chars().collect();
    let i = at.index(chars.len());
    chars.iter().enumerate().map(|(j, d)| if i == j { c } else { *d }).collect()
}
