//! The `central` binary as an operator runs it: started on a free port,
//! its address read from its JSON log, killed with SIGKILL when a test
//! wants a crash. Tests pass the binary's path (`CARGO_BIN_EXE_central`).

use std::{
    net::SocketAddr,
    path::Path,
    process::Stdio,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

/// A running `central serve`; killed when dropped.
pub struct CentralProcess {
    pub addr: SocketAddr,
    child: Child,
    log: Arc<Mutex<String>>,
}

impl CentralProcess {
    /// `central serve` on a free port with `data_dir`, rate limiting off,
    /// `admin_key` and `extra` flags; returns once it listens.
    pub async fn start(
        bin: &Path,
        data_dir: &Path,
        admin_key: &str,
        extra: &[&str],
    ) -> CentralProcess {
        let mut command = Command::new(bin);
        command
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--admin-api-key",
                admin_key,
            ])
            .args(["--rate-limit", "false"])
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra);
        Self::spawn(command).await
    }

    /// Runs a `central serve` command as given (limits, environment, flags)
    /// and returns once it listens; its log is kept ([`Self::log`]).
    pub async fn spawn(mut command: Command) -> CentralProcess {
        let mut child = command
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn central");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let log = Arc::new(Mutex::new(String::new()));
        let keep = |log: &Mutex<String>, line: &str| {
            let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
            log.push_str(line);
            log.push('\n');
        };
        let addr = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.expect("read the log") {
                keep(&log, &line);
                if let Some(addr) = listening(&line) {
                    return addr;
                }
            }
            panic!(
                "central exited before listening:\n{}",
                log.lock().unwrap_or_else(PoisonError::into_inner)
            );
        })
        .await
        .expect("central listens within 60 s");
        // Keep reading the log, so the process never blocks on a full pipe.
        let kept = log.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                keep(&kept, &line);
            }
        });
        CentralProcess { addr, child, log }
    }

    /// Everything central has logged so far (JSON lines).
    pub fn log(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The process id, while it runs (to read `/proc/<pid>/status`).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGKILL: no shutdown, no flush, no goodbye.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }
}

/// The address of a "listening" log line.
fn listening(line: &str) -> Option<SocketAddr> {
    let entry: serde_json::Value = serde_json::from_str(line).ok()?;
    (entry["fields"]["message"] == "listening")
        .then(|| entry["fields"]["addr"].as_str()?.parse().ok())
        .flatten()
}
