//! The servers under test, each in its own process: central (release build)
//! on a fresh database, and the baseline axum server.

use std::{net::SocketAddr, path::Path, process::Stdio, time::Duration};

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

pub const ADMIN_KEY: &str = "bench-admin-key";

pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    /// What central logged about itself when it started.
    pub started: Value,
}

impl Server {
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
    })
}

pub async fn central(binary: &Path, data_dir: &Path, synchronous: &str) -> anyhow::Result<Server> {
    let child = Command::new(binary)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-api-key",
            ADMIN_KEY,
        ])
        .args(["--rate-limit", "false", "--synchronous", synchronous])
        .arg("--data-dir")
        .arg(data_dir)
        .env("RUST_LOG", "warn,central=info")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    listening(child).await
}

/// This binary again, as the baseline server.
pub async fn baseline() -> anyhow::Result<Server> {
    let child = Command::new(std::env::current_exe()?)
        .arg("baseline-server")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    listening(child).await
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
