//! A log: the append-only message store, its dedup window and retention.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize};

use crate::bugs::{planted, Bug};
use crate::deadline::Deadlines;
use crate::error::Error;
use crate::group::{Group, GroupRef};
use crate::message::{NewMessage, StoredMessage};
use crate::name::{GroupName, LogName};
pub(crate) use crate::store::MessageStore;

/// How long and how much a log keeps, and how it recognises repeats.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// Messages older than this may be dropped once every group settled them.
    pub retention_ms: Option<u64>,
    /// Past this many retained bytes, the oldest messages that every group
    /// settled may be dropped.
    pub retention_bytes: Option<u64>,
    /// Hard cap on retained bytes: an append that would pass it is refused.
    /// It protects memory when groups fall behind and nothing can be dropped.
    pub max_bytes: u64,
    /// How long a `dedup_id` is remembered.
    pub dedup_window_ms: u64,
    /// How many `dedup_id`s are remembered at most.
    pub dedup_window_len: usize,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            retention_ms: Some(7 * 24 * 60 * 60 * 1000),
            retention_bytes: Some(1 << 30),
            max_bytes: 4 << 30,
            dedup_window_ms: 5 * 60 * 1000,
            dedup_window_len: 100_000,
        }
    }
}

/// Upper bound for `dedup_window_len`: each entry costs about 100 bytes.
pub const DEDUP_WINDOW_LEN_MAX: usize = 10_000_000;

/// A change to a log's configuration; `None` keeps the current value (or the
/// default, for a new log).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// Absent: keep; `null`: no age limit; a number: the limit.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub retention_ms: Option<Option<u64>>,
    /// Absent: keep; `null`: no size limit; a number: the limit.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub retention_bytes: Option<Option<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup_window_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup_window_len: Option<usize>,
}

/// Reads a field that is present, `null` included, as `Some`: serde's
/// default would read `null` as absent and silently keep the old limit.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<u64>>, D::Error> {
    Option::<u64>::deserialize(deserializer).map(Some)
}

impl LogSettings {
    /// The configuration these settings make of `current`, or why they are invalid.
    pub(crate) fn apply_to(&self, current: &LogConfig) -> Result<LogConfig, Error> {
        let config = LogConfig {
            retention_ms: self.retention_ms.unwrap_or(current.retention_ms),
            retention_bytes: self.retention_bytes.unwrap_or(current.retention_bytes),
            max_bytes: self.max_bytes.unwrap_or(current.max_bytes),
            dedup_window_ms: self.dedup_window_ms.unwrap_or(current.dedup_window_ms),
            dedup_window_len: self.dedup_window_len.unwrap_or(current.dedup_window_len),
        };
        if config.max_bytes == 0 {
            return Err(Error::InvalidConfig {
                field: "max_bytes",
                reason: "must be positive".into(),
            });
        }
        if config.dedup_window_len > DEDUP_WINDOW_LEN_MAX {
            return Err(Error::InvalidConfig {
                field: "dedup_window_len",
                reason: format!("must be at most {DEDUP_WINDOW_LEN_MAX}"),
            });
        }
        Ok(config)
    }
}

/// Remembered `dedup_id`s, oldest first, bounded by count and age.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct DedupWindow {
    /// `(appended_at_ms, dedup_id, index)` in append order.
    order: VecDeque<(u64, Arc<str>, u64)>,
    /// `dedup_id` → `(index, appended_at_ms)`.
    #[serde(skip)]
    index_of: BTreeMap<Arc<str>, (u64, u64)>,
}

impl DedupWindow {
    /// The index `dedup_id` was appended at, if the window still holds it
    /// at `now_ms`. Pure, so an append can be planned before it mutates.
    fn lookup(&self, dedup_id: &str, now_ms: u64, config: &LogConfig) -> Option<u64> {
        let &(index, appended_at_ms) = self.index_of.get(dedup_id)?;
        (now_ms.saturating_sub(appended_at_ms) < config.dedup_window_ms).then_some(index)
    }

    fn insert(&mut self, dedup_id: Arc<str>, index: u64, now_ms: u64) {
        self.index_of.insert(dedup_id.clone(), (index, now_ms));
        self.order.push_back((now_ms, dedup_id, index));
    }

    /// Forgets ids past the window's age or count.
    fn prune(&mut self, now_ms: u64, config: &LogConfig) {
        while let Some((appended_at_ms, dedup_id, _)) = self.order.front() {
            let too_old = now_ms.saturating_sub(*appended_at_ms) >= config.dedup_window_ms;
            if !too_old && self.order.len() <= config.dedup_window_len {
                break;
            }
            self.index_of.remove(dedup_id);
            self.order.pop_front();
        }
    }

    fn rebuild(&mut self) {
        self.index_of = self
            .order
            .iter()
            .map(|(appended_at_ms, id, index)| (id.clone(), (*index, *appended_at_ms)))
            .collect();
    }
}

/// What an append did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Appended {
    /// Index of the first new message (the log's next index when none is new).
    pub first_index: u64,
    /// How many messages were appended; they hold `first_index..first_index+count`.
    pub count: u64,
    /// Messages of the batch recognised as repeats, with their original index.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub duplicates: Vec<Duplicate>,
}

/// A message of an append batch that repeats an earlier `dedup_id`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Duplicate {
    /// Position of the repeat in the batch.
    pub position: usize,
    /// Index the original was appended at.
    pub index: u64,
}

/// One log and its consumer groups.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Log {
    pub name: LogName,
    pub config: LogConfig,
    pub store: MessageStore,
    dedup: DedupWindow,
    pub groups: Vec<Group>,
    #[serde(skip)]
    group_ids: BTreeMap<GroupName, usize>,
}

