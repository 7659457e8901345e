//! ghyll's latency run: a producer thread calling the synchronous
//! `Producer::send` on a fixed schedule, and a consumer thread blocked in
//! `Consumer::poll`.

use std::path::Path;

use ghyll_broker::{ConsumerConfig, OffsetReset, ProducerConfig, ProducerRecord};

use super::pacing::{LatencyRun, Plan, Progress, Samples};
use super::{LatencyArgs, POLL_TIMEOUT};
use crate::error::{BenchError, Context};
use crate::workloads::systems::ghyll::GhyllSystem;
use crate::workloads::systems::TOPIC;

/// Sends the plan's records, each `filler` with its stamps written over
/// the first bytes, and measures every record's receive − send.
pub(super) fn run(dir: &Path, args: &LatencyArgs, filler: &[u8], records: u64) -> Result<LatencyRun, BenchError> {
    let ghyll = GhyllSystem::open(dir, 1)?;
    let producer = ghyll.broker().producer(ProducerConfig::default()).context(|| "creating a ghyll producer")?;
    let mut config = ConsumerConfig::default();
    config.auto_offset_reset = OffsetReset::Earliest;
    config.max_poll_records = args.max_poll_records as usize;
    let mut consumer = ghyll.broker().consumer(config).context(|| "creating a ghyll consumer")?;
    let partitions = ghyll.topic_partitions();
    consumer.assign(partitions.clone()).context(|| "assigning the ghyll consumer")?;
    consumer.seek_to_beginning(&partitions).context(|| "seeking the ghyll consumer")?;

    let progress = Progress::default();
    let plan = Plan::new(args.rate, records, args.drain());
    let (sent, received) = std::thread::scope(|scope| {
        let consumer_thread = std::thread::Builder::new()
            .name("ghyll-bench-consumer".into())
            .spawn_scoped(scope, || {
                let mut samples = Samples::with_capacity(records);
                while !plan.consumer_done(&progress, samples.len()) {
                    let polled = consumer.poll(POLL_TIMEOUT.min(plan.until_deadline())).context(|| "ghyll poll")?;
                    let received_ns = plan.now_ns();
                    for record in polled.iter() {
                        let record = record.context(|| "ghyll record")?;
                        let next = samples.len() as u64;
                        if record.offset != next {
                            return Err(BenchError::new(format!(
                                "ghyll poll returned offset {} where {next} was next",
                                record.offset
                            )));
                        }
                        samples.push(received_ns, record.value.unwrap_or_default())?;
                    }
                }
                consumer.close();
                Ok(samples)
            })
            .context(|| "spawning the consumer thread")?;
        let sent = plan.send_on_schedule(&progress, filler, |index, value| {
            producer.send(ProducerRecord::new(TOPIC, value)).context(|| format!("ghyll send of record {index}"))?;
            Ok(())
        });
        let received = consumer_thread.join().expect("the consumer thread does not panic");
        Ok::<_, BenchError>((sent, received))
    })?;
    let run = plan.finish(sent?, received?)?;
    producer.close().context(|| "closing the ghyll producer")?;
    ghyll.close()?;
    Ok(run)
}
