//! The `central` binary as an operator runs it: seeded by `central seed`,
//! served with and without `--demo`. (Killed under load and restarted:
//! the reliability suite's crash loop.)

use std::{path::Path, process::Stdio, time::Duration};

use serde_json::json;
use testkit::process::CentralProcess;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::Command,
};

const BIN: &str = env!("CARGO_BIN_EXE_central");
const ADMIN_KEY: &str = "process-test-admin-key-0123456789abcdef";

async fn seed(dir: &std::path::Path) {
    let status = Command::new(BIN)
        .args(["seed", "--demo", "--data-dir"])
        .arg(dir)
        .stdout(Stdio::null())
        .status()
        .await
        .expect("run central seed");
    assert!(status.success());
}

/// `central seed --demo`, then `serve --demo` on the same data: the demo
/// stores sign in with their published secrets, and seeding again adds
/// nothing.
#[tokio::test]
async fn a_seeded_demo_serves_as_a_demo() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path()).await;
    let central = CentralProcess::start(Path::new(BIN), dir.path(), ADMIN_KEY, &["--demo"]).await;
    let signed_in = reqwest::Client::new()
        .post(central.url("/v1/auth/token"))
        .json(&json!({"client_id": "store-001", "client_secret": "demo-secret-store-001"}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 200);
    let products: serde_json::Value = reqwest::Client::new()
        .get(central.url("/v1/products?limit=1000"))
        .header("x-api-key", ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(products["items"].as_array().unwrap().len(), 300);
}

/// A database seeded with the demo holds stores whose secrets are
/// published: started without `--demo` it is refused, with the reason, and
/// central exits with an error instead of serving it.
#[tokio::test]
async fn a_demo_database_is_refused_without_demo() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path()).await;
    let out = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-api-key",
            ADMIN_KEY,
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .await
        .expect("run central");
    assert!(!out.status.success(), "central refused to serve");
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(log.contains("demo data"), "says why: {log}");
    assert!(!log.contains("\"listening\""), "{log}");
}

/// `STOCKLINE_DEMO` is not read at all: only the `--demo` flag makes a
/// demo, so a variable left in an environment cannot open one.
#[tokio::test]
async fn the_demo_is_a_flag_never_a_variable() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(dir.path())
        .env("STOCKLINE_DEMO", "yes")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn central");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let listening = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            assert!(!line.contains("demo data loaded"), "{line}");
            if line.contains("\"listening\"") {
                return true;
            }
        }
        false
    })
    .await
    .unwrap();
    assert!(listening);
    child.kill().await.unwrap();
    let stderr = child.wait_with_output().await.unwrap().stderr;
    let stderr = String::from_utf8_lossy(&stderr);
    assert!(!stderr.contains("Demo credentials"), "{stderr}");
}

/// `serve --demo` makes an admin key for the run (at least 32 characters,
/// shown on stderr once) instead of a well-known one.
#[tokio::test]
async fn a_demo_gets_an_admin_key_of_its_own() {
    let mut keys = Vec::new();
    for _ in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(BIN)
            .args(["serve", "--demo", "--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn central");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let key = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(rest) = line.trim().strip_prefix("admin: X-API-Key: ") {
                    return rest.split_whitespace().next().unwrap().to_owned();
                }
            }
            panic!("no admin key shown");
        })
        .await
        .unwrap();
        assert!(key.len() >= 32, "{key}");
        keys.push(key);
        child.kill().await.unwrap();
    }
    assert_ne!(keys[0], keys[1], "each run its own");
    assert!(!keys.contains(&"demo-admin-key".to_owned()));
}

/// With the open-file limit at 1,024, 1,100 idle sockets once made
/// `/healthz` time out and filled the log with "Too many open files". Now
/// central keeps its connections below the limit (here 256, hard and soft),
/// tells the ones past it 503 at once, and frees the idle ones at the header
/// deadline, after which `/healthz` answers again; it never runs out of
/// descriptors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_past_the_open_file_limit_are_refused_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(BIN);
    command
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-api-key",
            ADMIN_KEY,
        ])
        .args(["--header-read-timeout-secs", "2"])
        .args(["--max-connections-per-address", "100000"])
        .arg("--data-dir")
        .arg(dir.path());
    // SAFETY: setrlimit is async-signal-safe; nothing else runs in the
    // child between fork and exec.
    unsafe {
        command.pre_exec(|| rlimit::setrlimit(rlimit::Resource::NOFILE, 256, 256));
    }
    let mut central = CentralProcess::spawn(command).await;
    let addr = central.addr;

    let mut idle = Vec::new();
    for _ in 0..400 {
        idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let health = || async {
        reqwest::Client::new()
            .get(format!("http://{addr}/healthz"))
            .timeout(Duration::from_secs(1))
            .send()
            .await
    };
    match health().await {
        Ok(r) => assert_eq!(r.status(), 503, "full: told so at once"),
        // The one-line 503 may reach a client before its request is sent.
        Err(e) => assert!(!e.is_timeout(), "never a time-out: {e}"),
    }
    // The idle sockets are closed at the header deadline; health is back.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(r) = health().await
            && r.status() == 200
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "/healthz answers again"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(idle);
    central.kill().await;
    let log = central.log();
    assert!(!log.contains("Too many open files"), "{log}");
    assert!(
        log.contains("fewer connections than --max-connections"),
        "it said so at start"
    );
}