impl Log {
    pub fn new(name: LogName, config: LogConfig) -> Self {
        Log {
            name,
            config,
            store: MessageStore::default(),
            dedup: DedupWindow::default(),
            groups: Vec::new(),
            group_ids: BTreeMap::new(),
        }
    }

    pub fn group_id(&self, name: &GroupName) -> Option<usize> {
        self.group_ids.get(name).copied()
    }

    pub fn add_group(&mut self, group: Group) -> usize {
        let id = self.groups.len();
        self.group_ids.insert(group.name.clone(), id);
        self.groups.push(group);
        id
    }

    /// Rebuilds what a snapshot leaves out, re-arming the groups' timers.
    pub fn rebuild_derived(&mut self, log_id: u32, deadlines: &mut Deadlines) {
        self.dedup.rebuild();
        if planted(Bug::SnapshotLosesLastMessage) {
            self.store.lose_newest();
        }
        self.group_ids = self
            .groups
            .iter()
            .enumerate()
            .map(|(id, group)| (group.name.clone(), id))
            .collect();
        for (group_id, group) in self.groups.iter_mut().enumerate() {
            let at = GroupRef {
                log: log_id,
                group: group_id as u32,
            };
            group.rebuild_derived(&self.store, at, deadlines);
        }
    }

    /// Applies new settings: a smaller window or retention takes effect at once.
    pub fn reconfigure(&mut self, config: LogConfig, now_ms: u64) {
        self.config = config;
        self.dedup.prune(now_ms, &self.config);
        self.apply_retention(now_ms);
    }

    /// Appends a validated batch atomically: every new message gets its
    /// index, or, on error, nothing changes.
    ///
    /// The batch is planned before anything mutates: which messages repeat
    /// a remembered `dedup_id` (or one earlier in the batch), and whether the
    /// new ones fit under `max_bytes` once retention dropped what it may.
    /// Repeats weigh nothing, so retrying an acknowledged append never fails
    /// for want of space.
    pub fn append(&mut self, messages: Vec<NewMessage>, now_ms: u64) -> Result<Appended, Error> {
        let first_index = self.store.next_index();
        let mut originals = Vec::with_capacity(messages.len());
        let mut batch_ids: BTreeMap<&str, u64> = BTreeMap::new();
        let mut next_index = first_index;
        let mut new_bytes = 0;
        for message in &messages {
            let id = message.dedup_id.as_deref();
            let original = id.and_then(|id| {
                let remembered = self
                    .dedup
                    .lookup(id, now_ms, &self.config)
                    .filter(|_| !planted(Bug::DedupForgotten));
                remembered.or_else(|| batch_ids.get(id).copied())
            });
            if original.is_none() {
                if let Some(id) = id {
                    batch_ids.insert(id, next_index);
                }
                next_index += 1;
                new_bytes += message.size_bytes();
            }
            originals.push(original);
        }
        let (_, droppable_bytes) = self.retention_cut(now_ms);
        let bytes = self.store.bytes() - droppable_bytes + new_bytes;
        if bytes > self.config.max_bytes {
            return Err(Error::LogFull {
                bytes,
                max: self.config.max_bytes,
            });
        }
        self.apply_retention(now_ms);
        self.dedup.prune(now_ms, &self.config);
        let mut duplicates = Vec::new();
        for (position, (message, original)) in messages.into_iter().zip(originals).enumerate() {
            if let Some(index) = original {
                duplicates.push(Duplicate { position, index });
                continue;
            }
            let index = self.store.next_index();
            let dedup_id = message.dedup_id.as_deref().map(Arc::from);
            self.store.push(StoredMessage::new(message, now_ms));
            if let Some(id) = dedup_id {
                self.dedup.insert(id, index, now_ms);
            }
        }
        debug_assert_eq!(self.store.next_index(), next_index, "the plan held");
        self.dedup.prune(now_ms, &self.config);
        self.apply_retention(now_ms);
        Ok(Appended {
            first_index,
            count: next_index - first_index,
            duplicates,
        })
    }

    /// Drops the oldest messages that every group has settled and that are
    /// past the retention limit. Returns how many were dropped.
    pub fn apply_retention(&mut self, now_ms: u64) -> u64 {
        let (dropped, _) = self.retention_cut(now_ms);
        for _ in 0..dropped {
            self.store.drop_oldest();
        }
        if dropped > 0 {
            let first_index = self.store.first_index();
            for group in &mut self.groups {
                group.forget_below(first_index);
            }
        }
        dropped
    }

    /// How many of the oldest messages retention may drop at `now_ms`, and
    /// their bytes: those below every group's retention floor and past the
    /// age or size limit.
    fn retention_cut(&self, now_ms: u64) -> (u64, u64) {
        let floor = self
            .groups
            .iter()
            .map(Group::retention_floor)
            .min()
            .unwrap_or(u64::MAX);
        let (mut count, mut bytes) = (0, 0);
        for (index, message) in self.store.iter() {
            let retained_bytes = self.store.bytes() - bytes;
            if index >= floor.saturating_add(planted(Bug::RetentionOffByOne) as u64)
                || !self.past_retention(message, retained_bytes, now_ms)
            {
                break;
            }
            count += 1;
            bytes += message.size_bytes();
        }
        (count, bytes)
    }

    fn past_retention(&self, oldest: &StoredMessage, retained_bytes: u64, now_ms: u64) -> bool {
        let too_old = self
            .config
            .retention_ms
            .is_some_and(|ms| now_ms.saturating_sub(oldest.appended_at_ms()) >= ms);
        let too_big = self
            .config
            .retention_bytes
            .is_some_and(|bytes| retained_bytes > bytes);
        too_old || too_big
    }
}
