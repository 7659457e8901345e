//! The `ghyll` binary end to end: each test runs the real executable in its
//! own temporary data directory, feeds it standard input, and checks its
//! standard output, its standard error and its exit code.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ghyll_broker::Broker;
use ghyll_partition::partition_for_key;

/// Longest any one command may run before the test fails (and kills it).
const COMMAND_DEADLINE: Duration = Duration::from_secs(60);

/// What one run of the binary did.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

/// A temporary directory with a data directory inside.
struct Ghyll {
    dir: tempfile::TempDir,
}

impl Ghyll {
    fn new() -> Ghyll {
        Ghyll { dir: tempfile::tempdir().expect("temporary directory") }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn segment(&self, topic: &str, partition: u32) -> PathBuf {
        self.data_dir().join(format!("{topic}-{partition}")).join("00000000000000000000.log")
    }

    fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ghyll"));
        command
            .current_dir(self.dir.path())
            .env_remove("GHYLL_DATA_DIR")
            .env_remove("GHYLL_LOG")
            .arg("--data-dir")
            .arg(self.data_dir());
        command
    }

    fn run(&self, args: &[&str], stdin: &[u8]) -> Run {
        let mut command = self.command();
        command.args(args);
        run_command(command, stdin)
    }

    /// Runs a command that must succeed with nothing on stderr; returns
    /// its stdout.
    fn ok(&self, args: &[&str], stdin: &[u8]) -> String {
        let run = self.run(args, stdin);
        assert_eq!(run.code, Some(0), "ghyll {args:?} failed: {run:?}");
        assert_eq!(run.stderr, "", "ghyll {args:?} wrote to stderr");
        run.stdout
    }

    /// Runs a command that must fail with exit code `code`, nothing on
    /// stdout and exactly one `ghyll: ` line on stderr; returns that line.
    fn fails(&self, args: &[&str], stdin: &[u8], code: i32) -> String {
        let run = self.run(args, stdin);
        assert_eq!(run.code, Some(code), "ghyll {args:?}: {run:?}");
        assert_eq!(run.stdout, "", "ghyll {args:?} wrote to stdout");
        assert_one_error_line(&run.stderr, args);
        run.stderr.trim_end().to_string()
    }
}

fn assert_one_error_line(stderr: &str, args: &[&str]) {
    assert!(stderr.starts_with("ghyll: "), "ghyll {args:?}: stderr {stderr:?}");
    assert!(stderr.ends_with('\n'), "ghyll {args:?}: stderr {stderr:?}");
    assert_eq!(stderr.lines().count(), 1, "ghyll {args:?}: stderr {stderr:?}");
}

/// Runs `command` with `stdin`, reading its output on threads, and kills it
/// if it passes [`COMMAND_DEADLINE`].
fn run_command(mut command: Command, stdin: &[u8]) -> Run {
    let started = Instant::now();
    let mut child =
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn ghyll");
    let mut input = child.stdin.take().expect("stdin");
    let stdin = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        // The command may exit without reading it all; that is its business.
        let _ = input.write_all(&stdin);
    });
    let stdout = read_on_thread(child.stdout.take().expect("stdout"));
    let stderr = read_on_thread(child.stderr.take().expect("stderr"));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for ghyll") {
            break status;
        }
        if started.elapsed() > COMMAND_DEADLINE {
            let _ = child.kill();
            panic!("ghyll {command:?} ran past {COMMAND_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    writer.join().expect("stdin writer");
    Run {
        code: status.code(),
        stdout: String::from_utf8(stdout.join().expect("stdout reader")).expect("UTF-8 stdout"),
        stderr: String::from_utf8(stderr.join().expect("stderr reader")).expect("UTF-8 stderr"),
        took: started.elapsed(),
    }
}

fn read_on_thread(mut from: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = from.read_to_end(&mut bytes);
        bytes
    })
}

fn lines_of(count: usize, line: impl Fn(usize) -> String) -> String {
    (0..count).map(|i| line(i) + "\n").collect()
}

