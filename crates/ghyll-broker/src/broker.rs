//! The in-process broker: opens the data directory, owns topics and their
//! partition logs, runs the background threads, and answers admin calls.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ghyll_log::Log;
use parking_lot::{Condvar, Mutex, RwLock};

use crate::config::{validate_topic_name, BrokerConfig, TopicConfig};
use crate::error::BrokerError;
use crate::group::{Groups, OFFSETS_TOPIC};
use crate::metadata::{self, TopicMeta};
use crate::partition::{Partition, Topic};

const LOCK_FILE: &str = ".lock";
/// Suffix of a partition directory being deleted, as Kafka's `-delete`.
const DELETE_SUFFIX: &str = "-delete";

/// A topic to create: name, partition count, replication factor and config
/// overrides by Kafka's names.
///
/// # Examples
/// ```
/// use ghyll_broker::NewTopic;
/// let topic = NewTopic::new("orders", 3).config("retention.ms", "86400000");
/// assert_eq!(topic.partitions(), 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    name: String,
    partitions: u32,
    replication_factor: u16,
    configs: Vec<(String, String)>,
}

impl NewTopic {
    /// A topic with `partitions` partitions and replication factor 1.
    pub fn new(name: impl Into<String>, partitions: u32) -> NewTopic {
        NewTopic { name: name.into(), partitions, replication_factor: 1, configs: Vec::new() }
    }

    /// Sets the replication factor (only 1 is supported until replication
    /// lands).
    pub fn replication_factor(mut self, factor: u16) -> NewTopic {
        self.replication_factor = factor;
        self
    }

    /// Adds a config override, e.g. `("retention.ms", "3600000")`.
    pub fn config(mut self, name: impl Into<String>, value: impl Into<String>) -> NewTopic {
        self.configs.push((name.into(), value.into()));
        self
    }

    /// The topic's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its partition count.
    pub fn partitions(&self) -> u32 {
        self.partitions
    }
}

/// One partition as `describe_topic` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartitionDescription {
    /// Partition number.
    pub partition: u32,
    /// First readable offset.
    pub log_start_offset: u64,
    /// Next offset to be written.
    pub log_end_offset: u64,
    /// Offset consumers read up to (the log end while replication factor is 1).
    pub high_watermark: u64,
    /// Bytes in the partition's segments.
    pub size_bytes: u64,
    /// Number of segments.
    pub segments: usize,
    /// The partition's directory.
    pub dir: PathBuf,
}

/// A topic as `describe_topic` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicDescription {
    /// Its name.
    pub name: String,
    /// Its replication factor.
    pub replication_factor: u16,
    /// Every config with its effective value.
    pub configs: BTreeMap<&'static str, String>,
    /// The configs set explicitly.
    pub overrides: BTreeMap<String, String>,
    /// Its partitions, in order.
    pub partitions: Vec<PartitionDescription>,
}

/// What [`Broker::compact_topic`] did, summed over the topic's partitions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompactionReport {
    /// Closed segments rewritten.
    pub segments_cleaned: u64,
    /// Their bytes before.
    pub bytes_before: u64,
    /// And after.
    pub bytes_after: u64,
    /// Records dropped (superseded by a later record of the same key).
    pub records_removed: u64,
    /// Tombstones dropped after `delete.retention.ms`.
    pub tombstones_removed: u64,
}

#[derive(Debug, Default)]
struct Shutdown {
    stop: Mutex<bool>,
    wake: Condvar,
}

impl Shutdown {
    /// Sleeps up to `period`; returns false once shutdown is requested.
    fn sleep(&self, period: Duration) -> bool {
        let mut stop = self.stop.lock();
        if !*stop {
            self.wake.wait_for(&mut stop, period);
        }
        !*stop
    }

    fn request(&self) {
        *self.stop.lock() = true;
        self.wake.notify_all();
    }
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: BrokerConfig,
    /// Held (flock) until the broker is closed or dropped.
    lock: File,
    topics: RwLock<BTreeMap<String, Arc<Topic>>>,
    /// Serialises admin operations and metadata writes.
    admin: Mutex<()>,
    closed: AtomicBool,
    shutdown: Arc<Shutdown>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Consumer groups and their committed offsets.
    pub(crate) groups: Groups,
}

