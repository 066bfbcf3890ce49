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