#[test]
fn quickstart_create_produce_consume() {
    let ghyll = Ghyll::new();
    assert_eq!(
        ghyll.ok(&["topics", "create", "quickstart-events", "--partitions", "1"], b""),
        "Created topic quickstart-events.\n"
    );
    let input = "This is my first event\nThis is my second event\n";
    assert_eq!(ghyll.ok(&["produce", "quickstart-events"], input.as_bytes()), "", "produce prints nothing");
    let out = ghyll.ok(&["consume", "quickstart-events", "--from-beginning", "--max-messages", "2"], b"");
    assert_eq!(out, input);
    // More events append after the first two, and a data directory given
    // by GHYLL_DATA_DIR is the same directory.
    let mut produce = Command::new(env!("CARGO_BIN_EXE_ghyll"));
    produce.env("GHYLL_DATA_DIR", ghyll.data_dir()).env_remove("GHYLL_LOG").args(["produce", "quickstart-events"]);
    let run = run_command(produce, b"a third\r\n\nlast line without a newline");
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""), "{run:?}");
    let out = ghyll.ok(&["consume", "quickstart-events", "--from-beginning", "--max-messages", "5"], b"");
    assert_eq!(out, format!("{input}a third\n\nlast line without a newline\n"), "CRLF and LF are stripped");
}

#[test]
fn many_lines_keep_their_order_in_one_partition() {
    let ghyll = Ghyll::new();
    ghyll.ok(&["topics", "create", "ordered", "--partitions", "1"], b"");
    let input = lines_of(20_000, |i| format!("record {i:05}"));
    ghyll.ok(&["produce", "ordered"], input.as_bytes());
    let out = ghyll.ok(&["consume", "ordered", "--from-beginning", "--max-messages", "20000"], b"");
    assert_eq!(out, input);
    let out = ghyll.ok(&["consume", "ordered", "--from-beginning", "--timeout-ms", "300", "--format", "%o\\n"], b"");
    assert_eq!(out, lines_of(20_000, |i| i.to_string()), "offsets are dense from 0");
}

#[test]
fn keys_go_where_kafkas_key_hash_puts_them() {
    let ghyll = Ghyll::new();
    let partitions = 4u32;
    ghyll.ok(&["topics", "create", "keyed", "--partitions", &partitions.to_string()], b"");
    let records: Vec<(String, String)> = (0..40).map(|i| (format!("user-{}", i % 7), format!("event {i}"))).collect();
    let input: String = records.iter().map(|(key, value)| format!("{key}::{value}\n")).collect();
    ghyll.ok(&["produce", "keyed", "--key-separator", "::", "--partitioner", "key-hash"], input.as_bytes());
    let out = ghyll.ok(
        &["consume", "keyed", "--from-beginning", "--max-messages", "40", "--format", "%k\\t%p\\t%o\\t%s\\t%t\\n"],
        b"",
    );
    let mut seen: Vec<Vec<(u64, String, String)>> = vec![Vec::new(); partitions as usize];
    for line in out.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), 5, "{line:?}");
        let (key, partition, offset, value) = (fields[0], fields[1].parse::<u32>().unwrap(), fields[2], fields[3]);
        assert_eq!(fields[4], "keyed");
        assert_eq!(partition, partition_for_key(key.as_bytes(), partitions), "key {key}");
        seen[partition as usize].push((offset.parse().unwrap(), key.to_string(), value.to_string()));
    }
    for (partition, records_here) in seen.iter().enumerate() {
        let offsets: Vec<u64> = records_here.iter().map(|(offset, _, _)| *offset).collect();
        assert_eq!(offsets, (0..offsets.len() as u64).collect::<Vec<_>>(), "partition {partition}");
    }
    // Each partition holds its keys' records in the order they were sent.
    let mut expected: Vec<Vec<(String, String)>> = vec![Vec::new(); partitions as usize];
    for (key, value) in &records {
        expected[partition_for_key(key.as_bytes(), partitions) as usize].push((key.clone(), value.clone()));
    }
    let got: Vec<Vec<(String, String)>> =
        seen.into_iter().map(|p| p.into_iter().map(|(_, key, value)| (key, value)).collect()).collect();
    assert_eq!(got, expected);

    // The default partitioner hashes keys the same way.
    ghyll.ok(&["produce", "keyed", "--key-separator", "::"], b"user-3::again\n");
    let partition = partition_for_key(b"user-3", partitions).to_string();
    let out = ghyll.ok(
        &[
            "consume",
            "keyed",
            "--partition",
            &partition,
            "--from-beginning",
            "--timeout-ms",
            "200",
            "--format",
            "%s\\n",
        ],
        b"",
    );
    assert_eq!(out.lines().last(), Some("again"));
}

