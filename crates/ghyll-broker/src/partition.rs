//! A topic and its partitions, each a [`Log`] plus the notifier that wakes
//! consumers blocked in `poll`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::thread::Thread;

use ghyll_log::Log;
use parking_lot::{Mutex, RwLock};

use crate::config::TopicConfig;
use crate::error::BrokerError;
use crate::replication::Replicated;

/// One consumer's wake-up slot: the thread blocked in its `poll`, if any.
///
/// Partitions hold it weakly; an append unparks the thread. Unpark tokens
/// make the wake-up race-free: a wake between a consumer's last check and
/// its park makes the park return at once.
#[derive(Debug, Default)]
pub(crate) struct WakeSlot {
    thread: Mutex<Option<Thread>>,
}

impl WakeSlot {
    /// Records the calling thread as the one to wake.
    pub(crate) fn arm(&self) {
        let mut slot = self.thread.lock();
        let current = std::thread::current();
        if slot.as_ref().is_none_or(|thread| thread.id() != current.id()) {
            *slot = Some(current);
        }
    }

    pub(crate) fn wake(&self) {
        if let Some(thread) = self.thread.lock().as_ref() {
            thread.unpark();
        }
    }
}

/// One partition: its log (one per replica when replicated) and the
/// consumers waiting on it.
#[derive(Debug)]
pub(crate) struct Partition {
    pub(crate) topic: Arc<str>,
    pub(crate) id: u32,
    /// One log per replica, in the order of `replicas`; one log, on node
    /// `replicas[0]`, with replication factor 1.
    pub(crate) logs: Vec<Log>,
    /// The nodes holding the replicas, preferred leader first.
    pub(crate) replicas: Vec<u32>,
    /// `None` with replication factor 1: the log is the partition.
    pub(crate) replication: Option<Replicated>,
    waiters: Mutex<Vec<Weak<WakeSlot>>>,
    deleted: AtomicBool,
}

impl Partition {
    pub(crate) fn new(topic: Arc<str>, id: u32, node: u32, log: Log) -> Partition {
        Partition::with_replicas(topic, id, vec![node], vec![log], None)
    }

    pub(crate) fn with_replicas(
        topic: Arc<str>,
        id: u32,
        replicas: Vec<u32>,
        logs: Vec<Log>,
        replication: Option<Replicated>,
    ) -> Partition {
        assert_eq!(replicas.len(), logs.len(), "one log per replica");
        Partition {
            topic,
            id,
            logs,
            replicas,
            replication,
            waiters: Mutex::new(Vec::new()),
            deleted: AtomicBool::new(false),
        }
    }

    /// The log consumers read: the leader's (the last leader's while the
    /// partition has none; [`Partition::has_leader`] tells).
    #[inline]
    pub(crate) fn log(&self) -> &Log {
        match &self.replication {
            None => &self.logs[0],
            Some(replication) => &self.logs[replication.leader_index().unwrap_or(replication.last_leader_index())],
        }
    }

    /// Whether a leader serves the partition (always, unreplicated).
    pub(crate) fn has_leader(&self) -> bool {
        self.replication.as_ref().is_none_or(|r| r.leader_index().is_some())
    }

    /// Bumped on every leader change: a read from an earlier leader's log
    /// may hold records above the high watermark that the new leader does
    /// not have.
    pub(crate) fn leader_generation(&self) -> u64 {
        self.replication.as_ref().map_or(0, Replicated::generation)
    }

    /// Wakes every consumer waiting on this partition.
    pub(crate) fn notify(&self) {
        let waiters = self.waiters.lock();
        for waiter in waiters.iter() {
            if let Some(slot) = waiter.upgrade() {
                slot.wake();
            }
        }
    }

    pub(crate) fn register(&self, slot: &Arc<WakeSlot>) {
        let mut waiters = self.waiters.lock();
        waiters.retain(|waiter| waiter.strong_count() > 0 && !std::ptr::eq(waiter.as_ptr(), Arc::as_ptr(slot)));
        waiters.push(Arc::downgrade(slot));
    }

    pub(crate) fn unregister(&self, slot: &Arc<WakeSlot>) {
        self.waiters
            .lock()
            .retain(|waiter| waiter.strong_count() > 0 && !std::ptr::eq(waiter.as_ptr(), Arc::as_ptr(slot)));
    }

    /// The offset consumers may read up to (exclusive). With replication
    /// factor 1 every appended record is committed; replicated, it is the
    /// leader's high watermark.
    #[inline]
    pub(crate) fn high_watermark(&self) -> u64 {
        match &self.replication {
            None => self.logs[0].log_end_offset(),
            Some(replication) => replication.high_watermark(),
        }
    }

    pub(crate) fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::Acquire)
    }

    pub(crate) fn mark_deleted(&self) {
        self.deleted.store(true, Ordering::Release);
        self.notify();
    }

    pub(crate) fn check_live(&self) -> Result<(), BrokerError> {
        if self.is_deleted() {
            return Err(BrokerError::UnknownTopic { topic: self.topic.to_string() });
        }
        Ok(())
    }
}

/// A topic: its configuration and partitions.
#[derive(Debug)]
pub(crate) struct Topic {
    pub(crate) name: Arc<str>,
    pub(crate) config: TopicConfig,
    pub(crate) replication_factor: u16,
    /// Replaced whole when partitions are added, so readers clone an `Arc`.
    partitions: RwLock<Arc<Vec<Arc<Partition>>>>,
}

impl Topic {
    pub(crate) fn new(
        name: Arc<str>,
        config: TopicConfig,
        replication_factor: u16,
        partitions: Vec<Arc<Partition>>,
    ) -> Topic {
        Topic { name, config, replication_factor, partitions: RwLock::new(Arc::new(partitions)) }
    }

    pub(crate) fn partitions(&self) -> Arc<Vec<Arc<Partition>>> {
        Arc::clone(&self.partitions.read())
    }

    pub(crate) fn partition_count(&self) -> u32 {
        self.partitions.read().len() as u32
    }

    pub(crate) fn partition(&self, id: u32) -> Result<Arc<Partition>, BrokerError> {
        let partitions = self.partitions.read();
        partitions.get(id as usize).cloned().ok_or_else(|| BrokerError::PartitionOutOfRange {
            topic: self.name.to_string(),
            partition: id,
            partitions: partitions.len() as u32,
        })
    }

    pub(crate) fn set_partitions(&self, partitions: Vec<Arc<Partition>>) {
        *self.partitions.write() = Arc::new(partitions);
    }
}