impl Drop for Inner {
    fn drop(&mut self) {
        stop_threads(&self.shutdown, &self.threads);
    }
}

/// What every clone of a [`Broker`] shares. The background threads hold the
/// [`Inner`] only weakly, upgrading it for one pass at a time; when the
/// last clone goes, this joins them before the `Inner` is dropped, so the
/// drop happens here and the directory's locks are free once it returns
/// (dropped by a background thread mid-pass, they would still be held when
/// the application reopens the directory).
#[derive(Debug)]
pub(crate) struct Handle {
    inner: Arc<Inner>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        stop_threads(&self.inner.shutdown, &self.inner.threads);
    }
}

impl std::ops::Deref for Handle {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.inner
    }
}

fn stop_threads(shutdown: &Shutdown, threads: &Mutex<Vec<JoinHandle<()>>>) {
    shutdown.request();
    let current = std::thread::current().id();
    for handle in threads.lock().drain(..) {
        if handle.thread().id() != current {
            let _ = handle.join();
        }
    }
}

/// An in-process Kafka broker over a data directory.
///
/// Cheap to clone (an `Arc` inside) and `Send + Sync`: producers, consumers
/// and admin calls share one broker. Topic metadata and every partition's
/// log live in the data directory and survive restarts; a second broker on
/// the same directory gets [`BrokerError::Locked`].
///
/// # Examples
/// ```
/// use ghyll_broker::{Broker, NewTopic};
/// let dir = tempfile::tempdir()?;
/// let broker = Broker::open(dir.path())?;
/// broker.create_topic(NewTopic::new("quickstart-events", 1))?;
/// assert_eq!(broker.list_topics(), ["quickstart-events"]);
/// broker.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Broker {
    pub(crate) inner: Arc<Handle>,
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn partition_dir(data_dir: &Path, topic: &str, partition: u32) -> PathBuf {
    data_dir.join(format!("{topic}-{partition}"))
}

impl Broker {
    /// Opens (creating if needed) a broker on `data_dir` with Kafka's
    /// defaults.
    ///
    /// # Errors
    /// As [`Broker::open_with`].
    pub fn open(data_dir: impl AsRef<Path>) -> Result<Broker, BrokerError> {
        Broker::open_with(BrokerConfig::new(data_dir))
    }