#[test]
fn value_may_hold_the_separator_and_a_keyless_line_is_an_error_naming_it() {
    let ghyll = Ghyll::new();
    ghyll.ok(&["topics", "create", "t", "--partitions", "1"], b"");
    let line = ghyll.fails(&["produce", "t", "--key-separator", ":"], b"a:1:2\nb:2\nno separator\nc:3\n", 1);
    assert_eq!(line, "ghyll: line 3 has no key separator \":\"");
    // The lines before the bad one were sent, as Kafka's console producer
    // has sent them by then; nothing after it was.
    let out = ghyll.ok(&["consume", "t", "--from-beginning", "--timeout-ms", "200", "--format", "%k|%s|%h\\n"], b"");
    assert_eq!(out, "a|1:2|\nb|2|\n");
}

#[test]
fn round_robin_spreads_keyless_lines_and_partition_pins_them() {
    let ghyll = Ghyll::new();
    ghyll.ok(&["topics", "create", "spread", "--partitions", "3"], b"");
    ghyll.ok(&["produce", "spread", "--partitioner", "round-robin"], lines_of(9, |i| i.to_string()).as_bytes());
    let out = ghyll.ok(&["topics", "describe", "spread"], b"");
    for partition in 0..3 {
        assert!(
            out.contains(&format!(
                "Partition: {partition}\tLeader: 0\tReplicas: 0\tIsr: 0\tLogStartOffset: 0\tLogEndOffset: 3\t"
            )),
            "{out}"
        );
    }
    ghyll.ok(&["produce", "spread", "--partition", "2"], b"x\ny\n");
    let out = ghyll.ok(&["topics", "describe", "spread"], b"");
    assert!(
        out.contains(
            "Partition: 2\tLeader: 0\tReplicas: 0\tIsr: 0\tLogStartOffset: 0\tLogEndOffset: 5\tHighWatermark: 5\t"
        ),
        "{out}"
    );
}

#[test]
fn topics_list_describe_alter_delete() {
    let ghyll = Ghyll::new();
    ghyll.ok(&["topics", "create", "orders", "--partitions", "2", "--config", "retention.ms=3600000"], b"");
    ghyll.ok(
        &[
            "topics",
            "create",
            "audit.log_v2",
            "--partitions",
            "1",
            "--replication-factor",
            "1",
            "--config",
            "cleanup.policy=compact",
            "--config",
            "segment.bytes=1048576",
        ],
        b"",
    );
    assert_eq!(ghyll.ok(&["topics", "list"], b""), "audit.log_v2\norders\n");
    ghyll.ok(&["produce", "orders", "--partition", "1"], b"one\ntwo\nthree\n");

    let out = ghyll.ok(&["topics", "describe", "orders"], b"");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(lines[0], "Topic: orders\tPartitionCount: 2\tReplicationFactor: 1\tConfigs: retention.ms=3600000");
    assert_eq!(
        lines[1],
        "\tTopic: orders\tPartition: 0\tLeader: 0\tReplicas: 0\tIsr: 0\tLogStartOffset: 0\tLogEndOffset: 0\tHighWatermark: 0\tSize: 0\tSegments: 1"
    );
    let size = std::fs::metadata(ghyll.segment("orders", 1)).unwrap().len();
    assert!(size > 0);
    assert_eq!(
        lines[2],
        format!(
            "\tTopic: orders\tPartition: 1\tLeader: 0\tReplicas: 0\tIsr: 0\tLogStartOffset: 0\tLogEndOffset: 3\tHighWatermark: 3\tSize: {size}\tSegments: 1"
        )
    );
    let out = ghyll.ok(&["topics", "describe", "audit.log_v2"], b"");
    assert!(out.starts_with("Topic: audit.log_v2\tPartitionCount: 1\tReplicationFactor: 1\tConfigs: "), "{out}");
    assert!(out.lines().next().unwrap().ends_with("Configs: cleanup.policy=compact,segment.bytes=1048576"), "{out}");

    assert_eq!(ghyll.ok(&["topics", "alter", "orders", "--partitions", "5"], b""), "");
    let out = ghyll.ok(&["topics", "describe", "orders"], b"");
    assert!(out.starts_with("Topic: orders\tPartitionCount: 5\t"), "{out}");
    assert_eq!(out.lines().count(), 6);
    assert!(
        out.contains("Partition: 1\tLeader: 0\tReplicas: 0\tIsr: 0\tLogStartOffset: 0\tLogEndOffset: 3\t"),
        "data survives: {out}"
    );
    assert!(
        out.contains("Partition: 4\tLeader: 0\tReplicas: 0\tIsr: 0\tLogStartOffset: 0\tLogEndOffset: 0\t"),
        "{out}"
    );

    assert_eq!(ghyll.ok(&["topics", "delete", "orders"], b""), "");
    assert_eq!(ghyll.ok(&["topics", "list"], b""), "audit.log_v2\n");
    assert!(!ghyll.data_dir().join("orders-1").exists());
    assert_eq!(ghyll.fails(&["topics", "describe", "orders"], b"", 1), "ghyll: unknown topic orders");
    // The name is free again, and starts empty.
    ghyll.ok(&["topics", "create", "orders", "--partitions", "1"], b"");
    assert_eq!(ghyll.ok(&["consume", "orders", "--from-beginning", "--timeout-ms", "100"], b""), "");
}

