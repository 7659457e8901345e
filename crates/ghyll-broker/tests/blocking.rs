//! Proves a blocked `poll` wakes when a record arrives, when its topic is deleted and when the broker closes, and otherwise waits out its timeout, by polling in one thread while another thread acts; bounds are generous because this checks wake-ups on a noisy machine, not speed.

mod common;

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::{earliest, owned, values, Owned};
use ghyll_broker::{Broker, BrokerError, Consumer, NewTopic, ProducerConfig, ProducerRecord};

/// Longer than any wake-up should take even on a loaded machine, and far
/// shorter than the poll timeouts below.
const WAKE_BOUND: Duration = Duration::from_secs(10);
const LONG_POLL: Duration = Duration::from_secs(60);

fn broker_with(partitions: u32) -> (tempfile::TempDir, Broker) {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path()).unwrap();
    broker.create_topic(NewTopic::new("t", partitions)).unwrap();
    (dir, broker)
}

/// Runs one `poll(LONG_POLL)` in a thread; the receiver gets its result
/// (records copied out) and how long it took. A test that waits on the
/// receiver with a deadline fails instead of hanging if the poll never
/// wakes.
fn poll_in_thread(mut consumer: Consumer) -> mpsc::Receiver<(Result<Vec<Owned>, BrokerError>, Duration)> {
    let (done, result) = mpsc::channel();
    thread::spawn(move || {
        let started = Instant::now();
        let polled = consumer.poll(LONG_POLL).map(|records| owned(&records));
        let _ = done.send((polled, started.elapsed()));
    });
    result
}

fn wait_for(
    result: &mpsc::Receiver<(Result<Vec<Owned>, BrokerError>, Duration)>,
) -> (Result<Vec<Owned>, BrokerError>, Duration) {
    result.recv_timeout(WAKE_BOUND * 2).expect("a blocked poll never returned")
}

/// Several rounds, each with the record sent at a different moment
/// relative to the poll starting, through `send` and through `send_async`
/// appended by the producer's own sender thread.
#[test]
fn poll_wakes_promptly_when_another_thread_produces() {
    let (_dir, broker) = broker_with(2);
    let mut config = ProducerConfig::default();
    config.linger = Duration::from_millis(5);
    let producer = broker.producer(config).unwrap();
    for (round, delay_ms) in [0u64, 1, 20, 100, 250].into_iter().enumerate() {
        let consumer = {
            let mut consumer = earliest(&broker, &[("t", 0), ("t", 1)]);
            for tp in consumer.assignment() {
                consumer.seek_to_end([&tp]).unwrap();
            }
            consumer
        };
        let result = poll_in_thread(consumer);
        thread::sleep(Duration::from_millis(delay_ms));
        let value = format!("round-{round}");
        let record = ProducerRecord::new("t", value.as_bytes()).partition(round as u32 % 2);
        if round % 2 == 0 {
            producer.send(record).unwrap();
        } else {
            producer.send_async(record).unwrap();
        }
        let (polled, elapsed) = wait_for(&result);
        let records = polled.unwrap();
        assert_eq!(values(&records), [value], "round {round}");
        assert!(elapsed < WAKE_BOUND, "round {round}: poll took {elapsed:?}");
    }
    producer.close().unwrap();
    broker.close().unwrap();
}

#[test]
fn poll_returns_empty_after_its_timeout() {
    let (_dir, broker) = broker_with(1);
    let mut consumer = earliest(&broker, &[("t", 0)]);
    for timeout in [Duration::ZERO, Duration::from_millis(1), Duration::from_millis(150)] {
        let started = Instant::now();
        let records = consumer.poll(timeout).unwrap();
        let elapsed = started.elapsed();
        assert!(records.is_empty());
        assert!(elapsed >= timeout, "returned after {elapsed:?}, before the {timeout:?} timeout");
        assert!(elapsed < timeout + WAKE_BOUND, "{elapsed:?}");
    }
    // A consumer with nothing assigned waits out its timeout too.
    let mut idle = broker.consumer(Default::default()).unwrap();
    let started = Instant::now();
    assert!(idle.poll(Duration::from_millis(50)).unwrap().is_empty());
    assert!(started.elapsed() >= Duration::from_millis(50));
    // Records on a partition that is not assigned do not end the wait.
    broker.create_topic(NewTopic::new("other", 1)).unwrap();
    let producer = broker.producer(Default::default()).unwrap();
    let started = Instant::now();
    let result = poll_in_thread(earliest(&broker, &[("t", 0)]));
    producer.send(ProducerRecord::new("other", b"elsewhere")).unwrap();
    assert!(result.recv_timeout(Duration::from_millis(100)).is_err(), "woke for another topic's record");
    producer.send(ProducerRecord::new("t", b"here")).unwrap();
    let (polled, _) = wait_for(&result);
    assert_eq!(values(&polled.unwrap()), ["here"]);
    assert!(started.elapsed() >= Duration::from_millis(100));
    producer.close().unwrap();
    broker.close().unwrap();
}

#[test]
fn broker_close_wakes_a_blocked_poll() {
    let (_dir, broker) = broker_with(1);
    let result = poll_in_thread(earliest(&broker, &[("t", 0)]));
    thread::sleep(Duration::from_millis(100));
    broker.close().unwrap();
    let (polled, elapsed) = wait_for(&result);
    match polled {
        Err(BrokerError::Closed { .. }) => {}
        Ok(records) => assert!(records.is_empty(), "{records:?}"),
        Err(other) => panic!("{other}"),
    }
    assert!(elapsed < WAKE_BOUND, "{elapsed:?}");
}

#[test]
fn deleting_the_topic_wakes_a_blocked_poll() {
    let (_dir, broker) = broker_with(1);
    let result = poll_in_thread(earliest(&broker, &[("t", 0)]));
    thread::sleep(Duration::from_millis(100));
    broker.delete_topic("t").unwrap();
    let (polled, elapsed) = wait_for(&result);
    assert!(matches!(&polled, Err(BrokerError::UnknownTopic { topic }) if topic == "t"), "{polled:?}");
    assert!(elapsed < WAKE_BOUND, "{elapsed:?}");
    broker.close().unwrap();
}
