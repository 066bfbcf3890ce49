//! Holds in PostgreSQL's rows, for the writer and the readers alike. A
//! group reads and writes many holds at once (expiry), so each is one
//! statement over arrays, whatever the number of holds; the writer's
//! are part of the statement that writes its group.

use std::collections::HashMap;

use shared::{Channel, ChannelLimits, Hold, HoldLine, HoldState, NewChannel, StoreHeld};

use super::conn::{Sql, unsigned};
use crate::{
    StoreSecret,
    backend::{ChannelChange, ChannelHeld, ChannelTerms, DueHold, Result},
    clock::{millis, timestamp},
};

fn state(value: &str) -> Result<HoldState> {
    HoldState::parse(value).ok_or_else(|| anyhow::anyhow!("unknown hold state '{value}'"))
}

/// The holds among `$1` (an array of ids); [`assemble`] reads the rows.
pub(super) const HOLDS_BY_ID: &str =
    "SELECT hold_id, channel, reference, state, created_at, expires_at
     FROM holds WHERE hold_id = ANY($1)";

/// The lines of the holds among `$1`; [`assemble`] reads the rows.
pub(super) const LINES_BY_ID: &str =
    "SELECT hold_id, store_id, sku, quantity, committed, state FROM hold_lines
     WHERE hold_id = ANY($1) ORDER BY hold_id, store_id, sku";

/// The holds among `hold_ids` that exist, in the order asked.
pub(super) fn holds(conn: &mut impl Sql, hold_ids: &[String]) -> Result<Vec<Hold>> {
    if hold_ids.is_empty() {
        return Ok(Vec::new());
    }
    let holds = conn.query(HOLDS_BY_ID, &[&hold_ids])?;
    let lines = conn.query(LINES_BY_ID, &[&hold_ids])?;
    assemble(holds, lines, hold_ids)
}

/// The holds among `hold_ids` that exist, in the order asked, from the
/// rows of [`HOLDS_BY_ID`] and [`LINES_BY_ID`].
pub(super) fn assemble(
    holds: Vec<postgres::Row>,
    lines: Vec<postgres::Row>,
    hold_ids: &[String],
) -> Result<Vec<Hold>> {
    let mut found = HashMap::with_capacity(holds.len());
    for r in holds {
        let hold = Hold {
            hold_id: r.try_get(0)?,
            channel: r.try_get(1)?,
            reference: r.try_get(2)?,
            state: state(r.try_get(3)?)?,
            created_at: timestamp(r.try_get(4)?),
            expires_at: timestamp(r.try_get(5)?),
            lines: Vec::new(),
        };
        found.insert(hold.hold_id.clone(), hold);
    }
    for r in lines {
        let hold_id: String = r.try_get(0)?;
        if let Some(hold) = found.get_mut(&hold_id) {
            hold.lines.push(HoldLine {
                store_id: r.try_get(1)?,
                sku: r.try_get(2)?,
                quantity: r.try_get(3)?,
                committed: r.try_get(4)?,
                state: state(r.try_get(5)?)?,
            });
        }
    }
    Ok(hold_ids.iter().filter_map(|id| found.remove(id)).collect())
}

/// Holds and their lines as the arrays the writer's statement unnests
/// (`INSERT … ON CONFLICT DO UPDATE`, holds before lines).
pub(super) struct Columns<'a> {
    pub id: Vec<&'a str>,
    pub channel: Vec<&'a str>,
    pub reference: Vec<&'a str>,
    pub state: Vec<&'a str>,
    pub created: Vec<i64>,
    pub expires: Vec<i64>,
    pub line_hold: Vec<&'a str>,
    pub store: Vec<&'a str>,
    pub sku: Vec<&'a str>,
    pub quantity: Vec<i64>,
    pub committed: Vec<i64>,
    pub line_state: Vec<&'a str>,
}

