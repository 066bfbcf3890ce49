//! The servers under test, each in its own process: central (release build)
//! on a fresh database, and the baseline axum server.

use std::{
    future::Future,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, SystemTime},
};

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

pub use testkit::ADMIN_KEY;

/// How the servers are run.
#[derive(Debug, Clone)]
pub enum Wrap {
    None,
    /// Under valgrind's callgrind, profiles written to this directory.
    Callgrind(PathBuf),
}

impl Wrap {
    fn command(&self, program: &Path, name: &str) -> anyhow::Result<Command> {
        Ok(match self {
            Wrap::None => Command::new(program),
            Wrap::Callgrind(dir) => {
                std::fs::create_dir_all(dir)?;
                let mut command = Command::new("valgrind");
                command
                    .arg("--tool=callgrind")
                    .arg("--fair-sched=yes")
                    .arg(format!(
                        "--callgrind-out-file={}/{name}.%p",
                        dir.canonicalize()?.display()
                    ))
                    .arg(program);
                command
            }
        })
    }
}

/// Something that knows how many requests it sent.
pub trait Sent {
    fn sent(&self) -> u64;
}

impl Sent for crate::load::Measured {
    fn sent(&self) -> u64 {
        self.ok + self.failed
    }
}

impl<T: Sent, U> Sent for (T, U) {
    fn sent(&self) -> u64 {
        self.0.sent()
    }
}

impl<T: Sent, E> Sent for Result<T, E> {
    fn sent(&self) -> u64 {
        self.as_ref().map_or(0, Sent::sent)
    }
}

pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    /// What central logged about itself when it started.
    pub started: Value,
    /// Where the callgrind profiles go, when run under it.
    profiles: Option<PathBuf>,
}

impl Server {
    /// Runs a scenario and prints the CPU time the server and this load
    /// generator spent on it per request (user + system, from /proc: less
    /// noisy than throughput on a shared machine). Under callgrind, prints
    /// the server's instructions per request instead.
    pub async fn profiled<T: Sent>(&self, name: &str, scenario: impl Future<Output = T>) -> T {
        let Some(pid) = self.child.id() else {
            return scenario.await;
        };
        let Some(dir) = &self.profiles else {
            let groups = self.group_commits().await;
            let before = (cpu_ticks(pid), cpu_ticks(std::process::id()));
            let result = scenario.await;
            let after = (cpu_ticks(pid), cpu_ticks(std::process::id()));
            if let (Some(g0), Some(g1)) = (groups, self.group_commits().await) {
                let n = (g1[0] - g0[0]).max(1.0);
                eprintln!(
                    "{name}: {n} group commits, {:.1} commands and {:.2} ms each on average",
                    (g1[1] - g0[1]) / n,
                    (g1[2] - g0[2]) / n * 1000.0
                );
            }
            if let ((Some(s0), Some(c0)), (Some(s1), Some(c1))) = (before, after) {
                let per = |a: u64, b: u64| {
                    (b.saturating_sub(a)) as f64 * 1e6
                        / ticks_per_second()
                        / result.sent().max(1) as f64
                };
                eprintln!(
                    "{name}: CPU per request: server {:.1} µs user + {:.1} µs system, load generator {:.1} µs + {:.1} µs",
                    per(s0.0, s1.0),
                    per(s0.1, s1.1),
                    per(c0.0, c1.0),
                    per(c0.1, c1.1),
                );
            }
            return result;
        };
        let control = |args: &[&str]| {
            let status = std::process::Command::new("callgrind_control")
                .args(args)
                .arg(pid.to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if !status.is_ok_and(|s| s.success()) {
                eprintln!("callgrind_control {args:?} failed");
            }
        };
        control(&["--zero"]);
        let since = SystemTime::now();
        let result = scenario.await;
        control(&[&format!("--dump={name}")]);
        match newest_profile(dir, since).and_then(|p| Some((total_instructions(&p)?, p))) {
            Some((instructions, path)) => {
                let sent = result.sent().max(1);
                eprintln!(
                    "{name}: {instructions} instructions for {sent} requests: {} per request ({})",
                    instructions / sent,
                    path.display()
                );
            }
            None => eprintln!("{name}: no callgrind dump found in {}", dir.display()),
        }
        result
    }

    /// Central's group commits so far: count, commands, seconds.
    async fn group_commits(&self) -> Option<[f64; 3]> {
        let text = reqwest::get(self.url("/metrics"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        let value = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        };
        Some([
            value("stockline_group_commit_size_count")?,
            value("stockline_group_commit_size_sum")?,
            value("stockline_group_commit_duration_seconds_sum")?,
        ])
    }

    /// SIGTERM, so the server shuts down in order (and a profiler writes
    /// its data); killed if it has not stopped within a minute.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
            if tokio::time::timeout(Duration::from_secs(60), self.child.wait())
                .await
                .is_ok()
            {
                return;
            }
        }
        let _ = self.child.kill().await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Resident memory of the server process, in MiB (from /proc).
    pub fn rss_mib(&self) -> Option<f64> {
        let pid = self.child.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kib / 1024.0)
    }
}

