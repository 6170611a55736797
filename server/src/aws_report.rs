//! How `elevate aws discover` shows what it found: a table, or policy stanzas to paste.
use std::fmt::Write;

use crate::{config::AwsAccount, providers::aws::DiscoveredRole};

/// Profile stanzas to paste into the policy, one per role.
pub fn discovered_as_policy(account: &AwsAccount, roles: &[DiscoveredRole]) -> String {
    let mut out = String::new();
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
    out
}

/// The roles as a table: risk, longest session, policies.
pub fn discovered_as_table(account: &AwsAccount, roles: &[DiscoveredRole]) -> String {
    let mut out = String::new();
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

/// The inventory as a readable report, findings first.
pub fn inventory(inv: &crate::providers::aws::Inventory) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "account {}", inv.account_id);
    let _ = writeln!(out, "\nfindings ({}):", inv.findings.len());
    for f in &inv.findings {
        let _ = writeln!(out, "  ! {f}");
    }
    let _ = writeln!(out, "\nIAM users:");
    let _ = writeln!(
        out,
        "  {:<24} {:>12} {:<5} {:<24} {:<24} policies",
        "user", "password age", "MFA", "access keys (age)", "groups"
    );
    for u in &inv.users {
        let keys: Vec<String> = u
            .access_keys
            .iter()
            .map(|k| format!("{}d{}", k.age_days, if k.active { "" } else { " inactive" }))
            .collect();
        let password = u.password_age_days.map_or("-".to_owned(), |d| format!("{d}d"));
        let _ = writeln!(
            out,
            "  {:<24} {:>12} {:<5} {:<24} {:<24} {}",
            u.name,
            password,
            if u.mfa { "yes" } else { "no" },
            keys.join(","),
            u.groups.join(","),
            u.attached_policies.join(",")
        );
    }
    let _ = writeln!(out, "\nIAM groups:");
    for g in &inv.groups {
        let _ = writeln!(
            out,
            "  {:<24} members: {:<30} policies: {}",
            g.name,
            g.members.join(","),
            g.attached_policies.join(",")
        );
    }
    for (title, roles) in [("custom roles", &inv.custom_roles), ("service-linked roles", &inv.service_linked_roles)] {
        let _ = writeln!(out, "\n{title}:");
        for r in roles {
            let _ =
                writeln!(out, "  {:<32} policies: {:<40} trust: {}", r.name, r.attached_policies.join(","), r.trust);
        }
    }
    let _ = writeln!(out, "\ncustomer-managed policies:");
    for p in &inv.customer_policies {
        let _ = writeln!(
            out,
            "  {:<32} attached to: {}",
            p.name,
            if p.attached_to.is_empty() { "nothing".into() } else { p.attached_to.join(", ") }
        );
    }
    let _ = writeln!(out, "\nSAML providers: {}", inv.saml_providers.join(", "));
    out
}

/// What to paste into AWS for the reference set-up: a federated role's trust policy and the
/// least-privilege policy of the IAM user the Entra provisioning agent lists roles with.
pub fn setup_guide(account: &AwsAccount) -> String {
    let trust = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Federated": account.saml_provider_arn },
            "Action": "sts:AssumeRoleWithSAML",
            "Condition": { "StringEquals": { "SAML:aud": "https://signin.aws.amazon.com/saml" } },
        }],
    });
    let lister = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{ "Effect": "Allow", "Action": ["iam:ListRoles", "iam:ListAccountAliases"], "Resource": "*" }],
    });
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default();
    format!(
        "Account {acct} — nothing here changes AWS; paste what you need.\n\n\
         1. Trust policy of every role Entra ID users federate into (IAM > Roles > Trust relationships):\n\n{trust}\n\n\
         2. Policy of the IAM user (e.g. Svc-EntraProvisioning) whose access key the Entra AWS app uses to\n   \
         import the roles; it can list roles and the account alias, nothing else:\n\n{lister}\n\n\
         3. Then: `elevate aws discover --format toml` for profile stanzas, and `elevate policy check --aws`.\n",
        acct = account.account_id,
        trust = pretty(&trust),
        lister = pretty(&lister),
    )
}
