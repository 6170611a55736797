//! Signed checkpoints of the audit chain's head. The hash chain shows that no stored event was
//! changed, removed or reordered, unless someone rewrote the whole chain after the change and
//! recomputed every hash. A checkpoint closes that gap: the head's sequence number and hash,
//! signed (EdDSA, Ed25519) with a key the database never sees and kept elsewhere, so a
//! rewritten chain no longer matches what was signed before.
//!
//! A checkpoint is a compact JWS; `elevate audit checkpoint` makes one (run it from cron or a
//! timer), `elevate audit verify --from-checkpoint FILE` checks one against the database.
use std::path::Path;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{
    domain::now,
    store::{
        Store, StoreError, audit,
        audit::{NewEvent, Subject, Verification, seal::Sealer},
    },
};

const ISSUER: &str = "elevate";
const CHECKPOINT_SIGNED: &str = "audit.checkpoint_signed";
/// How long a checkpoint waits for the entries committed before it to be sealed.
const SEAL_WAIT: std::time::Duration = std::time::Duration::from_secs(10);
const AUDIENCE: &str = "elevate-audit-checkpoint";

/// What a checkpoint vouches for: the chain up to `seq` ended in `hash`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Checkpoint {
    iss: String,
    aud: String,
    pub seq: i64,
    pub hash: String,
    /// When it was signed (seconds since the epoch).
    pub iat: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: {reason}")]
    Key { path: String, reason: String },
    #[error("the checkpoint is not genuine or not readable: {0}")]
    Invalid(String),
    #[error("the audit log is empty: nothing to checkpoint")]
    Empty,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How a chain compares with a checkpoint.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Intact, and the checkpointed event still has the signed hash.
    Matches { events: u64, checkpoint: Checkpoint },
    /// The chain itself does not verify.
    Broken { seq: i64, reason: String },
    /// The chain verifies, but not against the checkpoint: it was rewritten (or truncated).
    Differs { checkpoint: Checkpoint, found: Option<String> },
}

fn read_key(path: &Path) -> Result<Vec<u8>, CheckpointError> {
    std::fs::read(path).map_err(|e| CheckpointError::Key { path: path.display().to_string(), reason: e.to_string() })
}

/// Signs the current head with the Ed25519 private key at `key` (PEM, PKCS #8: `openssl
/// genpkey -algorithm ed25519`) and records the checkpoint in the audit log itself, as `actor`.
pub async fn make(store: &Store, key: &Path, actor: &str) -> Result<(Checkpoint, String), CheckpointError> {
    let pem = read_key(key)?;
    let encoding = EncodingKey::from_ed_pem(&pem).map_err(|e| CheckpointError::Key {
        path: key.display().to_string(),
        reason: format!("not an Ed25519 private key: {e}"),
    })?;
    // What was committed before the checkpoint is asked for is in it.
    Sealer::default().seal_committed(store, SEAL_WAIT).await?;
    let head = audit::head(store.conn()).await?.ok_or(CheckpointError::Empty)?;
    let (seq, hash) = (head.seq, head.hash);
    let checkpoint = Checkpoint { iss: ISSUER.into(), aud: AUDIENCE.into(), seq, hash, iat: now() / 1000 };
    let signed = jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &checkpoint, &encoding)
        .map_err(|e| CheckpointError::Key { path: key.display().to_string(), reason: e.to_string() })?;
    let tx = store.begin().await?;
    let details = json!({ "seq": checkpoint.seq, "hash": checkpoint.hash });
    audit::append(&tx, NewEvent::new(actor, CHECKPOINT_SIGNED, Subject::Audit(seq), details)).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok((checkpoint, signed))
}

/// The periodic checkpoint (`audit.checkpoint_dir`): signs the head into
/// `checkpoint-<seq>.jws` in `dir`, unless nothing happened since the last checkpoint (the
/// head is that checkpoint's own event). The file's path, when one was written.
pub async fn make_periodic(
    store: &Store,
    key: &Path,
    dir: &Path,
) -> Result<Option<std::path::PathBuf>, CheckpointError> {
    let sealed = Sealer::default().seal_committed(store, SEAL_WAIT).await?;
    let head = audit::head(store.conn()).await?;
    if sealed && head.is_some_and(|h| h.action == CHECKPOINT_SIGNED) {
        return Ok(None);
    }
    let (checkpoint, signed) = make(store, key, "system").await?;
    let path = dir.join(format!("checkpoint-{:012}.jws", checkpoint.seq));
    let written = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, format!("{signed}\n")));
    written.map_err(|e| CheckpointError::Key { path: path.display().to_string(), reason: e.to_string() })?;
    Ok(Some(path))
}

/// Checks the signature of `signed` with the Ed25519 public key at `public_key`, then the
/// chain: intact, and the checkpointed event still carrying the signed hash.
pub async fn verify(store: &Store, signed: &str, public_key: &Path) -> Result<Outcome, CheckpointError> {
    let pem = read_key(public_key)?;
    let decoding = DecodingKey::from_ed_pem(&pem).map_err(|e| CheckpointError::Key {
        path: public_key.display().to_string(),
        reason: format!("not an Ed25519 public key: {e}"),
    })?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    validation.set_required_spec_claims(&["iss", "aud"]);
    validation.validate_exp = false;
    let checkpoint = jsonwebtoken::decode::<Checkpoint>(signed.trim(), &decoding, &validation)
        .map_err(|e| CheckpointError::Invalid(e.to_string()))?
        .claims;
    let events = match audit::verify(store.conn()).await? {
        Verification::Intact { events } => events,
        Verification::Broken { seq, reason } => return Ok(Outcome::Broken { seq, reason }),
    };
    let found = audit::hash_at(store.conn(), checkpoint.seq).await?;
    if found.as_deref() == Some(checkpoint.hash.as_str()) {
        Ok(Outcome::Matches { events, checkpoint })
    } else {
        Ok(Outcome::Differs { checkpoint, found })
    }
}
