use std::process::ExitCode;

use anyhow::Context;
use central::{
    App,
    auth::generate_secret,
    config::{Cli, Command, MigrateArgs, Secret, SeedArgs, ServeArgs},
    seed,
};
use clap::Parser;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // JSON logs, one object a line; RUST_LOG filters (default: info).
    // json-subscriber writes what tracing-subscriber's JSON format does, but
    // keeps span fields as values: recording the principal, store and sku
    // on a request's span no longer re-parses and re-writes its JSON.
    json_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_current_span(true)
        .init();
    fix_mmap_threshold();
    let result = match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Seed(args) => seed(args).await,
        Command::MigrateTo(args) => migrate_to(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "central stopped");
            ExitCode::FAILURE
        }
    }
}

/// Allocations of 4 MiB or more (argon2's 19 MiB working memory, the
/// rare huge buffer) are mapped on their own and unmapped when freed.
/// glibc starts so, but after the first such free it raises the threshold
/// to that size, and later buffers come from per-thread arenas that keep
/// them: 150 wrong sign-ins left central at ~740 MB. Setting the threshold
/// turns the raising off (and keeps the trim threshold at twice it, as
/// glibc's own raising would).
fn fix_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const THRESHOLD: libc::c_int = 4 << 20;
        // SAFETY: mallopt only sets allocator parameters (under the
        // allocator's own lock); no memory is touched.
        let set = unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, 2 * THRESHOLD) == 1
        };
        if !set {
            tracing::warn!("could not fix the allocator's mmap threshold");
        }
    }
}

async fn serve(mut args: ServeArgs) -> anyhow::Result<()> {
    // Where the ledger is, said without a password a URL may hold.
    let database = match args.config.sqlite_path() {
        Some(path) => format!(
            "sqlite {} (synchronous {:?})",
            path.display(),
            args.config.synchronous
        ),
        None => match args.config.postgres_url() {
            Some(url) => format!("postgresql {url}"),
            None => "postgresql".to_owned(),
        },
    };
    let ops_listen = args.config.ops_listen;
    // Connections are bounded below the open-file limit: raise the soft
    // limit to what the system allows first.
    if let Err(error) = rlimit::increase_nofile_limit(u64::MAX) {
        tracing::warn!(%error, "could not raise the open-file limit");
    }
    args.config.demo = args.demo;
    // A demo gets an admin key of its own, made now and shown once: a
    // well-known one would open every demo that is left running.
    let demo_key = (args.demo && args.config.admin_api_keys.is_empty()).then(|| {
        let key = Secret::new(generate_secret());
        args.config.admin_api_keys.push(key.clone());
        key
    });
    let app = App::open(args.config).await?;
    if args.demo {
        let seeded = seed::demo(&app.state().ledger).await?;
        tracing::info!(?seeded, "demo data loaded");
        print_demo_credentials(demo_key.as_ref());
    }
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let ops = match ops_listen {
        Some(ops) => {
            let listener = TcpListener::bind(ops)
                .await
                .with_context(|| format!("binding the operations listener {ops}"))?;
            tracing::info!(addr = %listener.local_addr()?, "operations listening");
            Some(listener)
        }
        None => None,
    };
    let addr = listener.local_addr()?;
    tracing::info!(%addr, %database, "listening");
    app.serve(listener, ops, shutdown_signal()).await
}

async fn seed(mut args: SeedArgs) -> anyhow::Result<()> {
    args.config.demo = true;
    let app = App::open(args.config).await?;
    let seeded = seed::demo(&app.state().ledger).await;
    app.close().await;
    let seeded = seeded?;
    tracing::info!(?seeded, "demo data loaded");
    print_demo_credentials(None);
    Ok(())
}

async fn migrate_to(args: MigrateArgs) -> anyhow::Result<()> {
    let (source, target) = args.source_and_target()?;
    tracing::info!(source = %source.display(), %target, "copying the SQLite ledger into PostgreSQL");
    let copied = tokio::task::spawn_blocking(move || {
        ledger::migrate::sqlite_to_postgres(&source, target.expose())
    })
    .await??;
    tracing::info!(
        ?copied,
        "copied and checked; serve with --database-url set to the target"
    );
    Ok(())
}

/// Demo credentials go to stderr for the person at the terminal, never into
/// the JSON log stream.
fn print_demo_credentials(admin_key: Option<&Secret>) {
    eprintln!("\nDemo credentials (POST /v1/auth/token):");
    for (store_id, name) in seed::DEMO_STORES {
        eprintln!(
            "  store {store_id} ({name}): client_id={store_id} client_secret={}",
            seed::demo_secret(store_id)
        );
    }
    match admin_key {
        Some(key) => eprintln!("  admin: X-API-Key: {} (made for this run)\n", key.expose()),
        None => eprintln!(
            "  admin: the key given with --admin-api-key (serve --demo makes one if none)\n"
        ),
    }
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
