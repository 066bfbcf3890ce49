//! The write scenarios again with the ledger in PostgreSQL (`--database
//! both`): one central, then two centrals on one database sharing the
//! load, and how long a write on one takes to wake a long-poll on the
//! other. The server is the test-kit's (Debian's binaries, a temporary
//! directory), durable as a production one: fsync and synchronous_commit on.

use shared::api;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};
use testkit::postgres::PostgresServer;

use crate::{
    Args, CLIENTS, Table, head, hot_level, hot_limit, load,
    procs::{self, Server},
    setup, status_is,
};

/// SQLite's figures from the same run, for the ratios.
#[derive(Debug, Default, Clone, Copy)]
pub struct Figures {
    pub adjust: Option<f64>,
    pub hot: Option<f64>,
    pub checkouts: Option<f64>,
}

fn ratio(of: f64, to: Option<f64>) -> String {
    to.map_or_else(String::new, |t| format!("{:.2}× SQLite", of / t))
}

pub async fn rows(
    args: &Args,
    table: &mut Table,
    client: &reqwest::Client,
    sqlite: Figures,
) -> anyhow::Result<()> {
    let server = tokio::task::spawn_blocking(|| {
        PostgresServer::start(&["fsync=on", "synchronous_commit=on"])
    })
    .await?
    .map_err(anyhow::Error::msg)?;
    for centrals in [1, 2] {
        let url = database(&server, &format!("bench{centrals}")).await?;
        let dirs: Vec<_> = (0..centrals)
            .map(|_| tempfile::tempdir())
            .collect::<Result<_, _>>()?;
        let mut running = Vec::new();
        for dir in &dirs {
            let flags = ["--database-url", url.as_str()];
            running.push(procs::central_with(&args.central, dir.path(), &flags, &args.wrap).await?);
        }
        let servers: Vec<&Server> = running.iter().collect();
        setup(client, servers[0]).await?;
        let label = match centrals {
            1 => "PostgreSQL, 1 central".to_owned(),
            n => format!("PostgreSQL, {n} centrals together"),
        };
        if args.runs(2) {
            let adjust = adjustments(client, &servers, args.limit).await;
            let target = if centrals == 2 {
                "; target ≥ 10,000/s"
            } else {
                ""
            };
            table.row(
                &format!("2. durable guarded adjustments — {label}"),
                &adjust,
                "adj/s",
                &format!("{}{target}", ratio(adjust.per_second(), sqlite.adjust)),
            );
        }
        if args.runs(3) {
            let name = format!("3. hot level: 64 clients to zero — {label}");
            let hot = hot_level(client, &servers, hot_limit(args.limit)).await;
            if let Some(hot) = table.or_not_run(&name, hot) {
                table.row(
                    &name,
                    &hot.0,
                    "adj/s",
                    &format!("{}; {}", ratio(hot.0.per_second(), sqlite.hot), hot.1),
                );
            }
        }
        let shop_secret = match args.runs(9) || args.runs(10) {
            true => table.or_not_run(
                &format!("9., 10. holds — {label}"),
                crate::holds::register(client, servers[0]).await,
            ),
            false => None,
        };
        // The shop signed in to each central.
        let mut shops = Vec::new();
        if let Some(secret) = &shop_secret {
            for server in &servers {
                let shop = crate::holds::signed_in(server, secret).await;
                let Some(shop) = table.or_not_run(&format!("9., 10. holds — {label}"), shop)
                else {
                    shops.clear();
                    break;
                };
                shops.push((shop, *server));
            }
        }
        if args.runs(9) && !shops.is_empty() {
            let checkouts = crate::holds::checkouts(&shops, args.limit).await;
            let how = if centrals == 1 {
                "latency of the pair (two writes)"
            } else {
                "placed on one central, committed on the other"
            };
            table.row(
                &format!("9. checkouts: a hold placed then committed, 64 clients — {label}"),
                &checkouts,
                "checkouts/s",
                &format!("{}; {how}", ratio(checkouts.per_second(), sqlite.checkouts)),
            );
        }
        if args.runs(10) && !shops.is_empty() {
            let storm = crate::holds::storm(client, &shops, args.storm).await;
            let notes = match centrals {
                1 => "p50/p99 of the sales",
                _ => {
                    "p50/p99 of the sales, placed and sold on both centrals; one central (the expiry lease's holder) expires; target: sales p99 < 20 ms"
                }
            };
            if let Some(storm) = table.or_not_run(&format!("{} — {label}", crate::STORM), storm) {
                storm.row(table, &format!(" — {label}"), notes);
            }
        }
        if centrals == 2 && args.runs(8) {
            let name = "8. a write on central A wakes a long-poll on central B";
            let woken = wake_ups(client, servers[0], servers[1]).await;
            if let Some(woken) = table.or_not_run(name, woken) {
                table.text(name, &woken, "target p99 < 100 ms");
            }
        }
        for central in running {
            central.stop().await;
        }
    }
    Ok(())
}

async fn database(server: &PostgresServer, name: &str) -> anyhow::Result<String> {
    let base = server.base_url();
    let name = name.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut admin = postgres::Client::connect(&format!("{base}/postgres"), postgres::NoTls)?;
        admin.batch_execute(&format!("CREATE DATABASE {name}"))?;
        anyhow::Ok(format!("{base}/{name}"))
    })
    .await?
}

/// Scenario (2), client c sending to central c mod n.
async fn adjustments(
    client: &reqwest::Client,
    centrals: &[&Server],
    limit: load::Limit,
) -> load::Measured {
    let urls: Vec<String> = centrals
        .iter()
        .map(|c| c.url(&api::fill(api::AdjustStock::PATH, &["bench"])))
        .collect();
    load::run(CLIENTS, limit, {
        let client = client.clone();
        move |c, n| {
            let request = client
                .post(&urls[c % urls.len()])
                .header("Idempotency-Key", format!("adj-{c}-{n}"))
                .json(&json!({"sku": format!("P{c:04}"), "delta": -1}));
            status_is(request.send(), 200)
        }
    })
    .await
}

/// 200 rounds: a long-poll waits on B, a restock is written on A; the time
/// from sending the write to B's answer.
async fn wake_ups(client: &reqwest::Client, a: &Server, b: &Server) -> anyhow::Result<String> {
    let mut latencies = Vec::new();
    for round in 0..200 {
        let from = head(client, b).await?;
        let poll = {
            let (client, url) = (
                client.clone(),
                b.url(&format!(
                    "{}?from={from}&store=bench&wait=10",
                    api::GetChanges::PATH
                )),
            );
            tokio::spawn(async move {
                let page: Value = client.get(url).send().await?.json().await?;
                anyhow::Ok((page, Instant::now()))
            })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        let sent = Instant::now();
        let written = client
            .post(a.url(&api::fill(api::AdjustStock::PATH, &["bench"])))
            .header("Idempotency-Key", format!("wake-{round}"))
            .json(&json!({"sku": "P0000", "delta": 1}))
            .send()
            .await?;
        anyhow::ensure!(written.status() == 200, "write: {}", written.status());
        let (page, woken) = poll.await??;
        let events = page["events"].as_array().context("events")?;
        anyhow::ensure!(!events.is_empty(), "B answered without the write");
        latencies.push(woken.duration_since(sent).as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    Ok(format!(
        "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (200 writes; includes the write's own commit)",
        at(0.5),
        at(0.99),
        at(1.0)
    ))
}
