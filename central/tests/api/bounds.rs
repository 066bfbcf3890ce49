//! What a hostile client can make central hold: connections, time, metric
//! series, argon2 runs, stored answers, snapshots. Each has a bound, and
//! each bound is shown holding here.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::{TestApp, problem};

/// Reads until the peer closes; what it said, and whether it closed within
/// `within`.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> (String, bool) {
    let mut said = Vec::new();
    let closed = tokio::time::timeout(within, stream.read_to_end(&mut said))
        .await
        .is_ok();
    (String::from_utf8_lossy(&said).into_owned(), closed)
}

async fn connect(app: &TestApp) -> TcpStream {
    let addr = app.url("").trim_start_matches("http://").to_owned();
    TcpStream::connect(addr).await.unwrap()
}

/// Sockets that sent nothing, or half a header, were still open after 45 s.
#[tokio::test]
async fn a_connection_that_sends_nothing_or_half_a_header_is_closed() {
    let app = TestApp::spawn_with(|c| c.header_read_timeout_secs = 1).await;
    let mut silent = connect(&app).await;
    let mut half = connect(&app).await;
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let started = Instant::now();
    let (_, closed) = read_until_closed(&mut silent, Duration::from_secs(5)).await;
    assert!(closed, "a silent socket is closed");
    let (_, closed) = read_until_closed(&mut half, Duration::from_secs(5)).await;
    assert!(closed, "half a header is closed");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );

    // An idle keep-alive connection is closed the same way.
    let mut idle = connect(&app).await;
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (said, closed) = read_until_closed(&mut idle, Duration::from_secs(5)).await;
    assert!(said.starts_with("HTTP/1.1 200"), "{said}");
    assert!(closed, "closed once idle");
}

