//! Configuration, built once from flags and environment variables (a flag wins
//! over its variable) and passed explicitly from then on.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};
pub use ledger::DatabaseUrl;

pub use crate::http::client_ip::ClientIpHeader;

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
    /// Copy this central's SQLite ledger into an empty PostgreSQL database
    /// (stop central first), check the copy, and exit. Then serve with
    /// `--database-url` set to the same URL.
    MigrateTo(MigrateArgs),
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The PostgreSQL database to fill: postgres://user:password@host/db.
    /// Without it, the one `--database-url` (or `STOCKLINE_DATABASE_URL`)
    /// names, so the password need not be on the command line, where
    /// other users of the machine see it.
    pub target: Option<DatabaseUrl>,
    /// The SQLite ledger to copy: the one `serve` with these flags would use.
    #[command(flatten)]
    pub config: Config,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free one (printed at start).
    #[arg(long, env = "STOCKLINE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Load the demo catalogue first if the database has no products, and
    /// mark the database as a demo: its stores take the published demo
    /// secrets, so a later start without `--demo` refuses it. A flag only,
    /// never an environment variable: a leftover variable must not open a
    /// production central.
    #[arg(long)]
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

    /// Where the ledger lives: `postgres://user:password@host/db` puts it in
    /// PostgreSQL, where any number of centrals may share it; unset, it is
    /// the SQLite file `stockline.db` in `--data-dir`. Kept out of logs
    /// and `--help`: printed, its password is `***`.
    #[arg(long, env = "STOCKLINE_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<DatabaseUrl>,

    /// SQLite only: how hard it works to keep a commit across a power cut.
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

    /// Most events, and most keys, one prune step removes; retention takes
    /// step after step, letting writes in between, until it has caught up.
    #[arg(long, env = "STOCKLINE_PRUNE_CHUNK", default_value_t = 50_000)]
    pub prune_chunk: u64,

    /// HS256 signing secret for tokens (32+ characters). Without it, one is
    /// generated on first start and kept in the data directory.
    #[arg(long, env = "STOCKLINE_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<Secret>,

    /// Lifetime of issued tokens, in seconds.
    #[arg(long, env = "STOCKLINE_TOKEN_TTL_SECS", default_value_t = 900)]
    pub token_ttl_secs: u64,

    /// Admin API keys (comma-separated in the variable), sent as `X-API-Key`.
    #[arg(
        long = "admin-api-key",
        env = "STOCKLINE_ADMIN_API_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub admin_api_keys: Vec<Secret>,

    /// Rate limiting per client (token subject, else IP): on or off.
    #[arg(long, env = "STOCKLINE_RATE_LIMIT", default_value_t = true,
          action = clap::ArgAction::Set)]
    pub rate_limit: bool,

    /// Requests per second a client regains (0: one a minute).
    #[arg(long, env = "STOCKLINE_RATE_LIMIT_PER_SECOND", default_value_t = 100)]
    pub rate_limit_per_second: u32,

    /// Requests a client may send in a burst.
    #[arg(long, env = "STOCKLINE_RATE_LIMIT_BURST", default_value_t = 200)]
    pub rate_limit_burst: u32,

    /// Requests per second a client regains on admin routes (a lower
    /// budget; 0: one a minute).
    #[arg(
        long,
        env = "STOCKLINE_ADMIN_RATE_LIMIT_PER_SECOND",
        default_value_t = 10
    )]
    pub admin_rate_limit_per_second: u32,

    /// Origins allowed to call the API from a browser (comma-separated; `*`
    /// for any). Empty: same-origin only, e.g. the POS page served by trunk's
    /// proxy or by central itself.
    #[arg(
        long = "cors-origin",
        env = "STOCKLINE_CORS_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_origins: Vec<String>,

    /// A built POS page to serve at `/` (what `trunk build --release` puts
    /// in `dist/`), so the page and the API are one process and one origin.
    #[arg(long, env = "STOCKLINE_WEB_DIR")]
    pub web_dir: Option<PathBuf>,

    /// Burst on admin routes.
    #[arg(long, env = "STOCKLINE_ADMIN_RATE_LIMIT_BURST", default_value_t = 50)]
    pub admin_rate_limit_burst: u32,

    /// Sign-ins per minute a known id regains from one address (rate
    /// limiting on).
    #[arg(long, env = "STOCKLINE_SIGN_INS_PER_MINUTE", default_value_t = 60)]
    pub sign_ins_per_minute: u32,

    /// Sign-ins a known id may make from one address in a burst.
    #[arg(long, env = "STOCKLINE_SIGN_IN_BURST", default_value_t = 20)]
    pub sign_in_burst: u32,

    /// Write lines per second a client regains: adjustment and hold lines,
    /// and hold transitions (a batch costs one per line: each line is a
    /// saved answer, refused or not).
    #[arg(long, env = "STOCKLINE_WRITE_ITEMS_PER_SECOND", default_value_t = 200)]
    pub write_items_per_second: u32,

    /// Write lines a client may send in a burst.
    #[arg(long, env = "STOCKLINE_WRITE_ITEMS_BURST", default_value_t = 2000)]
    pub write_items_burst: u32,

    /// A store's budgets as a whole (requests and write lines, shared by the
    /// store's own credential and all its tills) are this many clients'
    /// budgets. Each till also has a client's budget of its own, so one
    /// till cannot starve the others, nor a store's tills the central.
    #[arg(long, env = "STOCKLINE_STORE_BUDGET_CLIENTS", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub store_budget_clients: u32,

    /// Failed authentications (unknown key, forged token, wrong secret) an
    /// address may make per window before its credentials are refused
    /// unchecked until the window ends (429). 0: no limit. Applies with
    /// rate limiting off too.
    #[arg(
        long,
        env = "STOCKLINE_AUTH_FAILURES_PER_ADDRESS",
        default_value_t = 20
    )]
    pub auth_failures_per_address: u32,

    /// Failed sign-ins per window for one known id (store, device, sales
    /// channel) from one address; that id from other addresses is not held
    /// up. 0: no limit.
    #[arg(long, env = "STOCKLINE_AUTH_FAILURES_PER_CLIENT", default_value_t = 10)]
    pub auth_failures_per_client: u32,

    /// The window failed authentications are counted in (seconds).
    #[arg(long, env = "STOCKLINE_AUTH_FAILURE_WINDOW_SECS", default_value_t = 60)]
    pub auth_failure_window_secs: u64,

    /// Most addresses tracked for failed authentication at once; beyond it
    /// new failing addresses are not counted until windows end (memory
    /// stays bounded; a warning is logged).
    #[arg(
        long,
        env = "STOCKLINE_AUTH_FAILURE_ADDRESSES",
        default_value_t = 65_536
    )]
    pub auth_failure_addresses: usize,

    /// Argon2 checks (sign-ins with an operator-chosen secret) run at once.
    #[arg(long, env = "STOCKLINE_MAX_CONCURRENT_HASHES", default_value_t = default_hashes())]
    pub max_concurrent_hashes: usize,

    /// How long a sign-in waits for an argon2 turn before 503 (ms).
    #[arg(long, env = "STOCKLINE_HASH_QUEUE_MS", default_value_t = 2000)]
    pub hash_queue_ms: u64,

    /// Proxies (addresses or networks, comma-separated) whose client
    /// address header is believed; everyone else is their peer address.
    #[arg(
        long = "trusted-proxy",
        env = "STOCKLINE_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<String>,

    /// The header trusted proxies name the client in.
    #[arg(long, env = "STOCKLINE_CLIENT_IP_HEADER", value_enum, default_value_t = ClientIpHeader::XForwardedFor)]
    pub client_ip_header: ClientIpHeader,

    /// Most open connections; also kept below the open-file limit.
    #[arg(long, env = "STOCKLINE_MAX_CONNECTIONS", default_value_t = 16_384)]
    pub max_connections: usize,

    /// Most open connections from one address (an IPv6 /64); trusted
    /// proxies are not limited.
    #[arg(
        long,
        env = "STOCKLINE_MAX_CONNECTIONS_PER_ADDRESS",
        default_value_t = 256
    )]
    pub max_connections_per_address: usize,

    /// A connection must send a request's headers within this long, and an
    /// idle keep-alive connection is closed after it (seconds).
    #[arg(long, env = "STOCKLINE_HEADER_READ_TIMEOUT_SECS", default_value_t = 20)]
    pub header_read_timeout_secs: u64,

    /// A request body must arrive within this long (seconds; 408 after).
    #[arg(long, env = "STOCKLINE_BODY_TIMEOUT_SECS", default_value_t = 30)]
    pub body_timeout_secs: u64,

    /// On SIGTERM, connections still open after this long are cut (seconds).
    #[arg(long, env = "STOCKLINE_SHUTDOWN_TIMEOUT_SECS", default_value_t = 10)]
    pub shutdown_timeout_secs: u64,

    /// Snapshots streamed at once; more wait up to a second, then 503.
    #[arg(long, env = "STOCKLINE_MAX_SNAPSHOTS", default_value_t = 4)]
    pub max_snapshots: usize,

    /// The chain's currency (ISO 4217): what prices count in, told to every
    /// till in its snapshot.
    #[arg(long, env = "STOCKLINE_CURRENCY", default_value = "EUR")]
    pub currency: shared::Currency,

    /// Devices (tills) a store may have enrolled at once; enrolling one more
    /// answers 409 `device_limit` until one is revoked.
    #[arg(long, env = "STOCKLINE_MAX_DEVICES_PER_STORE", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_devices_per_store: u32,

    /// How long a hold lives when its request names no `ttl_seconds`.
    #[arg(long, env = "STOCKLINE_HOLD_TTL_SECS", default_value_t = 900,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(shared::limits::MAX_HOLD_TTL_SECONDS)))]
    pub hold_ttl_secs: u32,

    /// The most holds expired per writer command when many are due at
    /// once: the writer takes other writes between chunks.
    #[arg(long, env = "STOCKLINE_EXPIRY_CHUNK", default_value_t = 500,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub expiry_chunk: u32,

    /// How long one expiry chunk should keep the writer (milliseconds):
    /// chunks grow or shrink toward it, so a sale queued behind one waits
    /// about this long.
    #[arg(long, env = "STOCKLINE_EXPIRY_CHUNK_MS", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub expiry_chunk_ms: u32,

    /// A snapshot must be read by its client within this long (seconds).
    #[arg(long, env = "STOCKLINE_SNAPSHOT_TIMEOUT_SECS", default_value_t = 120)]
    pub snapshot_timeout_secs: u64,

    /// Serve the API docs (`/docs`, `/openapi.json`). Off in production if
    /// nobody browses them.
    #[arg(long, env = "STOCKLINE_DOCS", default_value_t = true, action = clap::ArgAction::Set)]
    pub docs: bool,

    /// Serve `/metrics`, `/docs` and `/openapi.json` (and the health
    /// checks) on this address instead of on `--listen`: an operations port
    /// that only the monitoring network reaches.
    #[arg(long, env = "STOCKLINE_OPS_LISTEN")]
    pub ops_listen: Option<SocketAddr>,

    /// Serve `/metrics` (Prometheus).
    #[arg(long, env = "STOCKLINE_METRICS", default_value_t = true, action = clap::ArgAction::Set)]
    pub metrics: bool,

    /// Set by `serve --demo` and `seed --demo`: the database may hold the
    /// demo stores, whose secrets are published.
    #[arg(skip)]
    pub demo: bool,
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