#[test]
fn partition_and_offset_choose_where_consuming_starts() {
    let ghyll = Ghyll::new();
    ghyll.ok(&["topics", "create", "t", "--partitions", "2"], b"");
    ghyll.ok(&["produce", "t", "--partition", "1"], lines_of(6, |i| format!("p1-{i}")).as_bytes());
    ghyll.ok(&["produce", "t", "--partition", "0"], b"p0-0\n");
    let out = ghyll.ok(
        &["consume", "t", "--partition", "1", "--offset", "2", "--max-messages", "3", "--format", "%p:%o:%s\\n"],
        b"",
    );
    assert_eq!(out, "1:2:p1-2\n1:3:p1-3\n1:4:p1-4\n");
    // The end of the log is a valid place to start: nothing to read.
    let out = ghyll.ok(&["consume", "t", "--partition", "1", "--offset", "6", "--timeout-ms", "100"], b"");
    assert_eq!(out, "");
    let out = ghyll.ok(&["consume", "t", "--partition", "0", "--from-beginning", "--timeout-ms", "100"], b"");
    assert_eq!(out, "p0-0\n");
    let line = ghyll.fails(&["consume", "t", "--partition", "1", "--offset", "7", "--timeout-ms", "100"], b"", 1);
    assert_eq!(line, "ghyll: offset 7 is out of range for t-1: the log holds [0, 6)");
}

#[test]
fn timeout_ms_exits_when_no_data_arrives() {
    let ghyll = Ghyll::new();
    ghyll.ok(&["topics", "create", "quiet", "--partitions", "3"], b"");
    let run = ghyll.run(&["consume", "quiet", "--from-beginning", "--timeout-ms", "300"], b"");
    assert_eq!((run.code, run.stdout.as_str(), run.stderr.as_str()), (Some(0), "", ""), "{run:?}");
    assert!(run.took >= Duration::from_millis(300), "waited {:?}", run.took);
    // Without --from-beginning consuming starts at the end: the records
    // already there are not printed.
    ghyll.ok(&["produce", "quiet"], b"old\n");
    assert_eq!(ghyll.ok(&["consume", "quiet", "--timeout-ms", "200"], b""), "");
    assert_eq!(ghyll.ok(&["consume", "quiet", "--from-beginning", "--timeout-ms", "200"], b""), "old\n");
    // --max-messages 0 reads nothing and does not wait.
    assert_eq!(ghyll.ok(&["consume", "quiet", "--max-messages", "0"], b""), "");
}