impl<'a> Columns<'a> {
    pub(super) fn of(written: &'a [Hold]) -> Columns<'a> {
        let lines: Vec<(&str, &HoldLine)> = written
            .iter()
            .flat_map(|h| h.lines.iter().map(|l| (h.hold_id.as_str(), l)))
            .collect();
        Columns {
            id: written.iter().map(|h| h.hold_id.as_str()).collect(),
            channel: written.iter().map(|h| h.channel.as_str()).collect(),
            reference: written.iter().map(|h| h.reference.as_str()).collect(),
            state: written.iter().map(|h| h.state.as_str()).collect(),
            created: written.iter().map(|h| millis(h.created_at)).collect(),
            expires: written.iter().map(|h| millis(h.expires_at)).collect(),
            line_hold: lines.iter().map(|(h, _)| *h).collect(),
            store: lines.iter().map(|(_, l)| l.store_id.as_str()).collect(),
            sku: lines.iter().map(|(_, l)| l.sku.as_str()).collect(),
            quantity: lines.iter().map(|(_, l)| l.quantity).collect(),
            committed: lines.iter().map(|(_, l)| l.committed).collect(),
            line_state: lines.iter().map(|(_, l)| l.state.as_str()).collect(),
        }
    }
}

/// Active lines are counted by the hold's key: a walk of its own lines.
macro_rules! lines {
    () => {
        "(SELECT COUNT(*) FROM hold_lines l WHERE l.hold_id = h.hold_id AND l.state = 'active')"
    };
}

pub(super) fn due(conn: &mut impl Sql, now_ms: i64, limit: u32) -> Result<Vec<DueHold>> {
    let row = |r: &postgres::Row| -> Result<DueHold> {
        Ok(DueHold {
            hold_id: r.try_get(0)?,
            lines: u32::try_from(r.try_get::<_, i64>(1)?).unwrap_or(u32::MAX),
        })
    };
    let mut due: Vec<DueHold> = conn
        .query(
            concat!(
                "SELECT h.hold_id, ",
                lines!(),
                " FROM holds h
                 WHERE h.state = 'active' AND h.expires_at <= $1
                 ORDER BY h.expires_at, h.hold_id LIMIT $2"
            ),
            &[&now_ms, &i64::from(limit)],
        )?
        .iter()
        .map(row)
        .collect::<Result<_>>()?;
    let room = limit.saturating_sub(u32::try_from(due.len()).unwrap_or(u32::MAX));
    if room > 0 {
        // Those of deactivated channels not due by time already.
        let deactivated = conn.query(
            concat!(
                "SELECT h.hold_id, ",
                lines!(),
                " FROM channels c
                 JOIN holds h ON h.channel = c.channel_id AND h.state = 'active'
                 WHERE NOT c.active AND h.expires_at > $1
                 ORDER BY h.expires_at, h.hold_id LIMIT $2"
            ),
            &[&now_ms, &i64::from(room)],
        )?;
        for r in &deactivated {
            due.push(row(r)?);
        }
    }
    Ok(due)
}

pub(super) fn on_level(conn: &mut impl Sql, store_id: &str, sku: &str) -> Result<Vec<String>> {
    let rows = conn.query(
        "SELECT hold_id FROM hold_lines WHERE store_id = $1 AND sku = $2 AND state = 'active'
         ORDER BY hold_id",
        &[&store_id, &sku],
    )?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}

pub(super) fn at_store(conn: &mut impl Sql, store_id: &str, limit: u32) -> Result<Vec<Hold>> {
    let ids: Vec<String> = conn
        .query(
            "SELECT h.hold_id FROM holds h
             WHERE h.state = 'active' AND EXISTS (
                 SELECT 1 FROM hold_lines l
                 WHERE l.hold_id = h.hold_id AND l.store_id = $1 AND l.state = 'active')
             ORDER BY h.expires_at, h.hold_id LIMIT $2",
            &[&store_id, &i64::from(limit)],
        )?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<std::result::Result<_, _>>()?;
    let mut found = holds(conn, &ids)?;
    for hold in &mut found {
        hold.lines.retain(|line| line.store_id == store_id);
    }
    Ok(found)
}

pub(super) fn next_expiry(conn: &mut impl Sql) -> Result<Option<i64>> {
    Ok(conn
        .query_one(
            "SELECT CASE WHEN EXISTS (
                 SELECT 1 FROM channels c JOIN holds h ON h.channel = c.channel_id
                 WHERE NOT c.active AND h.state = 'active')
             THEN 0 ELSE (SELECT MIN(expires_at) FROM holds WHERE state = 'active') END",
            &[],
        )?
        .try_get(0)?)
}

