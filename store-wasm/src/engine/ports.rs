//! The engine's three ports. The browser implements them with IndexedDB,
//! fetch and `Date.now()`; tests with memory and a fake central.
//!
//! Futures here are not `Send`: in the browser everything runs on one thread.
#![allow(async_fn_in_trait)]

use shared::{
    Problem, Product, Store,
    api::{Call, Endpoint},
};

use super::model::{Intent, Level, Pickup, PickupIntent, Recent, Replica};

/// A storage failure; IndexedDB's quota errors land here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageError(pub String);

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What one page of changes does to the replica, written in one transaction
/// with the new offset, so a crash never applies half a page or skips one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PageWrite {
    pub levels: Vec<(String, Level)>,
    pub products: Vec<Product>,
    pub stores: Vec<Store>,
    /// This till's intents the page shows applied (their answers had not
    /// come back yet).
    pub intents: Vec<Intent>,
    /// Pick-ups placed or changed (extended, a line ended), whole.
    pub pickups: Vec<Pickup>,
    /// Hold ids whose lines here all ended: committed, released, expired.
    pub pickups_ended: Vec<String>,
    pub offset: u64,
    pub contact_ms: i64,
}

/// Writes never move a level's version back, nor an intent's answer back to
/// unanswered ([`Intent::merge`]): two tabs, or a page and an answer, may
/// commit in either order.
pub trait Storage {
    async fn load(&self) -> Result<Replica, StorageError>;
    /// Everything but the base, for a tab that follows (see [`Recent`]).
    async fn load_recent(&self) -> Result<Recent, StorageError>;
    /// Replaces levels, catalogue, stores, pick-ups and offset (a snapshot,
    /// or the whole replica after the device refused pages) in one
    /// transaction, with `replica.offset` as the new base; intents of both
    /// kinds are kept, and so is a stored level newer than the replica's.
    async fn replace(&self, replica: &Replica) -> Result<(), StorageError>;
    async fn apply(&self, page: &PageWrite) -> Result<(), StorageError>;
    /// Stores intents (new or changed: a sale, a basket's lines, central's
    /// answers) and, in the same transaction, the levels those answers
    /// brought and the time central was last heard from.
    async fn put_intents(
        &self,
        intents: &[Intent],
        levels: &[(String, Level)],
        contact_ms: Option<i64>,
    ) -> Result<(), StorageError>;
    /// Forgets finished intents (pruned, or dismissed by the cashier).
    async fn delete_intents(&self, ids: &[String]) -> Result<(), StorageError>;
    /// Stores hand-overs and cancels (new, or answered) and, in the same
    /// transaction, forgets the pick-ups their answers ended.
    async fn put_pickup_intents(
        &self,
        intents: &[PickupIntent],
        ended: &[String],
    ) -> Result<(), StorageError>;
    /// Forgets finished hand-overs and cancels.
    async fn delete_pickup_intents(&self, ids: &[String]) -> Result<(), StorageError>;
    /// Whether everything stored was lost since the last call (the browser
    /// deleted the database under the node: the site's data cleared). The
    /// engine then stores what it holds again. Asking clears it.
    fn take_lost(&self) -> bool;
}

/// Why a call to central got no usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// No answer at all: offline, connection lost, timed out.
    Network(String),
    /// Central answered with a problem (status ≥ 400).
    Problem(Box<Problem>),
}

impl TransportError {
    /// What an answer of `status` (not 2xx) means, given its body as
    /// central's problem+json if it was that. A body that is not (a
    /// proxy's error page, a captive portal) says nothing about the
    /// request: it is taken as no answer and retried, never as central
    /// refusing a sale. Every transport maps answers through this.
    pub fn answered(status: u16, problem: Option<Problem>) -> TransportError {
        match problem {
            Some(problem) => TransportError::Problem(Box::new(problem)),
            None => TransportError::Network(format!(
                "an answer {status} that did not come from central"
            )),
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            TransportError::Network(_) => None,
            TransportError::Problem(p) => Some(p.status),
        }
    }

    /// Worth sending again later with the same key: no answer, a 5xx, a
    /// 408 or a 429.
    pub fn is_transient(&self) -> bool {
        self.status()
            .is_none_or(|s| s >= 500 || s == 408 || s == 429)
    }
}

/// Central, as the node calls it: one generic call per endpoint declared
/// in [`shared::api`], so a transport is written once for every endpoint.
pub trait Transport {
    /// Sends `call`, with `token` as its bearer credential when given, and
    /// reads the answer as the endpoint declares it.
    async fn call<E: Endpoint>(
        &self,
        token: Option<&str>,
        call: Call<'_, E>,
    ) -> Result<E::Response, TransportError>;
}

pub trait Clock {
    fn now_ms(&self) -> i64;
    /// Uniform in [0, 1), for jitter.
    fn random(&self) -> f64;
}
