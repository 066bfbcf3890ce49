//! The `central` binary as an operator runs it: seeded by `central seed`,
//! served, killed with SIGKILL in the middle of traffic, and restarted.
//! Every acknowledged write must survive, and a write whose answer was lost
//! must apply exactly once when the client retries it with its key.

use std::{
    net::SocketAddr,
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::{Value, json};
use shared::AdjustResult;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

const BIN: &str = env!("CARGO_BIN_EXE_central");
const ADMIN_KEY: &str = "process-test-admin-key-0123456789abcdef";

fn admin_client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-api-key", ADMIN_KEY.parse().unwrap());
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

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

/// Starts `central serve` on a free port and reads the port from its log.
async fn serve(dir: &std::path::Path) -> (Child, SocketAddr) {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-api-key",
            ADMIN_KEY,
        ])
        // The database was seeded with the demo: only a demo serves it.
        .args(["--rate-limit", "false", "--demo"])
        .arg("--data-dir")
        .arg(dir)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn central");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let addr = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.expect("read log") {
            let entry: Value = serde_json::from_str(&line).expect("JSON log line");
            if entry["fields"]["message"] == "listening" {
                return entry["fields"]["addr"]
                    .as_str()
                    .expect("addr")
                    .parse()
                    .expect("addr");
            }
        }
        panic!("central exited before listening");
    })
    .await
    .expect("central listens within 30 s");
    // Keep draining the log so the process never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, addr)
}

async fn sell_one(client: &reqwest::Client, addr: SocketAddr, key: &str) -> reqwest::Response {
    client
        .post(format!("http://{addr}/v1/stores/store-001/adjustments"))
        .header("Idempotency-Key", key)
        .json(&json!({"sku": "SKU-0001", "delta": 1}))
        .send()
        .await
        .unwrap()
}

async fn level(client: &reqwest::Client, addr: SocketAddr) -> i64 {
    let level: Value = client
        .get(format!("http://{addr}/v1/stores/store-001/stock/SKU-0001"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    level["available"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_no_acknowledged_write_and_retries_apply_once() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path()).await;
    let (mut child, addr) = serve(dir.path()).await;
    let client = admin_client();
    let initial = level(&client, addr).await;

    let acked = Arc::new(Mutex::new(Vec::<(String, AdjustResult)>::new()));
    let unanswered = Arc::new(Mutex::new(Vec::<String>::new()));
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let (client, acked, unanswered) = (client.clone(), acked.clone(), unanswered.clone());
            tokio::spawn(async move {
                for i in 0.. {
                    let key = format!("w{w}-{i}");
                    let sent = client
                        .post(format!("http://{addr}/v1/stores/store-001/adjustments"))
                        .header("Idempotency-Key", &key)
                        .json(&json!({"sku": "SKU-0001", "delta": 1}))
                        .send()
                        .await;
                    match sent {
                        Ok(r) if r.status() == 200 => match r.json::<AdjustResult>().await {
                            Ok(result) => acked.lock().unwrap().push((key, result)),
                            Err(_) => {
                                unanswered.lock().unwrap().push(key);
                                return;
                            }
                        },
                        Ok(r) => panic!("unexpected status {}", r.status()),
                        Err(_) => {
                            unanswered.lock().unwrap().push(key);
                            return;
                        }
                    }
                }
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(700)).await;
    child.kill().await.expect("SIGKILL central");
    for w in workers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let unanswered = unanswered.lock().unwrap().clone();
    assert!(
        acked.len() > 20,
        "traffic flowed before the kill: {}",
        acked.len()
    );

    let (_child, addr) = serve(dir.path()).await;
    // Every acknowledged write is there: its key replays the same answer.
    for (key, result) in &acked {
        let r = sell_one(&client, addr, key).await;
        assert_eq!(r.headers()["idempotent-replayed"], "true", "{key} survived");
        assert_eq!(&r.json::<AdjustResult>().await.unwrap(), result);
    }
    // A write whose answer was lost is retried with its key: applied once,
    // whether or not it had committed before the kill.
    for key in &unanswered {
        assert_eq!(sell_one(&client, addr, key).await.status(), 200);
    }
    let writes = (acked.len() + unanswered.len()) as i64;
    assert_eq!(level(&client, addr).await, initial + writes);

    // The log is gapless from the first offset to the head.
    let mut from = 0;
    let mut expected = 1;
    loop {
        let page: Value = client
            .get(format!(
                "http://{addr}/v1/replication/changes?from={from}&limit=1000"
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let events = page["events"].as_array().unwrap();
        if events.is_empty() {
            break;
        }
        for e in events {
            assert_eq!(e["offset"], expected);
            expected += 1;
        }
        from = page["next_offset"].as_u64().unwrap();
    }
    assert_eq!(expected - 1, from);
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