pub(super) fn stores_stocking(conn: &mut impl Sql, sku: &str) -> Result<Vec<(String, i64)>> {
    let rows = conn.query(
        "SELECT l.store_id, s.safety_stock FROM stock_levels l
         JOIN stores s ON s.store_id = l.store_id
         WHERE l.sku = $1 AND s.active ORDER BY l.store_id",
        &[&sku],
    )?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

macro_rules! channel_columns {
    () => {
        "channel_id, name, active, created_at, max_held_units,
         max_level_share_percent, max_hold_life_seconds, held_units"
    };
}

fn channel(r: &postgres::Row) -> Result<Channel> {
    Ok(Channel {
        channel_id: r.try_get(0)?,
        name: r.try_get(1)?,
        active: r.try_get(2)?,
        created_at: timestamp(r.try_get(3)?),
        limits: limits(r, 4)?,
        held_units: r.try_get(7)?,
    })
}

fn limits(r: &postgres::Row, at: usize) -> Result<ChannelLimits> {
    let number = |at: usize| -> Result<u32> { Ok(u32::try_from(r.try_get::<_, i64>(at)?)?) };
    Ok(ChannelLimits {
        max_held_units: r.try_get(at)?,
        max_level_share_percent: number(at + 1)?,
        max_hold_life_seconds: number(at + 2)?,
    })
}

pub(super) fn insert_channel(
    conn: &mut impl Sql,
    new: &NewChannel,
    secret_hash: &str,
    now_ms: i64,
) -> Result<bool> {
    let limits = new.limits.unwrap_or_default();
    let inserted = conn.execute(
        "INSERT INTO channels (channel_id, name, active, created_at, secret_hash,
             max_held_units, max_level_share_percent, max_hold_life_seconds)
         VALUES ($1, $2, TRUE, $3, $4, $5, $6, $7) ON CONFLICT (channel_id) DO NOTHING",
        &[
            &new.channel_id,
            &new.name,
            &now_ms,
            &secret_hash,
            &limits.max_held_units,
            &i64::from(limits.max_level_share_percent),
            &i64::from(limits.max_hold_life_seconds),
        ],
    )?;
    Ok(inserted == 1)
}

pub(super) fn change_channel(
    conn: &mut impl Sql,
    channel_id: &str,
    change: ChannelChange<'_>,
) -> Result<Option<(Channel, u64)>> {
    let (active, hash): (Option<bool>, Option<&str>) = match change {
        ChannelChange::Active {
            active,
            secret_hash,
        } => (Some(active), secret_hash),
        ChannelChange::Secret(hash) => (None, Some(hash)),
    };
    let row = conn.query_opt(
        concat!(
            "UPDATE channels SET active = COALESCE($1, active),
                 secret_hash = COALESCE($2, secret_hash),
                 credential_generation = credential_generation + 1
             WHERE channel_id = $3
             RETURNING ",
            channel_columns!(),
            ", credential_generation"
        ),
        &[&active, &hash, &channel_id],
    )?;
    row.map(|r| Ok((channel(&r)?, unsigned(r.try_get(8)?))))
        .transpose()
}

