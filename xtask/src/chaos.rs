//! A TCP proxy that can cut the network: the browser tests reach central
//! through it, and switch it down and up to see the store node go offline
//! and come back (`POST /down`, `POST /up` on its control port).

use std::{
    io::{BufRead, BufReader, Write},
    net::{Shutdown, SocketAddr, TcpListener, TcpStream},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread,
};

pub struct Chaos {
    pub proxy: SocketAddr,
    pub control: SocketAddr,
}

#[derive(Default)]
struct State {
    down: AtomicBool,
    /// Open connections, cut when the network goes down.
    open: Mutex<Vec<TcpStream>>,
}

/// Starts the proxy to `target` and its control port; both run until exit.
pub fn start(target: SocketAddr) -> std::io::Result<Chaos> {
    let state = Arc::new(State::default());
    let proxy = TcpListener::bind("127.0.0.1:0")?;
    let control = TcpListener::bind("127.0.0.1:0")?;
    let chaos = Chaos {
        proxy: proxy.local_addr()?,
        control: control.local_addr()?,
    };
    let s = state.clone();
    thread::spawn(move || {
        for client in proxy.incoming().flatten() {
            if s.down.load(Ordering::SeqCst) {
                let _ = client.shutdown(Shutdown::Both);
                continue;
            }
            let _ = forward(client, target, &s);
        }
    });
    thread::spawn(move || {
        for mut conn in control.incoming().flatten() {
            let mut line = String::new();
            let _ = BufReader::new(&conn).read_line(&mut line);
            let down = line.starts_with("POST /down");
            if down || line.starts_with("POST /up") {
                state.down.store(down, Ordering::SeqCst);
                if down {
                    for stream in state
                        .open
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .drain(..)
                    {
                        let _ = stream.shutdown(Shutdown::Both);
                    }
                }
            }
            let _ = conn.write_all(
                b"HTTP/1.1 204 No Content\r\nAccess-Control-Allow-Origin: *\r\nConnection: close\r\n\r\n",
            );
        }
    });
    Ok(chaos)
}

fn forward(client: TcpStream, target: SocketAddr, state: &State) -> std::io::Result<()> {
    let server = TcpStream::connect(target)?;
    {
        let mut open = state.open.lock().unwrap_or_else(|e| e.into_inner());
        open.push(client.try_clone()?);
        open.push(server.try_clone()?);
    }
    for (mut from, mut to) in [(client.try_clone()?, server.try_clone()?), (server, client)] {
        thread::spawn(move || {
            let _ = std::io::copy(&mut from, &mut to);
            let _ = to.shutdown(Shutdown::Both);
        });
    }
    Ok(())
}
