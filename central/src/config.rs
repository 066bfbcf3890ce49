//! Configuration, built once from flags and environment variables (a flag wins
//! over its variable) and passed explicitly from then on.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "central",
    version,
    about = "Stockline central: the authoritative stock ledger"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (migrates the database first).
    Serve(ServeArgs),
    /// Load data into the database and exit.
    Seed(SeedArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free one (printed at start).
    #[arg(long, env = "STOCKLINE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Load the demo catalogue first if the database has no products.
    #[arg(long, env = "STOCKLINE_DEMO")]
    pub demo: bool,
    #[command(flatten)]
    pub config: Config,
}

#[derive(Debug, Args)]
pub struct SeedArgs {
    /// Load the demo catalogue: a few stores, a few hundred products with stock.
    #[arg(long, required = true)]
    pub demo: bool,
    #[command(flatten)]
    pub config: Config,
}

/// How hard SQLite works to keep a commit across a power cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Synchronous {
    /// fsync the WAL on every commit: an acknowledged write survives power loss.
    Full,
    /// fsync only at checkpoints: a power cut may lose the last commits
    /// (never corrupts); a process crash loses nothing.
    Normal,
}

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Directory holding the SQLite database (created if missing).
    #[arg(long, env = "STOCKLINE_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    #[arg(long, env = "STOCKLINE_SYNCHRONOUS", value_enum, default_value_t = Synchronous::Full)]
    pub synchronous: Synchronous,

    /// Connections in the read pool (the writer has its own).
    #[arg(long, env = "STOCKLINE_READ_CONNECTIONS", default_value_t = 8)]
    pub read_connections: u32,

    /// Most adjustment items committed in one group transaction.
    #[arg(long, env = "STOCKLINE_GROUP_COMMIT_ITEMS", default_value_t = 1024)]
    pub group_commit_items: usize,

    /// Writes that may wait for the writer before callers queue up.
    #[arg(long, env = "STOCKLINE_WRITE_QUEUE", default_value_t = 4096)]
    pub write_queue: usize,

    /// Most items in one batch adjustment.
    #[arg(long, env = "STOCKLINE_MAX_BATCH_ITEMS", default_value_t = 500)]
    pub max_batch_items: usize,

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "STOCKLINE_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Largest page of a listing or of the change log.
    #[arg(long, env = "STOCKLINE_MAX_PAGE", default_value_t = 1000)]
    pub max_page: u32,

    /// Longest long-poll wait a client may ask for, in seconds.
    #[arg(long, env = "STOCKLINE_MAX_WAIT_SECS", default_value_t = 60)]
    pub max_wait_secs: u64,

    /// Events older than this are pruned from the change log (hours).
    #[arg(long, env = "STOCKLINE_EVENT_RETENTION_HOURS", default_value_t = 24 * 7)]
    pub event_retention_hours: u64,

    /// At most this many events are kept in the change log.
    #[arg(
        long,
        env = "STOCKLINE_EVENT_RETENTION_COUNT",
        default_value_t = 5_000_000
    )]
    pub event_retention_count: u64,

    /// Saved answers of idempotency keys are kept this long (hours, at least 24).
    #[arg(long, env = "STOCKLINE_IDEMPOTENCY_RETENTION_HOURS", default_value_t = 72,
          value_parser = clap::value_parser!(u64).range(24..))]
    pub idempotency_retention_hours: u64,

    /// How often retention runs (seconds).
    #[arg(long, env = "STOCKLINE_PRUNE_INTERVAL_SECS", default_value_t = 300)]
    pub prune_interval_secs: u64,
}

impl Config {
    /// The defaults, with the database in `data_dir`. Used by tests and tools;
    /// environment variables still apply, as they do for the binary.
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        #[derive(Parser)]
        struct Defaults {
            #[command(flatten)]
            config: Config,
        }
        let mut config = Defaults::parse_from(["central"]).config;
        config.data_dir = data_dir.into();
        config
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("stockline.db")
    }

    pub fn max_wait(&self) -> Duration {
        Duration::from_secs(self.max_wait_secs)
    }

    pub fn event_retention(&self) -> Duration {
        Duration::from_secs(self.event_retention_hours * 3600)
    }

    pub fn idempotency_retention(&self) -> Duration {
        Duration::from_secs(self.idempotency_retention_hours * 3600)
    }

    pub fn prune_interval(&self) -> Duration {
        Duration::from_secs(self.prune_interval_secs.max(1))
    }
}