#[test]
fn a_closed_stdout_ends_consume_quietly() {
    let ghyll = Ghyll::new();
    ghyll.ok(&["topics", "create", "big", "--partitions", "1"], b"");
    ghyll.ok(&["produce", "big"], lines_of(50_000, |i| format!("a line long enough to fill pipes {i:06}")).as_bytes());
    let mut child = ghyll
        .command()
        .args(["consume", "big", "--from-beginning", "--timeout-ms", "5000"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 64];
    stdout.read_exact(&mut first).unwrap();
    assert!(first.starts_with(b"a line long enough to fill pipes 000000\n"));
    drop(stdout);
    let stderr = read_on_thread(child.stderr.take().unwrap());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > COMMAND_DEADLINE {
            let _ = child.kill();
            panic!("consume kept running after its stdout closed");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(status.code(), Some(0));
    assert_eq!(String::from_utf8(stderr.join().unwrap()).unwrap(), "");
    assert!(started.elapsed() < Duration::from_secs(5), "it stopped at the broken pipe, not the timeout");
}

/// The batch lines of a dump.
fn batch_lines(dump: &str) -> Vec<&str> {
    dump.lines().filter(|line| line.starts_with("baseOffset: ")).collect()
}

#[test]
fn dump_log_prints_batches_and_records() {
    let ghyll = Ghyll::new();
    ghyll.ok(&["topics", "create", "t", "--partitions", "1"], b"");
    ghyll.ok(&["produce", "t", "--key-separator", "="], b"k1=hello\nk2=world\n");
    ghyll.ok(&["produce", "t"], b"keyless\n");
    let segment = ghyll.segment("t", 0);
    let segment_text = segment.to_str().unwrap();
    let out = ghyll.ok(&["dump-log", segment_text], b"");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("Dumping {segment_text}"));
    assert_eq!(lines[1], "Log starting offset: 0");
    let batches = batch_lines(&out);
    assert_eq!(batches.len(), 2, "{out}");
    assert!(batches[0].starts_with("baseOffset: 0 lastOffset: 1 count: 2 "), "{out}");
    assert!(batches[1].starts_with("baseOffset: 2 lastOffset: 2 count: 1 "), "{out}");
    for field in [" position: 0 CreateTime: ", " magic: 2 compresscodec: none crc: "] {
        assert!(batches[0].contains(field), "{field:?} in {}", batches[0]);
    }
    for batch in &batches {
        assert!(batch.ends_with(" isvalid: true"), "{batch}");
    }
    assert!(!out.contains("| offset:"), "records only with --print-data");

    let out = ghyll.ok(&["dump-log", segment_text, "--print-data"], b"");
    let records: Vec<&str> = out.lines().filter(|line| line.starts_with("| offset: ")).collect();
    assert_eq!(records.len(), 3, "{out}");
    assert!(records[0].starts_with("| offset: 0 CreateTime: "), "{}", records[0]);
    assert!(records[0].contains(" keySize: 2 valueSize: 5 "), "{}", records[0]);
    assert!(records[0].ends_with(" headers: [] key: k1 payload: hello"), "{}", records[0]);
    assert!(records[1].ends_with(" key: k2 payload: world"), "{}", records[1]);
    assert!(records[2].contains(" keySize: -1 valueSize: 7 "), "{}", records[2]);
    assert!(records[2].ends_with(" headers: [] payload: keyless"), "{}", records[2]);
}

#[test]
fn dump_log_reads_a_segment_an_open_broker_holds() {
    let ghyll = Ghyll::new();
    ghyll.ok(&["topics", "create", "t", "--partitions", "1"], b"");
    ghyll.ok(&["produce", "t"], b"held\n");
    let broker = Broker::open(ghyll.data_dir()).unwrap();
    let out = ghyll.ok(&["dump-log", ghyll.segment("t", 0).to_str().unwrap(), "--print-data"], b"");
    assert!(out.contains(" payload: held\n"), "{out}");
    broker.close().unwrap();
}

#[test]
fn dump_log_reports_a_corrupt_batch_and_a_torn_tail() {
    let ghyll = Ghyll::new();
    ghyll.ok(&["topics", "create", "t", "--partitions", "1"], b"");
    ghyll.ok(&["produce", "t"], b"first batch\n");
    ghyll.ok(&["produce", "t"], b"second batch\n");
    // A copy outside the data directory, in a directory of no broker.
    let copy = ghyll.dir.path().join("copy").join("00000000000000000000.log");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    let mut bytes = std::fs::read(ghyll.segment("t", 0)).unwrap();
    let at = find(&bytes, b"first batch").expect("the value is stored as is");
    bytes[at] ^= 0x20; // "First batch": the CRC no longer matches.
    std::fs::write(&copy, &bytes).unwrap();
    let run = ghyll.run(&["dump-log", copy.to_str().unwrap(), "--print-data"], b"");
    assert_eq!(run.code, Some(1), "{run:?}");
    let batches = batch_lines(&run.stdout);
    assert_eq!(batches.len(), 2, "{run:?}");
    assert!(batches[0].ends_with(" isvalid: false"), "{run:?}");
    assert!(batches[1].ends_with(" isvalid: true"), "{run:?}");
    assert!(!run.stdout.contains("First batch"), "records of an invalid batch are not shown: {run:?}");
    assert!(run.stdout.contains(" payload: second batch\n"), "{run:?}");
    assert_one_error_line(&run.stderr, &["dump-log"]);
    assert!(run.stderr.contains("1 of 2 batches are invalid, the first at position 0"), "{run:?}");

    // A torn tail: the valid batches, then a line saying what is left.
    let mut bytes = std::fs::read(ghyll.segment("t", 0)).unwrap();
    let valid = bytes.len();
    let head = bytes[..40].to_vec();
    bytes.extend_from_slice(&head);
    std::fs::write(&copy, &bytes).unwrap();
    let run = ghyll.run(&["dump-log", copy.to_str().unwrap()], b"");
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(batch_lines(&run.stdout).len(), 2, "{run:?}");
    assert_eq!(
        run.stdout.lines().last(),
        Some(
            format!("Found 40 invalid bytes at position {valid}: batch truncated: needed 61 bytes, 40 available")
                .as_str()
        )
    );
    assert_one_error_line(&run.stderr, &["dump-log"]);
    assert!(run.stderr.contains(&format!("40 invalid bytes at position {valid}")), "{run:?}");
}

#[test]
fn dump_log_never_panics_on_garbage() {
    let ghyll = Ghyll::new();
    let path = ghyll.dir.path().join("garbage.log");
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for (round, len) in [0usize, 1, 12, 60, 61, 62, 500, 4096].into_iter().enumerate() {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        std::fs::write(&path, &bytes).unwrap();
        let run = ghyll.run(&["dump-log", path.to_str().unwrap(), "--print-data"], b"");
        let want = if len == 0 { Some(0) } else { Some(1) };
        assert_eq!(run.code, want, "round {round}, {len} bytes: {run:?}");
        assert!(!run.stderr.contains("panicked"), "{run:?}");
    }
    // Not a file at all.
    let line = ghyll.fails(&["dump-log", ghyll.dir.path().join("missing.log").to_str().unwrap()], b"", 1);
    assert!(line.starts_with("ghyll: open segment "), "{line}");
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

#[test]
fn every_bad_input_is_one_line_on_stderr() {
    let ghyll = Ghyll::new();
    ghyll.ok(&["topics", "create", "t", "--partitions", "2"], b"");
    // (arguments, standard input, exit code, text the line must contain)
    let cases: &[(&[&str], &[u8], i32, &str)] = &[
        (&["topics", "create", "bad name", "--partitions", "1"], b"", 1, "invalid topic name \"bad name\""),
        (&["topics", "create", "..", "--partitions", "1"], b"", 1, "invalid topic name \"..\""),
        (&["topics", "create", "t", "--partitions", "1"], b"", 1, "topic t already exists"),
        (&["topics", "create", "u", "--partitions", "0"], b"", 1, "invalid partition count 0 for topic u"),
        (&["topics", "create", "u", "--partitions", "1", "--config", "retention.ms=soon"], b"", 1, "retention.ms=soon"),
        (
            &["topics", "create", "u", "--partitions", "1", "--config", "compression.type=zstd"],
            b"",
            1,
            "invalid config compression.type=zstd",
        ),
        (&["topics", "create", "u", "--partitions", "1", "--config", "retention.ms"], b"", 2, "is not NAME=VALUE"),
        (&["topics", "create", "u", "--partitions", "1", "--replication-factor", "3"], b"", 1, "replication factor 3"),
        (&["topics", "create", "u", "--partitions", "many"], b"", 2, "--partitions"),
        (&["topics", "describe", "nosuch"], b"", 1, "unknown topic nosuch"),
        (&["topics", "delete", "nosuch"], b"", 1, "unknown topic nosuch"),
        (&["topics", "alter", "nosuch", "--partitions", "3"], b"", 1, "unknown topic nosuch"),
        (&["topics", "alter", "t", "--partitions", "1"], b"", 1, "partition count can only grow"),
        (&["topics", "alter", "t", "--partitions", "2"], b"", 1, "partition count can only grow"),
        (&["produce", "nosuch"], b"x\n", 1, "unknown topic nosuch"),
        (&["produce", "t", "--partition", "2"], b"x\n", 1, "partition 2 is out of range for topic t with 2 partitions"),
        (&["produce", "t", "--partitioner", "hash"], b"x\n", 2, "unknown partitioner \"hash\""),
        (&["produce", "t", "--partitioner", "sticky", "--partition", "1"], b"x\n", 2, "cannot be used with"),
        (&["produce", "t", "--key-separator", ""], b"x\n", 2, "may not be empty"),
        (&["produce", "t", "--key-separator", ":"], b"k:v\nkv\n", 1, "line 2 has no key separator \":\""),
        (&["consume", "nosuch", "--timeout-ms", "10"], b"", 1, "unknown topic nosuch"),
        (&["consume", "t", "--offset", "0"], b"", 2, "--partition"),
        (&["consume", "t", "--offset", "0", "--partition", "0", "--from-beginning"], b"", 2, "cannot be used with"),
        (&["consume", "t", "--partition", "5", "--timeout-ms", "10"], b"", 1, "partition 5 is out of range"),
        (&["consume", "t", "--format", "%x"], b"", 2, "unknown format token %x"),
        (&["topics", "frobnicate"], b"", 2, "unrecognized subcommand"),
    ];
    for (args, stdin, code, text) in cases {
        let line = ghyll.fails(args, stdin, *code);
        assert!(line.contains(text), "ghyll {args:?}: {line:?} does not say {text:?}");
    }
    // None of them changed the topics.
    assert_eq!(ghyll.ok(&["topics", "list"], b""), "t\n");

    // A record over max.message.bytes names its line.
    ghyll.ok(&["topics", "create", "small", "--partitions", "1", "--config", "max.message.bytes=100"], b"");
    let input = format!("short\n{}\n", "x".repeat(90));
    let line = ghyll.fails(&["produce", "small"], input.as_bytes(), 1);
    assert!(line.starts_with("ghyll: line 2: record of "), "{line}");
    let input = format!("short\n{}\n", "x".repeat(500));
    let line = ghyll.fails(&["produce", "small"], input.as_bytes(), 1);
    assert_eq!(line, "ghyll: line 2 is longer than 100 bytes, the max.message.bytes of topic small");

    // Only `topics create` makes a data directory.
    let elsewhere = ghyll.dir.path().join("typo");
    let mut list = Command::new(env!("CARGO_BIN_EXE_ghyll"));
    list.env_remove("GHYLL_LOG").env("GHYLL_DATA_DIR", &elsewhere).args(["topics", "list"]);
    let run = run_command(list, b"");
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_one_error_line(&run.stderr, &["topics", "list"]);
    assert!(run.stderr.contains("does not exist"), "{run:?}");
    assert!(!elsewhere.exists());
}

#[test]
fn a_second_process_is_told_the_directory_is_in_use() {
    let ghyll = Ghyll::new();
    ghyll.ok(&["topics", "create", "t", "--partitions", "1"], b"");
    let broker = Broker::open(ghyll.data_dir()).unwrap();
    for args in [&["topics", "list"][..], &["produce", "t"], &["consume", "t", "--timeout-ms", "10"]] {
        let line = ghyll.fails(args, b"x\n", 1);
        let expected = format!("ghyll: data directory {} is in use by another process", ghyll.data_dir().display());
        assert!(line.starts_with(&expected), "ghyll {args:?}: {line}");
    }
    broker.close().unwrap();
    drop(broker);
    assert_eq!(ghyll.ok(&["topics", "list"], b""), "t\n", "free again once the broker is gone");
}

#[test]
fn ghyll_log_turns_on_the_brokers_events() {
    let ghyll = Ghyll::new();
    ghyll.ok(&["topics", "create", "t", "--partitions", "1"], b"");
    let mut list = ghyll.command();
    list.env("GHYLL_LOG", "info").args(["topics", "list"]);
    let run = run_command(list, b"");
    assert_eq!((run.code, run.stdout.as_str()), (Some(0), "t\n"), "{run:?}");
    assert!(run.stderr.lines().any(|line| line.starts_with("INFO ghyll_broker")), "{run:?}");
    // At the default level (warn) a clean open says nothing.
    let mut list = ghyll.command();
    list.env("GHYLL_LOG", "1").args(["topics", "list"]);
    let run = run_command(list, b"");
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""), "{run:?}");
}

