//! The in-process broker: opens the data directory, owns topics and their
//! partition logs, runs the background threads, and answers admin calls.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ghyll_log::Log;
use parking_lot::{Condvar, Mutex, RwLock};

use crate::config::{validate_topic_name, BrokerConfig, TopicConfig};
use crate::error::BrokerError;
use crate::group::{Groups, OFFSETS_TOPIC};
use crate::metadata::{self, TopicMeta};
use crate::partition::{Partition, Topic};
use crate::replication::{self, Replicated, Setup};

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

    /// Sets the replication factor: how many nodes hold a copy of each
    /// partition (at most the broker's node count).
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
    /// Offset consumers read up to (the log end with replication factor 1).
    pub high_watermark: u64,
    /// The leader's node; `None` while no ISR member is alive.
    pub leader: Option<u32>,
    /// The nodes holding replicas, preferred leader first.
    pub replicas: Vec<u32>,
    /// The in-sync replicas' nodes.
    pub isr: Vec<u32>,
    /// Bytes in the partition's segments.
    pub size_bytes: u64,
    /// Number of segments.
    pub segments: usize,
    /// The leader's partition directory (the last leader's while there is
    /// none).
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
    /// Bumped after every change to the topics or their partitions, so a
    /// producer's cache of them knows when to look again.
    metadata_version: AtomicU64,
    /// Serialises admin operations and metadata writes.
    admin: Mutex<()>,
    closed: AtomicBool,
    shutdown: Arc<Shutdown>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Consumer groups and their committed offsets.
    pub(crate) groups: Groups,
    /// Nodes not taken out by `fail_node`.
    alive: Mutex<BTreeSet<u32>>,
    /// Replication's clock.
    clock: Instant,
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

fn state_path(data_dir: &Path, topic: &str, partition: u32) -> PathBuf {
    data_dir.join(format!("{topic}-{partition}.leader-and-isr"))
}

