//! The holds scenarios: a web shop's checkouts (a hold placed, then
//! committed), and an expiry storm — many holds reaching their time in the
//! same second while tills go on selling.

use shared::api;
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
        .post(central.url(api::CreateChannel::PATH))
        .json(&json!({"channel_id": "bench-shop", "name": "Bench shop"}))
        .send()
        .await?
        .json()
        .await?;
    let secret = created["channel_secret"]
        .as_str()
        .context("the channel's secret")?
        .to_owned();
    // The storm holds far more than a web shop's default limit (10,000
    // units): raise it. A central before channel limits has no such route.
    let raised = admin
        .put(central.url(&api::fill(api::SetChannelLimits::PATH, &["bench-shop"])))
        .json(
            &json!({"max_held_units": 1_000_000_000, "max_level_share_percent": 100,
                      "max_hold_life_seconds": 86_400}),
        )
        .send()
        .await?;
    ensure!(
        raised.status().is_success() || raised.status() == 404 || raised.status() == 405,
        "raising the shop's limits: {}",
        raised.status()
    );
    Ok(secret)
}

/// The shop signed in to `central`: a client that sends its token.
pub async fn signed_in(central: &Server, secret: &str) -> anyhow::Result<reqwest::Client> {
    let token: Value = reqwest::Client::new()
        .post(central.url(api::SignIn::PATH))
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
        .map(|(shop, central)| (shop.clone(), central.url(api::PlaceHold::PATH)))
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
        let short = match self.placed < self.holds {
            true => format!(
                "; only {} of {} placed before they were due (placing slowed after its rate was measured)",
                self.placed, self.holds
            ),
            false => String::new(),
        };
        table.row_with(
            &format!(
                "10. {} holds due in the same second; 16 tills selling meanwhile{label}",
                self.placed
            ),
            &self.sales,
            &format!(
                "all released {:.1} s after due (placed in {:.0} s; {:.0} placed/s measured first)",
                self.released_after.as_secs_f64(),
                self.placing.as_secs_f64(),
                self.rate,
            ),
            &format!(
                "{notes}; the same sales with nothing expiring: {:.2} / {:.2} ms{}{short}",
                self.quiet.p50_ms(),
                self.quiet.p99_ms(),
                self.expired_by
            ),
        );
    }
}

/// What the storm measured.
pub struct Storm {
    /// Holds the storm was to place.
    pub holds: usize,
    /// Holds placed before they were due (all of them, unless placing
    /// slowed down after its rate was measured).
    pub placed: usize,
    /// Holds placed per second while measuring the rate, before the storm.
    pub rate: f64,
    /// How long placing them took.
    pub placing: Duration,
    /// From the second they were due to the last one released.
    pub released_after: Duration,
    /// Till sales running from just before the holds were due until after
    /// the last was released.
    pub sales: Measured,
    /// The same tills selling for [`QUIET_FOR`] before the storm, with
    /// nothing expiring.
    pub quiet: Measured,
    /// With several centrals: how many each expired.
    pub expired_by: String,
}

/// How long the placing rate is measured before the storm.
const RATE_FOR: Duration = Duration::from_secs(3);

