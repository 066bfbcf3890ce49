//! The holds scenarios: a web shop's checkouts (a hold placed, then
//! committed), and an expiry storm — many holds reaching their time in the
//! same second while tills go on selling.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, ensure};
use serde_json::{Value, json};

use crate::{
    CLIENTS, PRODUCTS,
    load::{self, Limit, Measured, Outcome},
    procs::Server,
};

/// Registers the channel `bench-shop` and signs it in: a client that
/// sends its token.
pub async fn shop(admin: &reqwest::Client, central: &Server) -> anyhow::Result<reqwest::Client> {
    let secret = register(admin, central).await?;
    signed_in(central, &secret).await
}

/// Registers the channel `bench-shop`; its secret.
pub async fn register(admin: &reqwest::Client, central: &Server) -> anyhow::Result<String> {
    let created: Value = admin
        .post(central.url("/v1/admin/channels"))
        .json(&json!({"channel_id": "bench-shop", "name": "Bench shop"}))
        .send()
        .await?
        .json()
        .await?;
    let secret = created["client_secret"]
        .as_str()
        .context("the channel's secret")?;
    Ok(secret.to_owned())
}

/// The shop signed in to `central`: a client that sends its token.
pub async fn signed_in(central: &Server, secret: &str) -> anyhow::Result<reqwest::Client> {
    let token: Value = reqwest::Client::new()
        .post(central.url("/v1/auth/token"))
        .json(&json!({"channel_id": "bench-shop", "channel_secret": secret}))
        .send()
        .await?
        .json()
        .await?;
    let token = token["access_token"].as_str().context("a channel token")?;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse()?);
    Ok(reqwest::Client::builder()
        .default_headers(headers)
        .pool_max_idle_per_host(usize::MAX)
        .build()?)
}

fn hold_body(sku: &str, ttl_seconds: u64) -> Value {
    json!({"reference": "bench", "ttl_seconds": ttl_seconds,
           "lines": [{"sku": sku, "quantity": 1, "store_id": "bench"}]})
}

/// 64 checkouts at once, each a hold of one unit then its commit: the
/// figure is checkouts (hold + commit) per second, the latency a pair's.
/// With several centrals (each with the shop signed in to it), client `c`
/// places on central `c` and commits on the next one.
pub async fn checkouts(centrals: &[(reqwest::Client, &Server)], limit: Limit) -> Measured {
    let at: Vec<(reqwest::Client, String)> = centrals
        .iter()
        .map(|(shop, central)| (shop.clone(), central.url("/v1/holds")))
        .collect();
    load::run(CLIENTS, limit, move |c, n| {
        let (shop, holds) = at[c % at.len()].clone();
        let (committer, base) = at[(c + 1) % at.len()].clone();
        async move {
            let placed = shop
                .post(&holds)
                .header("Idempotency-Key", format!("co-{c}-{n}"))
                .json(&hold_body(&format!("P{c:04}"), 900))
                .send()
                .await;
            let hold: Value = match placed {
                Ok(r) if r.status() == 201 => match r.json().await {
                    Ok(hold) => hold,
                    Err(_) => return Outcome::Failed,
                },
                _ => return Outcome::Failed,
            };
            let Some(id) = hold["hold_id"].as_str() else {
                return Outcome::Failed;
            };
            let committed = committer
                .post(format!("{base}/{id}/commit"))
                .header("Idempotency-Key", format!("cc-{c}-{n}"))
                .json(&json!({}))
                .send()
                .await;
            match committed {
                Ok(r) if r.status() == 200 => Outcome::Ok,
                _ => Outcome::Failed,
            }
        }
    })
    .await
}

impl Storm {
    /// Its row in the table; `label` says where it ran ("" on SQLite).
    pub fn row(&self, table: &mut crate::Table, label: &str, notes: &str) {
        table.row_with(
            &format!(
                "10. {} holds due in the same second; 16 tills selling meanwhile{label}",
                self.holds
            ),
            &self.sales,
            &format!(
                "all released {:.1} s after due (placed in {:.0} s)",
                self.released_after.as_secs_f64(),
                self.placing.as_secs_f64()
            ),
            notes,
        );
    }
}

