//! Project automation, as `cargo xtask <command>`:
//!
//! - `run`   central with demo data on :8080 plus the POS page via trunk on :8081
//! - `test`  every check CI runs: fmt, clippy, native tests, wasm builds;
//!   every test binary under a time limit (a time-out is a failure)
//! - `test-native` the native tests of `test` alone (every binary, central's
//!   HTTP suite on PostgreSQL, the reliability suite)
//! - `bench` release-build central and the load generator, run the benchmark
//! - `fuzz`  the OpenAPI fuzzer alone, against a fresh central
//! - `clients` Python and TypeScript clients generated from the served
//!   document, checked and run against a fresh central
//! - `test-browser` the store node's browser tests alone
//! - `test-pos [NAME]` the POS page built, and its WebDriver tests alone
//!   (those whose names contain NAME)
//! - `setup` install every tool the two commands above need
//!
//! Each installs what is missing (and says so) before using it, so both work
//! on a fresh machine that has only rustup/cargo and Debian's package manager.

mod clients;
mod fuzz;
mod page;
mod runner;
mod setup;

use std::{
    env,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Command, ExitCode, Stdio},
    time::Duration,
};

use anyhow::{Context, bail};

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => run(),
        Some("test") => test(),
        Some("test-native") => test_native(),
        Some("setup") => setup::all(),
        Some("bench") => bench(&args[1..]),
        Some("bench-node") => bench_node(),
        Some("test-browser") => setup::wasm_target()
            .and_then(|()| sh("cargo", &["build", "-p", "central"]))
            .and_then(|()| browser_tests(&mut Tally::default(), &debug_central())),
        Some("test-pos") => {
            let only = std::env::args().nth(2);
            page::build().and_then(|dist| {
                let built = runner::build(&["-p", "e2e", "--test", "pos"])?;
                let pos = built.test("e2e", "test", "pos")?;
                page::browser_tests(&mut Tally::default(), &dist, pos, only.as_deref())
            })
        }
        Some("fuzz") => sh("cargo", &["build", "-p", "central"])
            .and_then(|()| fuzz::run_all(&debug_central()).map(drop)),
        Some("clients") => {
            sh("cargo", &["build", "-p", "central"]).and_then(|()| clients::check(&debug_central()))
        }
        _ => {
            eprintln!(
                "usage: cargo xtask <run|test|test-native|test-browser|test-pos|bench|bench-node|fuzz|clients|setup>"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            ExitCode::FAILURE
        }
    }
}

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// Cargo's target directory: `CARGO_TARGET_DIR` if set, as cargo does.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root().join(dir),
        _ => root().join("target"),
    }
}

/// The central `cargo build -p central` makes.
fn debug_central() -> PathBuf {
    target_dir().join("debug/central")
}

pub fn step(what: &str) {
    eprintln!("\n==> {what}");
}

