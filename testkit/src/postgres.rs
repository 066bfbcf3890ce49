//! A real PostgreSQL for tests: Debian's `postgresql-15` binaries, a data
//! directory of its own under the system's temp dir, a free loopback port.
//!
//! [`PostgresServer::start`] runs `initdb` and `pg_ctl` (through `runuser
//! -u postgres` when run as root, which they refuse); the server is stopped
//! and its directory removed when the value drops, also when a test fails.
//! [`database`] hands each test a fresh, empty database on one server per
//! test process: the one `cargo xtask test` started (its URL in
//! `STOCKLINE_TEST_POSTGRES`), or one this process starts and stops at exit.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::{
        OnceLock,
        atomic::{AtomicU32, Ordering},
    },
};

/// Where Debian puts the server's binaries (not on PATH).
pub const BIN: &str = "/usr/lib/postgresql/15/bin";

/// The environment variable naming a running server's base URL
/// (`postgres://postgres@127.0.0.1:PORT`), for every test process.
pub const URL_ENV: &str = "STOCKLINE_TEST_POSTGRES";

pub struct PostgresServer {
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl PostgresServer {
    /// Creates a cluster in a fresh directory and starts it on a free port.
    /// `settings` are extra `-c name=value` options.
    pub fn start(settings: &[&str]) -> Result<PostgresServer, String> {
        let bin = Path::new(BIN);
        if !bin.join("initdb").exists() {
            return Err(format!(
                "PostgreSQL 15 is not installed ({BIN}/initdb is missing): \
                 `apt-get install -y postgresql-15`, or run `cargo xtask test`, which installs it"
            ));
        }
        // SAFETY: geteuid has no preconditions.
        let as_postgres = unsafe { libc::geteuid() } == 0;
        let dir = std::env::temp_dir().join(format!(
            "stockline-pg-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let server = PostgresServer {
            dir,
            port: crate::free_port().map_err(|e| e.to_string())?,
            as_postgres,
        };
        if as_postgres {
            run(Command::new("chown")
                .arg("postgres:postgres")
                .arg(&server.dir))?;
        }
        let data = server.dir.join("data");
        run(server
            .command("initdb")
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&data))?;
        let mut options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=400",
            server.port,
            server.dir.display()
        );
        for setting in settings {
            options.push_str(" -c ");
            options.push_str(setting);
        }
        run(server
            .command("pg_ctl")
            .arg("-D")
            .arg(&data)
            .arg("-o")
            .arg(options)
            .arg("-l")
            .arg(server.dir.join("log"))
            .args(["-w", "-t", "60", "start"]))?;
        Ok(server)
    }

    /// The server's URL without a database.
    pub fn base_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    /// The server's log so far, for a failing test's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    fn command(&self, program: &str) -> Command {
        let path = Path::new(BIN).join(program);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }
}

impl PostgresServer {
    /// Stops the server at once and removes its directory.
    fn stop(&self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.stop();
    }
}

static NEXT: AtomicU32 = AtomicU32::new(0);

fn run(command: &mut Command) -> Result<(), String> {
    let output = command.output().map_err(|e| format!("{command:?}: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}

/// The server this process's tests share.
fn server_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var(URL_ENV) {
            return url;
        }
        let server = PostgresServer::start(&[]).unwrap_or_else(|e| panic!("{e}"));
        let url = server.base_url();
        OWN.set(server).ok();
        // Statics are never dropped: stop the server when the process exits.
        extern "C" fn stop_at_exit() {
            if let Some(server) = OWN.get() {
                server.stop();
            }
        }
        // SAFETY: registers a plain function with no captured state.
        unsafe { libc::atexit(stop_at_exit) };
        url
    })
}

/// The server this process started itself, if it did.
static OWN: OnceLock<PostgresServer> = OnceLock::new();

/// A fresh, empty database for one test; its URL. (The client below is
/// synchronous: from async code, call it on a blocking thread, as
/// [`fresh_database`] does.)
pub fn database() -> String {
    let base = server_url();
    // The server outlives test processes (`cargo xtask test` runs one for
    // all of them) and pids come round again (pid_max is 32,768 here), so
    // the process's start time is part of the name too.
    static STARTED: OnceLock<u128> = OnceLock::new();
    let started = STARTED.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    });
    let name = format!(
        "t{}_{started}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let mut admin = postgres::Client::connect(&format!("{base}/postgres"), postgres::NoTls)
        .unwrap_or_else(|e| panic!("connecting to the test PostgreSQL at {base}: {e}"));
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap_or_else(|e| panic!("creating database {name}: {e}"));
    format!("{base}/{name}")
}

/// [`database`], from async code.
pub async fn fresh_database() -> String {
    tokio::task::spawn_blocking(database)
        .await
        .expect("making a test database")
}