/// Reads a child's JSON log lines until the one that says it listens.
async fn listening(mut child: Child) -> anyhow::Result<Server> {
    let stdout = child.stdout.take().context("stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let found = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await? {
            let Ok(entry) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if entry["fields"]["message"] == "listening" {
                return Ok(entry);
            }
        }
        bail!("the server exited before listening")
    })
    .await
    .context("the server did not listen within 60 s")??;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let addr = found["fields"]["addr"]
        .as_str()
        .context("addr in the listening line")?
        .parse()?;
    Ok(Server {
        child,
        addr,
        started: found["fields"].clone(),
        profiles: None,
    })
}

/// User and system CPU time of a process so far, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some((fields.get(11)?.parse().ok()?, fields.get(12)?.parse().ok()?))
}

fn ticks_per_second() -> f64 {
    // USER_HZ: 100 on every Linux this runs on.
    100.0
}

/// The dump callgrind wrote last, after `since`.
fn newest_profile(dir: &Path, since: SystemTime) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .filter(|(modified, _)| *modified >= since)
        .max()
        .map(|(_, path)| path)
}

/// The `summary:` (or `totals:`) line of a callgrind profile.
fn total_instructions(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

pub async fn central(
    binary: &Path,
    data_dir: &Path,
    synchronous: &str,
    wrap: &Wrap,
) -> anyhow::Result<Server> {
    central_with(binary, data_dir, &["--synchronous", synchronous], wrap).await
}

/// `central serve` with `extra` flags (e.g. `--database-url`).
pub async fn central_with(
    binary: &Path,
    data_dir: &Path,
    extra: &[&str],
    wrap: &Wrap,
) -> anyhow::Result<Server> {
    let child = wrap
        .command(binary, "central")?
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-api-key",
            ADMIN_KEY,
        ])
        .args(["--rate-limit", "false"])
        .args(extra)
        .arg("--data-dir")
        .arg(data_dir)
        .env("RUST_LOG", "warn,central=info")
        // Every client of the benchmark is one address, 10,000 idle
        // long-polls among them: past central's per-address cap. Set as a
        // variable, which an older build (`--central`) ignores.
        .env("STOCKLINE_MAX_CONNECTIONS_PER_ADDRESS", "100000")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    profiled(listening(child).await?, wrap)
}

/// This binary again, as the baseline server.
pub async fn baseline(wrap: &Wrap) -> anyhow::Result<Server> {
    let child = wrap
        .command(&std::env::current_exe()?, "baseline")?
        .arg("baseline-server")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    profiled(listening(child).await?, wrap)
}

fn profiled(mut server: Server, wrap: &Wrap) -> anyhow::Result<Server> {
    if let Wrap::Callgrind(dir) = wrap {
        server.profiles = Some(dir.clone());
    }
    Ok(server)
}

/// The HTTP ceiling: axum on tokio's default runtime (as central uses),
/// answering a fixed small JSON.
pub async fn serve_baseline() -> anyhow::Result<()> {
    use axum::{Json, Router, routing::get};
    let app = Router::new().route(
        "/fixed",
        get(|| async {
            Json(serde_json::json!({"store_id": "bench", "sku": "P0001", "available": 42}))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    println!(r#"{{"fields":{{"message":"listening","addr":"{addr}"}}}}"#);
    axum::serve(listener, app).await?;
    Ok(())
}
