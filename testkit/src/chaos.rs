//! A TCP proxy that misbehaves on purpose, in front of a real central.
//!
//! - **Down/up**: while down, new connections are closed at once and open
//!   ones are cut (the browser tests take central "away" this way).
//! - **Faults**, drawn per connection from a seeded generator, so a run
//!   can be repeated: the answer dropped after the request reached central
//!   (the case idempotency keys exist for), a reset before anything is
//!   forwarded, and delays.
//!
//! A fault applies to a connection; clients that want one fault per request
//! send each on a connection of its own (no keep-alive pool).
//!
//! Controlled from the test itself ([`ChaosProxy::set_down`],
//! [`ChaosProxy::set_faults`]) or over HTTP on a control port
//! (`POST /down`, `POST /up`), for tests in a browser.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::watch,
};

/// How often each fault strikes a connection, in per mille, and how long a
/// delay lasts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// The request is forwarded and answered; the answer never arrives.
    pub drop_answer: u32,
    /// The connection is reset before anything reaches central.
    pub reset: u32,
    /// Both directions wait before their first bytes pass.
    pub delay: u32,
    pub delay_ms: (u64, u64),
}

/// What happened to the connections so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub connections: u64,
    pub answers_dropped: u64,
    pub resets: u64,
    pub delays: u64,
}

#[derive(Debug, Clone, Copy)]
enum Fate {
    Pass,
    DropAnswer,
    Reset,
    Delay(Duration),
}

struct State {
    target: SocketAddr,
    faults: Mutex<(Faults, SplitMix)>,
    /// Flipped to cut every open connection.
    down: watch::Sender<bool>,
    is_down: AtomicBool,
    connections: AtomicU64,
    answers_dropped: AtomicU64,
    resets: AtomicU64,
    delays: AtomicU64,
}

/// A running proxy; it stops when dropped.
pub struct ChaosProxy {
    pub addr: SocketAddr,
    state: Arc<State>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for ChaosProxy {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl ChaosProxy {
    /// A proxy on a free port to `target`, passing everything until told
    /// otherwise; `seed` fixes which connections faults strike.
    pub async fn start(target: SocketAddr, seed: u64) -> std::io::Result<ChaosProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            target,
            faults: Mutex::new((Faults::default(), SplitMix(seed))),
            down: watch::Sender::new(false),
            is_down: AtomicBool::new(false),
            connections: AtomicU64::new(0),
            answers_dropped: AtomicU64::new(0),
            resets: AtomicU64::new(0),
            delays: AtomicU64::new(0),
        });
        let accepting = tokio::spawn(accept(listener, state.clone()));
        Ok(ChaosProxy {
            addr,
            state,
            tasks: vec![accepting],
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Takes the network down (cutting open connections) or brings it up.
    pub fn set_down(&self, down: bool) {
        self.state.is_down.store(down, Ordering::SeqCst);
        self.state.down.send_replace(down);
    }

    pub fn set_faults(&self, faults: Faults) {
        let mut guard = self
            .state
            .faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        guard.0 = faults;
    }

    pub fn tally(&self) -> Tally {
        Tally {
            connections: self.state.connections.load(Ordering::Relaxed),
            answers_dropped: self.state.answers_dropped.load(Ordering::Relaxed),
            resets: self.state.resets.load(Ordering::Relaxed),
            delays: self.state.delays.load(Ordering::Relaxed),
        }
    }

    /// Also listens for `POST /down` and `POST /up` on a control port of its
    /// own (for pages in a browser, which cannot call the test); its address.
    pub async fn serve_control(&mut self) -> std::io::Result<SocketAddr> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = self.state.clone();
        self.tasks.push(tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let state = state.clone();
                tokio::spawn(async move {
                    let mut request = [0; 512];
                    let n = conn.read(&mut request).await.unwrap_or(0);
                    let line = String::from_utf8_lossy(&request[..n]);
                    let down = line.starts_with("POST /down");
                    if down || line.starts_with("POST /up") {
                        state.is_down.store(down, Ordering::SeqCst);
                        state.down.send_replace(down);
                    }
                    let _ = conn
                        .write_all(
                            b"HTTP/1.1 204 No Content\r\nAccess-Control-Allow-Origin: *\r\n\
                              Connection: close\r\n\r\n",
                        )
                        .await;
                });
            }
        }));
        Ok(addr)
    }

    /// A proxy and its control port on a thread of their own, for callers
    /// without a runtime (`cargo xtask`); both live until the process ends.
    pub fn spawn_detached(target: SocketAddr) -> std::io::Result<(SocketAddr, SocketAddr)> {
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    let _ = sender.send(Err(error));
                    return;
                }
            };
            runtime.block_on(async move {
                let started = async {
                    let mut proxy = ChaosProxy::start(target, 0).await?;
                    let control = proxy.serve_control().await?;
                    Ok::<_, std::io::Error>((proxy, control))
                };
                match started.await {
                    Ok((proxy, control)) => {
                        let _ = sender.send(Ok((proxy.addr, control)));
                        // Runs until the process exits.
                        std::future::pending::<()>().await;
                        drop(proxy);
                    }
                    Err(error) => {
                        let _ = sender.send(Err(error));
                    }
                }
            });
        });
        receiver
            .recv()
            .map_err(|_| std::io::Error::other("the proxy thread ended"))?
    }
}