/// What opening a partition needs from the broker.
struct PartitionContext<'a> {
    config: &'a BrokerConfig,
    alive: &'a BTreeSet<u32>,
    clock: Instant,
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
        for node in &config.nodes {
            fs::create_dir_all(node).map_err(|error| BrokerError::io("create node directory", node, error))?;
            remove_deleted_dirs(node)?;
        }
        let alive: BTreeSet<u32> = (0..config.node_count()).collect();
        let clock = Instant::now();
        let context = PartitionContext { config: &config, alive: &alive, clock };
        let mut topics = BTreeMap::new();
        for meta in metadata::load(&dir)? {
            let topic_config = TopicConfig::from_pairs(&config.topic_defaults, &meta.overrides)?;
            let name: Arc<str> = Arc::from(meta.name.as_str());
            let partitions = (0..meta.partitions)
                .map(|id| {
                    let replicas = meta.assignment.get(id as usize).cloned().unwrap_or_else(|| vec![0]);
                    if let Some(&node) = replicas.iter().find(|&&node| node >= config.node_count()) {
                        return Err(BrokerError::UnknownNode { node, nodes: config.node_count() });
                    }
                    open_partition(&context, &name, id, &topic_config, &replicas, false)
                })
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
            metadata_version: AtomicU64::new(0),
            admin: Mutex::new(()),
            closed: AtomicBool::new(false),
            shutdown: Arc::new(Shutdown::default()),
            threads: Mutex::new(Vec::new()),
            groups,
            alive: Mutex::new(alive),
            clock,
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

    /// Changes with every change to the topics or their partitions: a
    /// cache of [`Broker::topic`] answers read while this was unchanged is
    /// still good. Read it before the answers it vouches for.
    pub(crate) fn metadata_version(&self) -> u64 {
        self.inner.metadata_version.load(Ordering::Acquire)
    }

    fn metadata_changed(&self) {
        self.inner.metadata_version.fetch_add(1, Ordering::AcqRel);
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
        let topic_config = TopicConfig::from_pairs(&self.inner.config.topic_defaults, new.configs.iter().cloned())?;
        self.check_replication(&new.name, new.replication_factor, &topic_config)?;
        let _admin = self.inner.admin.lock();
        if self.inner.topics.read().contains_key(&new.name) {
            return Err(BrokerError::TopicExists { topic: new.name });
        }
        let name: Arc<str> = Arc::from(new.name.as_str());
        let assignment = self.placement(&new.name, new.partitions, new.replication_factor)?;
        let mut partitions = Vec::with_capacity(new.partitions as usize);
        for (id, replicas) in (0..new.partitions).zip(&assignment) {
            partitions.push(self.create_partition(&name, id, &topic_config, replicas)?);
        }
        let topic = Arc::new(Topic::new(Arc::clone(&name), topic_config, new.replication_factor, partitions));
        let mut metas = self.metas();
        metas.push(meta_of(&topic));
        metadata::store(&self.inner.config.data_dir, &metas)?;
        self.inner.topics.write().insert(new.name.clone(), topic);
        self.metadata_changed();
        self.inner.groups.topic_changed(&new.name, Some(new.partitions));
        tracing::info!(topic = %new.name, partitions = new.partitions, "created topic");
        Ok(())
    }

    /// Checks a replication factor against the nodes and the topic config.
    fn check_replication(&self, topic: &str, factor: u16, config: &TopicConfig) -> Result<(), BrokerError> {
        let invalid = |reason| Err(BrokerError::InvalidReplicationFactor { topic: topic.to_string(), factor, reason });
        if factor == 0 {
            return invalid("a topic needs at least one replica");
        }
        if u32::from(factor) > self.inner.config.node_count() {
            return invalid("larger than the number of nodes");
        }
        if factor > 1 && config.cleanup_policy().compacts() {
            return Err(BrokerError::InvalidConfig {
                name: "cleanup.policy".into(),
                value: config.cleanup_policy().as_str().into(),
                reason: "compacted topics with replication factor above 1 are not supported yet".into(),
            });
        }
        Ok(())
    }

    /// Each partition's replicas: Kafka's rack-unaware assignment over the
    /// nodes. Unreplicated topics without nodes stay on node 0.
    fn placement(&self, topic: &str, partitions: u32, factor: u16) -> Result<Vec<Vec<u32>>, BrokerError> {
        let nodes: Vec<u32> = (0..self.inner.config.node_count()).collect();
        ghyll_replication::assign_replicas(partitions, usize::from(factor), &nodes).map_err(|_| {
            BrokerError::InvalidReplicationFactor {
                topic: topic.to_string(),
                factor,
                reason: "larger than the number of nodes",
            }
        })
    }

    /// Opens a new partition's replicas, each empty.
    fn create_partition(
        &self,
        topic: &Arc<str>,
        id: u32,
        config: &TopicConfig,
        replicas: &[u32],
    ) -> Result<Arc<Partition>, BrokerError> {
        for &node in replicas {
            // A directory left by a create that crashed before its metadata
            // was written holds nothing acknowledged: start it empty.
            let path = partition_dir(self.inner.config.node_dir(node), topic, id);
            if path.exists() {
                tracing::warn!(dir = %path.display(), "removing leftover partition directory");
                fs::remove_dir_all(&path)
                    .map_err(|error| BrokerError::io("remove leftover directory", &path, error))?;
            }
        }
        let alive = self.inner.alive.lock().clone();
        let context = PartitionContext { config: &self.inner.config, alive: &alive, clock: self.inner.clock };
        open_partition(&context, topic, id, config, replicas, true)
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
            .map(|partition| {
                let (leader, isr) = match &partition.replication {
                    None => (Some(partition.replicas[0]), partition.replicas.clone()),
                    Some(replication) => {
                        let view = replication.view();
                        (view.leader, view.isr)
                    }
                };
                let log = partition.log();
                PartitionDescription {
                    partition: partition.id,
                    log_start_offset: log.log_start_offset(),
                    log_end_offset: log.log_end_offset(),
                    high_watermark: partition.high_watermark(),
                    leader,
                    replicas: partition.replicas.clone(),
                    isr,
                    size_bytes: log.size_bytes(),
                    segments: log.segment_base_offsets().len(),
                    dir: log.dir().to_path_buf(),
                }
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
        let config = &self.inner.config;
        let dir = &config.data_dir;
        let metas: Vec<TopicMeta> = self.metas().into_iter().filter(|meta| meta.name != name).collect();
        metadata::store(dir, &metas)?;
        self.inner.topics.write().remove(name);
        self.metadata_changed();
        self.inner.groups.topic_changed(name, None);
        for partition in topic.partitions().iter() {
            partition.mark_deleted();
            crate::replication::shut(partition, crate::replication::Shut::Deleted);
            // Producers and the background threads may still hold the
            // partition: a closed log refuses their appends, retention and
            // checkpoints, which would otherwise land in the directory a new
            // topic of the same name reuses.
            for log in &partition.logs {
                if let Err(error) = log.close() {
                    tracing::warn!(topic = %name, partition = partition.id, %error, "closing a deleted partition failed");
                }
            }
            for &node in &partition.replicas {
                let node_dir = config.node_dir(node);
                let from = partition_dir(node_dir, name, partition.id);
                let to = node_dir.join(format!("{name}-{}.{}{DELETE_SUFFIX}", partition.id, now_ms()));
                fs::rename(&from, &to)
                    .map_err(|error| BrokerError::io("rename partition for deletion", &from, error))?;
                fs::remove_dir_all(&to).map_err(|error| BrokerError::io("delete partition", &to, error))?;
            }
            if let Some(replication) = &partition.replication {
                let path = replication.state_path();
                if let Err(error) = fs::remove_file(path) {
                    if error.kind() != std::io::ErrorKind::NotFound {
                        return Err(BrokerError::io("delete leader and ISR state", path, error));
                    }
                }
            }
        }
        metadata::sync_dir(dir)?;
        for node in &config.nodes {
            metadata::sync_dir(node)?;
        }
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
        let assignment = self.placement(name, total, topic.replication_factor)?;
        for id in current.len() as u32..total {
            let replicas = if self.inner.config.nodes.is_empty() { vec![0] } else { assignment[id as usize].clone() };
            partitions.push(self.create_partition(&topic.name, id, &topic.config, &replicas)?);
        }
        let mut metas = self.metas();
        for meta in &mut metas {
            if meta.name == name {
                *meta = meta_of_partitions(&topic, &partitions);
            }
        }
        metadata::store(dir, &metas)?;
        topic.set_partitions(partitions);
        self.metadata_changed();
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
            let report = partition.log().clean(now).map_err(|error| BrokerError::log(name, partition.id, error))?;
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
                for log in &partition.logs {
                    log.flush().map_err(|error| BrokerError::log(&topic.name, partition.id, error))?;
                }
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
                crate::replication::shut(partition, crate::replication::Shut::Closed);
                for log in &partition.logs {
                    if let Err(error) = log.close() {
                        first_error.get_or_insert(BrokerError::log(&topic.name, partition.id, error));
                    }
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

    /// Takes node `node` out, as a failed disk or machine would: its
    /// replicas stop fetching and serving; partitions it led elect a new
    /// leader from their ISR (or go offline, refusing sends, when no ISR
    /// member is left), and it leaves every ISR. Unreplicated partitions
    /// are not affected.
    ///
    /// # Errors
    /// [`BrokerError::UnknownNode`], [`BrokerError::Closed`].
    pub fn fail_node(&self, node: u32) -> Result<(), BrokerError> {
        self.check_node(node)?;
        let _admin = self.inner.admin.lock();
        self.inner.alive.lock().remove(&node);
        for partition in self.replicated_partitions() {
            replication::node_failed(&partition, node);
        }
        tracing::warn!(node, "node failed");
        Ok(())
    }

    /// Brings node `node` back: its replicas recover from their logs,
    /// truncate what diverged from the leader, catch up and rejoin the
    /// ISR; leadership returns to preferred replicas on it.
    ///
    /// # Errors
    /// [`BrokerError::UnknownNode`], [`BrokerError::Closed`], a replica's
    /// [`BrokerError::Log`] (the others are still restored).
    pub fn restore_node(&self, node: u32) -> Result<(), BrokerError> {
        self.check_node(node)?;
        let _admin = self.inner.admin.lock();
        self.inner.alive.lock().insert(node);
        let mut first_error = None;
        for partition in self.replicated_partitions() {
            if let Err(error) = replication::node_restored(&partition, node) {
                first_error.get_or_insert(error);
            }
        }
        tracing::info!(node, "node restored");
        first_error.map_or(Ok(()), Err)
    }

    fn check_node(&self, node: u32) -> Result<(), BrokerError> {
        self.check_open()?;
        let nodes = self.inner.config.node_count();
        if node >= nodes {
            return Err(BrokerError::UnknownNode { node, nodes });
        }
        Ok(())
    }

    fn replicated_partitions(&self) -> Vec<Arc<Partition>> {
        Broker::all_partitions(&self.inner).into_iter().filter(|p| p.replication.is_some()).collect()
    }

    /// Every partition of every topic, for the background threads.
    fn all_partitions(inner: &Inner) -> Vec<Arc<Partition>> {
        inner.topics.read().values().flat_map(|topic| topic.partitions().iter().cloned().collect::<Vec<_>>()).collect()
    }
}

fn meta_of(topic: &Topic) -> TopicMeta {
    meta_of_partitions(topic, &topic.partitions())
}

fn meta_of_partitions(topic: &Topic, partitions: &[Arc<Partition>]) -> TopicMeta {
    // Unreplicated partitions all on node 0 keep the original line format.
    let trivial = partitions.iter().all(|partition| partition.replicas == [0]);
    TopicMeta {
        name: topic.name.to_string(),
        partitions: partitions.len() as u32,
        replication_factor: topic.replication_factor,
        overrides: topic.config.overrides().clone(),
        assignment: if trivial { Vec::new() } else { partitions.iter().map(|p| p.replicas.clone()).collect() },
    }
}

/// Opens (recovering) every replica's log of a partition; a replicated
/// partition also gets its replicas and controller, and its first leader.
fn open_partition(
    context: &PartitionContext<'_>,
    topic: &Arc<str>,
    id: u32,
    config: &TopicConfig,
    replicas: &[u32],
    created: bool,
) -> Result<Arc<Partition>, BrokerError> {
    let logs = replicas
        .iter()
        .map(|&node| {
            Log::open(partition_dir(context.config.node_dir(node), topic, id), config.log_config().clone())
                .map_err(|error| BrokerError::log(topic, id, error))
        })
        .collect::<Result<Vec<Log>, _>>()?;
    if replicas.len() == 1 {
        let log = logs.into_iter().next().expect("one log");
        return Ok(Arc::new(Partition::new(Arc::clone(topic), id, replicas[0], log)));
    }
    let replication = Replicated::new(Setup {
        topic,
        partition: id,
        replicas,
        logs: &logs,
        min_insync_replicas: usize::from(config.min_insync_replicas()),
        unclean_leader_election: config.unclean_leader_election(),
        replica_lag_time_max_ms: context.config.replica_lag_time_max.as_millis() as u64,
        alive: context.alive,
        clock: context.clock,
        state_path: state_path(&context.config.data_dir, topic, id),
        created,
    })?;
    let partition =
        Arc::new(Partition::with_replicas(Arc::clone(topic), id, replicas.to_vec(), logs, Some(replication)));
    replication::start(&partition);
    Ok(partition)
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
            for log in &partition.logs {
                if let Err(error) = log.flush_if_due() {
                    tracing::error!(topic = %partition.topic, partition = partition.id, %error, "scheduled flush failed");
                }
            }
        }
    };
    let retention: Task = |inner| {
        let now = now_ms();
        for partition in Broker::all_partitions(inner) {
            // Every replica applies retention to its own log, as Kafka's
            // replicas do, and only below the high watermark: a follower
            // still copying, or a consumer not yet allowed to read, keeps
            // its records.
            let limit = if partition.replication.is_some() { partition.high_watermark() } else { u64::MAX };
            for log in &partition.logs {
                match log.apply_retention_below(now, limit) {
                    Ok(report) if report.segments_deleted > 0 => tracing::info!(
                        topic = %partition.topic,
                        partition = partition.id,
                        log = %log.dir().display(),
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
        }
    };
    let groups: Task = |inner| inner.groups.tick();
    let cleaner: Task = |inner| {
        let now = now_ms();
        for partition in Broker::all_partitions(inner) {
            let log = partition.log();
            if partition.replication.is_some() || !log.config().cleanup_policy.compacts() || !log.needs_cleaning(now) {
                continue;
            }
            match log.clean(now) {
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
    let replication: Task = |inner| {
        let replicated: Vec<Arc<Topic>> =
            inner.topics.read().values().filter(|topic| topic.replication_factor > 1).cloned().collect();
        for topic in replicated {
            for partition in topic.partitions().iter() {
                replication::pump(partition);
            }
        }
    };
    let tasks: [(&str, Duration, Task); 5] = [
        ("ghyll-flusher", inner.config.flush_check_interval, flush),
        ("ghyll-retention", inner.config.retention_check_interval, retention),
        ("ghyll-groups", inner.config.group_check_interval, groups),
        ("ghyll-cleaner", inner.config.cleaner_check_interval, cleaner),
        ("ghyll-replication", inner.config.replication_check_interval, replication),
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
