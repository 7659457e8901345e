//! `ghyll groups`: kafka-consumer-groups over the data directory's broker.

use std::io::Write;

use ghyll_broker::{Broker, ConsumerGroupDescription, OffsetSpec};

use crate::cli::{GroupsCommand, ResetOffsetsArgs};
use crate::error::CliError;

/// Runs one `groups` subcommand and prints its result to `out`.
pub(crate) fn run(broker: &Broker, command: GroupsCommand, out: &mut impl Write) -> Result<(), CliError> {
    match command {
        GroupsCommand::List => {
            for group in broker.list_groups() {
                writeln!(out, "{}", group.group_id).map_err(CliError::Stdout)?;
            }
            Ok(())
        }
        GroupsCommand::Describe { group } => {
            let description = broker.describe_group(&group)?;
            write_description(out, &description).map_err(CliError::Stdout)
        }
        GroupsCommand::ResetOffsets(args) => reset(broker, args, out),
        GroupsCommand::Delete { group } => {
            broker.delete_group(&group)?;
            writeln!(out, "Deletion of requested consumer groups ('{group}') was successful.").map_err(CliError::Stdout)
        }
    }
}

fn reset(broker: &Broker, args: ResetOffsetsArgs, out: &mut impl Write) -> Result<(), CliError> {
    let spec = match (args.to_earliest, args.to_latest, args.to_offset, args.to_datetime) {
        (true, ..) => OffsetSpec::Earliest,
        (_, true, ..) => OffsetSpec::Latest,
        (_, _, Some(offset), _) => OffsetSpec::Offset(offset),
        (_, _, _, Some(timestamp)) => OffsetSpec::Timestamp(timestamp),
        _ => unreachable!("clap requires one of the --to options"),
    };
    let offsets = broker.reset_group_offsets(&args.group, &args.topic, spec)?;
    writeln!(out, "GROUP\tTOPIC\tPARTITION\tNEW-OFFSET").map_err(CliError::Stdout)?;
    for (tp, offset) in offsets {
        writeln!(out, "{}\t{}\t{}\t{}", args.group, tp.topic, tp.partition, offset).map_err(CliError::Stdout)?;
    }
    Ok(())
}

/// kafka-consumer-groups `--describe`'s columns, tab-separated, after a
/// line with the group's state.
fn write_description(out: &mut impl Write, group: &ConsumerGroupDescription) -> std::io::Result<()> {
    writeln!(
        out,
        "Group: {}\tState: {}\tGeneration: {}\tAssignor: {}\tMembers: {}",
        group.group_id,
        group.state,
        group.generation,
        group.assignor,
        group.members.len()
    )?;
    writeln!(out, "GROUP\tTOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET\tLAG\tCONSUMER-ID\tCLIENT-ID")?;
    for row in &group.offsets {
        let client = row
            .member_id
            .as_deref()
            .and_then(|id| group.members.iter().find(|m| m.member_id == id))
            .map_or("-", |m| m.client_id.as_str());
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            group.group_id,
            row.partition.topic,
            row.partition.partition,
            row.committed.map_or("-".to_string(), |c| c.to_string()),
            row.log_end_offset,
            row.lag.map_or("-".to_string(), |l| l.to_string()),
            row.member_id.as_deref().unwrap_or("-"),
            client
        )?;
    }
    Ok(())
}
