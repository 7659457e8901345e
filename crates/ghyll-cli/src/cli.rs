//! The command line, as clap derives it: global options, subcommands and
//! the parsers of option values.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use ghyll_partition::BuiltinPartitioner;

use crate::format::Format;

/// Kafka's command-line tools over a ghyll data directory.
#[derive(Debug, Parser)]
#[command(name = "ghyll", version, about, long_about = None)]
pub(crate) struct Cli {
    /// The data directory a broker keeps its topics in.
    #[arg(long, global = true, value_name = "DIR", env = "GHYLL_DATA_DIR", default_value = "./ghyll-data")]
    pub(crate) data_dir: PathBuf,

    /// A node's data directory, once per node (node 0 first): replicated
    /// topics place their replicas on the nodes. Without it the broker has
    /// one node, the data directory. Pass the same list every time.
    #[arg(long = "node", global = true, value_name = "DIR")]
    pub(crate) nodes: Vec<PathBuf>,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create, list, describe, alter and delete topics (kafka-topics).
    #[command(subcommand)]
    Topics(TopicsCommand),
    /// Send one record per line of standard input (kafka-console-producer).
    Produce(ProduceArgs),
    /// Print records of a topic (kafka-console-consumer, kcat -C).
    Consume(ConsumeArgs),
    /// List, describe, reset and delete consumer groups (kafka-consumer-groups).
    #[command(subcommand)]
    Groups(GroupsCommand),
    /// Print the batches of a segment file (kafka-dump-log); opens no broker.
    DumpLog(DumpLogArgs),
}

#[derive(Debug, Subcommand)]
pub(crate) enum GroupsCommand {
    /// List group ids, one per line.
    List,
    /// Describe a group: state, members, and per partition the committed
    /// offset, log end offset and lag.
    Describe {
        /// The group.
        group: String,
    },
    /// Move an empty group's committed offsets for every partition of a topic.
    ResetOffsets(ResetOffsetsArgs),
    /// Delete an empty group and its committed offsets.
    Delete {
        /// The group.
        group: String,
    },
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("to").required(true).args(["to_earliest", "to_latest", "to_offset", "to_datetime"])))]
pub(crate) struct ResetOffsetsArgs {
    /// The group.
    pub(crate) group: String,
    /// The topic whose partitions move.
    #[arg(long, value_name = "TOPIC")]
    pub(crate) topic: String,
    /// Each partition's first offset.
    #[arg(long)]
    pub(crate) to_earliest: bool,
    /// Each partition's log end.
    #[arg(long)]
    pub(crate) to_latest: bool,
    /// This offset (clamped into each partition's log).
    #[arg(long, value_name = "N")]
    pub(crate) to_offset: Option<u64>,
    /// The first record at or after this time, in milliseconds since the epoch.
    #[arg(long, value_name = "MS")]
    pub(crate) to_datetime: Option<i64>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TopicsCommand {
    /// Create a topic.
    Create(CreateArgs),
    /// List topic names, one per line.
    List,
    /// Describe a topic and each of its partitions.
    Describe {
        /// The topic.
        name: String,
    },
    /// Delete a topic and its data.
    Delete {
        /// The topic.
        name: String,
    },
    /// Grow a topic to more partitions (a topic never shrinks).
    Alter {
        /// The topic.
        name: String,
        /// The new total partition count.
        #[arg(long, value_name = "N")]
        partitions: u32,
    },
}

#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// The topic's name: 1 to 249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
    pub(crate) name: String,
    /// How many partitions.
    #[arg(long, value_name = "N")]
    pub(crate) partitions: u32,
    /// Replicas per partition (only 1 until replication lands).
    #[arg(long, value_name = "R", default_value_t = 1)]
    pub(crate) replication_factor: u16,
    /// A topic config override by Kafka's name, e.g. `retention.ms=86400000`;
    /// repeat for more.
    #[arg(long = "config", value_name = "NAME=VALUE", value_parser = parse_config)]
    pub(crate) configs: Vec<(String, String)>,
}

