//! How `elevate aws discover` shows what it found: a table, or policy stanzas to paste.
use std::fmt::Write;

use crate::{config::AwsAccount, providers::aws::DiscoveredRole};

pub fn discovered(account: &AwsAccount, roles: &[DiscoveredRole], format: &str) -> String {
    let mut out = String::new();
    if format == "toml" {
        let _ = writeln!(out, "# Roles of account {} federated by {}", account.account_id, account.saml_provider_arn);
        for r in roles {
            let hours = (r.max_session_secs / 3600).max(1);
            let _ = writeln!(
                out,
                "\n[profiles.{name}]\ntitle = \"{name} in {acct}\"\naws_account = \"{acct}\"\naws_role_arn = \"{arn}\"\n\
                 group = \"REPLACE-with-the-Entra-group-object-id\"\nmax_duration = \"{hours}h\"\nrequire_justification = true\n\
                 revoke_sessions = {revoke}\n# risk: {risk}; attached: {attached}\neligible = {{ groups = [] }}\n\
                 approval = {{ groups = [], approvals_required = 1 }}",
                name = r.name,
                acct = account.account_id,
                arn = r.arn,
                revoke = r.risk == crate::providers::aws::RiskTier::High,
                risk = r.risk.as_str(),
                attached = r.attached.join(", "),
            );
        }
        return out;
    }
    let _ = writeln!(out, "account {} (SAML provider {})", account.account_id, account.saml_provider_arn);
    let _ = writeln!(out, "{:<32} {:<6} {:>11}  {:<40} inline", "role", "risk", "max session", "attached policies");
    for r in roles {
        let _ = writeln!(
            out,
            "{:<32} {:<6} {:>10}h  {:<40} {}",
            r.name,
            r.risk.as_str(),
            r.max_session_secs / 3600,
            r.attached.join(","),
            r.inline.join(",")
        );
    }
    if roles.is_empty() {
        let _ = writeln!(out, "(no role trusts this SAML provider)");
    }
    out
}