/// `count` holds, placed so that all are due within the same second, then
/// tills sell (16 clients, distinct skus) while central releases them.
/// With several centrals, holds are placed and sales made on each in turn.
///
/// When they are due is computed from the machine: holds are placed for a
/// few seconds first (due at once, so they are gone before the storm) to
/// measure the rate, and the storm leaves twice as long as that rate
/// needs. Should placing still fall behind, it stops when the holds are due
/// and the storm runs with those placed (the row says so).
pub async fn storm(
    admin: &reqwest::Client,
    centrals: &[(reqwest::Client, &Server)],
    count: usize,
) -> anyhow::Result<Storm> {
    let first = centrals.first().context("no central")?.1;
    let at: Vec<(reqwest::Client, String)> = centrals
        .iter()
        .map(|(shop, central)| (shop.clone(), central.url(api::PlaceHold::PATH)))
        .collect();
    let at = Arc::new(at);

    // The rate: holds due in a second, placed for RATE_FOR.
    let measured = load::run(CLIENTS, Limit::Time(RATE_FOR), {
        let at = at.clone();
        move |c, n| {
            let (shop, url) = &at[c % at.len()];
            let request = shop
                .post(url)
                .header("Idempotency-Key", format!("storm-rate-{c}-{n}"))
                .json(&hold_body(
                    &format!("P{:04}", (n as usize * CLIENTS + c) % PRODUCTS),
                    1,
                ));
            async move {
                match request.send().await {
                    Ok(r) if r.status() == 201 => Outcome::Ok,
                    _ => Outcome::Failed,
                }
            }
        }
    })
    .await;
    ensure!(
        measured.failed == 0 && measured.ok > 0,
        "measuring the placing rate: {} placed, {} failed",
        measured.ok,
        measured.failed
    );
    let rate = measured.per_second();
    until_released(admin, first, Duration::from_secs(120)).await?;
    let expired_before = expired_by(admin, centrals).await?;

    // The same tills selling with nothing expiring: what the storm adds is
    // the difference (on a small machine, two centrals and PostgreSQL
    // already share two cores with the load generator).
    let stop = Arc::new(AtomicBool::new(false));
    let quiet = tokio::spawn(tills_selling(admin, centrals, "quiet", stop.clone()));
    tokio::time::sleep(QUIET_FOR).await;
    stop.store(true, Ordering::Relaxed);
    let quiet = quiet.await?;
    ensure!(
        quiet.failed == 0,
        "{} sales failed with nothing expiring",
        quiet.failed
    );

    // Twice as long as the measured rate needs, and a margin: on a shared
    // machine the rate moves (by a third between measuring and placing in
    // one run).
    let lead = Duration::from_secs_f64(5.0 + 2.0 * count as f64 / rate);
    let due = std::time::SystemTime::now() + lead;
    // Placing stops a second before `due`: a hold placed later would be due
    // in a later second.
    let stop_at = Instant::now() + lead.saturating_sub(Duration::from_secs(1));
    let started = Instant::now();
    let placed = load::run(CLIENTS, Limit::Requests(count as u64), {
        let at = at.clone();
        move |c, n| {
            let index = n as usize * CLIENTS + c;
            // Whole seconds until `due`, from now: every hold ends in it.
            let ttl = due
                .duration_since(std::time::SystemTime::now())
                .map_or(1, |left| left.as_secs().max(1));
            let (shop, url) = &at[c % at.len()];
            let request = shop
                .post(url)
                .header("Idempotency-Key", format!("storm-{index}"))
                .json(&hold_body(&format!("P{:04}", index % PRODUCTS), ttl));
            async move {
                if Instant::now() >= stop_at {
                    return Outcome::Done;
                }
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
        placed.failed == 0 && placed.ok > 0,
        "placed {} of {count} holds, {} failed",
        placed.ok,
        placed.failed
    );
    let until_due = due
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    tokio::time::sleep(until_due.saturating_sub(Duration::from_millis(500))).await;

    let released = Arc::new(AtomicBool::new(false));
    let sales = tokio::spawn(tills_selling(admin, centrals, "storm", released.clone()));
    let waited = until_released(admin, first, Duration::from_secs(600)).await;
    // Sales go on a moment after, then stop (also when the wait failed).
    tokio::time::sleep(Duration::from_millis(500)).await;
    released.store(true, Ordering::Relaxed);
    let sales = sales.await?;
    let released_at = waited?;
    let released_after = released_at.duration_since(due).unwrap_or_default();
    let expired_after = expired_by(admin, centrals).await?;
    let expired_by = match centrals.len() {
        1 => String::new(),
        _ => {
            let each: Vec<String> = expired_before
                .iter()
                .zip(&expired_after)
                .enumerate()
                .map(|(i, (b, a))| format!("central {}: {:.0}", i + 1, a - b))
                .collect();
            format!("; expired by {}", each.join(", "))
        }
    };
    Ok(Storm {
        holds: count,
        placed: placed.ok as usize,
        rate,
        placing,
        released_after,
        sales,
        quiet,
        expired_by,
    })
}

/// How long the tills sell alone before the storm.
const QUIET_FOR: Duration = Duration::from_secs(5);

/// 16 tills selling, each on its own sku among those the storm holds, till
/// c on central c mod n, until `stop` is set.
fn tills_selling(
    admin: &reqwest::Client,
    centrals: &[(reqwest::Client, &Server)],
    name: &'static str,
    stop: Arc<AtomicBool>,
) -> impl Future<Output = Measured> + Send + 'static {
    let sales_urls: Vec<String> = centrals
        .iter()
        .map(|(_, central)| central.url(&api::fill(api::AdjustStock::PATH, &["bench"])))
        .collect();
    let admin = admin.clone();
    load::run(16, Limit::Time(Duration::from_secs(3600)), move |c, n| {
        let request = admin
            .post(&sales_urls[c % sales_urls.len()])
            .header("Idempotency-Key", format!("{name}-sale-{c}-{n}"))
            .json(&json!({"sku": format!("P{:04}", 500 + c), "delta": -1}));
        let stopping = stop.load(Ordering::Relaxed);
        async move {
            if stopping {
                return Outcome::Done;
            }
            match request.send().await {
                Ok(r) if r.status() == 200 => Outcome::Ok,
                _ => Outcome::Failed,
            }
        }
    })
}

/// Waits until nothing is held at the bench store and returns when that
/// was seen (to within [`LOOK_EVERY`]); an error after `most`.
async fn until_released(
    admin: &reqwest::Client,
    central: &Server,
    most: Duration,
) -> anyhow::Result<std::time::SystemTime> {
    let started = Instant::now();
    loop {
        if held_units(admin, central).await? == 0 {
            return Ok(std::time::SystemTime::now());
        }
        ensure!(
            started.elapsed() < most,
            "holds still held {} s after they were due",
            most.as_secs()
        );
        tokio::time::sleep(LOOK_EVERY).await;
    }
}

/// How often the storm asks whether anything is still held: each look is
/// five reads of 200 skus, so looking every 20 ms (as the storm once did)
/// took a share of the two cores the storm is measured on.
const LOOK_EVERY: Duration = Duration::from_millis(100);

/// Holds each central expired so far (its `stockline_holds_total`).
async fn expired_by(
    admin: &reqwest::Client,
    centrals: &[(reqwest::Client, &Server)],
) -> anyhow::Result<Vec<f64>> {
    let series = "stockline_holds_total{transition=\"expired\"} ";
    let mut each = Vec::new();
    for (_, central) in centrals {
        let text = admin
            .get(central.url("/metrics"))
            .send()
            .await?
            .text()
            .await?;
        let value = text
            .lines()
            .find_map(|line| line.strip_prefix(series))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0);
        each.push(value);
    }
    Ok(each)
}

/// Units held at the bench store, over every product.
async fn held_units(admin: &reqwest::Client, central: &Server) -> anyhow::Result<i64> {
    let mut held = 0;
    for chunk in (0..PRODUCTS).collect::<Vec<_>>().chunks(200) {
        let skus: Vec<String> = chunk.iter().map(|i| format!("P{i:04}")).collect();
        let asked: Value = admin
            .post(central.url(api::CheckAvailability::PATH))
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