async fn accept(listener: TcpListener, state: Arc<State>) {
    while let Ok((client, _)) = listener.accept().await {
        state.connections.fetch_add(1, Ordering::Relaxed);
        if state.is_down.load(Ordering::SeqCst) {
            drop(client);
            continue;
        }
        let fate = {
            let mut guard = state.faults.lock().unwrap_or_else(PoisonError::into_inner);
            let (faults, rng) = &mut *guard;
            decide(faults, rng)
        };
        tokio::spawn(forward(client, state.clone(), fate));
    }
}

fn decide(faults: &Faults, rng: &mut SplitMix) -> Fate {
    let roll = (rng.next() % 1000) as u32;
    if roll < faults.drop_answer {
        Fate::DropAnswer
    } else if roll < faults.drop_answer + faults.reset {
        Fate::Reset
    } else if roll < faults.drop_answer + faults.reset + faults.delay {
        let (low, high) = faults.delay_ms;
        let span = high.saturating_sub(low) + 1;
        Fate::Delay(Duration::from_millis(low + rng.next() % span))
    } else {
        Fate::Pass
    }
}

async fn forward(client: TcpStream, state: Arc<State>, fate: Fate) {
    let mut down = state.down.subscribe();
    let cut = async move {
        let _ = down.wait_for(|down| *down).await;
    };
    if let Fate::Reset = fate {
        state.resets.fetch_add(1, Ordering::Relaxed);
        let _ = client.set_zero_linger();
        return;
    }
    let Ok(server) = TcpStream::connect(state.target).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    if let Fate::DropAnswer = fate {
        // The request goes through; once central begins to answer, the
        // connection is closed: the answer is lost on the way back.
        let upstream = tokio::io::copy(&mut client_read, &mut server_write);
        let answered = async {
            let mut first = [0; 1];
            matches!(server_read.read(&mut first).await, Ok(n) if n > 0)
        };
        tokio::select! {
            answered = answered => if answered {
                state.answers_dropped.fetch_add(1, Ordering::Relaxed);
            },
            _ = upstream => {}
            () = cut => {}
        }
        return;
    }
    let delay = match fate {
        Fate::Delay(wait) => {
            state.delays.fetch_add(1, Ordering::Relaxed);
            wait
        }
        _ => Duration::ZERO,
    };
    let upstream = async {
        tokio::time::sleep(delay).await;
        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
        let _ = server_write.shutdown().await;
    };
    let downstream = async {
        tokio::time::sleep(delay).await;
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    tokio::select! {
        _ = async { tokio::join!(upstream, downstream) } => {}
        () = cut => {}
    }
}

/// A small seeded generator (SplitMix64): the same seed, the same faults.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_strikes_the_same_connections() {
        let faults = Faults {
            drop_answer: 300,
            reset: 100,
            delay: 100,
            delay_ms: (1, 5),
        };
        let fates = |seed| {
            let mut rng = SplitMix(seed);
            (0..50)
                .map(|_| format!("{:?}", decide(&faults, &mut rng)))
                .collect::<Vec<_>>()
        };
        assert_eq!(fates(7), fates(7));
        assert_ne!(fates(7), fates(8));
        let dropped = fates(7).iter().filter(|f| f.contains("DropAnswer")).count();
        assert!((5..=25).contains(&dropped), "{dropped} of 50 near 30%");
    }
}
