//! One module per workload; each owns its arguments (a `clap::Args`
//! struct) and a `run` function that prints its table and JSON line.

pub(crate) mod consume;
pub(crate) mod group;
pub(crate) mod latency;
pub(crate) mod log;
pub(crate) mod produce;
pub(crate) mod replicated;

mod partitioned;
mod systems;
