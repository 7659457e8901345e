//! The [`OffsetStore`] trait: where committed offsets live. The coordinator
//! never does I/O; its driver (the broker, over the compacted topic
//! `__consumer_offsets`) implements this and calls the coordinator around
//! it, so a slow write or fsync never holds the coordinator.

use crate::record::OffsetRecord;

/// Durable storage of [`OffsetRecord`]s, in an order (log positions).
///
/// The commit flow with a store:
/// [`GroupCoordinator::prepare_commit`](crate::GroupCoordinator::prepare_commit)
/// (validates and fences, under the driver's lock), [`OffsetStore::append`]
/// (outside it), then
/// [`GroupCoordinator::complete_commit`](crate::GroupCoordinator::complete_commit)
/// with each record's position, so concurrent commits apply in the store's
/// order. At startup, [`OffsetStore::replay`] feeds every stored record to
/// [`GroupCoordinator::load`](crate::GroupCoordinator::load).
///
/// # Examples
/// ```
/// use std::cell::RefCell;
/// use std::collections::BTreeMap;
/// use ghyll_group::{GroupConfig, GroupCoordinator, OffsetAndMetadata, OffsetRecord, OffsetStore, TopicPartition};
///
/// /// Encoded records in memory: a stand-in for a log.
/// #[derive(Default)]
/// struct Memory(RefCell<Vec<(Vec<u8>, Option<Vec<u8>>)>>);
///
/// impl OffsetStore for Memory {
///     type Error = ghyll_group::CodecError;
///     fn append(&self, records: &[OffsetRecord]) -> Result<Vec<u64>, Self::Error> {
///         let mut log = self.0.borrow_mut();
///         Ok(records.iter().map(|r| { log.push((r.encode_key(), r.encode_value())); log.len() as u64 - 1 }).collect())
///     }
///     fn replay(&self, visit: &mut dyn FnMut(OffsetRecord, u64)) -> Result<(), Self::Error> {
///         for (position, (key, value)) in self.0.borrow().iter().enumerate() {
///             if let Some(record) = OffsetRecord::decode(key, value.as_deref())? {
///                 visit(record, position as u64);
///             }
///         }
///         Ok(())
///     }
/// }
///
/// let store = Memory::default();
/// let mut coordinator = GroupCoordinator::new(GroupConfig::default());
/// let offsets = BTreeMap::from([(TopicPartition::new("t", 0), OffsetAndMetadata::new(7))]);
/// let records = coordinator.prepare_commit(0, "g", "", -1, &offsets)?;
/// for (record, position) in records.iter().zip(store.append(&records).unwrap()) {
///     coordinator.complete_commit(std::slice::from_ref(record), position);
/// }
/// // A restarted coordinator replays the store.
/// let mut restarted = GroupCoordinator::new(GroupConfig::default());
/// store.replay(&mut |record, position| restarted.load(record, position)).unwrap();
/// assert_eq!(restarted.committed("g", &TopicPartition::new("t", 0)).map(|c| c.offset), Some(7));
/// # Ok::<(), ghyll_group::GroupError>(())
/// ```
pub trait OffsetStore {
    /// The store's error.
    type Error;

    /// Stores `records` in order and returns each one's position (strictly
    /// increasing), once they are as durable as the store promises.
    ///
    /// # Errors
    /// The store's; then none of the records may be applied.
    fn append(&self, records: &[OffsetRecord]) -> Result<Vec<u64>, Self::Error>;

    /// Calls `visit` with every stored record and its position, in order.
    ///
    /// # Errors
    /// The store's.
    fn replay(&self, visit: &mut dyn FnMut(OffsetRecord, u64)) -> Result<(), Self::Error>;
}
