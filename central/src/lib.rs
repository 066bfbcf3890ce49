//! Stockline central: the authoritative stock ledger of a retail chain and
//! the replication API its store nodes follow.
//!
//! - the `ledger` crate underneath: the model, its rules, the single
//!   writer, reads; it knows nothing of this crate, and tells it what it
//!   committed through [`ledger::Subscriber`]s;
//! - [`replication`]: snapshot, change log, long-poll wake-ups;
//! - [`http`]: routes by resource, extractors, OpenAPI;
//! - [`error`]: the one error type and its mapping to problem+json.

pub mod auth;
pub mod config;
pub mod error;
pub mod http;
pub mod observability;
pub mod replication;
pub mod seed;

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use auth::{Auth, StoreAccess};
pub use config::Config;
use http::{client_ip::TrustedProxies, limits::Limits};
use ledger::{Ledger, Reader, Subscriber, WriterOptions, cmd};
use replication::{Notifier, Positions, Tail};

/// What every request handler gets: one `Arc`, so handing it to each
/// extractor costs one reference count, not one per field.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub config: Arc<Config>,
    pub ledger: Ledger,
    pub reader: Reader,
    pub notifier: Arc<Notifier>,
    /// The newest events, answering most change requests from memory.
    pub tail: Arc<Tail>,
    /// Known stores and their credential state.
    pub access: Arc<StoreAccess>,
    pub auth: Arc<Auth>,
    pub positions: Arc<Positions>,
    pub limits: Limits,
    /// Proxies whose client address header is believed.
    pub proxies: Arc<TrustedProxies>,
    /// Snapshots streamed at once.
    pub snapshots: Arc<tokio::sync::Semaphore>,
    /// Cancelled when the server starts shutting down: long-polls answer at once.
    pub shutdown: CancellationToken,
}

/// A running central: database open, writer and retention tasks started.
pub struct App {
    state: AppState,
    writer: JoinHandle<()>,
    retention: JoinHandle<()>,
    /// Releases holds at their time, while this central holds the lease
    /// (aborting it drops the lease: another central takes over).
    expiry: JoinHandle<()>,
}