impl MigrateArgs {
    /// The SQLite ledger to copy and the PostgreSQL database to fill. The
    /// target is the one named on the command line, else the one
    /// `--database-url` names (the URL `serve` will then use, from the
    /// environment); the source is the SQLite file `serve` would use
    /// without it.
    pub fn source_and_target(&self) -> anyhow::Result<(PathBuf, DatabaseUrl)> {
        let (source, target) = match (&self.target, self.config.postgres_url()) {
            (Some(target), None) => match self.config.sqlite_path() {
                Some(source) => (source, target.clone()),
                None => anyhow::bail!("--database-url names neither PostgreSQL nor SQLite"),
            },
            (Some(target), Some(url)) if target != url => anyhow::bail!(
                "migrate-to was given two PostgreSQL databases: {target} and --database-url \
                 (or STOCKLINE_DATABASE_URL) {url}"
            ),
            (_, Some(url)) => (self.config.database_path(), url.clone()),
            (None, None) => anyhow::bail!(
                "migrate-to needs the PostgreSQL database to fill: give its URL, or set \
                 STOCKLINE_DATABASE_URL (or --database-url) to it"
            ),
        };
        anyhow::ensure!(
            is_postgres(target.expose()),
            "migrate-to fills a postgres:// database, not {target}"
        );
        Ok((source, target))
    }
}

