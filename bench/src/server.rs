//! `--internal`: a `mamamia` server started by the bench as a child
//! process on a free loopback port, with a fresh data directory.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long the server gets to say where it listens.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running child server; killed and its data directory removed on drop.
pub struct LocalServer {
    child: Child,
    data_dir: PathBuf,
    pub url: String,
}

/// Where the `mamamia` binary is: `$MAMAMIA_BIN`, or next to this program
/// in the same cargo target directory (tests run from `target/*/deps`).
pub fn find_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("MAMAMIA_BIN") {
        return Some(PathBuf::from(path));
    }
    let exe = std::env::current_exe().ok()?;
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join("mamamia"))
        .find(|path| path.is_file())
}

impl LocalServer {
    /// Starts `binary` with `--fsync FSYNC` and waits for its address.
    pub fn start(binary: &Path, fsync: &str) -> Result<LocalServer, String> {
        let started_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos());
        let data_dir =
            std::env::temp_dir().join(format!("mamamia-bench-{}-{started_ns}", std::process::id()));
        let mut child = Command::new(binary)
            .args([
                "--addr",
                "127.0.0.1:0",
                "--log-level",
                "warn",
                "--fsync",
                fsync,
            ])
            .arg("--data-dir")
            .arg(&data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|error| format!("cannot start {}: {error}", binary.display()))?;
        let stdout = child.stdout.take().expect("stdout was piped");
        let (sender, receiver) = std::sync::mpsc::channel();
        // A thread reads the announcement so a silent server cannot hang us,
        // then drains stdout so the server never blocks writing to it.
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            for line in lines.by_ref() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("listening on ") {
                    let _ = sender.send(url.trim().to_owned());
                    break;
                }
            }
            for _ in lines {}
        });
        let mut server = LocalServer {
            child,
            data_dir,
            url: String::new(),
        };
        server.url = receiver
            .recv_timeout(START_TIMEOUT)
            .map_err(|_| format!("{} did not announce its address", binary.display()))?;
        Ok(server)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}