/// A body that trickles in is cut at its deadline, with a problem.
#[tokio::test]
async fn a_body_that_trickles_in_is_cut_at_the_deadline() {
    let app = TestApp::spawn_with(|c| c.body_timeout_secs = 1).await;
    let mut stream = connect(&app).await;
    let head = format!(
        "POST /v1/admin/products HTTP/1.1\r\nHost: x\r\nX-API-Key: {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"sku\":",
        crate::helpers::ADMIN_KEY
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (said, _) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(said.starts_with("HTTP/1.1 408"), "{said}");
    assert!(said.contains("request_timeout"), "{said}");
}

/// One idle socket kept the process alive 15 s after SIGTERM; now the
/// stop does not wait for sockets that never sent a request.
#[tokio::test]
async fn idle_sockets_do_not_hold_shutdown() {
    let mut app = TestApp::spawn().await;
    let _silent = connect(&app).await;
    let mut idle = connect(&app).await;
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buffer = [0; 512];
    let _ = idle.read(&mut buffer).await.unwrap();
    let started = Instant::now();
    app.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

/// With the open-file limit at 1,024, 1,100 idle sockets once made
/// `/healthz` time out. Past the per-address cap (or the server's) a
/// connection is told 503 and closed at once, and the others go on.
#[tokio::test]
async fn connections_past_the_cap_are_refused_at_once() {
    // Bare: the set-up's pooled client connection would take a place.
    let app = TestApp::spawn_bare(|c| {
        c.max_connections_per_address = 3;
        c.header_read_timeout_secs = 30;
    })
    .await;
    let before = refused_by_address();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect(&app).await);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut over = connect(&app).await;
    let (said, closed) = read_until_closed(&mut over, Duration::from_secs(2)).await;
    assert!(closed, "closed at once");
    assert!(said.starts_with("HTTP/1.1 503"), "{said}");
    assert!(said.contains("service_unavailable"), "{said}");
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let fresh = reqwest::Client::new();
    let health = fresh.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200, "a freed place is taken again");
    // The counter is the process's: another test's refusals may add to
    // it meanwhile, so this one's refusal is seen as a rise.
    assert!(
        refused_by_address() > before,
        "{}",
        central::observability::metrics()
            .render()
            .lines()
            .filter(|l| l.contains("connections"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The process's count of connections refused at the per-address cap.
fn refused_by_address() -> f64 {
    let series = r#"stockline_connections_refused_total{reason="address"}"#;
    central::observability::metrics()
        .render()
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// 5,000 requests with made-up methods grew `/metrics` from 28 KB to 10 MB,
/// kept forever. Methods are a closed set of labels now. The registry is
/// the process's, shared with every other test running meanwhile, so this
/// checks what none of them can change: every method label in it is one of
/// the closed set (comparing sizes before and after once failed when other
/// tests added their own series in between).
#[tokio::test]
async fn made_up_methods_mint_no_metric_series() {
    const METHODS: [&str; 8] = [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other",
    ];
    let app = TestApp::spawn().await;
    for i in 0..300 {
        let method = reqwest::Method::from_bytes(format!("BREW{i:04}X").as_bytes()).unwrap();
        let r = app
            .client
            .request(method, app.url("/nowhere"))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error());
    }
    let after = app.get("/metrics").await.text().await.unwrap();
    assert!(!after.contains("BREW"), "no method name becomes a label");
    let labels: Vec<&str> = after
        .split(r#"method=""#)
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert!(!labels.is_empty(), "requests are labelled by method");
    for label in &labels {
        assert!(
            METHODS.contains(label),
            "method label {label:?} is not of the closed set"
        );
    }
    assert!(
        labels.contains(&"other"),
        "made-up methods are counted as other"
    );
}

/// 200 wrong-secret sign-ins at once once took RSS to 3.7 GB (argon2,
/// 19 MiB each, unbounded). At most `max_concurrent_hashes` run at once;
/// one that cannot get a turn in time is told to come back, never a 500.
#[tokio::test]
async fn argon2_checks_are_bounded_and_the_rest_told_to_retry() {
    let app = TestApp::spawn_with(|c| {
        c.max_concurrent_hashes = 1;
        c.hash_queue_ms = 30;
        c.auth_failures_per_address = 0;
        c.auth_failures_per_client = 0;
    })
    .await;
    let attempts: Vec<_> = (0..24)
        .map(|_| {
            let url = app.url("/v1/auth/token");
            tokio::spawn(async move {
                reqwest::Client::new()
                    .post(url)
                    .json(&json!({"client_id": "s1", "client_secret": "wrong-secret-0123456789"}))
                    .send()
                    .await
                    .unwrap()
            })
        })
        .collect();
    let (mut refused, mut busy) = (0, 0);
    for attempt in attempts {
        let r = attempt.await.unwrap();
        match r.status().as_u16() {
            401 => refused += 1,
            503 => {
                assert_eq!(r.headers()["retry-after"], "1");
                problem(r, 503, "service_unavailable").await;
                busy += 1;
            }
            other => panic!("status {other}"),
        }
    }
    assert!(
        refused >= 1 && busy >= 1,
        "{refused} checked, {busy} told to retry"
    );
    assert_eq!(refused + busy, 24);
}

/// Secrets central generates have 256 random bits: their hash is fast, so
/// signing in with one needs no argon2 turn at all.
#[tokio::test]
async fn generated_secrets_sign_in_without_an_argon2_turn() {
    crate::helpers::sqlite_file_only!();
    let app = TestApp::spawn_with(|c| {
        c.max_concurrent_hashes = 1;
        c.hash_queue_ms = 1;
    })
    .await;
    let r = app
        .post(
            "/v1/admin/stores",
            &json!({"store_id": "g1", "name": "Generated"}),
        )
        .await;
    let secret = r.json::<Value>().await.unwrap()["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let db = rusqlite::Connection::open(app.config.database_path()).unwrap();
    let hash: String = db
        .query_row(
            "SELECT secret_hash FROM stores WHERE store_id = 'g1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        hash.starts_with("sha256:") && !hash.contains(&secret),
        "{hash}"
    );
    let chosen: String = db
        .query_row(
            "SELECT secret_hash FROM stores WHERE store_id = 's1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(chosen.starts_with("$argon2id$"), "{chosen}");
    let hammer: Vec<_> = (0..16)
        .map(|_| {
            let url = app.url("/v1/auth/token");
            let secret = secret.clone();
            tokio::spawn(async move {
                reqwest::Client::new()
                    .post(url)
                    .json(&json!({"client_id": "g1", "client_secret": secret}))
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    for sign_in in hammer {
        assert_eq!(sign_in.await.unwrap(), 200);
    }
}

/// 200 batches of 500 unknown-sku lines wrote 100k saved answers in 4.6 s:
/// the limiter counted each batch as one request. Lines are charged one
/// each now, refused or not.
#[tokio::test]
async fn a_batch_is_charged_by_its_lines() {
    crate::helpers::sqlite_file_only!();
    let app = TestApp::spawn_with(|c| {
        c.rate_limit = true;
        c.write_items_burst = 10;
        c.write_items_per_second = 1;
    })
    .await;
    let s1 = app.store_client("s1").await;
    let batch = |n: usize, tag: &str| {
        let items: Vec<Value> = (0..n)
            .map(|i| json!({"idempotency_key": format!("{tag}-{i}"), "sku": "NOPE", "delta": 1}))
            .collect();
        s1.post(app.url("/v1/stores/s1/adjustments/batch"))
            .json(&json!({"items": items}))
            .send()
    };
    assert_eq!(batch(8, "a").await.unwrap().status(), 200);
    let limited = batch(5, "b").await.unwrap();
    assert!(limited.headers().contains_key("retry-after"));
    problem(limited, 429, "rate_limited").await;
    let db = rusqlite::Connection::open(app.config.database_path()).unwrap();
    let saved: i64 = db
        .query_row("SELECT COUNT(*) FROM idempotency", [], |r| r.get(0))
        .unwrap();
    assert_eq!(saved, 8, "the refused batch saved nothing");
}

/// Hold lines and every transition save an answer under their key, as an
/// adjustment line does: a channel's budget covers them all.
#[tokio::test]
async fn hold_lines_and_transitions_are_charged_as_write_lines() {
    let app = TestApp::spawn_with(|c| {
        c.rate_limit = true;
        c.write_items_burst = 4;
        c.write_items_per_second = 1;
    })
    .await;
    app.set_stock("s1", "A", 10).await;
    app.create_channel("web").await;
    let shop = app.channel_client("web").await;
    let send = |path: String, key: &str, body: Value| {
        shop.post(app.url(&path))
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let lines = json!({"reference": "o-1", "lines": [
        {"sku": "A", "quantity": 1, "store_id": "s1"},
        {"sku": "A", "quantity": 1, "store_id": "s1"}]});
    let placed = send("/v1/holds".into(), "h-1", lines).await.unwrap();
    assert_eq!(placed.status(), 201, "two lines: two of four");
    let hold: Value = placed.json().await.unwrap();
    let id = hold["hold_id"].as_str().unwrap().to_owned();
    let extend = send(format!("/v1/holds/{id}/extend"), "e-1", json!({})).await;
    assert_eq!(extend.unwrap().status(), 200, "three");
    let release = send(format!("/v1/holds/{id}/release"), "r-1", json!({})).await;
    assert_eq!(release.unwrap().status(), 200, "four");
    let again = send(format!("/v1/holds/{id}/extend"), "e-2", json!({})).await;
    problem(again.unwrap(), 429, "rate_limited").await;
}

/// Retention removes at most a chunk per step, and takes step after step
/// until it has caught up, instead of one chunk per interval.
#[tokio::test]
async fn retention_prunes_until_caught_up() {
    let mut app = TestApp::spawn_with(|c| {
        c.prune_chunk = 7;
        c.event_retention_count = 5;
        // No scheduled run until the step by hand is checked: with a run
        // every second from the start, a loaded machine took longer than
        // that over the 40 writes, and the scheduled run pruned first.
        c.prune_interval_secs = 3600;
    })
    .await;
    for i in 0..40 {
        app.set_stock("s1", "A", i).await;
    }
    let head = app.head().await;
    let report: Value = app
        .post("/v1/admin/prune", &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["events_pruned"], 7, "one step by hand: one chunk");
    assert_eq!(report["caught_up"], false);
    app.config.prune_interval_secs = 1;
    app.restart().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = app.get("/v1/replication/changes?from=0").await;
        if r.status() == 410 {
            let gone = problem(r, 410, "offset_gone").await;
            if gone.oldest_offset == Some(head - 5) {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "retention caught up within one run"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A catalogue far larger than the socket buffers (60,000 more products),
/// written into the file directly with central stopped: through the API it
/// would take minutes.
async fn bulk_catalogue(app: &mut TestApp) {
    app.stop().await;
    let db = rusqlite::Connection::open(app.config.database_path()).unwrap();
    db.execute_batch("BEGIN").unwrap();
    {
        let mut insert = db
            .prepare("INSERT INTO products (sku, name, price_cents, active, version, updated_at) VALUES (?, ?, 100, 1, 1, 0)")
            .unwrap();
        for i in 0..60_000 {
            insert
                .execute(rusqlite::params![format!("BULK-{i:06}"), "x".repeat(150)])
                .unwrap();
        }
    }
    db.execute_batch("COMMIT").unwrap();
    drop(db);
    app.restart().await;
}

/// A snapshot whose client reads its first bytes and then nothing more: it
/// holds its turn, and a read connection, until its deadline.
async fn stalled_snapshot(app: &TestApp) -> TcpStream {
    let mut stalled = connect(app).await;
    let request = format!(
        "GET /v1/replication/snapshot HTTP/1.1\r\nHost: x\r\nX-API-Key: {}\r\n\r\n",
        crate::helpers::ADMIN_KEY
    );
    stalled.write_all(request.as_bytes()).await.unwrap();
    let mut first = [0; 64];
    let n = stalled.read(&mut first).await.unwrap();
    assert!(first[..n].starts_with(b"HTTP/1.1 200"));
    stalled
}

/// Reads wait for a free read connection only so long (5 s), then are
/// refused as retryable: a client holding every connection (here a stalled
/// snapshot on the only one) cannot make other reads queue without end.
#[tokio::test]
async fn reads_wait_for_a_read_connection_only_so_long() {
    crate::helpers::sqlite_file_only!();
    let mut app = TestApp::spawn_with(|c| {
        c.read_connections = 1;
        c.snapshot_timeout_secs = 20;
    })
    .await;
    bulk_catalogue(&mut app).await;
    let stalled = stalled_snapshot(&app).await;
    let started = Instant::now();
    let busy = app.get("/v1/stores/s1/stock/A").await;
    assert_eq!(busy.headers()["retry-after"], "1");
    problem(busy, 503, "service_unavailable").await;
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    drop(stalled);
}

/// A snapshot is streamed, a few at a time: one that its client does not
/// read holds its turn only until the deadline, and meanwhile others are
/// told to come back rather than queue without end.
#[tokio::test]
async fn snapshots_are_capped_and_a_stalled_one_is_cut() {
    crate::helpers::sqlite_file_only!();
    let mut app = TestApp::spawn_with(|c| {
        c.max_snapshots = 1;
        c.snapshot_timeout_secs = 3;
    })
    .await;
    bulk_catalogue(&mut app).await;
    let stalled = stalled_snapshot(&app).await;
    let started = Instant::now();
    let busy = app.get("/v1/replication/snapshot").await;
    assert_eq!(busy.headers()["retry-after"], "1");
    problem(busy, 503, "service_unavailable").await;

    // Cut at the deadline, the turn is free again and a reader gets it all.
    let deadline = Instant::now() + Duration::from_secs(10);
    let snapshot = loop {
        let r = app.get("/v1/replication/snapshot").await;
        if r.status() == 200 {
            break r.json::<shared::Snapshot>().await.unwrap();
        }
        assert!(Instant::now() < deadline, "the stalled snapshot was cut");
    };
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(snapshot.products.len(), 60_002);
    drop(stalled);
}
