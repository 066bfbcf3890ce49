//! The test-kit every harness stands on: a real central on port 0
//! ([`TestApp`], with its builder), a client for it, and a TCP proxy that
//! cuts, drops and delays the wire ([`chaos::ChaosProxy`]). Central's tests,
//! the end-to-end tests, the reliability suite and `cargo xtask` (the
//! browser tests' proxy) all use these, not copies of them. [`postgres`]
//! runs a real PostgreSQL for the tests of that backend; [`linearizability`]
//! checks recorded histories against a sequential model, at bounded cost.

#[cfg(feature = "app")]
mod app;
pub mod chaos;
pub mod linearizability;
#[cfg(feature = "node")]
pub mod node;
pub mod postgres;
pub mod process;

#[cfg(feature = "app")]
pub use app::*;

/// The admin API key of every central a test or the bench starts (in this
/// process or as a `central serve`).
pub const ADMIN_KEY: &str = "test-admin-key-0123456789abcdef0123";
/// A second admin key, for what one admin does to another's work.
pub const OTHER_ADMIN_KEY: &str = "test-admin-key-2-0123456789abcdef01";

/// A port free on loopback now, for a process that must be told its port
/// before it starts (PostgreSQL, chromedriver). What can bind port 0
/// itself (central, the chaos proxy) does.
pub fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
