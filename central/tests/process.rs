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
use testkit::ADMIN_KEY;

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

/// A figure of `/proc/<pid>/status` (`VmRSS`, `VmHWM`), in MiB.
fn status_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().strip_suffix("kB"))
        .and_then(|kib| kib.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {status}"));
    kib / 1024.0
}

/// 150 concurrent wrong sign-ins (the first-wave probe, against a store
/// whose secret an admin chose, so each is an argon2 check of ~19 MiB) took
/// central from 37 MB to 780–1,026 MB of RSS, and ~740 MB stayed: each
/// check's buffer was freed on whichever blocking thread ran it, and glibc
/// kept them in its per-thread arenas. Now the checks run on
/// `--max-concurrent-hashes` threads of their own (2 here, this machine's
/// default), each reusing one buffer and freeing it when idle, and the
/// binary fixes glibc's mmap threshold so a freed buffer goes back — the
/// second time too (the second burst: after a first free, glibc's own
/// raised threshold would have kept the next buffers). With strikes off and
/// a long queue, every guess reaches argon2.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_wrong_sign_ins_costs_bounded_memory_that_goes_back() {
    const PEAK_MIB: f64 = 150.0;
    // The two threads' buffers alone are 38 MiB: settling within 25 MiB
    // of the baseline means they went back.
    const SETTLED_ABOVE_BASELINE_MIB: f64 = 25.0;
    let dir = tempfile::tempdir().unwrap();
    let central = CentralProcess::start(
        Path::new(BIN),
        dir.path(),
        ADMIN_KEY,
        &[
            "--auth-failures-per-address",
            "0",
            "--auth-failures-per-client",
            "0",
            "--max-concurrent-hashes",
            "2",
            "--hash-queue-ms",
            "120000",
        ],
    )
    .await;
    let pid = central.pid().expect("central runs");
    let baseline = status_mib(pid, "VmRSS");
    let created = reqwest::Client::new()
        .post(central.url("/v1/admin/stores"))
        .header("x-api-key", ADMIN_KEY)
        .json(
            &json!({"store_id": "m1", "name": "Memory", "client_secret": "an-admin-chosen-secret"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    let sign_in = |secret: String| {
        // A client each: as many connections at once as guesses, as the
        // probe made.
        let url = central.url("/v1/auth/token");
        async move {
            reqwest::Client::new()
                .post(url)
                .json(&json!({"client_id": "m1", "client_secret": secret}))
                .send()
                .await
                .map(|r| r.status().as_u16())
        }
    };
    for burst in [150, 20] {
        let started = std::time::Instant::now();
        let guesses = (0..burst).map(|i| sign_in(format!("wrong-guess-{i:04}-0123")));
        let statuses = futures::future::join_all(guesses).await;
        let took = started.elapsed();
        let refused = statuses.iter().filter(|s| matches!(s, Ok(401))).count();
        assert_eq!(
            refused, burst,
            "every guess checked and refused: {statuses:?}"
        );
        let peak = status_mib(pid, "VmHWM");
        let right = sign_in("an-admin-chosen-secret".into()).await;
        assert!(matches!(right, Ok(200)), "{right:?}");

        // The hashing threads free their memory after a second without
        // work: wait for RSS to come down, up to a deadline.
        let answered = std::time::Instant::now();
        let deadline = answered + Duration::from_secs(30);
        let mut after = status_mib(pid, "VmRSS");
        while after > baseline + SETTLED_ABOVE_BASELINE_MIB && std::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(250)).await;
            after = status_mib(pid, "VmRSS");
        }
        println!(
            "{burst} wrong sign-ins at once (argon2, 2 threads, {:.1} s): RSS {baseline:.1} MiB \
             before, peak {peak:.1} MiB, {after:.1} MiB {:.1} s after",
            took.as_secs_f64(),
            answered.elapsed().as_secs_f64()
        );
        assert!(
            peak < PEAK_MIB,
            "peak RSS {peak:.1} MiB (baseline {baseline:.1} MiB)"
        );
        assert!(
            after <= baseline + SETTLED_ABOVE_BASELINE_MIB,
            "RSS {after:.1} MiB after {burst} sign-ins, {baseline:.1} MiB before"
        );
    }
}

/// A database URL with a password, and other secrets, as an operator puts
/// them in the environment.
const DB_PASSWORD: &str = "db-password-not-for-eyes";
const DB_URL: &str = "postgres://stockline:db-password-not-for-eyes@127.0.0.1:1/ledger";
const ENV_SECRETS: [(&str, &str); 3] = [
    ("STOCKLINE_DATABASE_URL", DB_URL),
    (
        "STOCKLINE_JWT_SECRET",
        "jwt-secret-not-for-eyes-0123456789abcdef",
    ),
    (
        "STOCKLINE_ADMIN_API_KEYS",
        "admin-key-not-for-eyes-0123456789abcdef",
    ),
];

/// `--help` names each variable but shows no secret's value: clap prints
/// the values it found in the environment unless told not to.
#[tokio::test]
async fn help_never_shows_a_secret_from_the_environment() {
    for command in ["serve", "migrate-to", "seed"] {
        let out = Command::new(BIN)
            .args([command, "--help"])
            .envs(ENV_SECRETS)
            .output()
            .await
            .expect("run central --help");
        assert!(out.status.success());
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("STOCKLINE_DATABASE_URL"), "{help}");
        for (name, value) in ENV_SECRETS {
            assert!(
                !help.contains(value),
                "{command} --help shows {name}:\n{help}"
            );
        }
        assert!(!help.contains("not-for-eyes"), "{help}");
    }
}

/// The configuration and the ledger's options print the URL with its
/// password masked (they may be logged, or shown in a panic).
#[test]
fn a_printed_configuration_masks_the_database_password() {
    use clap::Parser;
    let cli = central::config::Cli::try_parse_from(["central", "serve", "--database-url", DB_URL])
        .expect("flags");
    let printed = format!("{cli:?}");
    assert!(!printed.contains(DB_PASSWORD), "{printed}");
    assert!(
        printed.contains("postgres://stockline:***@127.0.0.1:1/ledger"),
        "{printed}"
    );
    let central::config::Command::Serve(serve) = cli.command else {
        panic!("serve");
    };
    let location = format!("{:?}", serve.config.location().expect("a location"));
    assert!(!location.contains(DB_PASSWORD), "{location}");
    assert!(location.contains("stockline:***@"), "{location}");
}

/// `migrate-to` takes the database to fill from `STOCKLINE_DATABASE_URL`
/// (as `serve` does) when none is named on the command line, where the
/// machine's other users would see its password; and says which database
/// it fills without the password. (A real copy through the variable:
/// `cluster.rs`, `migrate_to_moves_…`.)
#[tokio::test]
async fn migrate_to_takes_its_target_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .arg("migrate-to")
        .arg("--data-dir")
        .arg(dir.path())
        .env("STOCKLINE_DATABASE_URL", DB_URL)
        .output()
        .await
        .expect("run central migrate-to");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "there is no ledger to copy: {said}");
    assert!(
        said.contains("postgres://stockline:***@127.0.0.1:1/ledger"),
        "{said}"
    );
    assert!(said.contains("no SQLite ledger at"), "{said}");
    assert!(!said.contains(DB_PASSWORD), "{said}");
}
