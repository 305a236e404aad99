//! Recovery of a damaged data directory, seen from outside: a torn tail is
//! repaired and reported; damage followed by intact records is refused.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use crate::harness::Server;

/// The newest WAL segment of a data directory.
fn last_segment(data_dir: &Path) -> PathBuf {
    let mut segments: Vec<PathBuf> = std::fs::read_dir(data_dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "seg"))
        .collect();
    segments.sort();
    segments.pop().expect("the server wrote a segment")
}

fn fill(server: &Server) {
    for number in 0..30 {
        let (status, _) = server.post(
            "/v1/logs/jobs/messages",
            &json!({"messages": [{"payload": number}]}),
        );
        assert_eq!(status, 201);
    }
}

#[test]
fn a_torn_tail_is_truncated_and_reported_and_nothing_acknowledged_is_lost() {
    // Proves: garbage after the last record (a torn write) is cut off with a warning; all 30 appends remain.
    let mut server = Server::start(&[]);
    fill(&server);
    server.kill();
    let segment = last_segment(&server.data_dir);
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes.extend_from_slice(&[0x2a, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3]);
    std::fs::write(&segment, &bytes).unwrap();
    // Start once with stderr captured, until it listens (recovery is done).
    let log_path = server.data_dir.with_extension("stderr");
    let mut probe = Command::new(env!("CARGO_BIN_EXE_mamamia"))
        .args(["--addr", "127.0.0.1:0", "--data-dir"])
        .arg(&server.data_dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(probe.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("listening on"), "{line}");
    let _ = probe.kill();
    let _ = probe.wait();
    let log = std::fs::read_to_string(&log_path).unwrap();
    let _ = std::fs::remove_file(&log_path);
    assert!(log.contains("truncated a torn tail"), "{log}");
    server.crash_and_restart();
    let (_, state) = server.get("/v1/logs/jobs");
    assert_eq!(state["next_index"], 30);
}

#[test]
fn damage_before_intact_records_is_refused_with_a_clear_message() {
    // Proves: a flipped byte in the middle of the WAL stops the server with exit 1 and a message naming the file, not a panic.
    let mut server = Server::start(&[]);
    fill(&server);
    server.kill();
    let segment: PathBuf = last_segment(&server.data_dir);
    let mut bytes = std::fs::read(&segment).unwrap();
    // The middle of the records, not of the space reserved after them.
    let used = bytes.iter().rposition(|&byte| byte != 0).unwrap() + 1;
    let middle = used / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&segment, &bytes).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_mamamia"))
        .args(["--addr", "127.0.0.1:0", "--data-dir"])
        .arg(&server.data_dir)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{log}");
    assert!(log.contains("refusing to start"), "{log}");
    assert!(
        log.contains(segment.file_name().unwrap().to_str().unwrap()),
        "{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
}