pub(super) fn set_channel_limits(
    conn: &mut impl Sql,
    channel_id: &str,
    limits: &ChannelLimits,
) -> Result<Option<Channel>> {
    let row = conn.query_opt(
        concat!(
            "UPDATE channels SET max_held_units = $1, max_level_share_percent = $2,
                 max_hold_life_seconds = $3
             WHERE channel_id = $4 RETURNING ",
            channel_columns!()
        ),
        &[
            &limits.max_held_units,
            &i64::from(limits.max_level_share_percent),
            &i64::from(limits.max_hold_life_seconds),
            &channel_id,
        ],
    )?;
    row.as_ref().map(channel).transpose()
}

pub(super) fn channel_terms(conn: &mut impl Sql, channel_id: &str) -> Result<Option<ChannelTerms>> {
    let row = conn.query_opt(
        "SELECT active, max_held_units, max_level_share_percent, max_hold_life_seconds,
             held_units
         FROM channels WHERE channel_id = $1",
        &[&channel_id],
    )?;
    row.map(|r| {
        Ok(ChannelTerms {
            active: r.try_get(0)?,
            limits: limits(&r, 1)?,
            held_units: r.try_get(4)?,
        })
    })
    .transpose()
}

pub(super) fn channel_access(conn: &mut impl Sql) -> Result<Vec<(String, bool, u64)>> {
    let rows = conn.query(
        "SELECT channel_id, active, credential_generation FROM channels",
        &[],
    )?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, unsigned(r.try_get(2)?))))
        .collect()
}

pub(super) fn channel_secret(conn: &mut impl Sql, channel_id: &str) -> Result<Option<StoreSecret>> {
    let row = conn.query_opt(
        "SELECT secret_hash, active, credential_generation FROM channels WHERE channel_id = $1",
        &[&channel_id],
    )?;
    row.map(|r| {
        Ok(StoreSecret {
            secret_hash: r.try_get(0)?,
            active: r.try_get(1)?,
            generation: unsigned(r.try_get(2)?),
        })
    })
    .transpose()
}

pub(super) fn channels(conn: &mut impl Sql) -> Result<Vec<Channel>> {
    let rows = conn.query(
        concat!(
            "SELECT ",
            channel_columns!(),
            " FROM channels ORDER BY channel_id"
        ),
        &[],
    )?;
    rows.iter().map(channel).collect()
}

pub(super) fn channel_by_id(conn: &mut impl Sql, channel_id: &str) -> Result<Option<Channel>> {
    let row = conn.query_opt(
        concat!(
            "SELECT ",
            channel_columns!(),
            " FROM channels WHERE channel_id = $1"
        ),
        &[&channel_id],
    )?;
    row.as_ref().map(channel).transpose()
}

pub(super) fn channel_holds(
    conn: &mut impl Sql,
    channel_id: &str,
    limit: u32,
) -> Result<(ChannelHeld, Vec<Hold>)> {
    let active_holds: i64 = conn
        .query_one(
            "SELECT COUNT(*) FROM holds WHERE channel = $1 AND state = 'active'",
            &[&channel_id],
        )?
        .try_get(0)?;
    let stores = conn
        .query(
            "SELECT l.store_id, SUM(l.quantity)::BIGINT FROM holds h
             JOIN hold_lines l ON l.hold_id = h.hold_id AND l.state = 'active'
             WHERE h.channel = $1 AND h.state = 'active'
             GROUP BY l.store_id ORDER BY l.store_id",
            &[&channel_id],
        )?
        .iter()
        .map(|r| {
            Ok(StoreHeld {
                store_id: r.try_get(0)?,
                held_units: r.try_get(1)?,
            })
        })
        .collect::<Result<_>>()?;
    let ids: Vec<String> = conn
        .query(
            "SELECT hold_id FROM holds WHERE channel = $1 AND state = 'active'
             ORDER BY expires_at, hold_id LIMIT $2",
            &[&channel_id, &i64::from(limit)],
        )?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<std::result::Result<_, _>>()?;
    let held = ChannelHeld {
        active_holds: unsigned(active_holds),
        stores,
    };
    Ok((held, holds(conn, &ids)?))
}