fn default_hashes() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// A secret from the configuration: usable, but never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
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

    /// Where the ledger lives: `--database-url`, else the SQLite file in
    /// the data directory.
    pub fn location(&self) -> anyhow::Result<ledger::Location> {
        let read_connections = self.read_connections as usize;
        let sqlite = |path| {
            ledger::Location::Sqlite(ledger::sqlite::Options {
                path,
                synchronous: match self.synchronous {
                    Synchronous::Full => ledger::sqlite::Synchronous::Full,
                    Synchronous::Normal => ledger::sqlite::Synchronous::Normal,
                },
                read_connections,
                mark_demo: self.demo,
            })
        };
        let Some(url) = &self.database_url else {
            return Ok(sqlite(self.database_path()));
        };
        let url = url.expose();
        if is_postgres(url) {
            return Ok(ledger::Location::Postgres(ledger::postgres::Options {
                url: url.to_owned(),
                read_connections,
                mark_demo: self.demo,
            }));
        }
        match url.strip_prefix("sqlite://") {
            Some(path) if !path.is_empty() => Ok(sqlite(PathBuf::from(path))),
            _ => anyhow::bail!(
                "--database-url takes postgres://… or sqlite:///path/to/file (default: the SQLite \
                 file in --data-dir)"
            ),
        }
    }

    /// The PostgreSQL database `--database-url` names, if it names one.
    pub fn postgres_url(&self) -> Option<&DatabaseUrl> {
        self.database_url
            .as_ref()
            .filter(|url| is_postgres(url.expose()))
    }

    /// The SQLite file, when the ledger is in one.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        match self.location() {
            Ok(ledger::Location::Sqlite(options)) => Some(options.path),
            _ => None,
        }
    }

    /// Retention as configured, counted back from now.
    pub fn prune_policy(&self) -> ledger::cmd::PrunePolicy {
        ledger::cmd::PrunePolicy::counted_back(
            self.event_retention(),
            self.event_retention_count,
            self.idempotency_retention(),
            self.prune_chunk,
        )
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

    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_secs.max(1))
    }

    pub fn body_timeout(&self) -> Duration {
        Duration::from_secs(self.body_timeout_secs.max(1))
    }

    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.shutdown_timeout_secs)
    }

    pub fn snapshot_timeout(&self) -> Duration {
        Duration::from_secs(self.snapshot_timeout_secs.max(1))
    }
}
