//! `elevate audit verify` and `elevate audit checkpoint`: the hash chain, and signed
//! statements of its head kept elsewhere.
use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;
use clap::Subcommand;
use elevate::{
    audit_checkpoint::{self, Outcome},
    startup,
    store::audit::{self, Verification},
};

use super::Config;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain; exit non-zero naming the first bad sequence number.
    Verify {
        /// Also check a signed checkpoint: the chain must still hold the hash it vouches for.
        #[arg(long, value_name = "FILE")]
        from_checkpoint: Option<PathBuf>,
        /// The Ed25519 public key (PEM) of the checkpoint (default: audit.checkpoint_public_key_file).
        #[arg(long, value_name = "FILE")]
        public_key: Option<PathBuf>,
    },
    /// Sign the chain's head with the Ed25519 key and print (or write) the checkpoint.
    Checkpoint {
        /// The Ed25519 private key (PEM) (default: audit.checkpoint_key_file).
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// Write the checkpoint to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

impl AuditCommand {
    pub async fn run(self, config: &Config) -> anyhow::Result<ExitCode> {
        let settings = config.load()?;
        match self {
            Self::Verify { from_checkpoint: None, .. } => {
                let store = startup::open_current_store(&settings).await?;
                // What was committed is verified too: sealing chains it, and records what the
                // sealer finds missing or altered, before the walk.
                startup::seal_audit_entries(&store).await;
                match audit::verify(store.conn()).await? {
                    Verification::Intact { events } => println!("audit chain intact: {events} event(s)"),
                    Verification::Broken { seq, reason } => return Ok(broken(seq, &reason)),
                }
            }
            Self::Verify { from_checkpoint: Some(file), public_key } => {
                let public_key = public_key.or(settings.audit.checkpoint_public_key_file.clone()).context(
                    "--public-key FILE (or audit.checkpoint_public_key_file) is needed to check a checkpoint",
                )?;
                let signed = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
                let store = startup::open_current_store(&settings).await?;
                startup::seal_audit_entries(&store).await;
                match audit_checkpoint::verify(&store, &signed, &public_key).await? {
                    Outcome::Matches { events, checkpoint } => println!(
                        "audit chain intact: {events} event(s); checkpoint at seq {} matches (hash {})",
                        checkpoint.seq, checkpoint.hash
                    ),
                    Outcome::Broken { seq, reason } => return Ok(broken(seq, &reason)),
                    Outcome::Differs { checkpoint, found } => {
                        let found = found.map_or_else(|| "no such event".to_owned(), |h| format!("hash {h}"));
                        println!(
                            "audit chain does not match the checkpoint: seq {} was signed with hash {}, the database has {found}",
                            checkpoint.seq, checkpoint.hash
                        );
                        return Ok(ExitCode::FAILURE);
                    }
                }
            }
            Self::Checkpoint { key, out } => {
                let key = key
                    .or(settings.audit.checkpoint_key_file.clone())
                    .context("--key FILE (or audit.checkpoint_key_file) is needed to sign a checkpoint")?;
                let store = startup::open_current_store(&settings).await?;
                let (checkpoint, signed) = audit_checkpoint::make(&store, &key, "cli").await?;
                match out {
                    Some(path) => {
                        std::fs::write(&path, format!("{signed}\n"))
                            .with_context(|| format!("writing {}", path.display()))?;
                        eprintln!("checkpoint of seq {} written to {}", checkpoint.seq, path.display());
                    }
                    None => println!("{signed}"),
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn broken(seq: i64, reason: &str) -> ExitCode {
    println!("audit chain broken at seq {seq}: {reason}");
    ExitCode::FAILURE
}
