//! Serving connections, as `axum::serve` does, but with an HTTP/1 connection
//! that costs less memory.
//!
//! axum serves each connection with hyper-util's auto builder, which reads
//! the first bytes to tell HTTP/2 from HTTP/1 and hands them back to hyper;
//! hyper's read buffer then grows from 8 to 16 KB on the request's second
//! read. Every waiting long-poll carried that (10,000 waiters: 235 MiB RSS,
//! 174 MiB without). Here the first bytes are peeked at, not read: HTTP/1
//! goes straight to hyper's HTTP/1 connection, the HTTP/2 preface to
//! HTTP/2, and only a preface that arrives in pieces to the auto builder.

use std::{future::Future, io, net::SocketAddr, pin::pin, time::Duration};

use axum::{
    body::Body,
    extract::{ConnectInfo, Request},
};
use hyper::{
    body::Incoming,
    server::conn::{http1, http2},
};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::{conn::auto, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

use super::HttpService;

type BoxFuture<T> = std::pin::Pin<Box<dyn Future<Output = T> + Send>>;

/// What an HTTP/2 connection without TLS starts with.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Accepts connections until `signal` resolves, then stops accepting, lets
/// each connection finish the request it is answering, and returns once
/// all are closed.
pub async fn serve(
    listener: TcpListener,
    service: HttpService,
    signal: impl Future<Output = ()>,
) -> io::Result<()> {
    let graceful = GracefulShutdown::new();
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
        // The peer address, for rate limiting anonymous callers by IP.
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
        tokio::spawn(async move {
            // The rare protocols are boxed, so that every HTTP/1 connection's
            // task is only as large as an HTTP/1 connection needs.
            let served = match protocol(&stream).await {
                Protocol::Http1 => {
                    // No upgrades: central has no websocket routes.
                    let connection =
                        http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                    watcher.watch(connection).await.map_err(Into::into)
                }
                Protocol::Http2 => {
                    let served: BoxFuture<_> = {
                        let mut builder = http2::Builder::new(TokioExecutor::new());
                        // As axum::serve: CONNECT for HTTP/2 websockets.
                        builder.enable_connect_protocol();
                        let connection = builder.serve_connection(TokioIo::new(stream), service);
                        Box::pin(watcher.watch(connection))
                    };
                    served.await.map_err(Into::into)
                }
                Protocol::Unsure => {
                    let served: BoxFuture<_> = {
                        let mut builder = auto::Builder::new(TokioExecutor::new());
                        builder.http2().enable_connect_protocol();
                        let connection = builder.serve_connection(TokioIo::new(stream), service);
                        Box::pin(watcher.watch(connection.into_owned()))
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
    graceful.shutdown().await;
    Ok(())
}

enum Protocol {
    Http1,
    Http2,
    /// The first bytes are the start of the HTTP/2 preface, but not all of
    /// it yet.
    Unsure,
}

/// Tells HTTP/2 from HTTP/1 by the first bytes, without reading them.
async fn protocol(stream: &TcpStream) -> Protocol {
    let mut first = [0; PREFACE.len()];
    match stream.peek(&mut first).await {
        // Nothing, or an error: HTTP/1 reports it as it would.
        Ok(0) | Err(_) => Protocol::Http1,
        Ok(n) if first[..n] != PREFACE[..n] => Protocol::Http1,
        Ok(n) if n == PREFACE.len() => Protocol::Http2,
        Ok(_) => Protocol::Unsure,
    }
}

/// As axum's listener: a failed handshake is the peer's problem; anything
/// else (out of file descriptors) is logged and accepting pauses a second.
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
    tokio::time::sleep(Duration::from_secs(1)).await;
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
            Protocol::Unsure => "unsure",
        }
    }

    #[tokio::test]
    async fn the_first_bytes_tell_the_protocol() {
        assert_eq!(classify(b"GET / HTTP/1.1\r\n").await, "http1");
        assert_eq!(classify(b"POST /v1 HTTP/1.1\r\n").await, "http1");
        assert_eq!(classify(b"PRI * HTTP/1.1\r\n").await, "http1");
        assert_eq!(classify(PREFACE).await, "http2");
        assert_eq!(classify(&PREFACE[..10]).await, "unsure");
    }
}
