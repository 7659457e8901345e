//! The shared parts of both systems' latency runs: the producer's fixed
//! schedule and deadline, the timestamps carried in each value, the
//! progress the producer shares with the consumer, and the consumer's
//! samples.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::BenchError;

/// Bytes of a value that carry timestamps: the send instant, then the
/// scheduled instant, each as big-endian nanoseconds since the run's base.
pub(super) const STAMP_BYTES: usize = 16;

/// Lead time between setting up and the first scheduled send, so that the
/// consumer is already waiting when the first record arrives.
const START_LEAD: Duration = Duration::from_millis(20);

/// Nanoseconds from `base` to now.
pub(super) fn nanos_since(base: Instant) -> u64 {
    u64::try_from(base.elapsed().as_nanos()).expect("a run lasts less than 584 years")
}

/// Send instants by absolute time: record `index` is due at
/// `start + index / rate`, whenever the previous send returned, so a slow
/// send delays the next record but does not shift the rest of the schedule.
#[derive(Debug, Clone, Copy)]
pub(super) struct Schedule {
    base: Instant,
    start_ns: u64,
    rate_per_second: u64,
}

impl Schedule {
    /// A schedule starting [`START_LEAD`] from now.
    pub(super) fn starting_soon(base: Instant, rate_per_second: u64) -> Schedule {
        assert!(rate_per_second > 0, "a rate is at least one record per second");
        let start_ns = nanos_since(base) + START_LEAD.as_nanos() as u64;
        Schedule { base, start_ns, rate_per_second }
    }

    /// When record `index` is due, in nanoseconds since the base.
    pub(super) fn due_ns(&self, index: u64) -> u64 {
        let offset = u128::from(index) * 1_000_000_000 / u128::from(self.rate_per_second);
        self.start_ns + u64::try_from(offset).expect("a schedule spans less than 584 years")
    }

