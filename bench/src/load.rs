//! The load generator: N concurrent clients, each sending requests back to
//! back over its own keep-alive connection, timing each one.

use std::{
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;

/// What a run measured.
pub struct Measured {
    pub ok: u64,
    pub failed: u64,
    pub elapsed: Duration,
    latency_us: Histogram<u64>,
}

impl Measured {
    pub fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    pub fn p50_ms(&self) -> f64 {
        self.latency_us.value_at_quantile(0.50) as f64 / 1000.0
    }

    pub fn p99_ms(&self) -> f64 {
        self.latency_us.value_at_quantile(0.99) as f64 / 1000.0
    }
}

/// What one request came back as.
pub enum Outcome {
    Ok,
    Failed,
    /// This client stops here, uncounted (e.g. the stock ran out).
    Done,
}

/// How long a scenario runs.
#[derive(Debug, Clone, Copy)]
pub enum Limit {
    Time(Duration),
    /// This many requests in all, shared out between the clients: a fixed
    /// amount of work, for counting instructions per request.
    Requests(u64),
}

/// Runs `clients` loops until the limit is reached or each says `Done`.
/// `request(client, n)` sends the client's n-th request.
pub async fn run<F, Fut>(clients: usize, limit: Limit, request: F) -> Measured
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send,
{
    let request = Arc::new(request);
    let started = Instant::now();
    let (deadline, requests) = match limit {
        Limit::Time(duration) => (Some(started + duration), u64::MAX),
        Limit::Requests(n) => (None, n),
    };
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let request = request.clone();
            // Client c sends requests c, c + clients, c + 2·clients, …
            let mine =
                requests / clients as u64 + u64::from((client as u64) < requests % clients as u64);
            tokio::spawn(async move {
                let mut latency = Histogram::<u64>::new(3).expect("histogram");
                let (mut ok, mut failed) = (0u64, 0u64);
                let mut n = 0;
                while n < mine && deadline.is_none_or(|d| Instant::now() < d) {
                    let sent = Instant::now();
                    let outcome = request(client, n).await;
                    n += 1;
                    let _ = latency.record(sent.elapsed().as_micros() as u64);
                    match outcome {
                        Outcome::Ok => ok += 1,
                        Outcome::Failed => failed += 1,
                        Outcome::Done => break,
                    }
                }
                (ok, failed, latency)
            })
        })
        .collect();
    let mut measured = Measured {
        ok: 0,
        failed: 0,
        elapsed: Duration::ZERO,
        latency_us: Histogram::new(3).expect("histogram"),
    };
    for task in tasks {
        if let Ok((ok, failed, latency)) = task.await {
            measured.ok += ok;
            measured.failed += failed;
            let _ = measured.latency_us.add(latency);
        }
    }
    measured.elapsed = started.elapsed();
    measured
}
