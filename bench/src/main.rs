//! Stockline benchmark: a release-built central on a fresh database, driven
//! over real HTTP from this separate process. Prints one table.
//!
//!   cargo xtask bench            (builds in release, then runs this)
//!   stockline-bench --central target/release/central [--duration 5] [--waiters 10000] [--storm 100000]
//!
//! For profiling: `--only 1,2` runs those scenarios (4 replays the keys of 2);
//! `--requests N` sends a fixed N per scenario instead of running for a time;
//! `--callgrind DIR` runs both servers under valgrind's callgrind and prints
//! the servers' instructions per request of each scenario (profiles in DIR).

mod holds;
mod load;
mod pg;
mod procs;

use shared::api;
use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, ensure};
use load::{Limit, Measured, Outcome};
use procs::{ADMIN_KEY, Server, Wrap};
use serde_json::{Value, json};

pub(crate) const CLIENTS: usize = 64;
pub(crate) const PRODUCTS: usize = 1000;
const HOT_STOCK: i64 = 30_000;
const BATCH: usize = 100;

struct Args {
    central: PathBuf,
    limit: Limit,
    waiters: usize,
    synchronous: String,
    /// Scenario numbers to run; empty: all.
    only: Vec<u32>,
    /// Also run the write scenarios on PostgreSQL (one and two centrals).
    postgres: bool,
    /// Holds due in the same second in scenario 10.
    storm: usize,
    wrap: Wrap,
}

impl Args {
    fn runs(&self, scenario: u32) -> bool {
        self.only.is_empty() || self.only.contains(&scenario)
    }
}

