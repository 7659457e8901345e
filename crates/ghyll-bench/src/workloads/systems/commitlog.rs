//! The `commitlog` crate 0.2 standing in for a partitioned topic: it has
//! no partitions, so a topic of P partitions is P logs, and record `i` goes
//! to log `i % P` (the round-robin spread ghyll's default partitioner and
//! kafko give keyless records).

use std::path::Path;
use std::time::{Duration, Instant};

use commitlog::message::{MessageBuf, MessageSet};
use commitlog::CommitLog;

use super::ghyll::ReadTotals;
use crate::error::{BenchError, Context};
use crate::payload::ValuePool;
use crate::workloads::log::peer_commitlog::{self, commitlog_error};

/// One commitlog per partition, each in its own subdirectory.
pub(in crate::workloads) struct CommitlogPartitions {
    logs: Vec<CommitLog>,
}

impl std::fmt::Debug for CommitlogPartitions {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("CommitlogPartitions").field("logs", &self.logs.len()).finish()
    }
}

impl CommitlogPartitions {
    /// Opens `partitions` logs under `dir` (commitlog's defaults except a
    /// 1 GiB segment, as in the `log` workload).
    pub(in crate::workloads) fn open(dir: &Path, partitions: u32) -> Result<CommitlogPartitions, BenchError> {
        let logs = (0..partitions)
            .map(|partition| {
                let path = dir.join(format!("{}-{partition}", super::TOPIC));
                std::fs::create_dir_all(&path).context(|| format!("creating {}", path.display()))?;
                peer_commitlog::open(&path)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CommitlogPartitions { logs })
    }

    /// Appends every record with `append_msg`, one record per call, record
    /// `i` to log `i % P`; times the appends.
    pub(in crate::workloads) fn append_each(&mut self, pool: &ValuePool) -> Result<Duration, BenchError> {
        let count = self.logs.len() as u64;
        let started = Instant::now();
        for index in 0..pool.records() {
            self.logs[(index % count) as usize]
                .append_msg(pool.value(index))
                .map_err(|error| commitlog_error(format!("commitlog append_msg of record {index}"), error))?;
        }
        let elapsed = started.elapsed();
        self.check_holds(pool.records())?;
        Ok(elapsed)
    }

    /// Appends every record in `MessageBuf`s of as many records as fit
    /// commitlog's per-append limit (at most 100), the same spread as
    /// `append_each`; not timed (it fills the logs for a read).
    pub(in crate::workloads) fn append_batches(&mut self, pool: &ValuePool) -> Result<(), BenchError> {
        let message_bytes = peer_commitlog::MESSAGE_HEADER_BYTES + pool.record_bytes();
        let batch_records = (peer_commitlog::APPEND_BYTES_MAX / message_bytes).clamp(1, 100);
        let count = self.logs.len() as u64;
        for (partition, log) in self.logs.iter_mut().enumerate() {
            let mut buf = MessageBuf::default();
            let mut index = partition as u64;
            while index < pool.records() {
                buf.push(pool.value(index))
                    .map_err(|error| commitlog_error(format!("framing record {index} for commitlog"), error))?;
                if buf.len() == batch_records {
                    log.append(&mut buf).map_err(|error| commitlog_error("commitlog append".to_owned(), error))?;
                    buf = MessageBuf::default();
                }
                index += count;
            }
            if !buf.is_empty() {
                log.append(&mut buf).map_err(|error| commitlog_error("commitlog append".to_owned(), error))?;
            }
        }
        self.check_holds(pool.records())
    }

    fn check_holds(&self, records: u64) -> Result<(), BenchError> {
        let total: u64 = self.logs.iter().map(CommitLog::next_offset).sum();
        if total != records {
            return Err(BenchError::new(format!("commitlog logs hold {total} records, expected {records}")));
        }
        Ok(())
    }

    /// Reads every log from offset 0 to its end in `read_bytes` chunks,
    /// visiting every message; times the reads.
    pub(in crate::workloads) fn read_all(&self, read_bytes: u32) -> Result<ReadTotals, BenchError> {
        let started = Instant::now();
        let mut records = 0;
        let mut value_bytes = 0;
        for log in &self.logs {
            let (log_records, log_bytes) = peer_commitlog::read_all(log, read_bytes)?;
            records += log_records;
            value_bytes += log_bytes;
        }
        Ok(ReadTotals { records, value_bytes, elapsed: started.elapsed() })
    }
}
