//! Serving connections, as `axum::serve` does, but bounded everywhere a
//! peer could hold something open, and with an HTTP/1 connection that
//! costs less memory.
//!
//! - **How many**: at most `--max-connections` (kept below the open-file
//!   limit) and `--max-connections-per-address` per client address; past
//!   either, a connection gets a one-line 503 and is closed at once, so it
//!   neither waits in the backlog nor holds a file descriptor.
//! - **How long**: the first bytes (to tell the protocol) and every
//!   request's headers must arrive within `--header-read-timeout-secs`;
//!   the same timer closes an idle keep-alive connection. On shutdown,
//!   connections still open after `--shutdown-timeout-secs` are cut.
//! - **How large**: HTTP/1 header buffers are capped; HTTP/2 (without TLS,
//!   for proxies that speak it) has few streams and small header lists, and
//!   pings its peer.
//!
//! The first bytes are peeked at, not read: HTTP/1 goes straight to hyper's
//! HTTP/1 connection, whose read buffer then stays at 8 KB for an idle
//! long-poll (hyper-util's auto builder reads them and hyper's buffer grows
//! to 16 KB); the HTTP/2 preface goes to HTTP/2, and only a preface that
//! arrives in pieces to the auto builder.

use std::{
    collections::HashMap,
    future::Future,
    io,
    net::{IpAddr, SocketAddr},
    pin::pin,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use axum::{
    body::Body,
    extract::{ConnectInfo, Request},
};
use hyper::{
    body::Incoming,
    server::conn::{http1, http2},
};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
    service::TowerToHyperService,
};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::{HttpService, client_ip};
use crate::{config::Config, observability};

type BoxFuture<T> = std::pin::Pin<Box<dyn Future<Output = T> + Send>>;

/// What an HTTP/2 connection without TLS starts with.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// File descriptors kept free of connections: the database's files, the
/// listeners, logs.
const FD_RESERVE: u64 = 128;

/// HTTP/1 header bytes a connection may buffer (hyper's default is ~400 KB).
const MAX_HEADER_BUFFER: usize = 64 * 1024;

/// The bounds a server keeps; see the module's docs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub max_connections: usize,
    pub max_connections_per_address: usize,
    pub header_read_timeout: Duration,
    pub shutdown_timeout: Duration,
    /// Peers exempt from the per-address cap: many clients behind each.
    pub trusted_proxies: Arc<client_ip::TrustedProxies>,
}

impl ServeOptions {
    pub fn new(config: &Config, trusted_proxies: Arc<client_ip::TrustedProxies>) -> Self {
        ServeOptions {
            max_connections: fd_bounded(config.max_connections),
            max_connections_per_address: config.max_connections_per_address.max(1),
            header_read_timeout: config.header_read_timeout(),
            shutdown_timeout: config.shutdown_timeout(),
            trusted_proxies,
        }
    }
}

/// `wanted`, or fewer if the process may not open that many files.
fn fd_bounded(wanted: usize) -> usize {
    let soft = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(u64::MAX, |(soft, _)| soft);
    let room = usize::try_from(soft.saturating_sub(FD_RESERVE)).unwrap_or(usize::MAX);
    if room < wanted {
        tracing::warn!(
            wanted,
            allowed = room,
            open_file_limit = soft,
            "the open-file limit holds fewer connections than --max-connections; raise `ulimit -n`"
        );
    }
    wanted.min(room).max(1)
}

