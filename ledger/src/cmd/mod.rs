//! The ledger's writes, one type each (the shape of mini-redis's `cmd/`):
//! a command holds what the write needs, [`Command::apply`] decides it by
//! the ledger's rules inside the writer's transaction, and its `Output` is
//! what the caller of [`crate::Ledger::run`] gets back. A refusal the rules
//! decide is part of the output (`Result<_, Refusal>`): it is an answer,
//! saved like any other for keyed writes, not a failure of the write.
//!
//! Adding a write is adding a type here: nothing else pairs commands with
//! answers.

mod adjust;
mod catalog;
mod channels;
mod devices;
mod holds;
mod prune;
mod stock;
mod stores;

pub use adjust::{Adjust, Adjusted, Batch, BatchOutcome};
pub use catalog::{CreateProduct, DeleteProduct, UpdateProduct};
pub use channels::{CreateChannel, RotateChannelSecret, SetChannelActive, SetChannelLimits};
pub use devices::{EnrolDevice, NewDevice, RevokeDevice};
pub use holds::{CommitHold, ExpireHolds, Expired, ExtendHold, HoldActor, PlaceHold, ReleaseHold};
pub use prune::{Prune, PrunePolicy};
pub use stock::SetStock;
pub use stores::{CreateStore, RotateSecret, SetSafetyStock, SetStoreActive};

pub use crate::{backend::Wants, writer::Tx};

/// One write to the ledger.
pub trait Command: Send + 'static {
    type Output: Send + 'static;

    /// How much work the command is, for bounding a group.
    fn weight(&self) -> usize {
        1
    }

    /// Says what the command will look up, so the group can read it ahead.
    fn wants(&self, wants: &mut Wants) {
        let _ = wants;
    }

    /// Applies the command inside the group's open transaction. It only
    /// reads `self`, so a group can be applied again after a rollback; an
    /// error rolls the command back and answers it
    /// [`crate::WriteError::Storage`].
    fn apply(&self, tx: &mut Tx<'_>) -> anyhow::Result<Self::Output>;
}

/// Who a stock write is for: the store, and the enrolled device (till)
/// that made it, if one did — recorded in the events it appends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Writer {
    pub store_id: String,
    pub device_id: Option<String>,
}

impl Writer {
    /// A write no device made: an admin, or a store's own credentials.
    pub fn store(store_id: impl Into<String>) -> Writer {
        Writer {
            store_id: store_id.into(),
            device_id: None,
        }
    }
}
