//! Several owners, each with its own machine and WAL, sharing the logs
//! between them by a stable hash of the log name. Logs are independent (no
//! command touches two), so shards never coordinate; each does its own
//! group commit, and their fsyncs run in parallel.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mamamia_machine::{Limits, LogName};

use super::start::{start, OwnerTask, StartError};
use super::{OwnerHandle, Settings};
use crate::metrics::Metrics;

/// Most owners: more than cores buys nothing, and each holds a thread, a
/// WAL segment and a snapshot.
pub const OWNERS_MAX: usize = 64;

/// Records the shard count of a data directory: logs are placed by
/// `hash % count`, so another count would look for them in the wrong WAL.
const SHARDS_FILE: &str = "SHARDS";

/// Handles to every owner; cheap to clone.
#[derive(Clone)]
pub struct Owners {
    shards: Arc<[OwnerHandle]>,
}

impl Owners {
    /// The owner of a log.
    pub fn for_log(&self, log: &LogName) -> &OwnerHandle {
        &self.shards[shard_of(log, self.shards.len())]
    }

    pub fn all(&self) -> &[OwnerHandle] {
        &self.shards
    }

    /// Stops every owner, all at once (each takes a final snapshot);
    /// resolves when all WALs are durable.
    pub async fn shutdown(&self) {
        let stopping: Vec<_> = self
            .shards
            .iter()
            .cloned()
            .map(|owner| tokio::spawn(async move { owner.shutdown().await }))
            .collect();
        for owner in stopping {
            let _ = owner.await; // an owner that is gone has nothing left to flush
        }
    }
}

/// CRC32C of the name: stable across processes, builds and platforms,
/// unlike the std hasher.
fn shard_of(log: &LogName, count: usize) -> usize {
    crc32c::crc32c(log.as_str().as_bytes()) as usize % count
}

/// Starts `count` owners; with one, the data directory holds its WAL
/// directly, with more, `shard-K/` does for owner K.
pub fn start_owners(
    settings: Settings,
    limits: Limits,
    metrics: Arc<Metrics>,
    count: usize,
) -> Result<(Owners, Vec<OwnerTask>), StartError> {
    let count = count.clamp(1, OWNERS_MAX);
    if !settings.in_memory {
        check_shard_count(&settings.data_dir, count)?;
    }
    let mut handles = Vec::with_capacity(count);
    let mut tasks = Vec::with_capacity(count);
    for shard in 0..count {
        let mut shard_settings = settings.clone();
        if count > 1 {
            shard_settings.data_dir = shard_dir(&settings.data_dir, shard);
        }
        let (handle, task) = start(shard_settings, limits.clone(), metrics.clone())?;
        handles.push(handle);
        tasks.push(task);
    }
    Ok((
        Owners {
            shards: handles.into(),
        },
        tasks,
    ))
}

fn shard_dir(data_dir: &Path, shard: usize) -> PathBuf {
    data_dir.join(format!("shard-{shard}"))
}

fn check_shard_count(data_dir: &Path, count: usize) -> Result<(), StartError> {
    fs::create_dir_all(data_dir).map_err(StartError::Io)?;
    let path = data_dir.join(SHARDS_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => match text.trim().parse::<usize>() {
            Ok(recorded) if recorded == count => Ok(()),
            _ => Err(StartError::Shards {
                recorded: text.trim().to_owned(),
                asked: count,
            }),
        },
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            fs::write(&path, format!("{count}\n")).map_err(StartError::Io)
        }
        Err(error) => Err(StartError::Io(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_is_stable_and_spreads() {
        let names: Vec<LogName> = (0..64)
            .map(|n| LogName::new(&format!("log-{n}")).unwrap())
            .collect();
        let used: std::collections::BTreeSet<usize> =
            names.iter().map(|name| shard_of(name, 4)).collect();
        assert_eq!(used.len(), 4, "64 names reach all 4 shards");
        assert_eq!(
            shard_of(&names[0], 4),
            shard_of(&LogName::new("log-0").unwrap(), 4)
        );
    }
}
