//! Reads: summaries, messages, dead letters, attempt histories, leases.
//! None changes state, so none is a command.

use crate::error::Error;
use crate::group::AttemptRecord;
use crate::log::Log;
use crate::message::Message;
use crate::name::{GroupName, LogName};
use crate::reply::{DeadLetter, GroupSummary, LeaseView, LogSummary};

use super::Machine;

impl Machine {
    /// Every log, by name.
    pub fn logs(&self) -> Vec<LogSummary> {
        self.log_ids
            .values()
            .map(|&log_id| summarize(&self.logs[log_id as usize]))
            .collect()
    }

    pub fn log(&self, log: &LogName) -> Result<LogSummary, Error> {
        self.find_log(log).map(summarize)
    }

    pub fn group(&self, log: &LogName, group: &GroupName) -> Result<GroupSummary, Error> {
        let (log, group) = self.find_group(log, group)?;
        Ok(group.summary(&log.store))
    }

    pub fn message(&self, log: &LogName, index: u64) -> Result<Message, Error> {
        self.find_log(log)?.store.lookup(index)
    }

    /// Dead letters above `after`, ascending, at most `limit`.
    pub fn dead_letters(
        &self,
        log: &LogName,
        group: &GroupName,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, Error> {
        Ok(self.find_group(log, group)?.1.dead_letters(after, limit))
    }

    /// The attempts the group recorded for one message, oldest first. Empty
    /// for a message never leased, or settled and passed by `base_offset`.
    pub fn attempts(
        &self,
        log: &LogName,
        group: &GroupName,
        index: u64,
    ) -> Result<Vec<AttemptRecord>, Error> {
        let (log, group) = self.find_group(log, group)?;
        log.store.lookup(index)?;
        Ok(group.attempts(index))
    }

    /// Leases held now above `after`, ascending, at most `limit`.
    pub fn leases(
        &self,
        log: &LogName,
        group: &GroupName,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<LeaseView>, Error> {
        Ok(self.find_group(log, group)?.1.leases(after, limit))
    }
}

fn summarize(log: &Log) -> LogSummary {
    LogSummary {
        name: log.name.clone(),
        config: log.config.clone(),
        first_index: log.store.first_index(),
        next_index: log.store.next_index(),
        bytes: log.store.bytes(),
        groups: log
            .groups
            .iter()
            .map(|group| group.summary(&log.store))
            .collect(),
    }
}
