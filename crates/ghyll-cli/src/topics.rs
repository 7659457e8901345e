//! `ghyll topics`: kafka-topics over the data directory's broker.

use std::io::Write;

use ghyll_broker::{Broker, NewTopic, TopicDescription};

use crate::cli::{CreateArgs, TopicsCommand};
use crate::error::CliError;

/// Runs one `topics` subcommand and prints its result to `out`.
pub(crate) fn run(broker: &Broker, command: TopicsCommand, out: &mut impl Write) -> Result<(), CliError> {
    match command {
        TopicsCommand::Create(args) => create(broker, args, out),
        TopicsCommand::List => {
            for name in broker.list_topics() {
                writeln!(out, "{name}").map_err(CliError::Stdout)?;
            }
            Ok(())
        }
        TopicsCommand::Describe { name } => {
            let description = broker.describe_topic(&name)?;
            write_description(out, &description).map_err(CliError::Stdout)
        }
        TopicsCommand::Delete { name } => Ok(broker.delete_topic(&name)?),
        TopicsCommand::Alter { name, partitions } => Ok(broker.add_partitions(&name, partitions)?),
    }
}

fn create(broker: &Broker, args: CreateArgs, out: &mut impl Write) -> Result<(), CliError> {
    let mut topic = NewTopic::new(args.name.as_str(), args.partitions).replication_factor(args.replication_factor);
    for (name, value) in args.configs {
        topic = topic.config(name, value);
    }
    broker.create_topic(topic)?;
    // kafka-topics says the same.
    writeln!(out, "Created topic {}.", args.name).map_err(CliError::Stdout)
}

/// kafka-topics `--describe`'s layout: a tab-separated header line for the
/// topic with its config overrides, then one indented line per partition
/// with its leader (`none` while it has none), replicas and ISR, then its
/// offsets, size and segment count.
fn join(nodes: &[u32]) -> String {
    nodes.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

fn write_description(out: &mut impl Write, topic: &TopicDescription) -> std::io::Result<()> {
    let configs: Vec<String> = topic.overrides.iter().map(|(name, value)| format!("{name}={value}")).collect();
    writeln!(
        out,
        "Topic: {}\tPartitionCount: {}\tReplicationFactor: {}\tConfigs: {}",
        topic.name,
        topic.partitions.len(),
        topic.replication_factor,
        configs.join(",")
    )?;
    for partition in &topic.partitions {
        writeln!(
            out,
            "\tTopic: {}\tPartition: {}\tLeader: {}\tReplicas: {}\tIsr: {}\tLogStartOffset: {}\tLogEndOffset: {}\tHighWatermark: {}\tSize: {}\tSegments: {}",
            topic.name,
            partition.partition,
            partition.leader.map_or("none".to_string(), |node| node.to_string()),
            join(&partition.replicas),
            join(&partition.isr),
            partition.log_start_offset,
            partition.log_end_offset,
            partition.high_watermark,
            partition.size_bytes,
            partition.segments
        )?;
    }
    Ok(())
}