/// Open connections, in all and by address. A [`Slot`] is one of them.
struct Connections {
    max: usize,
    per_address: usize,
    proxies: Arc<client_ip::TrustedProxies>,
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// Why a connection was not taken.
#[derive(Debug, Clone, Copy)]
enum Full {
    Server,
    Address,
}

impl Connections {
    fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Slot, Full> {
        let address = client_ip::bucket(peer);
        let capped = !self.proxies.trusts(peer);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.0 >= self.max {
            return Err(Full::Server);
        }
        if capped {
            let count = open.1.entry(address).or_insert(0);
            if *count >= self.per_address {
                return Err(Full::Address);
            }
            *count += 1;
        }
        open.0 += 1;
        metrics::gauge!(observability::CONNECTIONS_OPEN).set(open.0 as f64);
        Ok(Slot {
            connections: self.clone(),
            address: capped.then_some(address),
        })
    }
}

/// One admitted connection; dropping it frees its place.
struct Slot {
    connections: Arc<Connections>,
    address: Option<IpAddr>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self
            .connections
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        open.0 = open.0.saturating_sub(1);
        if let Some(address) = self.address
            && let Some(count) = open.1.get_mut(&address)
        {
            *count -= 1;
            if *count == 0 {
                open.1.remove(&address);
            }
        }
        metrics::gauge!(observability::CONNECTIONS_OPEN).set(open.0 as f64);
    }
}

/// What a connection past a cap is told before it is closed.
static REFUSAL: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
    let body = r#"{"type":"/problems/service_unavailable","title":"Too many connections","status":503,"code":"service_unavailable"}"#;
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\n\
         retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
});

