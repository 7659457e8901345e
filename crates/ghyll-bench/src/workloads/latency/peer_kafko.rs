//! kafko's latency run, shaped like ghyll's: a producer thread awaiting
//! `Producer::send` for each record on a fixed schedule, and a consumer
//! thread awaiting `Consumer::next_with_position`. Both threads enter
//! kafko's runtime with `block_on`; the partition's writer task runs on
//! the runtime's workers.

use std::path::Path;

use bytes::Bytes;

use super::pacing::{LatencyRun, Plan, Progress, Samples};
use super::{LatencyArgs, POLL_TIMEOUT};
use crate::error::{BenchError, Context};
use crate::workloads::systems::kafko::KafkoSystem;

/// Sends the plan's records, each `filler` with its stamps written over
/// the first bytes, and measures every record's receive − send.
pub(super) fn run(dir: &Path, args: &LatencyArgs, filler: &[u8], records: u64) -> Result<LatencyRun, BenchError> {
    let kafko = KafkoSystem::open(dir, 1, kafko::LogConfig::default(), args.kafko_runtime)?;
    let producer = kafko.producer()?;
    let mut consumer = kafko.consumer()?;
    let runtime = kafko.runtime();

    let progress = Progress::default();
    let plan = Plan::new(args.rate, records, args.drain());
    let (sent, received) = std::thread::scope(|scope| {
        let consumer_thread = std::thread::Builder::new()
            .name("ghyll-bench-consumer".into())
            .spawn_scoped(scope, || {
                runtime.block_on(async {
                    let mut samples = Samples::with_capacity(records);
                    while !plan.consumer_done(&progress, samples.len()) {
                        let wait = POLL_TIMEOUT.min(plan.until_deadline());
                        let Ok(next) = tokio::time::timeout(wait, consumer.next_with_position()).await else {
                            continue;
                        };
                        let (position, record) = next.context(|| "kafko next_with_position")?;
                        let received_ns = plan.now_ns();
                        let next = samples.len() as u64;
                        if position.offset() != next {
                            return Err(BenchError::new(format!(
                                "kafko returned offset {} where {next} was next",
                                position.offset()
                            )));
                        }
                        samples.push(received_ns, record.value())?;
                    }
                    Ok(samples)
                })
            })
            .context(|| "spawning the consumer thread")?;
        // kafko takes an owned `Bytes`, so each stamped value is copied
        // into one.
        let sent = plan.send_on_schedule(&progress, filler, |index, value| {
            runtime
                .block_on(producer.send(None, Bytes::copy_from_slice(value)))
                .context(|| format!("kafko send of record {index}"))?;
            Ok(())
        });
        let received = consumer_thread.join().expect("the consumer thread does not panic");
        Ok::<_, BenchError>((sent, received))
    })?;
    let run = plan.finish(sent?, received?)?;
    drop((producer, consumer));
    kafko.shutdown()?;
    Ok(run)
}
