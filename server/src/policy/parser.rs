//! Reading a policy file: TOML into raw shapes that keep their spans, then validated into
//! the model, so that every error points at its line.
use std::{collections::BTreeMap, path::Path, time::Duration};

use serde::Deserialize;
use toml::Spanned;

use super::{
    ApprovalRule, IdentityCenterTarget, PolicyError, Principals, Profile, ReconcileMode, Stage, on_call::RawOnCall,
};
use crate::domain::{GroupId, HumanDuration, InvalidValue, ProfileKey, Upn};

/// The furthest ahead any profile may let requests schedule their window.
const MAX_ADVANCE_LIMIT_SECS: u64 = 90 * 24 * 3600;

/// The profiles of the policy in `text`, or the first error with its line and key.
pub(super) fn parse(path: &Path, text: &str) -> Result<BTreeMap<ProfileKey, Profile>, PolicyError> {
    let at = |span: Option<std::ops::Range<usize>>, key: String, message: String| PolicyError {
        file: path.to_owned(),
        line: span.map(|s| line_of(text, s.start)),
        key,
        message,
    };
    let raw: RawPolicy = toml::from_str(text).map_err(|e| at(e.span(), String::new(), e.message().to_owned()))?;
    let mut profiles = BTreeMap::new();
    for (name, raw_profile) in raw.profiles {
        let span = raw_profile.span();
        let profile = raw_profile
            .into_inner()
            .validate(&name)
            .map_err(|e| at(Some(e.span.unwrap_or(span)), format!("profiles.{name}{}", e.key), e.message))?;
        profiles.insert(profile.key.clone(), profile);
    }
    if profiles.is_empty() {
        return Err(at(None, "profiles".into(), "the policy declares no profile".into()));
    }
    Ok(profiles)
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).unwrap_or(text).matches('\n').count() + 1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    profiles: BTreeMap<String, Spanned<RawProfile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    title: String,
    description: Option<String>,
    aws_account: Option<Spanned<String>>,
    aws_role_arn: Option<Spanned<String>>,
    group: Spanned<String>,
    min_duration: Option<Spanned<String>>,
    default_duration: Option<Spanned<String>>,
    max_duration: Spanned<String>,
    decision_timeout: Option<Spanned<String>>,
    max_advance: Option<Spanned<String>>,
    #[serde(default)]
    require_justification: bool,
    #[serde(default)]
    require_ticket: bool,
    #[serde(default)]
    require_mfa: bool,
    eligible: Spanned<RawPrincipals>,
    approval: Spanned<RawApproval>,
    #[serde(default)]
    reconcile: ReconcileMode,
    #[serde(default)]
    permanent_members: Vec<Spanned<String>>,
    revoke_sessions: Option<Spanned<bool>>,
    aws_target: Option<Spanned<String>>,
    identity_center: Option<Spanned<IdentityCenterTarget>>,
    escalation: Option<Spanned<RawPrincipals>>,
    require_sign_in_for_links: Option<bool>,
    break_glass: Option<Spanned<bool>>,
    #[serde(default)]
    break_glass_users: Vec<Spanned<String>>,
    on_call: Option<Spanned<RawOnCall>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPrincipals {
    #[serde(default)]
    groups: Vec<Spanned<String>>,
    #[serde(default)]
    users: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApproval {
    #[serde(default)]
    auto_approve: bool,
    #[serde(default)]
    groups: Vec<Spanned<String>>,
    #[serde(default)]
    users: Vec<Spanned<String>>,
    approvals_required: Option<Spanned<i64>>,
    second_stage: Option<Spanned<RawStage>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStage {
    #[serde(default)]
    groups: Vec<Spanned<String>>,
    #[serde(default)]
    users: Vec<Spanned<String>>,
    approvals_required: Option<Spanned<i64>>,
}

/// A validation error inside one profile: `key` is relative (`.max_duration`).
pub(super) struct FieldError {
    span: Option<std::ops::Range<usize>>,
    key: String,
    message: String,
}

pub(super) fn field_err<T>(
    span: std::ops::Range<usize>,
    key: &str,
    message: impl Into<String>,
) -> Result<T, FieldError> {
    Err(FieldError { span: Some(span), key: key.to_owned(), message: message.into() })
}

pub(super) fn parse_at<T>(
    value: &Spanned<String>,
    key: &str,
    parse: impl Fn(&str) -> Result<T, InvalidValue>,
) -> Result<T, FieldError> {
    parse(value.get_ref()).or_else(|e| field_err(value.span(), key, e.reason))
}

fn duration_at(
    value: Option<&Spanned<String>>,
    key: &str,
    default: HumanDuration,
) -> Result<HumanDuration, FieldError> {
    match value {
        Some(v) => parse_at(v, key, |s| HumanDuration::parse("duration", s)),
        None => Ok(default),
    }
}

fn principals(key: &str, groups: &[Spanned<String>], users: &[Spanned<String>]) -> Result<Principals, FieldError> {
    Ok(Principals {
        groups: groups
            .iter()
            .map(|g| parse_at(g, &format!("{key}.groups"), GroupId::parse))
            .collect::<Result<_, _>>()?,
        users: users.iter().map(|u| parse_at(u, &format!("{key}.users"), Upn::parse)).collect::<Result<_, _>>()?,
    })
}

fn stage(
    key: &str,
    span: std::ops::Range<usize>,
    groups: &[Spanned<String>],
    users: &[Spanned<String>],
    required: Option<&Spanned<i64>>,
) -> Result<Stage, FieldError> {
    let approvers = principals(key, groups, users)?;
    if approvers.is_empty() {
        return field_err(span, key, "names no approver: list approver groups or users (or set auto_approve = true)");
    }
    let required = match required {
        Some(n) if *n.get_ref() < 1 || *n.get_ref() > 20 => {
            return field_err(n.span(), &format!("{key}.approvals_required"), "must be between 1 and 20");
        }
        Some(n) => u32::try_from(*n.get_ref()).unwrap_or(1),
        None => 1,
    };
    if !approvers.groups.is_empty() || required as usize <= approvers.users.len() {
        Ok(Stage { approvers, required })
    } else {
        field_err(
            span,
            &format!("{key}.approvals_required"),
            format!("needs {required} approvals but names only {} approver(s)", approvers.users.len()),
        )
    }
}

impl RawProfile {
    fn validate(self, name: &str) -> Result<Profile, FieldError> {
        let key = ProfileKey::parse(name).or_else(|e| field_err(self.group.span(), "", e.reason))?;
        let group = parse_at(&self.group, ".group", GroupId::parse)?;
        let max = duration_at(Some(&self.max_duration), ".max_duration", HumanDuration::from_secs(0))?;
        let min = duration_at(self.min_duration.as_ref(), ".min_duration", HumanDuration::from_secs(60))?;
        let default = duration_at(
            self.default_duration.as_ref(),
            ".default_duration",
            min.max(HumanDuration::from_secs(3600)).min(max),
        )?;
        let timeout =
            duration_at(self.decision_timeout.as_ref(), ".decision_timeout", HumanDuration::from_secs(24 * 3600))?;
        let span_of = |v: &Option<Spanned<String>>| v.as_ref().map(Spanned::span).unwrap_or(self.max_duration.span());
        if min.get() < Duration::from_secs(1) {
            return field_err(span_of(&self.min_duration), ".min_duration", "must be at least 1s");
        }
        if max > crate::domain::GrantDuration::MAX {
            return field_err(self.max_duration.span(), ".max_duration", "must be at most 30 days");
        }
        if min > max {
            return field_err(
                span_of(&self.min_duration),
                ".min_duration",
                format!("({min}) is longer than max_duration ({max})"),
            );
        }
        if default < min || default > max {
            return field_err(
                span_of(&self.default_duration),
                ".default_duration",
                format!("({default}) must lie between min_duration ({min}) and max_duration ({max})"),
            );
        }
        if timeout.get() < Duration::from_secs(1) {
            return field_err(span_of(&self.decision_timeout), ".decision_timeout", "must be at least 1s");
        }
        let max_advance =
            duration_at(self.max_advance.as_ref(), ".max_advance", HumanDuration::from_secs(7 * 24 * 3600))?;
        if max_advance > HumanDuration::from_secs(MAX_ADVANCE_LIMIT_SECS) {
            return field_err(span_of(&self.max_advance), ".max_advance", "must be at most 90 days");
        }
        let eligible_span = self.eligible.span();
        let eligible = self.eligible.into_inner();
        let eligible = principals(".eligible", &eligible.groups, &eligible.users)?;
        if eligible.is_empty() {
            return field_err(eligible_span, ".eligible", "names nobody: list eligible groups or users");
        }
        let approval_span = self.approval.span();
        let raw = self.approval.into_inner();
        let approval = if raw.auto_approve {
            if !raw.groups.is_empty() || !raw.users.is_empty() || raw.second_stage.is_some() {
                return field_err(
                    approval_span,
                    ".approval.auto_approve",
                    "cannot be combined with approvers or a second stage",
                );
            }
            ApprovalRule::Automatic
        } else {
            let first = stage(".approval", approval_span, &raw.groups, &raw.users, raw.approvals_required.as_ref())?;
            let second = match raw.second_stage {
                Some(s) => {
                    let span = s.span();
                    let s = s.into_inner();
                    Some(stage(".approval.second_stage", span, &s.groups, &s.users, s.approvals_required.as_ref())?)
                }
                None => None,
            };
            ApprovalRule::Approvers { first, second }
        };
        match (self.aws_target.as_ref().map(|t| (t.get_ref().as_str(), t.span())), &self.identity_center) {
            (None | Some(("iam_role", _)), None) | (None | Some(("identity_center", _)), Some(_)) => {}
            (Some(("identity_center", span)), None) => {
                return field_err(
                    span,
                    ".identity_center",
                    "aws_target = \"identity_center\" needs identity_center = { identity_store_id, group }",
                );
            }
            (Some(("iam_role", span)), Some(_)) => {
                return field_err(span, ".aws_target", "is \"iam_role\" but an identity_center table is given");
            }
            (Some((other, span)), _) => {
                return field_err(
                    span,
                    ".aws_target",
                    format!("{other:?} is neither \"iam_role\" nor \"identity_center\""),
                );
            }
        }
        if let Some(revoke) = &self.revoke_sessions
            && *revoke.get_ref()
            && self.aws_role_arn.is_none()
        {
            return field_err(
                revoke.span(),
                ".revoke_sessions",
                "needs aws_role_arn: the role whose sessions to revoke",
            );
        }
        if let Some(account) = &self.aws_account {
            let ok = account.get_ref().len() == 12 && account.get_ref().chars().all(|c| c.is_ascii_digit());
            if !ok {
                return field_err(account.span(), ".aws_account", "must be a 12-digit AWS account id");
            }
        }
        if let Some(arn) = &self.aws_role_arn
            && (!arn.get_ref().starts_with("arn:aws") || !arn.get_ref().contains(":role/"))
        {
            return field_err(arn.span(), ".aws_role_arn", "must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)");
        }
        let escalation = match self.escalation {
            Some(raw) => {
                let span = raw.span();
                let raw = raw.into_inner();
                let escalation = principals(".escalation", &raw.groups, &raw.users)?;
                if escalation.is_empty() {
                    return field_err(span, ".escalation", "names nobody: list escalation groups or users");
                }
                if approval == ApprovalRule::Automatic {
                    return field_err(span, ".escalation", "makes no sense with auto_approve");
                }
                Some(escalation)
            }
            None => None,
        };
        let break_glass = match &self.break_glass {
            Some(flag) if *flag.get_ref() => {
                if self.break_glass_users.is_empty() {
                    return field_err(flag.span(), ".break_glass_users", "names nobody: list who may break the glass");
                }
                let users = self
                    .break_glass_users
                    .iter()
                    .map(|u| parse_at(u, ".break_glass_users", Upn::parse))
                    .collect::<Result<Vec<_>, _>>()?;
                Some(users)
            }
            _ => match self.break_glass_users.first() {
                Some(user) => return field_err(user.span(), ".break_glass_users", "needs break_glass = true"),
                None => None,
            },
        };
        let on_call = self.on_call.map(|raw| raw.into_inner().validate(max, &approval)).transpose()?;
        Ok(Profile {
            key,
            escalation,
            break_glass,
            on_call,
            require_sign_in_for_links: self.require_sign_in_for_links,
            title: self.title,
            description: self.description,
            aws_account: self.aws_account.map(Spanned::into_inner),
            aws_role_arn: self.aws_role_arn.map(Spanned::into_inner),
            group,
            min_duration: min,
            default_duration: default,
            max_duration: max,
            decision_timeout: timeout,
            max_advance,
            require_justification: self.require_justification,
            require_ticket: self.require_ticket,
            require_mfa: self.require_mfa,
            reconcile: self.reconcile,
            revoke_sessions: self.revoke_sessions.map(Spanned::into_inner),
            identity_center: self.identity_center.map(Spanned::into_inner),
            permanent_members: self
                .permanent_members
                .iter()
                .map(|u| parse_at(u, ".permanent_members", Upn::parse))
                .collect::<Result<_, _>>()?,
            eligible,
            approval,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    const GOOD: &str = r#"
[profiles.AzureAD-Admins]
title = "Account 1 administrators"
group = "AWS-Account1-Administrators"
max_duration = "4h"
eligible = { groups = ["Engineers"] }
approval = { groups = ["Approvers"], approvals_required = 2, second_stage = { users = ["ciso@example.com"] } }
"#;

    fn err(text: &str) -> String {
        Policy::parse(Path::new("policy.toml"), text).unwrap_err().to_string()
    }

    #[test]
    fn good_policy_parses_with_defaults() {
        let policy = Policy::parse(Path::new("policy.toml"), GOOD).unwrap();
        let p = policy.find("AzureAD-Admins").unwrap();
        assert_eq!(p.min_duration.as_secs(), 60);
        assert_eq!(p.default_duration.as_secs(), 3600);
        assert_eq!(p.decision_timeout.as_secs(), 86400);
        assert_eq!(p.approval.stage(1).map(|s| s.required), Some(2));
        assert_eq!(p.approval.stage(2).map(|s| s.required), Some(1));
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let bad = GOOD.replace(r#"max_duration = "4h""#, r#"max_duration = "4 parsecs""#);
        assert!(err(&bad).starts_with("policy.toml:5: profiles.AzureAD-Admins.max_duration: "), "{}", err(&bad));
        let bad = GOOD.replace("approvals_required = 2", "approvals_required = 0");
        assert!(
            err(&bad).starts_with("policy.toml:7: profiles.AzureAD-Admins.approval.approvals_required"),
            "{}",
            err(&bad)
        );
        let bad = GOOD.replace(r#"max_duration = "4h""#, "max_duration = \"4h\"\nmin_duration = \"5h\"");
        assert!(err(&bad).contains("policy.toml:6: profiles.AzureAD-Admins.min_duration"), "{}", err(&bad));
        let bad = GOOD.replace("title", "titel");
        assert!(err(&bad).contains("policy.toml:3") && err(&bad).contains("unknown field `titel`"), "{}", err(&bad));
        let bad = GOOD.replace(r#"eligible = { groups = ["Engineers"] }"#, "eligible = {}");
        assert!(err(&bad).contains("profiles.AzureAD-Admins.eligible: names nobody"), "{}", err(&bad));
    }
}
