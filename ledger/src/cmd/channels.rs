//! Sales channels and their credentials, kept like a store's: a hash made
//! by the caller, a generation that activation, deactivation and rotation
//! bump. Each credential change is a `channel_access` event, so every
//! central learns it from the log. Deactivating a channel also gives back
//! what it holds: the expiry releases its active holds in bounded chunks
//! (see [`super::ExpireHolds`]), woken by the event.

use shared::{Change, Channel, ChannelLimits, NewChannel};

use super::{Command, Tx};
use crate::{Refusal, backend::ChannelChange};

/// Registers a channel, active, at credential generation 1, with its
/// limits (the defaults when the request has none).
#[derive(Debug, Clone)]
pub struct CreateChannel {
    pub new: NewChannel,
    /// The hash of the channel's client secret.
    pub secret_hash: String,
}

impl Command for CreateChannel {
    type Output = Result<Channel, Refusal>;

    fn apply(&self, tx: &mut Tx<'_>) -> anyhow::Result<Self::Output> {
        let now_ms = tx.now_ms();
        if !tx
            .db()
            .insert_channel(&self.new, &self.secret_hash, now_ms)?
        {
            return Ok(Err(Refusal::ChannelExists {
                channel_id: self.new.channel_id.clone(),
            }));
        }
        tx.append(Change::ChannelAccess {
            channel_id: self.new.channel_id.clone(),
            active: true,
            generation: 1,
        })?;
        Ok(Ok(Channel {
            channel_id: self.new.channel_id.clone(),
            name: self.new.name.clone(),
            active: true,
            created_at: tx.now(),
            limits: self.new.limits.unwrap_or_default(),
            held_units: 0,
        }))
    }
}

/// Activates or deactivates a channel; either way its tokens end. A
/// deactivated channel's active holds are given back by the expiry. An
/// activation may set a new secret (`secret_hash`), so a secret that was
/// live when the channel was deactivated — perhaps why it was — does not
/// come back with it unless the admin says so.
#[derive(Debug, Clone)]
pub struct SetChannelActive {
    pub channel_id: String,
    pub active: bool,
    pub secret_hash: Option<String>,
}

impl Command for SetChannelActive {
    type Output = Result<Channel, Refusal>;

    fn apply(&self, tx: &mut Tx<'_>) -> anyhow::Result<Self::Output> {
        let change = ChannelChange::Active {
            active: self.active,
            secret_hash: self.secret_hash.as_deref(),
        };
        change_channel(tx, &self.channel_id, change)
    }
}

/// Replaces a channel's secret; its tokens issued before stop working on
/// every central (the generation moves).
#[derive(Debug, Clone)]
pub struct RotateChannelSecret {
    pub channel_id: String,
    pub secret_hash: String,
}

impl Command for RotateChannelSecret {
    type Output = Result<Channel, Refusal>;

    fn apply(&self, tx: &mut Tx<'_>) -> anyhow::Result<Self::Output> {
        let change = ChannelChange::Secret(&self.secret_hash);
        change_channel(tx, &self.channel_id, change)
    }
}

fn change_channel(
    tx: &mut Tx<'_>,
    channel_id: &str,
    change: ChannelChange<'_>,
) -> anyhow::Result<Result<Channel, Refusal>> {
    let Some((channel, generation)) = tx.db().change_channel(channel_id, change)? else {
        return Ok(Err(Refusal::ChannelNotFound {
            channel_id: channel_id.to_owned(),
        }));
    };
    tx.append(Change::ChannelAccess {
        channel_id: channel.channel_id.clone(),
        active: channel.active,
        generation,
    })?;
    Ok(Ok(channel))
}

/// Sets what a channel may hold at most. Holds placed before stay as they
/// are; the new limits bound what it places and extends from now on.
#[derive(Debug, Clone)]
pub struct SetChannelLimits {
    pub channel_id: String,
    pub limits: ChannelLimits,
}

impl Command for SetChannelLimits {
    type Output = Result<Channel, Refusal>;

    fn apply(&self, tx: &mut Tx<'_>) -> anyhow::Result<Self::Output> {
        Ok(tx
            .db()
            .set_channel_limits(&self.channel_id, &self.limits)?
            .ok_or_else(|| Refusal::ChannelNotFound {
                channel_id: self.channel_id.clone(),
            }))
    }
}