impl App {
    pub async fn open(config: Config) -> anyhow::Result<App> {
        observability::metrics();
        let db = ledger::open(config.location()?).await?;
        let reader = db.reader();
        if !config.demo {
            seed::refuse_demo_data(&reader, db.demo()).await?;
        }
        let notifier = Arc::new(Notifier::default());
        // The cache is read at a known offset, and the ledger started after
        // it: what any central commits from there on reaches the cache.
        let (access, loaded) = StoreAccess::load(&reader).await?;
        let access = Arc::new(access);
        let auth = Arc::new(Auth::new(&config, access.clone())?);
        let tail = Arc::new(Tail::default());
        let expiry = Arc::new(ledger::expiry::ExpiryWatch::default());
        // The order they hear a commit in: the access cache and the tail
        // before the wake-ups, so a woken long-poll finds its events.
        let subscribers: Vec<Arc<dyn Subscriber>> = vec![
            access.clone(),
            tail.clone(),
            notifier.clone(),
            expiry.clone(),
            Arc::new(observability::CommitMetrics),
        ];
        let clock = ledger::clock::Clock::system();
        // One central at a time runs the expiry (on SQLite, this one).
        let lease = db.lease();
        tokio::spawn(observability::expiry_leader(lease.watch()));
        let (ledger, writer) = db.start_after(
            loaded,
            WriterOptions {
                queue: config.write_queue,
                group_items: config.group_commit_items,
                clock: clock.clone(),
            },
            subscribers,
        );
        // Serve nothing before the access cache is current: a store or
        // channel deactivated (a device revoked) by another central while
        // this one started must be refused from the first request on.
        if let Err(error) = ledger.started().await {
            let _ = writer.await;
            return Err(error).context("the ledger's writer did not start");
        }
        let proxies = Arc::new(TrustedProxies::parse(
            &config.trusted_proxies,
            config.client_ip_header,
        )?);
        let state = AppState(Arc::new(Shared {
            limits: Limits::new(&config),
            proxies,
            snapshots: Arc::new(tokio::sync::Semaphore::new(config.max_snapshots.max(1))),
            config: Arc::new(config),
            ledger,
            reader,
            notifier,
            tail,
            access,
            auth,
            positions: Arc::new(Positions::default()),
            shutdown: CancellationToken::new(),
        }));
        let retention = tokio::spawn(retention(state.clone()));
        let expiry = tokio::spawn(ledger::expiry::run_leased(
            state.ledger.clone(),
            state.reader.clone(),
            expiry,
            ledger::expiry::ExpiryOptions {
                chunk: state.config.expiry_chunk,
                chunk_time: Duration::from_millis(u64::from(state.config.expiry_chunk_ms)),
                clock,
            },
            lease,
        ));
        Ok(App {
            state,
            writer,
            retention,
            expiry,
        })
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The HTTP service: routes and the layers around them.
    pub fn service(&self) -> http::HttpService {
        http::service(self.state.clone())
    }

    /// Serves until `signal` resolves, then shuts down in order: stop
    /// accepting and answer the long-polls, finish in-flight requests, let
    /// the writer commit what is queued, close the database.
    ///
    /// With `--ops-listen`, `ops` is its listener: metrics, docs and health
    /// are served there, and stop with the rest.
    pub async fn serve(
        self,
        listener: TcpListener,
        ops: Option<TcpListener>,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let shutdown = self.state.shutdown.clone();
        let options = http::ServeOptions::new(&self.state.config, self.state.proxies.clone());
        let ops = ops.map(|listener| {
            let stop = shutdown.clone();
            let service = http::ops_service(self.state.clone());
            tokio::spawn(http::serve(
                listener,
                service,
                options.clone(),
                stop.cancelled_owned(),
            ))
        });
        let served = http::serve(listener, self.service(), options, async move {
            signal.await;
            tracing::info!("shutting down");
            shutdown.cancel();
        })
        .await
        .context("serving HTTP");
        if let Some(ops) = ops {
            let _ = ops.await;
        }
        self.close().await;
        served
    }

    /// Drains the writer and closes the database.
    pub async fn close(self) {
        self.state.shutdown.cancel();
        self.retention.abort();
        self.expiry.abort();
        self.state.ledger.shutdown().await;
        if let Err(error) = self.writer.await {
            tracing::error!(%error, "the writer task failed");
        }
        self.state.reader.close();
    }
}

/// Prunes the change log, expired idempotency keys and idle rate-limit
/// state on a timer.
async fn retention(state: AppState) {
    let mut tick = tokio::time::interval(state.config.prune_interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = state.shutdown.cancelled() => return,
        }
        state.limits.forget_idle_clients();
        state.auth.strikes.forget_expired();
        prune_until_caught_up(&state).await;
    }
}

/// Prunes chunk after chunk until nothing more is due. Each chunk is its
/// own writer command, so writes queued meanwhile go between them.
async fn prune_until_caught_up(state: &AppState) {
    let mut total = (0, 0);
    loop {
        match state
            .ledger
            .run(cmd::Prune(state.config.prune_policy()))
            .await
        {
            Ok(report) => {
                total.0 += report.events_pruned;
                total.1 += report.keys_pruned;
                if report.caught_up || state.shutdown.is_cancelled() {
                    break;
                }
            }
            Err(error) => {
                tracing::warn!(%error, "retention did not run");
                break;
            }
        }
        tokio::task::yield_now().await;
    }
    if total != (0, 0) {
        tracing::info!(events = total.0, keys = total.1, "retention pruned");
    }
}

/// A central serving on a local port in this process (tests, benchmarks).
pub struct Running {
    pub addr: SocketAddr,
    /// The operations listener's address, when the config asks for one.
    pub ops_addr: Option<SocketAddr>,
    stop: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    pub async fn start(config: Config) -> anyhow::Result<Running> {
        Self::start_on(config, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// On a given address: a restarted central keeps its origin, so a page
    /// it served (and that page's service worker and IndexedDB) finds it.
    pub async fn start_on(config: Config, addr: SocketAddr) -> anyhow::Result<Running> {
        let ops = match config.ops_listen {
            Some(ops) => Some(TcpListener::bind(ops).await?),
            None => None,
        };
        let ops_addr = ops.as_ref().map(TcpListener::local_addr).transpose()?;
        let app = App::open(config).await?;
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let signal = stop.clone().cancelled_owned();
        let task = tokio::spawn(app.serve(listener, ops, signal));
        Ok(Running {
            addr,
            ops_addr,
            stop,
            task,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Graceful shutdown, as on SIGTERM; returns once the database is closed.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.stop.cancel();
        self.task.await.context("server task")?
    }
}