    /// Waits until record `index` is due and returns the instant (since the
    /// base) it may be sent at. At 100,000 records/s a record is due every
    /// 10 µs, finer than a sleep can wake, so the wait spins; while more
    /// than a few microseconds early it yields the core at each turn, so
    /// that on a machine with few cores the consumer thread (and the
    /// systems' own threads) can run on it. Far-off records sleep most of
    /// the way first.
    pub(super) fn wait_for(&self, index: u64) -> u64 {
        let due = self.due_ns(index);
        loop {
            let now = nanos_since(self.base);
            if now >= due {
                return now;
            }
            let ahead = due - now;
            if ahead > 2_000_000 {
                std::thread::sleep(Duration::from_nanos(ahead - 1_000_000));
            } else if ahead > 5_000 {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

/// One system's run: `records` records on `schedule`, and a deadline
/// after which the producer sends no more and the consumer stops waiting.
/// The deadline bounds a run whose system cannot keep up (its backlog
/// would otherwise take unbounded time to drain).
#[derive(Debug, Clone, Copy)]
pub(super) struct Plan {
    pub(super) schedule: Schedule,
    pub(super) records: u64,
    deadline_ns: u64,
}

impl Plan {
    /// A plan starting soon, whose deadline is `drain` after the last
    /// record is due.
    pub(super) fn new(rate_per_second: u64, records: u64, drain: Duration) -> Plan {
        assert!(records > 0, "a run sends at least one record");
        let schedule = Schedule::starting_soon(Instant::now(), rate_per_second);
        let deadline_ns = schedule.due_ns(records - 1) + drain.as_nanos() as u64;
        Plan { schedule, records, deadline_ns }
    }

    pub(super) fn now_ns(&self) -> u64 {
        nanos_since(self.schedule.base)
    }

    /// Time left until the deadline (zero once past it).
    pub(super) fn until_deadline(&self) -> Duration {
        Duration::from_nanos(self.deadline_ns.saturating_sub(self.now_ns()))
    }

    /// Sends up to `records` records on the schedule, each `filler` with
    /// its stamps written over the first bytes, through `send`; stops early
    /// at the deadline. Publishes its progress to `progress` and marks it
    /// done on return, error or not.
    pub(super) fn send_on_schedule(
        &self,
        progress: &Progress,
        filler: &[u8],
        mut send: impl FnMut(u64, &[u8]) -> Result<(), BenchError>,
    ) -> Result<Sent, BenchError> {
        let result = (|| {
            let mut value = filler.to_vec();
            let mut sent_ns = Vec::with_capacity(usize::try_from(self.records).expect("fits in memory"));
            for index in 0..self.records {
                let now = self.schedule.wait_for(index);
                if now > self.deadline_ns {
                    break;
                }
                stamp(&mut value, now, self.schedule.due_ns(index));
                send(index, &value)?;
                sent_ns.push(now);
                progress.sent.store(index + 1, Ordering::Release);
            }
            let elapsed = Duration::from_nanos(self.now_ns() - self.schedule.start_ns);
            Ok(Sent { sent_ns, elapsed })
        })();
        progress.done.store(true, Ordering::Release);
        result
    }

    /// Whether a consumer holding `received` records should stop: every
    /// record sent has arrived and the producer is done, or the deadline
    /// passed.
    pub(super) fn consumer_done(&self, progress: &Progress, received: usize) -> bool {
        let done = progress.done.load(Ordering::Acquire);
        (done && received as u64 >= progress.sent.load(Ordering::Acquire)) || self.now_ns() > self.deadline_ns
    }

    /// The run's figures: the received records' latencies, plus, for each
    /// record sent but not received by the deadline, the deadline minus
    /// its send instant, a lower bound of its latency.
    ///
    /// # Errors
    /// More records received than sent.
    pub(super) fn finish(&self, sent: Sent, mut samples: Samples) -> Result<LatencyRun, BenchError> {
        let received = samples.len();
        if received > sent.sent_ns.len() {
            return Err(BenchError::new(format!("{received} records received but {} sent", sent.sent_ns.len())));
        }
        for (index, sent_ns) in sent.sent_ns.iter().enumerate().skip(received) {
            samples.from_send_ns.push(self.deadline_ns.saturating_sub(*sent_ns));
            samples.from_schedule_ns.push(self.deadline_ns.saturating_sub(self.schedule.due_ns(index as u64)));
        }
        Ok(LatencyRun {
            samples,
            sent: sent.sent_ns.len() as u64,
            unreceived: (sent.sent_ns.len() - received) as u64,
            send_elapsed: sent.elapsed,
        })
    }
}

/// What the producer thread shares with the consumer thread.
#[derive(Debug, Default)]
pub(super) struct Progress {
    sent: AtomicU64,
    done: AtomicBool,
}

/// The producer's side of a run: each record's send instant, and the time
/// from the first due instant to the last send's return.
#[derive(Debug, Clone)]
pub(super) struct Sent {
    sent_ns: Vec<u64>,
    elapsed: Duration,
}

/// Writes the send and scheduled instants into the first [`STAMP_BYTES`]
/// bytes of `value`.
pub(super) fn stamp(value: &mut [u8], sent_ns: u64, due_ns: u64) {
    value[..8].copy_from_slice(&sent_ns.to_be_bytes());
    value[8..STAMP_BYTES].copy_from_slice(&due_ns.to_be_bytes());
}

/// The latencies of every record received, from its send instant and from
/// its scheduled instant.
#[derive(Debug, Clone, Default)]
pub(super) struct Samples {
    pub(super) from_send_ns: Vec<u64>,
    pub(super) from_schedule_ns: Vec<u64>,
}

impl Samples {
    pub(super) fn with_capacity(records: u64) -> Samples {
        let records = usize::try_from(records).expect("fits in memory");
        Samples { from_send_ns: Vec::with_capacity(records), from_schedule_ns: Vec::with_capacity(records) }
    }

    pub(super) fn len(&self) -> usize {
        self.from_send_ns.len()
    }

    /// Records a value received at `received_ns`.
    ///
    /// # Errors
    /// A value too short to carry the stamps, or stamped after it was
    /// received (which would mean the values were mixed up).
    pub(super) fn push(&mut self, received_ns: u64, value: &[u8]) -> Result<(), BenchError> {
        let (Some(sent), Some(due)) = (value.get(..8), value.get(8..STAMP_BYTES)) else {
            return Err(BenchError::new(format!("a {}-byte value cannot carry its send instant", value.len())));
        };
        let sent_ns = u64::from_be_bytes(sent.try_into().expect("8 bytes"));
        let due_ns = u64::from_be_bytes(due.try_into().expect("8 bytes"));
        if sent_ns > received_ns || due_ns > sent_ns {
            return Err(BenchError::new(format!(
                "a record due at {due_ns} ns and sent at {sent_ns} ns was received at {received_ns} ns"
            )));
        }
        self.from_send_ns.push(received_ns - sent_ns);
        self.from_schedule_ns.push(received_ns - due_ns);
        Ok(())
    }
}

/// What one system's latency run measured.
#[derive(Debug, Clone)]
pub(super) struct LatencyRun {
    /// One latency per record sent, received or not (see [`Plan::finish`]).
    pub(super) samples: Samples,
    pub(super) sent: u64,
    /// Records sent but not received by the deadline.
    pub(super) unreceived: u64,
    /// From the first due instant to the return of the last send.
    pub(super) send_elapsed: Duration,
}

impl LatencyRun {
    /// Records sent per second over the send phase.
    pub(super) fn achieved_rate(&self) -> f64 {
        self.sent as f64 / self.send_elapsed.as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_spaces_records_by_the_rate_without_drift() {
        let schedule = Schedule { base: Instant::now(), start_ns: 1_000, rate_per_second: 3 };
        assert_eq!(schedule.due_ns(0), 1_000);
        assert_eq!(schedule.due_ns(1), 1_000 + 333_333_333);
        // Computed from the start, not by adding a rounded interval: the
        // third record is due exactly one second later.
        assert_eq!(schedule.due_ns(3), 1_000 + 1_000_000_000);
    }

    #[test]
    fn wait_returns_no_earlier_than_due() {
        let schedule = Schedule::starting_soon(Instant::now(), 100_000);
        let sent = schedule.wait_for(5);
        assert!(sent >= schedule.due_ns(5));
        assert!(schedule.start_ns >= START_LEAD.as_nanos() as u64);
    }

    #[test]
    fn stamps_round_trip_into_samples() {
        let mut value = vec![0xAA; 100];
        stamp(&mut value, 2_000, 1_500);
        assert_eq!(value[STAMP_BYTES], 0xAA, "bytes past the stamps are untouched");
        let mut samples = Samples::with_capacity(1);
        samples.push(2_750, &value).expect("a stamped value");
        assert_eq!(samples.from_send_ns, [750]);
        assert_eq!(samples.from_schedule_ns, [1_250]);
    }

    #[test]
    fn short_or_impossible_stamps_are_errors() {
        let mut samples = Samples::default();
        assert!(samples.push(10, &[0; 15]).is_err());
        let mut value = [0; 16];
        stamp(&mut value, 2_000, 1_500);
        assert!(samples.push(1_999, &value).is_err(), "received before sent");
        stamp(&mut value, 1_500, 2_000);
        assert!(samples.push(3_000, &value).is_err(), "sent before due");
        assert_eq!(samples.len(), 0);
    }

    #[test]
    fn a_plan_sends_every_record_and_the_consumer_stops_once_all_arrived() {
        let plan = Plan::new(100_000, 20, Duration::from_secs(5));
        let progress = Progress::default();
        let mut samples = Samples::with_capacity(20);
        let sent =
            plan.send_on_schedule(&progress, &[0; 16], |_, value| samples.push(plan.now_ns(), value)).expect("sends");
        assert!(plan.consumer_done(&progress, 20));
        assert!(!plan.consumer_done(&progress, 19));
        let run = plan.finish(sent, samples).expect("consistent");
        assert_eq!((run.sent, run.unreceived, run.samples.len()), (20, 0, 20));
        assert!(run.achieved_rate() > 0.0);
    }

    #[test]
    fn records_not_received_by_the_deadline_count_as_lower_bounds() {
        let plan = Plan::new(1_000_000, 10, Duration::ZERO);
        let progress = Progress::default();
        let sent = plan.send_on_schedule(&progress, &[0; 16], |_, _| Ok(())).expect("sends");
        assert!(progress.sent.load(Ordering::Acquire) <= 10);
        let sent_count = sent.sent_ns.len();
        let run = plan.finish(sent, Samples::default()).expect("consistent");
        assert_eq!(run.unreceived as usize, sent_count);
        assert_eq!(run.samples.len(), sent_count);
        // Past the deadline, the consumer stops whatever it holds.
        while plan.now_ns() <= plan.deadline_ns {
            std::hint::spin_loop();
        }
        assert!(plan.consumer_done(&progress, 0));
    }

    #[test]
    fn a_failed_send_still_marks_the_producer_done() {
        let plan = Plan::new(1_000_000, 10, Duration::from_secs(1));
        let progress = Progress::default();
        let failed = plan.send_on_schedule(&progress, &[0; 16], |index, _| {
            if index == 3 {
                Err(BenchError::new("refused"))
            } else {
                Ok(())
            }
        });
        assert!(failed.is_err());
        assert!(progress.done.load(Ordering::Acquire));
        assert_eq!(progress.sent.load(Ordering::Acquire), 3);
        assert!(plan.consumer_done(&progress, 3));
    }

    #[test]
    fn more_received_than_sent_is_an_error() {
        let plan = Plan::new(1_000_000, 1, Duration::from_secs(1));
        let mut samples = Samples::default();
        let mut value = [0; 16];
        stamp(&mut value, 0, 0);
        samples.push(1, &value).expect("valid");
        let nothing_sent = Sent { sent_ns: Vec::new(), elapsed: Duration::from_millis(1) };
        assert!(plan.finish(nothing_sent, samples).is_err());
    }
}