#[test]
fn help_and_version_go_to_stdout() {
    let ghyll = Ghyll::new();
    let out = ghyll.ok(&["--help"], b"");
    for command in ["topics", "produce", "consume", "dump-log"] {
        assert!(out.contains(command), "{out}");
    }
    assert!(ghyll.ok(&["--version"], b"").starts_with("ghyll "));
}

#[test]
fn consume_with_a_group_commits_and_groups_describe_reset_delete() {
    let ghyll = Ghyll::new();
    ghyll.ok(&["topics", "create", "orders", "--partitions", "2"], b"");
    ghyll.ok(&["produce", "orders", "--partitioner", "round-robin"], lines_of(10, |i| format!("o{i}")).as_bytes());
    // The first group member reads 4 records and commits exactly those.
    let out = ghyll.ok(&["consume", "orders", "--group", "billing", "--from-beginning", "--max-messages", "4"], b"");
    assert_eq!(out.lines().count(), 4);
    assert_eq!(ghyll.ok(&["groups", "list"], b""), "billing\n");
    let describe = ghyll.ok(&["groups", "describe", "billing"], b"");
    let mut lines = describe.lines();
    assert!(lines.next().unwrap().starts_with("Group: billing\tState: Empty"), "{describe}");
    assert_eq!(
        lines.next().unwrap(),
        "GROUP\tTOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET\tLAG\tCONSUMER-ID\tCLIENT-ID"
    );
    // One poll returned partition 0's five records; four were printed and
    // committed. Partition 1 has no commit yet, so it is not listed.
    assert_eq!(lines.collect::<Vec<_>>(), ["billing\torders\t0\t4\t5\t1\t-\t-"], "{describe}");
    // The next run of the group resumes after them; --from-beginning only
    // applies where the group has no commit (Kafka's auto.offset.reset).
    let out = ghyll.ok(&["consume", "orders", "--group", "billing", "--from-beginning", "--timeout-ms", "500"], b"");
    assert_eq!(out.lines().count(), 6, "{out}");
    let describe = ghyll.ok(&["groups", "describe", "billing"], b"");
    assert!(describe.lines().skip(2).all(|line| line.split('\t').nth(5) == Some("0")), "{describe}");
    // Reset to the beginning, read everything again.
    let reset = ghyll.ok(&["groups", "reset-offsets", "billing", "--topic", "orders", "--to-earliest"], b"");
    assert_eq!(reset, "GROUP\tTOPIC\tPARTITION\tNEW-OFFSET\nbilling\torders\t0\t0\nbilling\torders\t1\t0\n");
    let out = ghyll.ok(&["consume", "orders", "--group", "billing", "--timeout-ms", "500"], b"");
    assert_eq!(out.lines().count(), 10);
    ghyll.ok(&["groups", "reset-offsets", "billing", "--topic", "orders", "--to-offset", "3"], b"");
    let out = ghyll.ok(&["consume", "orders", "--group", "billing", "--timeout-ms", "500"], b"");
    assert_eq!(out.lines().count(), 4, "two partitions of five, from offset 3");
    assert_eq!(
        ghyll.ok(&["groups", "delete", "billing"], b""),
        "Deletion of requested consumer groups ('billing') was successful.\n"
    );
    assert_eq!(ghyll.ok(&["groups", "list"], b""), "");
    let error = ghyll.fails(&["groups", "describe", "billing"], b"", 1);
    assert!(error.contains("billing"), "{error}");
    let error = ghyll.fails(&["groups", "reset-offsets", "billing", "--topic", "orders"], b"", 2);
    assert!(error.contains("--to-earliest"), "{error}");
}