fn args() -> anyhow::Result<Option<Args>> {
    let mut args = Args {
        central: PathBuf::from("target/release/central"),
        limit: Limit::Time(Duration::from_secs(5)),
        waiters: 10_000,
        synchronous: "full".into(),
        only: Vec::new(),
        postgres: false,
        storm: 100_000,
        wrap: Wrap::None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "baseline-server" => return Ok(None),
            "--central" => args.central = value()?.into(),
            "--duration" => args.limit = Limit::Time(Duration::from_secs_f64(value()?.parse()?)),
            "--requests" => args.limit = Limit::Requests(value()?.parse()?),
            "--only" => {
                args.only = value()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?;
            }
            "--callgrind" => args.wrap = Wrap::Callgrind(value()?.into()),
            "--waiters" => args.waiters = value()?.parse()?,
            "--storm" => args.storm = value()?.parse()?,
            "--synchronous" => args.synchronous = value()?,
            "--database" => {
                args.postgres = match value()?.as_str() {
                    "sqlite" => false,
                    "postgres" | "both" => true,
                    other => {
                        anyhow::bail!("--database takes sqlite, postgres or both, not {other}")
                    }
                }
            }
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    Ok(Some(args))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().nth(1).as_deref() == Some("seed-node") {
        return seed_node().await;
    }
    let Some(args) = args()? else {
        return procs::serve_baseline().await;
    };
    let mut table = Table::default();
    let mut durability = "?".to_owned();
    // Whatever stops the run, the figures measured so far are printed.
    let ran = scenarios(&args, &mut table, &mut durability).await;

    println!("\nStockline central benchmark — {}", machine());
    let per_scenario = match args.limit {
        Limit::Time(d) => format!("{}s per scenario", d.as_secs_f64()),
        Limit::Requests(n) => format!("{n} requests per scenario"),
    };
    println!(
        "durability: {durability}; PostgreSQL rows: fsync=on, synchronous_commit=on; {per_scenario}\n"
    );
    table.print();
    ran
}

/// Runs the scenarios asked for, each adding its row to `table`. One that
/// cannot run adds a row saying why and the others go on; an error here
/// (central did not start, the set-up failed) ends the run, its figures so
/// far still printed.
async fn scenarios(args: &Args, table: &mut Table, durability: &mut String) -> anyhow::Result<()> {
    // 10k long-polls need 10k sockets here and in central (which inherits it).
    let nofile = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
    let client = http_client();
    let limit = args.limit;

    let mut base = None;
    if args.runs(1) {
        let baseline = procs::baseline(&args.wrap).await?;
        let fixed = baseline.url("/fixed");
        let measured = baseline
            .profiled("1-baseline", async {
                load::run(CLIENTS, limit, {
                    let client = client.clone();
                    move |_, _| status_is(client.get(&fixed).send(), 200)
                })
                .await
            })
            .await;
        baseline.stop().await;
        table.row("1. baseline: axum fixed JSON", &measured, "req/s", "");
        base = Some(measured.per_second());
    }
    if args.only.iter().all(|&s| s == 1) && !args.only.is_empty() {
        return Ok(());
    }

    let data = tempfile::tempdir()?;
    let central = procs::central(&args.central, data.path(), &args.synchronous, &args.wrap).await?;
    central.started["database"]
        .as_str()
        .or(central.started["synchronous"].as_str())
        .unwrap_or("?")
        .clone_into(durability);
    let mut sqlite = pg::Figures::default();
    setup(&client, &central).await?;

    let adjust_url = central.url(&api::fill(api::AdjustStock::PATH, &["bench"]));
    if args.runs(2) {
        let adjust = central
            .profiled("2-adjust", async {
                load::run(CLIENTS, limit, {
                    let (client, url) = (client.clone(), adjust_url.clone());
                    move |c, n| {
                        let request = client
                            .post(&url)
                            .header("Idempotency-Key", format!("adj-{c}-{n}"))
                            .json(&json!({"sku": format!("P{c:04}"), "delta": -1}));
                        status_is(request.send(), 200)
                    }
                })
                .await
            })
            .await;
        let ratio = base.map_or_else(
            || "baseline not run".to_owned(),
            |b| format!("{:.0}% of (1)", adjust.per_second() / b * 100.0),
        );
        sqlite.adjust = Some(adjust.per_second());
        table.row(
            "2. durable guarded adjustments, 64 clients, distinct skus",
            &adjust,
            "adj/s",
            &format!("{ratio}; target ≥ 40%, p99 < 20 ms"),
        );
    }

    if args.runs(3) {
        let name = "3. hot level: 64 clients to zero";
        let hot = central
            .profiled("3-hot", hot_level(&client, &[&central], hot_limit(limit)))
            .await;
        if let Some(hot) = table.or_not_run(name, hot) {
            sqlite.hot = Some(hot.0.per_second());
            table.row(
                name,
                &hot.0,
                "adj/s",
                &format!("{}; target ≥ 5,000/s", hot.1),
            );
        }
    }

    if args.runs(4) {
        let replays = central
            .profiled("4-replays", async {
                load::run(CLIENTS, limit, {
                    let (client, url) = (client.clone(), adjust_url.clone());
                    move |c, n| {
                        let request = client
                            .post(&url)
                            .header("Idempotency-Key", format!("adj-{c}-{}", n % 100))
                            .json(&json!({"sku": format!("P{c:04}"), "delta": -1}));
                        async move {
                            match request.send().await {
                                Ok(r) if r.headers().contains_key("idempotent-replayed") => {
                                    Outcome::Ok
                                }
                                _ => Outcome::Failed,
                            }
                        }
                    }
                })
                .await
            })
            .await;
        table.row("4. idempotent replays", &replays, "replays/s", "");
    }

    if args.runs(5) {
        let reads = central
            .profiled("5-reads", async {
                load::run(CLIENTS, limit, {
                    let client = client.clone();
                    let base = central.url(&api::fill(api::GetLevel::PATH, &["bench", ""]));
                    move |c, _| status_is(client.get(format!("{base}P{c:04}")).send(), 200)
                })
                .await
            })
            .await;
        table.row("5. reads: one level by sku", &reads, "reads/s", "");
    }

    if args.runs(7) {
        // A batch is one request of 100 adjustments.
        let batch_limit = match limit {
            Limit::Requests(n) => Limit::Requests((n / BATCH as u64).max(16)),
            time => time,
        };
        let batch = central
            .profiled("7-batch", async {
                load::run(16, batch_limit, {
                    let client = client.clone();
                    let url = central.url(&api::fill(api::AdjustStockBatch::PATH, &["bench"]));
                    move |c, n| {
                        let items: Vec<_> = (0..BATCH)
                            .map(|i| {
                                json!({"idempotency_key": format!("b-{c}-{n}-{i}"),
                                       "sku": format!("P{:04}", (c * BATCH + i) % PRODUCTS), "delta": -1})
                            })
                            .collect();
                        let request = client.post(&url).json(&json!({"items": items}));
                        async move {
                            match request.send().await {
                                Ok(r) if r.status() == 200 => match r.json::<Value>().await {
                                    Ok(body) if all_applied(&body) => Outcome::Ok,
                                    _ => Outcome::Failed,
                                },
                                _ => Outcome::Failed,
                            }
                        }
                    }
                })
                .await
            })
            .await;
        let items = batch.per_second() * BATCH as f64;
        table.row_with(
            "7. batches of 100 adjustments, 16 clients",
            &batch,
            &format!("{items:.0} adj/s"),
            "target ≥ 50,000 adj/s",
        );
    }

    let shop = match args.runs(9) || args.runs(10) {
        true => table.or_not_run("9., 10. holds", holds::shop(&client, &central).await),
        false => None,
    };
    if let Some(shop) = shop {
        if args.runs(9) {
            let checkouts = central
                .profiled(
                    "9-checkouts",
                    holds::checkouts(&[(shop.clone(), &central)], limit),
                )
                .await;
            sqlite.checkouts = Some(checkouts.per_second());
            table.row(
                "9. checkouts: a hold placed then committed, 64 clients",
                &checkouts,
                "checkouts/s",
                "latency of the pair (two writes)",
            );
        }
        if args.runs(10) {
            let storm = holds::storm(&client, &[(shop.clone(), &central)], args.storm).await;
            if let Some(storm) = table.or_not_run(STORM, storm) {
                storm.row(table, "", "p50/p99 of the sales; target: sales p99 < 20 ms");
            }
        }
    }

    if args.runs(6) {
        let waiters = args.waiters.min(nofile.saturating_sub(500) as usize);
        let name = format!("6. {waiters} idle long-polls, then one write");
        if let Some(polls) = table.or_not_run(&name, long_polls(&central, waiters).await) {
            table.text(&name, &polls, "target: all within 1 s, RSS < 200 MB");
        }
    }
    central.stop().await;
    if args.postgres {
        let rows = pg::rows(args, table, &client, sqlite).await;
        table.or_not_run("the PostgreSQL rows (those not above)", rows);
    }
    Ok(())
}

/// Scenario 10's name, for its row when it cannot run.
pub(crate) const STORM: &str =
    "10. an expiry storm: holds due in the same second; 16 tills selling meanwhile";

/// For the store node benchmark: a store with `STOCKLINE_BENCH_SKUS`
/// products (default 50,000), each stocked, on the central at
/// `STOCKLINE_CENTRAL_URL` (admin key `STOCKLINE_ADMIN_KEY`).
async fn seed_node() -> anyhow::Result<()> {
    let central = std::env::var("STOCKLINE_CENTRAL_URL")?;
    let key = std::env::var("STOCKLINE_ADMIN_KEY")?;
    let skus: usize = std::env::var("STOCKLINE_BENCH_SKUS").map_or(Ok(50_000), |v| v.parse())?;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-api-key", key.parse()?);
    let client = reqwest::Client::builder()
        .default_headers(headers)
        .build()?;
    let r = client
        .post(format!("{central}/v1/admin/stores"))
        .json(&json!({"store_id": "node-bench", "name": "Node bench",
                      "client_secret": "node-bench-secret-0123456789"}))
        .send()
        .await?;
    ensure!(r.status() == 201, "store: {}", r.status());
    let started = Instant::now();
    let made = load::run(32, Limit::Time(Duration::from_secs(600)), {
        let (client, central) = (client.clone(), central.clone());
        move |c, n| {
            let index = n as usize * 32 + c;
            let (client, central) = (client.clone(), central.clone());
            async move {
                if index >= skus {
                    return Outcome::Done;
                }
                let sku = format!("N{index:06}");
                let created = client
                    .post(format!("{central}/v1/admin/products"))
                    .json(&json!({"sku": sku, "name": format!("Bench product {index}"), "price_cents": 199}))
                    .send()
                    .await;
                let stocked = client
                    .put(format!("{central}/v1/admin/stores/node-bench/stock/{sku}"))
                    .json(&json!({"available": 1000}))
                    .send()
                    .await;
                match (created, stocked) {
                    (Ok(a), Ok(b)) if a.status() == 201 && b.status() == 200 => Outcome::Ok,
                    _ => Outcome::Failed,
                }
            }
        }
    })
    .await;
    ensure!(
        made.failed == 0 && made.ok as usize == skus,
        "seeding failed"
    );
    eprintln!(
        "seeded {skus} products with stock in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn http_client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-api-key", ADMIN_KEY.parse().expect("header"));
    reqwest::Client::builder()
        .default_headers(headers)
        .pool_max_idle_per_host(usize::MAX)
        .build()
        .expect("client")
}

async fn status_is(
    sent: impl std::future::Future<Output = reqwest::Result<reqwest::Response>>,
    status: u16,
) -> Outcome {
    match sent.await {
        Ok(r) if r.status().as_u16() == status => Outcome::Ok,
        _ => Outcome::Failed,
    }
}

fn all_applied(body: &Value) -> bool {
    body["results"]
        .as_array()
        .is_some_and(|r| r.len() == BATCH && r.iter().all(|i| i["status"] == 200))
}

/// A store and the products every scenario uses, with plenty of stock.
async fn setup(client: &reqwest::Client, central: &Server) -> anyhow::Result<()> {
    let r = client
        .post(central.url(api::CreateStore::PATH))
        .json(&json!({"store_id": "bench", "name": "Bench"}))
        .send()
        .await?;
    ensure!(r.status() == 201, "store: {}", r.status());
    let skus: Vec<_> = (0..PRODUCTS)
        .map(|i| format!("P{i:04}"))
        .chain(["HOT".into()])
        .collect();
    let skus = Arc::new(skus);
    let made = load::run(32, Limit::Time(Duration::from_secs(120)), {
        let (client, central) = (client.clone(), central.url(""));
        let skus = skus.clone();
        move |c, n| {
            let index = n as usize * 32 + c;
            let (client, central, skus) = (client.clone(), central.clone(), skus.clone());
            async move {
                let Some(sku) = skus.get(index) else {
                    return Outcome::Done;
                };
                let created = client
                    .post(format!("{central}/v1/admin/products"))
                    .json(&json!({"sku": sku, "name": sku, "price_cents": 100}))
                    .send()
                    .await;
                let stock = if sku == "HOT" { HOT_STOCK } else { 900_000_000 };
                let set = client
                    .put(format!("{central}/v1/admin/stores/bench/stock/{sku}"))
                    .json(&json!({"available": stock}))
                    .send()
                    .await;
                match (created, set) {
                    (Ok(a), Ok(b)) if a.status() == 201 && b.status() == 200 => Outcome::Ok,
                    _ => Outcome::Failed,
                }
            }
        }
    })
    .await;
    ensure!(
        made.failed == 0 && made.ok as usize == skus.len(),
        "set-up failed"
    );
    Ok(())
}

async fn head(client: &reqwest::Client, central: &Server) -> anyhow::Result<u64> {
    let page: Value = client
        .get(central.url(&format!("{}?from=0&limit=1", api::GetChanges::PATH)))
        .send()
        .await?
        .json()
        .await?;
    page["head"].as_u64().context("head")
}

/// The hot level runs until the stock is gone: four times the others' time,
/// or as many requests as it takes.
fn hot_limit(limit: Limit) -> Limit {
    match limit {
        Limit::Time(d) => Limit::Time(d * 4),
        Limit::Requests(_) => Limit::Requests(u64::MAX),
    }
}

/// 64 clients decrement one level until it refuses; then the level, the
/// 200s and the change log must agree.
async fn hot_level(
    client: &reqwest::Client,
    centrals: &[&Server],
    limit: Limit,
) -> anyhow::Result<(Measured, String)> {
    let central = centrals[0];
    let start = head(client, central).await?;
    // Client c sends to central c mod n.
    let urls: Vec<String> = centrals
        .iter()
        .map(|c| c.url(&api::fill(api::AdjustStock::PATH, &["bench"])))
        .collect();
    let measured = load::run(CLIENTS, limit, {
        let client = client.clone();
        move |c, n| {
            let request = client
                .post(&urls[c % urls.len()])
                .header("Idempotency-Key", format!("hot-{c}-{n}"))
                .json(&json!({"sku": "HOT", "delta": -1}));
            async move {
                match request.send().await {
                    Ok(r) if r.status() == 200 => Outcome::Ok,
                    // Not enough stock: 409 (422 before the hardening, for
                    // an older build given with --central).
                    Ok(r) if r.status() == 409 || r.status() == 422 => Outcome::Done,
                    _ => Outcome::Failed,
                }
            }
        }
    })
    .await;
    let level: Value = client
        .get(central.url(&api::fill(api::GetLevel::PATH, &["bench", "HOT"])))
        .send()
        .await?
        .json()
        .await?;
    let (mut from, mut logged, mut below_zero) = (start, 0u64, false);
    loop {
        let page: Value = client
            .get(central.url(&format!("{}?from={from}&limit=1000", api::GetChanges::PATH)))
            .send()
            .await?
            .json()
            .await?;
        let events = page["events"].as_array().context("events")?;
        if events.is_empty() {
            break;
        }
        for e in events.iter().filter(|e| e["sku"] == "HOT") {
            logged += 1;
            below_zero |= e["available"].as_i64().unwrap_or(-1) < 0;
        }
        from = page["next_offset"].as_u64().context("next_offset")?;
    }
    let agree = level["available"] == 0
        && measured.ok == HOT_STOCK as u64
        && logged == HOT_STOCK as u64
        && !below_zero;
    let check = format!(
        "final {}, {} × 200, {logged} events, below zero: {below_zero} → {}",
        level["available"],
        measured.ok,
        if agree { "agree" } else { "MISMATCH" }
    );
    Ok((measured, check))
}

/// N idle long-polls on one store, then one write to it: how long until
/// every waiter has its answer, and central's memory while they wait.
async fn long_polls(central: &Server, waiters: usize) -> anyhow::Result<String> {
    let client = http_client();
    let from = head(&client, central).await?;
    let rss_before = central.rss_mib().unwrap_or(f64::NAN);
    let url = central.url(&format!(
        "{}?from={from}&store=bench&wait=60",
        api::GetChanges::PATH
    ));
    let polls: Vec<_> = (0..waiters)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                let page: Value = client.get(&url).send().await.ok()?.json().await.ok()?;
                let got = page["events"].as_array().is_some_and(|e| !e.is_empty());
                got.then(Instant::now)
            })
        })
        .collect();
    // Wait until central counts every waiter.
    let waiting_since = Instant::now();
    loop {
        let metrics = client
            .get(central.url("/metrics"))
            .send()
            .await?
            .text()
            .await?;
        let waiting = metrics
            .lines()
            .find_map(|l| l.strip_prefix("stockline_long_polls_active "))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        if waiting as usize >= waiters {
            break;
        }
        ensure!(
            waiting_since.elapsed() < Duration::from_secs(50),
            "only {waiting} waiting"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let rss = central.rss_mib().unwrap_or(f64::NAN);
    // For looking at central's memory while the waiters wait (e.g. smaps).
    if let Some(hold) = std::env::var("STOCKLINE_BENCH_HOLD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        eprintln!("holding {hold} s; central is pid {:?}", central.child.id());
        tokio::time::sleep(Duration::from_secs(hold)).await;
    }
    let written = Instant::now();
    let r = client
        .post(central.url(&api::fill(api::AdjustStock::PATH, &["bench"])))
        .header("Idempotency-Key", "wake-them-all")
        .json(&json!({"sku": "P0001", "delta": -1}))
        .send()
        .await?;
    ensure!(r.status() == 200);
    let mut answered = 0;
    let mut last = written;
    for poll in polls {
        if let Ok(Some(at)) = poll.await {
            answered += 1;
            last = last.max(at);
        }
    }
    Ok(format!(
        "{answered}/{waiters} answered, the last {:.0} ms after the write; central RSS {rss:.0} MiB while waiting ({rss_before:.0} MiB before)",
        (last - written).as_secs_f64() * 1000.0
    ))
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name\t: ").map(str::to_owned))
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores, {cpu}")
}

#[derive(Default)]
struct Table {
    rows: Vec<[String; 5]>,
}

impl Table {
    fn row(&mut self, name: &str, m: &Measured, unit: &str, note: &str) {
        self.row_with(name, m, &format!("{:.0} {unit}", m.per_second()), note);
    }

    fn row_with(&mut self, name: &str, m: &Measured, rate: &str, note: &str) {
        self.rows.push([
            name.into(),
            rate.into(),
            format!("{:.2} / {:.2}", m.p50_ms(), m.p99_ms()),
            format!("{} ok, {} failed", m.ok, m.failed),
            note.into(),
        ]);
    }

    fn text(&mut self, name: &str, result: &str, note: &str) {
        self.rows.push([
            name.into(),
            result.into(),
            "".into(),
            "".into(),
            note.into(),
        ]);
    }

    /// `result`'s value, or (when the scenario could not run) a row saying
    /// so and why, and `None`: the table of the others still prints.
    fn or_not_run<T>(&mut self, name: &str, result: anyhow::Result<T>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                eprintln!("{name}: not run: {error:#}");
                self.rows.push([
                    name.into(),
                    format!("not run ({error:#})"),
                    "".into(),
                    "".into(),
                    "".into(),
                ]);
                None
            }
        }
    }

    fn print(&self) {
        println!("| scenario | throughput | p50 / p99 ms | requests | notes |");
        println!("|---|---|---|---|---|");
        for [a, b, c, d, e] in &self.rows {
            println!("| {a} | {b} | {c} | {d} | {e} |");
        }
    }
}