#[derive(Debug, Args)]
pub(crate) struct ProduceArgs {
    /// The topic.
    pub(crate) topic: String,
    /// Split each line at the first SEP into key and value; a line without
    /// SEP is an error (kafka-console-producer's `parse.key=true`).
    #[arg(long, value_name = "SEP", value_parser = parse_separator)]
    pub(crate) key_separator: Option<String>,
    /// Send every record to this partition.
    #[arg(long, value_name = "N", conflicts_with = "partitioner")]
    pub(crate) partition: Option<u32>,
    /// How records are spread over partitions: round-robin, key-hash,
    /// sticky or default (keyed records by Kafka's key hash, the others
    /// round-robin).
    #[arg(long, value_name = "NAME", value_parser = parse_partitioner)]
    pub(crate) partitioner: Option<BuiltinPartitioner>,
}

#[derive(Debug, Args)]
pub(crate) struct ConsumeArgs {
    /// The topic.
    pub(crate) topic: String,
    /// Start at the first offset of each partition instead of its end
    /// (with --group: only where the group has no committed offset).
    #[arg(long, conflicts_with = "offset")]
    pub(crate) from_beginning: bool,
    /// Read only this partition.
    #[arg(long, value_name = "N", conflicts_with = "group")]
    pub(crate) partition: Option<u32>,
    /// Consume as a member of this consumer group: start from the group's
    /// committed offsets and commit after every poll.
    #[arg(long, value_name = "GROUP")]
    pub(crate) group: Option<String>,
    /// Start at this offset (needs --partition).
    #[arg(long, value_name = "N", requires = "partition")]
    pub(crate) offset: Option<u64>,
    /// Exit after printing this many records.
    #[arg(long, value_name = "N")]
    pub(crate) max_messages: Option<u64>,
    /// Exit when no record arrives for this many milliseconds.
    #[arg(long, value_name = "MS")]
    pub(crate) timeout_ms: Option<u64>,
    /// How to print each record, with kcat's tokens: %t topic, %p partition,
    /// %o offset, %k key, %s value, %T timestamp (ms), %h headers (k=v,...),
    /// \n newline, \t tab, \r carriage return, \\ backslash, %% percent.
    #[arg(long, value_name = "FMT", default_value = "%s\\n", value_parser = Format::parse)]
    pub(crate) format: Format,
}

#[derive(Debug, Args)]
pub(crate) struct DumpLogArgs {
    /// A segment file (`00000000000000000000.log`); it may belong to a
    /// directory a broker has open.
    pub(crate) path: PathBuf,
    /// Print each record of every valid batch too.
    #[arg(long)]
    pub(crate) print_data: bool,
}

fn parse_config(value: &str) -> Result<(String, String), String> {
    match value.split_once('=') {
        Some((name, _)) if name.trim().is_empty() => Err(format!("{value:?} has no config name before '='")),
        Some((name, config_value)) => Ok((name.trim().to_string(), config_value.to_string())),
        None => Err(format!("{value:?} is not NAME=VALUE")),
    }
}

fn parse_separator(value: &str) -> Result<String, String> {
    if value.is_empty() {
        return Err("the key separator may not be empty".into());
    }
    if value.contains(['\n', '\r']) {
        return Err("the key separator may not contain a line break".into());
    }
    Ok(value.to_string())
}

fn parse_partitioner(value: &str) -> Result<BuiltinPartitioner, String> {
    value.parse::<BuiltinPartitioner>().map_err(|_| {
        let names: Vec<&str> = BuiltinPartitioner::ALL.iter().map(|builtin| builtin.as_str()).collect();
        format!("unknown partitioner {value:?} (known: {})", names.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn configs_are_split_at_the_first_equals_sign() {
        assert_eq!(parse_config("retention.ms=1000"), Ok(("retention.ms".into(), "1000".into())));
        assert_eq!(parse_config("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert!(parse_config("retention.ms").is_err());
        assert!(parse_config("=1000").is_err());
    }

    #[test]
    fn partitioners_are_named_as_the_builtins() {
        assert_eq!(parse_partitioner("sticky"), Ok(BuiltinPartitioner::Sticky));
        let error = parse_partitioner("hash").unwrap_err();
        assert!(error.contains("round-robin"), "{error}");
    }
}