#[test]
fn replicated_topics_place_replicas_on_the_nodes_and_describe_shows_leader_replicas_and_isr() {
    let ghyll = Ghyll::new();
    let nodes: Vec<String> = (0..3).map(|n| ghyll.dir.path().join(format!("node-{n}")).display().to_string()).collect();
    let with_nodes = |args: &[&str]| -> Vec<String> {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        for node in &nodes {
            all.push("--node".into());
            all.push(node.clone());
        }
        all
    };
    let create = with_nodes(&["topics", "create", "r", "--partitions", "2", "--replication-factor", "3"]);
    ghyll.ok(&create.iter().map(String::as_str).collect::<Vec<_>>(), b"");
    let produce = with_nodes(&["produce", "r", "--partition", "1"]);
    ghyll.ok(&produce.iter().map(String::as_str).collect::<Vec<_>>(), b"a\nb\nc\n");
    let describe = with_nodes(&["topics", "describe", "r"]);
    let out = ghyll.ok(&describe.iter().map(String::as_str).collect::<Vec<_>>(), b"");
    assert!(out.starts_with("Topic: r\tPartitionCount: 2\tReplicationFactor: 3\t"), "{out}");
    assert!(
        out.contains("\tPartition: 0\tLeader: 0\tReplicas: 0,1,2\tIsr: 0,1,2\tLogStartOffset: 0\tLogEndOffset: 0\t"),
        "{out}"
    );
    assert!(
        out.contains("\tPartition: 1\tLeader: 1\tReplicas: 1,2,0\tIsr: 0,1,2\tLogStartOffset: 0\tLogEndOffset: 3\tHighWatermark: 3\t"),
        "{out}"
    );
    assert!(ghyll.dir.path().join("node-2").join("r-1").join("00000000000000000000.log").exists());
    let too_many = with_nodes(&["topics", "create", "r4", "--partitions", "1", "--replication-factor", "4"]);
    let error = ghyll.fails(&too_many.iter().map(String::as_str).collect::<Vec<_>>(), b"", 1);
    assert!(error.contains("replication factor 4"), "{error}");
}
