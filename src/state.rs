//! What a start does with the durable binding state (see `controlplane::durable`): where the journal is, what
//! is restored, and which RFC 5847 restart counter the node announces.
//!
//! - State read back: the counter stays as it was (RFC 5847 §5.3 increments it only when state is lost).
//! - No state, `--discard-state`, or `[state] durable = false`: the counter is incremented; with
//!   `--discard-state` the former peers (from the discarded journal, if it can still be read) are told at once.
//! - State that cannot be read: the start stops with an error naming the file and the way out.

use std::path::{Path, PathBuf};

use controlplane::durable::{journal, Owner, Restored};

use crate::config::Config;

/// The durable-state side of a start.
pub struct StateStart {
    /// The journal to write (durable state on).
    pub journal: Option<PathBuf>,
    /// What to restore (state read back), with the journal as read, to go on with.
    pub restored: Option<journal::Loaded>,
    /// The bindings of a discarded state: their peers are told of the restart.
    pub discarded: Option<Restored>,
    pub restart_counter: u32,
    /// `state.min_commit_interval_us`.
    pub min_commit_interval: std::time::Duration,
}

/// The journal file of a node (`lma.journal` or `mag.journal`) whose restart counter is kept at `counter_file`.
pub fn journal_path(config: &Config, owner: Owner, counter_file: &Path) -> PathBuf {
    let dir = match &config.state.dir {
        Some(dir) => dir.clone(),
        None => counter_file.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_owned(),
    };
    dir.join(match owner {
        Owner::Lma => "lma.journal",
        Owner::Mag => "mag.journal",
    })
}

/// Decides what this start restores and which restart counter it announces (see the module docs).
pub fn open(config: &Config) -> Result<StateStart, String> {
    let (section, owner, counter_file) = match (&config.lma, &config.mag) {
        (Some(lma), _) => ("lma", Owner::Lma, &lma.heartbeat.restart_counter_file),
        (None, Some(mag)) => ("mag", Owner::Mag, &mag.heartbeat.restart_counter_file),
        (None, None) => return Err("no [lma] or [mag] section".into()),
    };
    let counter_key = format!("key '{section}.heartbeat.restart_counter_file'");
    let min_commit_interval = std::time::Duration::from_micros(u64::from(config.state.min_commit_interval_us));
    let next_counter =
        || controlplane::restart_counter::next_restart_counter(counter_file).map_err(|e| format!("{counter_key}: {e}"));
    if !config.state.durable {
        return Ok(StateStart {
            journal: None,
            restored: None,
            discarded: None,
            restart_counter: next_counter()?,
            min_commit_interval,
        });
    }
    let path = journal_path(config, owner, counter_file);
    if config.state.discard {
        // The former peers are worth telling, if the old journal can still say who they were.
        let discarded = journal::load(&path, owner).ok().flatten().map(|l| l.restored);
        tracing::warn!(path = %path.display(), "--discard-state: starting without the stored bindings");
        return Ok(StateStart {
            journal: Some(path),
            restored: None,
            discarded,
            restart_counter: next_counter()?,
            min_commit_interval,
        });
    }
    match journal::load(&path, owner) {
        Ok(Some(loaded)) => {
            let stored = controlplane::restart_counter::stored_restart_counter(counter_file)
                .map_err(|e| format!("{counter_key}: {e}"))?;
            // State without a counter file (it was deleted): the peers cannot know the old value; a new one is
            // safer than a guess.
            let restart_counter = match stored {
                Some(counter) => counter,
                None => next_counter()?,
            };
            tracing::info!(
                path = %path.display(),
                records = loaded.records,
                torn_bytes = loaded.torn_bytes,
                restart_counter,
                "durable state read back"
            );
            Ok(StateStart {
                journal: Some(path),
                restored: Some(loaded),
                discarded: None,
                restart_counter,
                min_commit_interval,
            })
        }
        Ok(None) => Ok(StateStart {
            journal: Some(path),
            restored: None,
            discarded: None,
            restart_counter: next_counter()?,
            min_commit_interval,
        }),
        Err(e) => Err(format!(
            "{e}. Move the file away to inspect it, or start with --discard-state to drop it: every binding is \
             lost, the restart counter is incremented and the peers are told"
        )),
    }
}