    /// Opens a broker with `config`: takes the directory's lock, loads the
    /// topic metadata, opens (and if needed recovers) every partition's
    /// log, and starts the flusher and retention threads.
    ///
    /// # Errors
    /// [`BrokerError::Locked`] when another broker has the directory,
    /// [`BrokerError::CorruptMetadata`], [`BrokerError::InvalidConfig`],
    /// [`BrokerError::Io`], or a partition's [`BrokerError::Log`].
    pub fn open_with(config: BrokerConfig) -> Result<Broker, BrokerError> {
        config.validate()?;
        let dir = config.data_dir.clone();
        fs::create_dir_all(&dir).map_err(|error| BrokerError::io("create data directory", &dir, error))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|error| BrokerError::io("open lock file", &lock_path, error))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(BrokerError::Locked { path: dir }),
            Err(TryLockError::Error(error)) => return Err(BrokerError::io("lock data directory", &lock_path, error)),
        }
        remove_deleted_dirs(&dir)?;
        let mut topics = BTreeMap::new();
        for meta in metadata::load(&dir)? {
            let topic_config = TopicConfig::from_pairs(&config.topic_defaults, &meta.overrides)?;
            let name: Arc<str> = Arc::from(meta.name.as_str());
            let partitions = (0..meta.partitions)
                .map(|id| open_partition(&dir, &name, id, &topic_config))
                .collect::<Result<Vec<_>, _>>()?;
            let topic = Topic::new(name, topic_config, meta.replication_factor, partitions);
            topics.insert(meta.name, Arc::new(topic));
        }
        let mut group_config = ghyll_group::GroupConfig::default();
        group_config.offsets_retention_ms = config.offsets_retention.as_millis() as u64;
        group_config.session_timeout_min_ms = config.group_min_session_timeout.as_millis() as u64;
        group_config.session_timeout_max_ms = config.group_max_session_timeout.as_millis() as u64;
        let groups = Groups::new(group_config)?;
        for topic in topics.values() {
            groups.topic_changed(&topic.name, Some(topic.partition_count()));
        }
        if let Some(offsets) = topics.get(OFFSETS_TOPIC) {
            groups.load(offsets.partition(0)?)?;
        }
        let inner = Arc::new(Inner {
            config,
            lock,
            topics: RwLock::new(topics),
            admin: Mutex::new(()),
            closed: AtomicBool::new(false),
            shutdown: Arc::new(Shutdown::default()),
            threads: Mutex::new(Vec::new()),
            groups,
        });
        start_background_threads(&inner)?;
        tracing::info!(data_dir = %inner.config.data_dir.display(), topics = inner.topics.read().len(), "broker open");
        Ok(Broker { inner: Arc::new(Handle { inner }) })
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.inner.config.data_dir
    }

    pub(crate) fn check_open(&self) -> Result<(), BrokerError> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(BrokerError::Closed { what: "broker" });
        }
        Ok(())
    }

    pub(crate) fn topic(&self, name: &str) -> Result<Arc<Topic>, BrokerError> {
        self.check_open()?;
        self.inner.topics.read().get(name).cloned().ok_or_else(|| BrokerError::UnknownTopic { topic: name.to_string() })
    }

    pub(crate) fn partition(&self, topic: &str, partition: u32) -> Result<Arc<Partition>, BrokerError> {
        self.topic(topic)?.partition(partition)
    }

    /// Creates a topic and its partition directories.
    ///
    /// # Errors
    /// [`BrokerError::InvalidTopicName`], [`BrokerError::TopicExists`],
    /// [`BrokerError::InvalidPartitionCount`],
    /// [`BrokerError::InvalidReplicationFactor`],
    /// [`BrokerError::InvalidConfig`], [`BrokerError::Io`].
    pub fn create_topic(&self, new: NewTopic) -> Result<(), BrokerError> {
        if new.name == OFFSETS_TOPIC {
            return Err(BrokerError::InternalTopic {
                topic: new.name,
                reason: "the broker creates it for consumer group commits",
            });
        }
        self.create_topic_internal(new)
    }

    /// `create_topic` without the reserved-name check.
    pub(crate) fn create_topic_internal(&self, new: NewTopic) -> Result<(), BrokerError> {
        self.check_open()?;
        validate_topic_name(&new.name)?;
        self.check_partition_count(&new.name, new.partitions)?;
        if new.replication_factor != 1 {
            return Err(BrokerError::InvalidReplicationFactor {
                topic: new.name,
                factor: new.replication_factor,
                reason: "only replication factor 1 is supported until replication lands",
            });
        }
        let topic_config = TopicConfig::from_pairs(&self.inner.config.topic_defaults, new.configs.iter().cloned())?;
        let _admin = self.inner.admin.lock();
        if self.inner.topics.read().contains_key(&new.name) {
            return Err(BrokerError::TopicExists { topic: new.name });
        }
        let dir = &self.inner.config.data_dir;
        let name: Arc<str> = Arc::from(new.name.as_str());
        let mut partitions = Vec::with_capacity(new.partitions as usize);
        for id in 0..new.partitions {
            // A directory left by a create that crashed before its metadata
            // was written holds nothing acknowledged: start it empty.
            let path = partition_dir(dir, &name, id);
            if path.exists() {
                tracing::warn!(dir = %path.display(), "removing leftover partition directory");
                fs::remove_dir_all(&path)
                    .map_err(|error| BrokerError::io("remove leftover directory", &path, error))?;
            }
            partitions.push(open_partition(dir, &name, id, &topic_config)?);
        }
        let topic = Arc::new(Topic::new(Arc::clone(&name), topic_config, new.replication_factor, partitions));
        let mut metas = self.metas();
        metas.push(meta_of(&topic));
        metadata::store(dir, &metas)?;
        self.inner.topics.write().insert(new.name.clone(), topic);
        self.inner.groups.topic_changed(&new.name, Some(new.partitions));
        tracing::info!(topic = %new.name, partitions = new.partitions, "created topic");
        Ok(())
    }

    fn check_partition_count(&self, topic: &str, count: u32) -> Result<(), BrokerError> {
        let invalid = |reason| Err(BrokerError::InvalidPartitionCount { topic: topic.to_string(), count, reason });
        if count == 0 {
            return invalid("a topic needs at least one partition");
        }
        if count > self.inner.config.partitions_max {
            return invalid("more than the broker's partitions_max");
        }
        Ok(())
    }

    fn metas(&self) -> Vec<TopicMeta> {
        self.inner.topics.read().values().map(|topic| meta_of(topic)).collect()
    }

    /// Names of all topics, sorted.
    pub fn list_topics(&self) -> Vec<String> {
        self.inner.topics.read().keys().cloned().collect()
    }

    /// A topic's configuration and, per partition, its offsets, size and
    /// segments.
    ///
    /// # Errors
    /// [`BrokerError::UnknownTopic`].
    pub fn describe_topic(&self, name: &str) -> Result<TopicDescription, BrokerError> {
        let topic = self.topic(name)?;
        let partitions = topic
            .partitions()
            .iter()
            .map(|partition| PartitionDescription {
                partition: partition.id,
                log_start_offset: partition.log.log_start_offset(),
                log_end_offset: partition.log.log_end_offset(),
                high_watermark: partition.high_watermark(),
                size_bytes: partition.log.size_bytes(),
                segments: partition.log.segment_base_offsets().len(),
                dir: partition.log.dir().to_path_buf(),
            })
            .collect();
        Ok(TopicDescription {
            name: name.to_string(),
            replication_factor: topic.replication_factor,
            configs: topic.config.effective(),
            overrides: topic.config.overrides().clone(),
            partitions,
        })
    }

    /// Deletes a topic and its data. Producers and consumers still holding
    /// its partitions get [`BrokerError::UnknownTopic`] from then on.
    ///
    /// # Errors
    /// [`BrokerError::UnknownTopic`], [`BrokerError::Io`].
    pub fn delete_topic(&self, name: &str) -> Result<(), BrokerError> {
        self.check_open()?;
        if name == OFFSETS_TOPIC {
            return Err(BrokerError::InternalTopic {
                topic: name.to_string(),
                reason: "it holds every group's committed offsets",
            });
        }
        let _admin = self.inner.admin.lock();
        let topic = self.topic(name)?;
        let dir = &self.inner.config.data_dir;
        let metas: Vec<TopicMeta> = self.metas().into_iter().filter(|meta| meta.name != name).collect();
        metadata::store(dir, &metas)?;
        self.inner.topics.write().remove(name);
        self.inner.groups.topic_changed(name, None);
        for partition in topic.partitions().iter() {
            partition.mark_deleted();
            // Producers and the background threads may still hold the
            // partition: a closed log refuses their appends, retention and
            // checkpoints, which would otherwise land in the directory a new
            // topic of the same name reuses.
            if let Err(error) = partition.log.close() {
                tracing::warn!(topic = %name, partition = partition.id, %error, "closing a deleted partition failed");
            }
            let from = partition_dir(dir, name, partition.id);
            let to = dir.join(format!("{name}-{}.{}{DELETE_SUFFIX}", partition.id, now_ms()));
            fs::rename(&from, &to).map_err(|error| BrokerError::io("rename partition for deletion", &from, error))?;
            fs::remove_dir_all(&to).map_err(|error| BrokerError::io("delete partition", &to, error))?;
        }
        metadata::sync_dir(dir)?;
        tracing::info!(topic = %name, "deleted topic");
        Ok(())
    }

    /// Grows a topic to `total` partitions (Kafka never shrinks a topic).
    ///
    /// # Errors
    /// [`BrokerError::UnknownTopic`], [`BrokerError::InvalidPartitionCount`]
    /// when `total` is not larger than today's count, [`BrokerError::Io`].
    pub fn add_partitions(&self, name: &str, total: u32) -> Result<(), BrokerError> {
        self.check_open()?;
        let _admin = self.inner.admin.lock();
        let topic = self.topic(name)?;
        let current = topic.partitions();
        if total <= current.len() as u32 {
            return Err(BrokerError::InvalidPartitionCount {
                topic: name.to_string(),
                count: total,
                reason: "a topic's partition count can only grow",
            });
        }
        self.check_partition_count(name, total)?;
        let dir = &self.inner.config.data_dir;
        let mut partitions: Vec<Arc<Partition>> = current.as_ref().clone();
        for id in current.len() as u32..total {
            let path = partition_dir(dir, name, id);
            if path.exists() {
                fs::remove_dir_all(&path)
                    .map_err(|error| BrokerError::io("remove leftover directory", &path, error))?;
            }
            partitions.push(open_partition(dir, &topic.name, id, &topic.config)?);
        }
        let mut metas = self.metas();
        for meta in &mut metas {
            if meta.name == name {
                meta.partitions = total;
            }
        }
        metadata::store(dir, &metas)?;
        topic.set_partitions(partitions);
        self.inner.groups.topic_changed(name, Some(total));
        tracing::info!(topic = %name, partitions = total, "added partitions");
        Ok(())
    }

    /// Compacts every partition of a compacted topic now (the
    /// `ghyll-cleaner` thread does it every `cleaner_check_interval` when
    /// `min.cleanable.dirty.ratio` says so), keeping the latest record per
    /// key in closed segments; returns the totals.
    ///
    /// # Errors
    /// [`BrokerError::UnknownTopic`]; [`BrokerError::InvalidConfig`] when
    /// the topic's `cleanup.policy` does not compact; a partition's
    /// [`BrokerError::Log`].
    pub fn compact_topic(&self, name: &str) -> Result<CompactionReport, BrokerError> {
        let topic = self.topic(name)?;
        if !topic.config.cleanup_policy().compacts() {
            return Err(BrokerError::InvalidConfig {
                name: "cleanup.policy".into(),
                value: topic.config.cleanup_policy().as_str().into(),
                reason: format!("topic {name} is not compacted"),
            });
        }
        let now = now_ms();
        let mut total = CompactionReport::default();
        for partition in topic.partitions().iter() {
            let report = partition.log.clean(now).map_err(|error| BrokerError::log(name, partition.id, error))?;
            total.segments_cleaned += report.segments_cleaned as u64;
            total.bytes_before += report.bytes_before;
            total.bytes_after += report.bytes_after;
            total.records_removed += report.records_removed;
            total.tombstones_removed += report.tombstones_removed;
        }
        Ok(total)
    }

    /// Flushes every partition to disk.
    ///
    /// # Errors
    /// The first partition's [`BrokerError::Log`].
    pub fn flush(&self) -> Result<(), BrokerError> {
        for topic in self.inner.topics.read().values() {
            for partition in topic.partitions().iter() {
                partition.log.flush().map_err(|error| BrokerError::log(&topic.name, partition.id, error))?;
            }
        }
        Ok(())
    }

    /// Stops the background threads, flushes and closes every log (the
    /// next open recovers nothing). Later calls on this broker, and on
    /// producers and consumers made from it, return [`BrokerError::Closed`].
    /// Dropping every handle without closing loses nothing acknowledged.
    ///
    /// # Errors
    /// The first partition's [`BrokerError::Log`]; the others are still
    /// closed.
    pub fn close(&self) -> Result<(), BrokerError> {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        stop_threads(&self.inner.shutdown, &self.inner.threads);
        let mut first_error = None;
        for topic in self.inner.topics.read().values() {
            for partition in topic.partitions().iter() {
                if let Err(error) = partition.log.close() {
                    first_error.get_or_insert(BrokerError::log(&topic.name, partition.id, error));
                }
                partition.notify();
            }
        }
        // Every log is closed (and unlocked): hand the directory over now,
        // even while producers or consumers still hold this broker.
        if let Err(error) = self.inner.lock.unlock() {
            first_error.get_or_insert(BrokerError::io("unlock data directory", &self.inner.config.data_dir, error));
        }
        tracing::info!(data_dir = %self.inner.config.data_dir.display(), "broker closed");
        first_error.map_or(Ok(()), Err)
    }

    /// Every partition of every topic, for the background threads.
    fn all_partitions(inner: &Inner) -> Vec<Arc<Partition>> {
        inner.topics.read().values().flat_map(|topic| topic.partitions().iter().cloned().collect::<Vec<_>>()).collect()
    }
}

