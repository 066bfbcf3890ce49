//! The reliability suite: central under concurrency, bad networks, crashes
//! and full disks, each run bounded and with fixed seeds. Each test prints
//! what it checked (`reliability: ...` lines), which `cargo xtask test`
//! collects. Ignored in a plain `cargo test`: the test command runs them
//! one at a time, with nothing else competing for the two cores.

mod crash_loop;
mod disk;
mod linearizability;
mod wire_faults;

use std::path::Path;

use testkit::process::CentralProcess;

pub const ADMIN_KEY: &str = testkit::ADMIN_KEY;

/// `central serve` on `data_dir` (the binary cargo built for these tests).
pub async fn central(data_dir: &Path) -> CentralProcess {
    CentralProcess::start(
        Path::new(env!("CARGO_BIN_EXE_central")),
        data_dir,
        ADMIN_KEY,
        &[],
    )
    .await
}

/// One adjustment of store `store` with `key`, as a till sends it.
pub async fn adjust(
    http: &reqwest::Client,
    addr: std::net::SocketAddr,
    store: &str,
    key: &str,
    body: &serde_json::Value,
) -> reqwest::Result<reqwest::Response> {
    http.post(format!("http://{addr}/v1/stores/{store}/adjustments"))
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
}

/// A client signed in as admin.
pub fn admin_client() -> reqwest::Client {
    testkit::client_with(&[("x-api-key", ADMIN_KEY)])
}
