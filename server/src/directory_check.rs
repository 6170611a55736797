//! What `elevate directory check` looks at: every directory group the policy names.
use std::collections::BTreeMap;

use crate::{domain::GroupId, policy::Policy};

/// Each group the policy names, with the roles it plays (`mapped by AzureAD-Admins`, …).
pub fn groups_named(policy: &Policy) -> Vec<(GroupId, String)> {
    let mut roles: BTreeMap<GroupId, Vec<String>> = BTreeMap::new();
    for p in policy.profiles() {
        roles.entry(p.group.clone()).or_default().push(format!("mapped by {}", p.key));
        for g in &p.eligible.groups {
            roles.entry(g.clone()).or_default().push(format!("eligible for {}", p.key));
        }
        for stage in [1, 2] {
            for g in p.approval.stage(stage).map(|s| s.approvers.groups.clone()).unwrap_or_default() {
                roles.entry(g).or_default().push(format!("approves {} stage {stage}", p.key));
            }
        }
    }
    roles.into_iter().map(|(g, r)| (g, r.join(", "))).collect()
}