/// Runs a command in the workspace root, failing on a non-zero exit.
pub fn sh(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let status = Command::new(program)
        .args(args)
        .current_dir(root())
        .status()
        .with_context(|| format!("starting {program}"))?;
    if !status.success() {
        bail!("`{program} {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

const WASM_CRATES: [&str; 4] = ["-p", "store-wasm", "-p", "web"];

/// How long one test binary may run (`XTASK_TEST_LIMIT_SECS`): generous,
/// the slowest (central's HTTP suite on PostgreSQL) takes a few minutes.
const TEST_LIMIT: Duration = Duration::from_secs(10 * 60);
/// The reliability suite's (`XTASK_RELIABILITY_LIMIT_SECS`).
const RELIABILITY_LIMIT: Duration = Duration::from_secs(5 * 60);
/// A `cargo test` for wasm32, its build and the browser included.
const BROWSER_LIMIT: Duration = Duration::from_secs(20 * 60);

fn test() -> anyhow::Result<()> {
    setup::wasm_target()?;
    step("formatting (cargo fmt --check)");
    sh("cargo", &["fmt", "--all", "--", "--check"])?;
    step("lints (cargo clippy -D warnings), native crates");
    sh(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    step("lints, wasm crates for wasm32");
    let mut wasm_clippy = vec![
        "clippy",
        "--all-targets",
        "--target",
        "wasm32-unknown-unknown",
    ];
    wasm_clippy.extend(WASM_CRATES);
    wasm_clippy.extend(["--", "-D", "warnings"]);
    sh("cargo", &wasm_clippy)?;
    step("wasm32 build of the store node and the POS page");
    let mut wasm_build = vec!["build", "--target", "wasm32-unknown-unknown"];
    wasm_build.extend(WASM_CRATES);
    sh("cargo", &wasm_build)?;
    let built = build_native()?;
    let mut tally = Tally::default();
    let native = native_tests(&mut tally, &built);
    let fuzzed = native.and_then(|()| fuzz::run_all(built.executable("central", "central")?));
    let fuzzed = fuzzed.and_then(|fuzzed| {
        clients::check(built.executable("central", "central")?)?;
        Ok(fuzzed)
    });
    let browser = match &fuzzed {
        Ok(_) => built
            .executable("central", "central")
            .and_then(|central| browser_tests(&mut tally, central)),
        Err(e) => Err(anyhow::anyhow!("{e:#}")),
    };
    let pos = browser.and_then(|()| {
        let pos = built.test("e2e", "test", "pos")?;
        let dist = page::build()?;
        // Past its budget, the page fails the run, after its tests ran.
        let within = page::within_budget(&dist);
        if let Err(e) = &within {
            println!("FAILED: {e:#}");
        }
        page::browser_tests(&mut tally, &dist, pos, None).and(within)
    });
    tally.summary();
    if let Ok(fuzzed) = &fuzzed {
        for (who, f) in fuzzed {
            println!(
                "OpenAPI fuzzer with {who}: {} cases, {} failures",
                f.cases, f.failures
            );
        }
    }
    pos
}

/// `cargo xtask test-native`: the native passes of `test` alone.
fn test_native() -> anyhow::Result<()> {
    let built = build_native()?;
    let mut tally = Tally::default();
    let native = native_tests(&mut tally, &built);
    tally.summary();
    native
}

/// Every native test binary, built once: every pass runs these. (A `cargo
/// test -p central` would resolve features for central alone and rebuild
/// for minutes.)
fn build_native() -> anyhow::Result<runner::Built> {
    setup::postgres()?;
    step("building every native test binary, once (cargo test --workspace --no-run)");
    runner::build(&["--workspace"])
}

/// The native tests, each binary under its time limit: every binary of the
/// workspace (PostgreSQL's tests on a server started here), doctests,
/// central's HTTP suite again on PostgreSQL, and the reliability suite.
fn native_tests(tally: &mut Tally, built: &runner::Built) -> anyhow::Result<()> {
    step("a PostgreSQL for the tests (initdb on a temporary directory; stopped when the run ends)");
    // Dropped when this function returns, however it returns: the server
    // stops and its directory goes.
    let postgres = testkit::postgres::PostgresServer::start(&[]).map_err(anyhow::Error::msg)?;
    let on_postgres = [(testkit::postgres::URL_ENV, postgres.base_url().into())];
    step(
        "native tests: shared, the ledger on SQLite and PostgreSQL, central (real server), the cluster on PostgreSQL, store engine, end-to-end",
    );
    let limit = runner::limit("XTASK_TEST_LIMIT_SECS", TEST_LIMIT);
    let mut failed = Vec::new();
    // Every binary runs even after one failed, so one failure hides no
    // other (cargo test stops at the first).
    for binary in built.tests() {
        if let Err(e) = tally.run(binary, &[], &on_postgres, limit) {
            eprintln!("xtask: {e:#}");
            failed.push(binary.label());
        }
    }
    if !failed.is_empty() {
        bail!("failed: {}", failed.join(", "));
    }
    step("doctests (cargo test --workspace --doc)");
    tally.cargo_test(&["test", "--workspace", "--doc"], &[], limit)?;
    step("central's HTTP suite again, every test's ledger in PostgreSQL");
    let mut envs = on_postgres.to_vec();
    envs.push(("STOCKLINE_TEST_BACKEND", "postgres".into()));
    tally.run(built.test("central", "test", "api")?, &[], &envs, limit)?;
    step(
        "reliability suite: linearizability, wire faults, crash loop, disk trouble (about a minute)",
    );
    tally.run(
        built.test("central", "test", "reliability")?,
        &["--ignored", "--nocapture", "--test-threads=1"],
        &[],
        runner::limit("XTASK_RELIABILITY_LIMIT_SECS", RELIABILITY_LIMIT),
    )
}

/// The store node's tests in headless Chromium, against a real central
/// started here on a free port with a fresh database.
fn browser_tests(tally: &mut Tally, central: &Path) -> anyhow::Result<()> {
    setup::chromium()?;
    setup::wasm_bindgen()?;
    step("starting central for the browser tests (fresh database, CORS open)");
    let data = env::temp_dir().join(format!("stockline-browser-tests-{}", std::process::id()));
    let key = format!("browser-tests-admin-key-{:020}", std::process::id());
    // A short change log, pruned only when a test asks (`POST
    // /v1/admin/prune`): the fault suite takes a node's offset away (410).
    let retention = [
        "--event-retention-count",
        "300",
        "--prune-interval-secs",
        "86400",
    ];
    let (mut central, addr) = start_central(central, &data, &key, &retention)?;
    let result = (|| {
        // The test-kit's proxy, on a thread of its own: down and up over
        // its control port, which the tests in the browser call.
        let (proxy, control) = testkit::chaos::ChaosProxy::spawn_detached(addr.parse()?)?;
        step(&format!(
            "store node tests in headless Chromium against http://{addr} (and through a cuttable proxy)"
        ));
        tally.cargo_test(
            &[
                "test",
                "-p",
                "store-wasm",
                "--target",
                "wasm32-unknown-unknown",
            ],
            &[
                ("STOCKLINE_CENTRAL_URL", format!("http://{addr}").into()),
                ("STOCKLINE_PROXY_URL", format!("http://{proxy}").into()),
                ("STOCKLINE_CHAOS_URL", format!("http://{control}").into()),
                ("STOCKLINE_ADMIN_KEY", key.clone().into()),
                ("CHROMEDRIVER", "/usr/bin/chromedriver".into()),
                (
                    "WASM_BINDGEN_TEST_WEBDRIVER_JSON",
                    root().join("store-wasm/webdriver.json").into(),
                ),
                ("PATH", setup::tool_path()),
            ],
            BROWSER_LIMIT,
        )?;
        step("the POS page's own browser tests (WebCrypto's PBKDF2 against the native one's)");
        tally.cargo_test(
            &[
                "test",
                "-p",
                "web",
                "--target",
                "wasm32-unknown-unknown",
                "--test",
                "browser",
            ],
            &[
                ("CHROMEDRIVER", "/usr/bin/chromedriver".into()),
                (
                    "WASM_BINDGEN_TEST_WEBDRIVER_JSON",
                    root().join("store-wasm/webdriver.json").into(),
                ),
                ("PATH", setup::tool_path()),
            ],
            BROWSER_LIMIT,
        )
    })();
    let _ = central.kill();
    let _ = central.wait();
    let _ = std::fs::remove_dir_all(&data);
    result
}

/// Starts a built central (`bin`) on a free port with a fresh database in
/// `data`, CORS open, `key` as admin key and `extra` flags; returns it with
/// the address it listens on.
fn start_central(
    bin: &Path,
    data: &Path,
    key: &str,
    extra: &[&str],
) -> anyhow::Result<(std::process::Child, String)> {
    let mut central = Command::new(bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--cors-origin", "*"])
        .args([
            "--rate-limit",
            "false",
            "--admin-api-key",
            key,
            "--data-dir",
        ])
        .arg(data)
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .context("starting central")?;
    match listening_addr(&mut central) {
        Ok(addr) => Ok((central, addr)),
        Err(e) => {
            let _ = central.kill();
            Err(e)
        }
    }
}

/// Reads central's JSON log until its "listening" line; returns the address.
fn listening_addr(central: &mut std::process::Child) -> anyhow::Result<String> {
    let stdout = central.stdout.take().context("central's stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line?;
        if line.contains(r#""message":"listening""#)
            && let Some(rest) = line.split(r#""addr":""#).nth(1)
            && let Some(addr) = rest.split('"').next()
        {
            let addr = addr.to_owned();
            // Keep draining the log so central never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines {});
            return Ok(addr);
        }
    }
    bail!("central exited before listening")
}

/// Sums libtest's per-binary "test result:" lines while passing output
/// through (the running is in [`runner`]).
#[derive(Default)]
pub struct Tally {
    passed: u64,
    failed: u64,
    /// What the reliability suite said it checked (its `reliability:` lines).
    reports: Vec<String>,
    /// Binaries that timed out or died mid-run, with the tests they left.
    unfinished: Vec<String>,
}

impl Tally {
    /// One closing line over every test binary, whatever happened before,
    /// then what did not finish and what the reliability suite checked.
    fn summary(&self) {
        println!("\ntests: {} passed, {} failed", self.passed, self.failed);
        for line in &self.unfinished {
            println!("{line}");
        }
        for line in &self.reports {
            println!("{line}");
        }
    }
}

/// The number before `label` in "ok. 3 passed; 0 failed; …".
fn count(summary: &str, label: &str) -> u64 {
    summary
        .split(';')
        .find_map(|part| {
            part.trim()
                .trim_start_matches("ok. ")
                .trim_start_matches("FAILED. ")
                .strip_suffix(label)?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// The throughput benchmark: release builds, then the load generator drives
/// a fresh central over HTTP and prints a table. Extra arguments go to it
/// (`--duration S`, `--waiters N`, `--synchronous normal`).
fn bench(extra: &[String]) -> anyhow::Result<()> {
    step("building central and the load generator (release)");
    sh(
        "cargo",
        &["build", "--release", "-p", "central", "-p", "bench"],
    )?;
    step("running the benchmark (a few minutes)");
    let root = root();
    let status = Command::new(target_dir().join("release/stockline-bench"))
        .arg("--central")
        .arg(target_dir().join("release/central"))
        .args(extra)
        .current_dir(&root)
        .status()
        .context("starting the benchmark")?;
    if !status.success() {
        bail!("the benchmark failed ({status})");
    }
    Ok(())
}

/// The store node benchmark: a release central seeded with 50,000 products,
/// then a bootstrap and 100 follow latencies measured in headless Chromium.
fn bench_node() -> anyhow::Result<()> {
    setup::wasm_target()?;
    setup::chromium()?;
    setup::wasm_bindgen()?;
    step("building central and the seeder (release)");
    sh(
        "cargo",
        &["build", "--release", "-p", "central", "-p", "bench"],
    )?;
    let data = env::temp_dir().join(format!("stockline-node-bench-{}", std::process::id()));
    let key = format!("node-bench-admin-key-{:020}", std::process::id());
    let (mut central, addr) =
        start_central(&target_dir().join("release/central"), &data, &key, &[])?;
    let result = (|| {
        let url = format!("http://{addr}");
        step("seeding 50,000 products with stock");
        let seeded = Command::new(target_dir().join("release/stockline-bench"))
            .arg("seed-node")
            .env("STOCKLINE_CENTRAL_URL", &url)
            .env("STOCKLINE_ADMIN_KEY", &key)
            .status()?;
        if !seeded.success() {
            bail!("seeding failed ({seeded})");
        }
        step("measuring the store node in headless Chromium");
        let status = Command::new("cargo")
            .args([
                "test",
                "--release",
                "-p",
                "store-wasm",
                "--target",
                "wasm32-unknown-unknown",
            ])
            .args([
                "--test",
                "node_bench",
                "--",
                "--include-ignored",
                "--nocapture",
            ])
            .env("STOCKLINE_CENTRAL_URL", &url)
            .env("STOCKLINE_ADMIN_KEY", &key)
            .env("CHROMEDRIVER", "/usr/bin/chromedriver")
            .env(
                "WASM_BINDGEN_TEST_WEBDRIVER_JSON",
                root().join("store-wasm/webdriver.json"),
            )
            .env("WASM_BINDGEN_TEST_TIMEOUT", "300")
            .env("PATH", setup::tool_path())
            .current_dir(root())
            .status()?;
        if !status.success() {
            bail!("the node benchmark failed ({status})");
        }
        Ok(())
    })();
    let result = result.and_then(|()| {
        step("the POS page's CPU: idle online, offline, offline after Sync now (a minute)");
        let dist = page::build()?;
        let status = Command::new("cargo")
            .args(["test", "-p", "e2e", "--test", "page_bench"])
            .args(["--", "--ignored", "--nocapture"])
            .env("STOCKLINE_WEB_DIST", &dist)
            .env("CHROMEDRIVER", "/usr/bin/chromedriver")
            .current_dir(root())
            .status()?;
        if !status.success() {
            bail!("the page benchmark failed ({status})");
        }
        Ok(())
    });
    let _ = central.kill();
    let _ = central.wait();
    let _ = std::fs::remove_dir_all(&data);
    result
}

fn run() -> anyhow::Result<()> {
    setup::wasm_target()?;
    setup::wasm_bindgen()?;
    setup::wasm_opt()?;
    setup::trunk()?;
    step("building central (release)");
    sh("cargo", &["build", "--release", "-p", "central"])?;
    let root = root();
    let data_dir = root.join("data");
    step(&format!(
        "starting central on http://127.0.0.1:8080 with demo data (database in {})",
        data_dir.display()
    ));
    let mut central = Command::new(target_dir().join("release/central"))
        .args([
            "serve",
            "--demo",
            "--listen",
            "127.0.0.1:8080",
            "--data-dir",
        ])
        .arg(&data_dir)
        .current_dir(&root)
        .spawn()
        .context("starting central")?;
    // trunk runs cargo offline (Trunk.toml): every crate must be here first.
    sh("cargo", &["fetch"])?;
    step(
        "serving the POS page with trunk on http://127.0.0.1:8081 (release build; API proxied to central)",
    );
    let served = Command::new("trunk")
        // `demo`: the sign-in form offers the demo stores central seeded.
        .args(["serve", "--release", "--features", "demo"])
        .env("PATH", setup::tool_path())
        .current_dir(&root)
        .status();
    let _ = central.kill();
    let _ = central.wait();
    let served = served.context("starting trunk")?;
    if !served.success() {
        bail!("trunk serve exited with {served}");
    }
    Ok(())
}