fn meta_of(topic: &Topic) -> TopicMeta {
    TopicMeta {
        name: topic.name.to_string(),
        partitions: topic.partition_count(),
        replication_factor: topic.replication_factor,
        overrides: topic.config.overrides().clone(),
    }
}

fn open_partition(dir: &Path, topic: &Arc<str>, id: u32, config: &TopicConfig) -> Result<Arc<Partition>, BrokerError> {
    let log = Log::open(partition_dir(dir, topic, id), config.log_config().clone())
        .map_err(|error| BrokerError::log(topic, id, error))?;
    Ok(Arc::new(Partition::new(Arc::clone(topic), id, log)))
}

/// Finishes deletions that a crash interrupted.
fn remove_deleted_dirs(dir: &Path) -> Result<(), BrokerError> {
    let entries = fs::read_dir(dir).map_err(|error| BrokerError::io("list data directory", dir, error))?;
    for entry in entries {
        let entry = entry.map_err(|error| BrokerError::io("list data directory", dir, error))?;
        let is_dir = entry.file_type().is_ok_and(|kind| kind.is_dir());
        if is_dir && entry.file_name().to_str().is_some_and(|name| name.ends_with(DELETE_SUFFIX)) {
            let path = entry.path();
            fs::remove_dir_all(&path).map_err(|error| BrokerError::io("delete partition", &path, error))?;
        }
    }
    Ok(())
}

