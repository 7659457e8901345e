//! The topic metadata file: every topic's partition count, replication
//! factor and config overrides, so topics survive a restart.
//!
//! `topics.meta` in the data directory is text, one topic per line, with a
//! CRC-32 of everything before it on the last line; it is replaced
//! atomically (temp file, fsync, rename, fsync of the directory).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use crate::error::BrokerError;

pub(crate) const METADATA_FILE: &str = "topics.meta";
const METADATA_TEMP_FILE: &str = "topics.meta.tmp";
const HEADER: &str = "ghyll-topics 1";

/// What the broker remembers about one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TopicMeta {
    pub name: String,
    pub partitions: u32,
    pub replication_factor: u16,
    pub overrides: BTreeMap<String, String>,
    /// Each partition's replicas (node numbers, preferred leader first);
    /// empty means every partition has one replica, on node 0 (the layout
    /// before nodes existed). Stored as a `replicas:0,1,2/1,2,0` field.
    pub assignment: Vec<Vec<u32>>,
}

pub(crate) fn encode(topics: &[TopicMeta]) -> String {
    let mut text = format!("{HEADER}\n");
    for topic in topics {
        text.push_str(&format!("topic\t{}\t{}\t{}", topic.name, topic.partitions, topic.replication_factor));
        for (name, value) in &topic.overrides {
            text.push_str(&format!("\t{name}={value}"));
        }
        if !topic.assignment.is_empty() {
            let partitions: Vec<String> = topic
                .assignment
                .iter()
                .map(|nodes| nodes.iter().map(u32::to_string).collect::<Vec<_>>().join(","))
                .collect();
            text.push_str(&format!("\treplicas:{}", partitions.join("/")));
        }
        text.push('\n');
    }
    let crc = crc32fast::hash(text.as_bytes());
    text.push_str(&format!("crc32\t{crc:08x}\n"));
    text
}

pub(crate) fn decode(text: &str, path: &Path) -> Result<Vec<TopicMeta>, BrokerError> {
    let corrupt = |reason: String| BrokerError::CorruptMetadata { path: path.to_path_buf(), reason };
    let body_end = text.rfind("crc32\t").ok_or_else(|| corrupt("no checksum line".into()))?;
    let (body, crc_line) = text.split_at(body_end);
    let stored = crc_line
        .strip_suffix('\n')
        .and_then(|line| line.strip_prefix("crc32\t"))
        .and_then(|hex| u32::from_str_radix(hex, 16).ok());
    if stored != Some(crc32fast::hash(body.as_bytes())) {
        return Err(corrupt("checksum mismatch".into()));
    }
    let mut lines = body.lines();
    if lines.next() != Some(HEADER) {
        return Err(corrupt("unknown header line".into()));
    }
    let mut topics = Vec::new();
    for line in lines {
        let mut fields = line.split('\t');
        let (Some("topic"), Some(name), Some(partitions), Some(factor)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(corrupt(format!("malformed line {line:?}")));
        };
        let partitions = partitions.parse().map_err(|_| corrupt(format!("bad partition count in {line:?}")))?;
        let replication_factor = factor.parse().map_err(|_| corrupt(format!("bad replication factor in {line:?}")))?;
        let mut overrides = BTreeMap::new();
        let mut assignment = Vec::new();
        for pair in fields {
            if let Some(list) = pair.strip_prefix("replicas:") {
                for nodes in list.split('/') {
                    let nodes: Result<Vec<u32>, _> = nodes.split(',').map(str::parse).collect();
                    assignment.push(nodes.map_err(|_| corrupt(format!("bad replica list in {line:?}")))?);
                }
                continue;
            }
            let (name, value) = pair.split_once('=').ok_or_else(|| corrupt(format!("bad config {pair:?}")))?;
            overrides.insert(name.to_string(), value.to_string());
        }
        if !assignment.is_empty()
            && (assignment.len() != partitions as usize
                || assignment.iter().any(|nodes| nodes.len() != usize::from(replication_factor)))
        {
            return Err(corrupt(format!("replica lists do not match the partitions in {line:?}")));
        }
        topics.push(TopicMeta { name: name.to_string(), partitions, replication_factor, overrides, assignment });
    }
    Ok(topics)
}

/// Reads the metadata file; a missing file is an empty broker.
pub(crate) fn load(dir: &Path) -> Result<Vec<TopicMeta>, BrokerError> {
    let path = dir.join(METADATA_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => decode(&text, &path),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(error) => Err(BrokerError::io("read topic metadata", path, error)),
    }
}

/// Replaces the metadata file atomically and durably.
pub(crate) fn store(dir: &Path, topics: &[TopicMeta]) -> Result<(), BrokerError> {
    replace_file(&dir.join(METADATA_FILE), &dir.join(METADATA_TEMP_FILE), encode(topics).as_bytes())
}

/// Replaces `path` with `bytes` atomically and durably: written to `temp`
/// (beside it), fsynced, renamed over `path`, and the directory fsynced.
/// The broker's small files (topic metadata, leader and ISR state, leader
/// epoch checkpoints) all go through here.
pub(crate) fn replace_file(path: &Path, temp: &Path, bytes: &[u8]) -> Result<(), BrokerError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(temp)
        .map_err(|error| BrokerError::io("create temp file", temp, error))?;
    file.write_all(bytes).map_err(|error| BrokerError::io("write temp file", temp, error))?;
    file.sync_all().map_err(|error| BrokerError::io("fsync temp file", temp, error))?;
    drop(file);
    fs::rename(temp, path).map_err(|error| BrokerError::io("rename into place", path, error))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), BrokerError> {
    File::open(dir).and_then(|handle| handle.sync_all()).map_err(|error| BrokerError::io("fsync directory", dir, error))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<TopicMeta> {
        vec![
            TopicMeta {
                name: "orders".into(),
                partitions: 3,
                replication_factor: 1,
                overrides: BTreeMap::new(),
                assignment: Vec::new(),
            },
            TopicMeta {
                name: "replicated".into(),
                partitions: 2,
                replication_factor: 3,
                overrides: BTreeMap::from([("min.insync.replicas".into(), "2".into())]),
                assignment: vec![vec![0, 1, 2], vec![1, 2, 0]],
            },
            TopicMeta {
                name: "audit.v2".into(),
                partitions: 1,
                replication_factor: 1,
                overrides: BTreeMap::from([
                    ("retention.ms".into(), "-1".into()),
                    ("cleanup.policy".into(), "compact,delete".into()),
                ]),
                assignment: Vec::new(),
            },
        ]
    }

    #[test]
    fn round_trips_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).unwrap().is_empty());
        store(dir.path(), &sample()).unwrap();
        assert_eq!(load(dir.path()).unwrap(), sample());
    }

    #[test]
    fn damage_is_an_error_not_a_guess() {
        let text = encode(&sample());
        let path = Path::new("topics.meta");
        for at in 0..text.len() {
            let mut bytes = text.clone().into_bytes();
            bytes[at] ^= 0x01;
            let Ok(damaged) = String::from_utf8(bytes) else { continue };
            assert!(decode(&damaged, path).is_err(), "flip at {at} went unnoticed");
        }
        assert!(decode(&text[..text.len() / 2], path).is_err());
    }
}