/// What the storm measured.
pub struct Storm {
    pub holds: usize,
    /// How long placing them took.
    pub placing: Duration,
    /// From the second they were due to the last one released.
    pub released_after: Duration,
    /// Till sales running from just before the holds were due until after
    /// the last was released.
    pub sales: Measured,
}

/// `count` holds, placed so that all are due within the same second, then
/// tills sell (16 clients, distinct skus) while central releases them.
pub async fn storm(
    admin: &reqwest::Client,
    shop: &reqwest::Client,
    central: &Server,
    count: usize,
    placed_per_second: usize,
) -> anyhow::Result<Storm> {
    // Leave room for placing at `placed_per_second` (a guess on the low
    // side), then all are due in the same second, `due`.
    let lead = Duration::from_secs(5 + (count / placed_per_second.max(1)) as u64);
    let due = std::time::SystemTime::now() + lead;
    let started = Instant::now();
    let url = central.url("/v1/holds");
    let placed = load::run(CLIENTS, Limit::Requests(count as u64), {
        let shop = shop.clone();
        move |c, n| {
            let index = n as usize * CLIENTS + c;
            // Whole seconds until `due`, from now: every hold ends in it.
            let ttl = due
                .duration_since(std::time::SystemTime::now())
                .map_or(1, |left| left.as_secs().max(1));
            let request = shop
                .post(&url)
                .header("Idempotency-Key", format!("storm-{index}"))
                .json(&hold_body(&format!("P{:04}", index % PRODUCTS), ttl));
            async move {
                match request.send().await {
                    Ok(r) if r.status() == 201 => Outcome::Ok,
                    _ => Outcome::Failed,
                }
            }
        }
    })
    .await;
    let placing = started.elapsed();
    ensure!(
        placed.ok as usize == count,
        "placed {} of {count} holds ({} failed) before they were due",
        placed.ok,
        placed.failed
    );
    let until_due = due
        .duration_since(std::time::SystemTime::now())
        .context("the holds were due before they were all placed")?;
    tokio::time::sleep(until_due.saturating_sub(Duration::from_millis(500))).await;

    let sales_url = central.url("/v1/stores/bench/adjustments");
    let released = Arc::new(AtomicBool::new(false));
    let sales = tokio::spawn(load::run(16, Limit::Time(Duration::from_secs(3600)), {
        let (admin, url, released) = (admin.clone(), sales_url.clone(), released.clone());
        move |c, n| {
            // On skus whose holds are expiring: the same levels.
            let request = admin
                .post(&url)
                .header("Idempotency-Key", format!("storm-sale-{c}-{n}"))
                .json(&json!({"sku": format!("P{:04}", 500 + c), "delta": -1}));
            let stopping = released.load(Ordering::Relaxed);
            async move {
                if stopping {
                    return Outcome::Done;
                }
                match request.send().await {
                    Ok(r) if r.status() == 200 => Outcome::Ok,
                    _ => Outcome::Failed,
                }
            }
        }
    }));
    let released_after = loop {
        let held = held_units(admin, central).await?;
        let now = std::time::SystemTime::now();
        if held == 0 && now > due {
            // Sales go on a moment after, then stop.
            tokio::time::sleep(Duration::from_millis(500)).await;
            released.store(true, Ordering::Relaxed);
            break now.duration_since(due).unwrap_or_default();
        }
        ensure!(
            now < due + Duration::from_secs(600),
            "holds still held 10 minutes after they were due"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let sales = sales.await?;
    Ok(Storm {
        holds: count,
        placing,
        released_after,
        sales,
    })
}

/// Units held at the bench store, over every product.
async fn held_units(admin: &reqwest::Client, central: &Server) -> anyhow::Result<i64> {
    let mut held = 0;
    for chunk in (0..PRODUCTS).collect::<Vec<_>>().chunks(200) {
        let skus: Vec<String> = chunk.iter().map(|i| format!("P{i:04}")).collect();
        let asked: Value = admin
            .post(central.url("/v1/availability"))
            .json(&json!({ "skus": skus }))
            .send()
            .await?
            .json()
            .await?;
        held += asked
            .as_array()
            .context("availability")?
            .iter()
            .map(|p| p["held"].as_i64().unwrap_or(0))
            .sum::<i64>();
    }
    Ok(held)
}