fn start_background_threads(inner: &Arc<Inner>) -> Result<(), BrokerError> {
    type Task = fn(&Inner);
    let flush: Task = |inner| {
        for partition in Broker::all_partitions(inner) {
            if let Err(error) = partition.log.flush_if_due() {
                tracing::error!(topic = %partition.topic, partition = partition.id, %error, "scheduled flush failed");
            }
        }
    };
    let retention: Task = |inner| {
        let now = now_ms();
        for partition in Broker::all_partitions(inner) {
            match partition.log.apply_retention(now) {
                Ok(report) if report.segments_deleted > 0 => tracing::info!(
                    topic = %partition.topic,
                    partition = partition.id,
                    segments = report.segments_deleted,
                    bytes = report.bytes_deleted,
                    "retention deleted segments"
                ),
                Ok(_) => {}
                Err(error) => {
                    tracing::error!(topic = %partition.topic, partition = partition.id, %error, "retention failed")
                }
            }
        }
    };
    let groups: Task = |inner| inner.groups.tick();
    let cleaner: Task = |inner| {
        let now = now_ms();
        for partition in Broker::all_partitions(inner) {
            if !partition.log.config().cleanup_policy.compacts() || !partition.log.needs_cleaning(now) {
                continue;
            }
            match partition.log.clean(now) {
                Ok(report) => tracing::info!(
                    topic = %partition.topic,
                    partition = partition.id,
                    segments = report.segments_cleaned,
                    bytes_before = report.bytes_before,
                    bytes_after = report.bytes_after,
                    records_removed = report.records_removed,
                    "compacted"
                ),
                Err(error) => {
                    tracing::error!(topic = %partition.topic, partition = partition.id, %error, "compaction failed")
                }
            }
        }
    };
    let tasks: [(&str, Duration, Task); 4] = [
        ("ghyll-flusher", inner.config.flush_check_interval, flush),
        ("ghyll-retention", inner.config.retention_check_interval, retention),
        ("ghyll-groups", inner.config.group_check_interval, groups),
        ("ghyll-cleaner", inner.config.cleaner_check_interval, cleaner),
    ];
    for (name, period, task) in tasks {
        let weak = Arc::downgrade(inner);
        let shutdown = Arc::clone(&inner.shutdown);
        let handle = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                while shutdown.sleep(period) {
                    let Some(inner) = weak.upgrade() else { break };
                    task(&inner);
                }
            })
            .map_err(|error| BrokerError::io("spawn background thread", name, error))?;
        inner.threads.lock().push(handle);
    }
    Ok(())
}
