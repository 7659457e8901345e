//! Proves ghyll-replication's invariants under the simulator's faults, and
//! that the simulator finds real bugs. Each run is one seed; a failure
//! prints the seed and `GHYLL_SIM_SEED=<seed> cargo test -p ghyll-sim`
//! replays exactly that seed (with the default options) in
//! `seeds_hold_the_invariants`.

use std::time::Instant;

use ghyll_replication::Durability;
use ghyll_sim::{run, run_seed, SimOptions, Stats};

const SEEDS: u64 = 500;

fn replay_seed() -> Option<u64> {
    std::env::var("GHYLL_SIM_SEED").ok().map(|s| s.trim().parse().expect("GHYLL_SIM_SEED is a u64"))
}

fn add(total: &mut Stats, stats: &Stats) {
    total.proposed += stats.proposed;
    total.acked += stats.acked;
    total.failed += stats.failed;
    total.not_enough_replicas += stats.not_enough_replicas;
    total.crashes += stats.crashes;
    total.elections += stats.elections;
    total.truncations += stats.truncations;
    total.reads += stats.reads;
    total.committed += stats.committed;
}

#[test]
fn seeds_hold_the_invariants() {
    if let Some(seed) = replay_seed() {
        match run_seed(seed) {
            Ok(stats) => println!("seed {seed}: {stats:?}"),
            Err(violation) => panic!("{violation}"),
        }
        return;
    }
    let began = Instant::now();
    let mut total = Stats::default();
    for seed in 0..SEEDS {
        match run_seed(seed) {
            Ok(stats) => add(&mut total, &stats),
            Err(violation) => panic!("{violation}"),
        }
    }
    println!("{SEEDS} seeds in {:.1?}: {total:?}", began.elapsed());
    // A simulation that exercises nothing proves nothing.
    assert!(total.acked > 10 * SEEDS, "{total:?}");
    assert!(total.crashes > SEEDS && total.elections > SEEDS, "{total:?}");
    assert!(total.truncations > 100 && total.failed > 0 && total.not_enough_replicas > 0, "{total:?}");
    assert!(total.reads > SEEDS, "{total:?}");
}

#[test]
fn crash_heavy_seeds_hold_the_invariants() {
    for seed in 10_000..10_200 {
        let mut options = SimOptions::for_seed(seed);
        options.crash_per_mille = 20;
        if let Err(violation) = run(seed, &options) {
            panic!("crash_per_mille 20: {violation}");
        }
    }
}

#[test]
fn runs_are_deterministic() {
    for seed in [1, 99, 12345] {
        assert_eq!(run_seed(seed), run_seed(seed));
    }
}

/// Pre-KIP-101 Kafka truncated a new follower to its high watermark. The
/// high watermark travels to followers one fetch late, so a follower that
/// held an acknowledged record truncates it; if it is then elected, the
/// record is gone (or replicas diverge, or the exposed high watermark goes
/// back). The simulator must find that within a bounded number of seeds.
#[test]
fn finds_high_watermark_truncation_bug() {
    let found = (0..500).find_map(|seed| {
        let mut options = SimOptions::for_seed(seed);
        options.crash_per_mille = 20;
        options.truncate_to_high_watermark = true;
        run(seed, &options).err()
    });
    let violation = found.expect("the pre-KIP-101 bug is found within 500 seeds");
    println!("found: {violation}");
    assert!(
        ["committed records lost", "exposes high watermark", "below its high watermark", "replaced by"]
            .iter()
            .any(|kind| violation.message.contains(kind)),
        "{violation}"
    );
    // The replay line carries the flags this run needs.
    assert!(
        violation.replay.ends_with("--crash-per-mille 20 --truncate-to-high-watermark")
            && violation.replay.contains(&format!("--seed {}", violation.seed)),
        "{}",
        violation.replay
    );
}

/// With Kafka's own durability rule (count a follower once the record is
/// in its page cache) and crashes that lose unsynced data on every replica
/// at once, acknowledged records are lost: the simulator's model needs
/// [`Durability::Flushed`] for invariant 1, and it notices when it is not
/// there.
#[test]
fn finds_loss_with_page_cache_durability() {
    let found = (0..200).find_map(|seed| {
        let mut options = SimOptions::for_seed(seed);
        options.durability = Durability::Replicated;
        run(seed, &options).err()
    });
    assert!(found.is_some(), "Durability::Replicated loses data when every replica crashes");
}
