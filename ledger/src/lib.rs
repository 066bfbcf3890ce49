//! Stockline's ledger: the system of record of a chain's stock.
//!
//! It owns the model and every rule of it — guarded adjustments and
//! recorded facts, baskets, stocktakes, the catalogue and stores, devices,
//! idempotency (fingerprint + saved answer), the gapless change log and its
//! retention — and knows nothing of HTTP, tokens or axum. Its callers are
//! central's handlers, the seeder and the tests.
//!
//! - Writes are typed commands ([`cmd`]): one type per write, each with its
//!   own output, run by [`Ledger::run`] on the single writer, which commits
//!   whatever is queued as one group transaction.
//! - Reads go through [`Reader`], never through the writer; they return
//!   [`ReadError`].
//! - Each committed group is published once, as a [`Committed`], to the
//!   [`Subscriber`]s given at start (replication's tail and wake-ups, the
//!   access cache, metrics) before any caller in the group is answered.
//! - The hold [`expiry`] runs on the central holding the [`Lease`]: on
//!   PostgreSQL one of those sharing the database at a time.
//! - Row types and SQL live with their backend ([`sqlite`]); the rules talk
//!   to it through statement ports (`backend`), so both backends run the
//!   same rules; [`postgres`] lets several centrals share one ledger.

mod backend;
pub mod clock;
pub mod cmd;
mod committed;
mod database;
mod error;
pub mod expiry;
mod idempotency;
mod lease;
pub mod migrate;
mod pool;
pub mod postgres;
mod publish;
pub mod read;
mod refusal;
pub mod sqlite;
mod url;
mod writer;

pub use backend::Positions;
pub use cmd::{Command, Writer};
pub use committed::{AccessChange, Committed, CommittedEvent, GroupStats, HoldTally, Subscriber};
pub use database::{Database, Location, open};
pub use error::{ReadError, WriteError};
pub use idempotency::Keyed;
pub use lease::Lease;
pub use read::{ChangesPage, DeviceSecret, Reader, SNAPSHOT_HOLDS, SnapshotSink, StoreSecret};
pub use refusal::Refusal;
pub use url::DatabaseUrl;
pub use writer::{Ledger, WriterOptions};