/// Accepts connections until `signal` resolves, then stops accepting, lets
/// each connection finish the request it is answering (up to the shutdown
/// deadline), and returns.
pub async fn serve(
    listener: TcpListener,
    service: HttpService,
    options: ServeOptions,
    signal: impl Future<Output = ()>,
) -> io::Result<()> {
    let graceful = GracefulShutdown::new();
    let stopping = CancellationToken::new();
    let connections = Arc::new(Connections {
        max: options.max_connections,
        per_address: options.max_connections_per_address,
        proxies: options.trusted_proxies.clone(),
        open: Mutex::new((0, HashMap::new())),
    });
    let mut signal = pin!(signal);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_error(error).await;
                    continue;
                }
            },
            () = &mut signal => break,
        };
        let slot = match connections.admit(peer.ip()) {
            Ok(slot) => slot,
            Err(full) => {
                refuse(&stream, full);
                continue;
            }
        };
        // The peer address, for the client address and budgets.
        let service = TowerToHyperService::new(service.clone().map_request(
            move |request: Request<Incoming>| {
                let mut request = request.map(Body::new);
                request
                    .extensions_mut()
                    .insert(ConnectInfo::<SocketAddr>(peer));
                request
            },
        ));
        let watcher = graceful.watcher();
        let stopping = stopping.clone();
        let header_timeout = options.header_read_timeout;
        tokio::spawn(async move {
            let _slot = slot;
            // A peer that sends nothing is closed like one that sends half
            // a header; shutdown does not wait for either.
            let protocol = tokio::select! {
                detected = tokio::time::timeout(header_timeout, protocol(&stream)) => match detected {
                    Ok(protocol) => protocol,
                    Err(_) => return,
                },
                () = stopping.cancelled() => return,
            };
            // The rare protocols are boxed, so that every HTTP/1 connection's
            // task is only as large as an HTTP/1 connection needs.
            let served: Result<(), hyper::Error> = match protocol {
                Protocol::Http1 => {
                    let connection = http1_builder(header_timeout)
                        .serve_connection(TokioIo::new(stream), service);
                    watcher.watch(connection).await
                }
                Protocol::Http2 => {
                    let served: BoxFuture<_> = {
                        let connection = http2_builder(header_timeout)
                            .serve_connection(TokioIo::new(stream), service);
                        Box::pin(watcher.watch(connection))
                    };
                    served.await
                }
            };
            if let Err(error) = served {
                tracing::trace!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    stopping.cancel();
    if tokio::time::timeout(options.shutdown_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            deadline = ?options.shutdown_timeout,
            "connections still open at the shutdown deadline were cut"
        );
    }
    Ok(())
}

fn http1_builder(header_timeout: Duration) -> http1::Builder {
    let mut builder = http1::Builder::new();
    // No upgrades: central has no websocket routes.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(MAX_HEADER_BUFFER);
    builder
}

/// Few streams, small header lists, and a ping that closes a connection
/// whose peer has gone.
fn http2_builder(ping: Duration) -> http2::Builder<TokioExecutor> {
    let mut builder = http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .max_concurrent_streams(32)
        .max_header_list_size(MAX_HEADER_BUFFER as u32)
        .keep_alive_interval(ping)
        .keep_alive_timeout(ping);
    builder
}

/// Tells a connection past a cap so, without waiting on it, and closes it.
fn refuse(stream: &TcpStream, full: Full) {
    let reason = match full {
        Full::Server => "server",
        Full::Address => "address",
    };
    metrics::counter!(observability::CONNECTIONS_REFUSED, "reason" => reason).increment(1);
    tracing::debug!(reason, "connection refused: at the connection cap");
    let _ = stream.try_write(&REFUSAL);
}

enum Protocol {
    Http1,
    Http2,
}

/// Tells HTTP/2 from HTTP/1 by the first bytes, without reading them. A
/// preface that arrives in pieces (rare: it is 24 bytes) is peeked at again
/// until it is whole or shown not to be one; the caller bounds the wait.
async fn protocol(stream: &TcpStream) -> Protocol {
    let mut first = [0; PREFACE.len()];
    loop {
        match stream.peek(&mut first).await {
            // Nothing, or an error: HTTP/1 reports it as it would.
            Ok(0) | Err(_) => return Protocol::Http1,
            Ok(n) if first[..n] != PREFACE[..n] => return Protocol::Http1,
            Ok(n) if n == PREFACE.len() => return Protocol::Http2,
            // Peeking again at once would see the same bytes: wait a little.
            Ok(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

/// As axum's listener: a failed handshake is the peer's problem; anything
/// else (out of file descriptors) is logged and accepting pauses a moment.
async fn accept_error(error: io::Error) {
    if matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "accept error");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;

    async fn classify(first: &[u8]) -> &'static str {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        client.write_all(first).await.unwrap();
        match protocol(&server).await {
            Protocol::Http1 => "http1",
            Protocol::Http2 => "http2",
        }
    }

    #[tokio::test]
    async fn the_first_bytes_tell_the_protocol() {
        assert_eq!(classify(b"GET / HTTP/1.1\r\n").await, "http1");
        assert_eq!(classify(b"POST /v1 HTTP/1.1\r\n").await, "http1");
        assert_eq!(classify(b"PRI * HTTP/1.1\r\n").await, "http1");
        assert_eq!(classify(PREFACE).await, "http2");
    }

    #[tokio::test]
    async fn a_preface_in_pieces_is_waited_for() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        client.write_all(&PREFACE[..10]).await.unwrap();
        let detect =
            tokio::spawn(async move { matches!(protocol(&server).await, Protocol::Http2) });
        tokio::time::sleep(Duration::from_millis(50)).await;
        client.write_all(&PREFACE[10..]).await.unwrap();
        assert!(detect.await.unwrap());
    }

    #[test]
    fn the_refusal_is_a_complete_http_answer() {
        let text = std::str::from_utf8(&REFUSAL).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(body.len(), length);
        let problem: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(problem["code"], "service_unavailable");
    }

    #[test]
    fn slots_are_counted_per_address_and_freed_on_drop() {
        let connections = Arc::new(Connections {
            max: 3,
            per_address: 2,
            proxies: Arc::new(
                client_ip::TrustedProxies::parse(
                    &["10.0.0.1".into()],
                    client_ip::ClientIpHeader::XForwardedFor,
                )
                .unwrap(),
            ),
            open: Mutex::new((0, HashMap::new())),
        });
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let first = connections.admit(a).unwrap();
        let _second = connections.admit(a).unwrap();
        assert!(matches!(connections.admit(a), Err(Full::Address)));
        let proxy = connections.admit("10.0.0.1".parse().unwrap()).unwrap();
        assert!(matches!(
            connections.admit("192.0.2.9".parse().unwrap()),
            Err(Full::Server)
        ));
        drop(first);
        drop(proxy);
        assert!(connections.admit(a).is_ok(), "a freed slot is taken again");
    }
}
