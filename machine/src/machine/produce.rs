//! Commands that create logs and append to them.

use crate::error::Error;
use crate::log::{Log, LogConfig, LogSettings};
use crate::message::NewMessage;
use crate::name::LogName;
use crate::reply::Reply;

use super::Machine;
use crate::group::GroupRef;

impl Machine {
    pub(super) fn put_log(
        &mut self,
        name: LogName,
        settings: &LogSettings,
    ) -> Result<Reply, Error> {
        match self.log_ids.get(&name) {
            Some(&log_id) => {
                let log = &mut self.logs[log_id as usize];
                let config = settings.apply_to(&log.config)?;
                log.reconfigure(config, self.now_ms);
                Ok(Reply::LogPut { created: false })
            }
            None => {
                let config = settings.apply_to(&LogConfig::default())?;
                self.create_log(name, config)?;
                Ok(Reply::LogPut { created: true })
            }
        }
    }

    fn create_log(&mut self, name: LogName, config: LogConfig) -> Result<u32, Error> {
        self.check_log_capacity()?;
        Ok(self.add_log(Log::new(name, config)))
    }

    fn check_log_capacity(&self) -> Result<(), Error> {
        if self.logs.len() >= self.limits.logs_max {
            return Err(Error::TooManyLogs {
                max: self.limits.logs_max,
            });
        }
        Ok(())
    }

    fn add_log(&mut self, log: Log) -> u32 {
        let log_id = self.logs.len() as u32;
        self.log_ids.insert(log.name.clone(), log_id);
        self.logs.push(log);
        log_id
    }

    pub(super) fn append(
        &mut self,
        name: LogName,
        messages: Vec<NewMessage>,
    ) -> Result<Reply, Error> {
        self.check_batch_len(messages.len())?;
        for (position, message) in messages.iter().enumerate() {
            message.validate(position, self.limits.payload_bytes_max)?;
        }
        let Some(&log_id) = self.log_ids.get(&name) else {
            // A new log is added only once its first batch is in, so a
            // refused append leaves no empty log behind.
            self.check_log_capacity()?;
            let mut log = Log::new(name, LogConfig::default());
            let appended = log.append(messages, self.now_ms)?;
            self.add_log(log);
            return Ok(Reply::Appended(appended));
        };
        let log = &mut self.logs[log_id as usize];
        let appended = log.append(messages, self.now_ms)?;
        if appended.count > 0 {
            for group in 0..log.groups.len() as u32 {
                self.serve_waiters(GroupRef { log: log_id, group });
            }
        }
        Ok(Reply::Appended(appended))
    }

    /// Refuses an empty batch or one over the batch limit.
    pub(super) fn check_batch_len(&self, len: usize) -> Result<(), Error> {
        if len == 0 {
            return Err(Error::EmptyBatch);
        }
        if len > self.limits.batch_len_max {
            return Err(Error::BatchTooLarge {
                len,
                max: self.limits.batch_len_max,
            });
        }
        Ok(())
    }
}
