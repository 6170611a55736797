//! The configuration in force, recorded in the audit log when it changes between starts.
use crate::{
    config::Settings,
    store::{
        Store, StoreError, audit,
        audit::{NewEvent, Subject},
    },
};

/// What configuration is in force, as SHA-256 fingerprints: of the effective settings (file
/// and environment, with every secret redacted, so a secret never reaches the audit log) and
/// of the policy file.
pub struct Fingerprints {
    settings: String,
    policy: String,
}

impl Fingerprints {
    pub fn of(settings: &Settings) -> Self {
        use sha2::{Digest, Sha256};
        let hex = |bytes: &[u8]| Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect::<String>();
        let policy = std::fs::read(&settings.policy.path).unwrap_or_default();
        Self { settings: hex(format!("{settings:?}").as_bytes()), policy: hex(&policy) }
    }

    /// Audits the configuration when it is not what the last start recorded: `config.loaded`
    /// the first time, `config.changed` (naming what changed) afterwards.
    pub async fn record(&self, store: &Store) -> Result<(), StoreError> {
        let tx = store.begin().await?;
        let last = audit::last_of(&tx, &["config.loaded", "config.changed"]).await?;
        let seen: Option<serde_json::Value> = last.and_then(|(_, details)| serde_json::from_str(&details).ok());
        let was = |key: &str| seen.as_ref().and_then(|d| d[key].as_str().map(str::to_owned));
        let (settings_changed, policy_changed) = (
            was("settings_sha256").as_deref() != Some(&self.settings),
            was("policy_sha256").as_deref() != Some(&self.policy),
        );
        if settings_changed || policy_changed {
            let action = if seen.is_some() { "config.changed" } else { "config.loaded" };
            let details = serde_json::json!({
                "settings_sha256": self.settings,
                "policy_sha256": self.policy,
                "settings_changed": settings_changed,
                "policy_changed": policy_changed,
            });
            audit::append(&tx, NewEvent::system(action, Subject::Config, details)).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
