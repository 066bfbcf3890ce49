//! Sales channels and their credentials, kept like a store's: a hash made
//! by the caller, a generation that (de)activation bumps. Each change is a
//! `channel_access` event, so every central learns it from the log.

use shared::{Change, Channel, NewChannel};

use super::{Command, Tx};
use crate::Refusal;

/// Registers a channel, active, at credential generation 1.
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
        }))
    }
}

/// Activates or deactivates a channel; either way its tokens end. Its
/// holds stay as they are (they expire, or a store hands them over).
#[derive(Debug, Clone)]
pub struct SetChannelActive {
    pub channel_id: String,
    pub active: bool,
}

impl Command for SetChannelActive {
    type Output = Result<Channel, Refusal>;

    fn apply(&self, tx: &mut Tx<'_>) -> anyhow::Result<Self::Output> {
        let Some((channel, generation)) =
            tx.db().set_channel_active(&self.channel_id, self.active)?
        else {
            return Ok(Err(Refusal::ChannelNotFound {
                channel_id: self.channel_id.clone(),
            }));
        };
        tx.append(Change::ChannelAccess {
            channel_id: channel.channel_id.clone(),
            active: channel.active,
            generation,
        })?;
        Ok(Ok(channel))
    }
}
