//! A profile's `on_call` table: who is on call in PagerDuty or Opsgenie is approved at once.
use serde::Deserialize;
use toml::Spanned;

use super::{
    ApprovalRule, OnCallRule,
    parser::{FieldError, field_err, parse_at},
};
use crate::domain::HumanDuration;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOnCall {
    #[serde(default)]
    pagerduty_schedules: Vec<Spanned<String>>,
    #[serde(default)]
    pagerduty_escalation_policies: Vec<Spanned<String>>,
    #[serde(default)]
    opsgenie_schedules: Vec<Spanned<String>>,
    max_duration: Spanned<String>,
}

impl RawOnCall {
    /// The rule, or the key at fault: it must name a schedule or policy, bound the access to
    /// at most the profile's `max_duration`, and stand beside one approval in one stage.
    pub(super) fn validate(
        self,
        profile_max: HumanDuration,
        approval: &ApprovalRule,
    ) -> Result<OnCallRule, FieldError> {
        let span = self.max_duration.span();
        match approval {
            ApprovalRule::Automatic => return field_err(span, ".on_call", "makes no sense with auto_approve"),
            // Being on call stands in for one approver; it must not skip a second one, or a
            // second stage.
            ApprovalRule::Approvers { first, second } if first.required > 1 || second.is_some() => {
                return field_err(span, ".on_call", "needs an approval rule of one approval in one stage");
            }
            ApprovalRule::Approvers { .. } => {}
        }
        let ids = |list: Vec<Spanned<String>>, key: &str| -> Result<Vec<String>, FieldError> {
            list.into_iter()
                .map(|id| {
                    let ok = !id.get_ref().is_empty() && id.get_ref().chars().all(|c| c.is_ascii_alphanumeric());
                    if ok {
                        Ok(id.into_inner())
                    } else {
                        field_err(id.span(), key, "is not a PagerDuty id like PI7DH85")
                    }
                })
                .collect()
        };
        let schedules = ids(self.pagerduty_schedules, ".on_call.pagerduty_schedules")?;
        let policies = ids(self.pagerduty_escalation_policies, ".on_call.pagerduty_escalation_policies")?;
        let opsgenie = self
            .opsgenie_schedules
            .into_iter()
            .map(|s| match s.get_ref().trim().is_empty() || s.get_ref().chars().any(char::is_control) {
                true => field_err(s.span(), ".on_call.opsgenie_schedules", "is not a schedule id or name"),
                false => Ok(s.into_inner()),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if schedules.is_empty() && policies.is_empty() && opsgenie.is_empty() {
            return field_err(span, ".on_call", "names no schedule or escalation policy");
        }
        let max_duration =
            parse_at(&self.max_duration, ".on_call.max_duration", |s| HumanDuration::parse("duration", s))?;
        if max_duration > profile_max {
            return field_err(
                span,
                ".on_call.max_duration",
                format!("is longer than the profile's max_duration ({profile_max})"),
            );
        }
        Ok(OnCallRule {
            pagerduty_schedules: schedules,
            pagerduty_escalation_policies: policies,
            opsgenie_schedules: opsgenie,
            max_duration,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::policy::Policy;

    fn profile(on_call: &str, approval: &str) -> String {
        format!(
            "[profiles.P]\ntitle = \"p\"\ngroup = \"G\"\nmax_duration = \"8h\"\neligible = {{ groups = [\"E\"] }}\n\
             approval = {approval}\non_call = {on_call}\n"
        )
    }

    #[test]
    fn an_on_call_rule_names_a_schedule_and_stays_within_the_profile() {
        let approvers = "{ groups = [\"A\"] }";
        let parse = |on_call: &str, approval: &str| Policy::parse(Path::new("p.toml"), &profile(on_call, approval));
        let good = parse("{ pagerduty_schedules = [\"PI7DH85\"], max_duration = \"1h\" }", approvers).unwrap();
        let rule = good.profiles().next().unwrap().on_call.clone().unwrap();
        assert_eq!((rule.pagerduty_schedules, rule.max_duration.as_secs()), (vec!["PI7DH85".to_owned()], 3600));
        for (on_call, approval, key) in [
            ("{ max_duration = \"1h\" }", approvers, "profiles.P.on_call"),
            ("{ pagerduty_schedules = [\"PI7 DH85\"], max_duration = \"1h\" }", approvers, "pagerduty_schedules"),
            ("{ pagerduty_schedules = [\"PI7DH85\"], max_duration = \"9h\" }", approvers, "on_call.max_duration"),
            ("{ pagerduty_schedules = [\"PI7DH85\"], max_duration = \"1h\" }", "{ auto_approve = true }", "on_call"),
            ("{ pagerduty_schedules = [\"PI7DH85\"], max_duration = \"1h\", opsgenie = 1 }", approvers, "opsgenie"),
            ("{ opsgenie_schedules = [\" \"], max_duration = \"1h\" }", approvers, "opsgenie_schedules"),
            (
                "{ pagerduty_schedules = [\"PI7DH85\"], max_duration = \"1h\" }",
                "{ groups = [\"A\"], approvals_required = 2 }",
                "one approval in one stage",
            ),
        ] {
            let e = parse(on_call, approval).unwrap_err().to_string();
            assert!(e.contains("p.toml:7") && e.contains(key), "{on_call}: {e}");
        }
    }
}
