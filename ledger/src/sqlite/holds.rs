//! Holds in SQLite's rows, for the writer and the readers alike.

use rusqlite::{Connection, OptionalExtension, params};
use shared::{Channel, ChannelLimits, Hold, HoldLine, HoldState, NewChannel, StoreHeld};

use crate::{
    StoreSecret,
    backend::{ChannelChange, ChannelHeld, ChannelTerms, DueHold, Result},
    clock::{millis, timestamp},
};

fn state(value: String) -> rusqlite::Result<HoldState> {
    HoldState::parse(&value).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("unknown hold state '{value}'").into(),
        )
    })
}

pub(super) fn hold(conn: &Connection, hold_id: &str) -> Result<Option<Hold>> {
    let hold = conn
        .prepare_cached(
            "SELECT hold_id, channel, reference, state, created_at, expires_at
             FROM holds WHERE hold_id = ?",
        )?
        .query_row([hold_id], |r| {
            Ok(Hold {
                hold_id: r.get(0)?,
                channel: r.get(1)?,
                reference: r.get(2)?,
                state: state(r.get(3)?)?,
                created_at: timestamp(r.get(4)?),
                expires_at: timestamp(r.get(5)?),
                lines: Vec::new(),
            })
        })
        .optional()?;
    let Some(mut hold) = hold else {
        return Ok(None);
    };
    let mut lines = conn.prepare_cached(
        "SELECT store_id, sku, quantity, committed, state FROM hold_lines
         WHERE hold_id = ? ORDER BY store_id, sku",
    )?;
    hold.lines = lines
        .query_map([hold_id], |r| {
            Ok(HoldLine {
                store_id: r.get(0)?,
                sku: r.get(1)?,
                quantity: r.get(2)?,
                committed: r.get(3)?,
                state: state(r.get(4)?)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Some(hold))
}

pub(super) fn holds(conn: &Connection, hold_ids: &[String]) -> Result<Vec<Hold>> {
    let mut found = Vec::with_capacity(hold_ids.len());
    for hold_id in hold_ids {
        found.extend(hold(conn, hold_id)?);
    }
    Ok(found)
}

pub(super) fn write(conn: &Connection, holds: &[&Hold]) -> Result<()> {
    let mut hold_row = conn.prepare_cached(
        "INSERT INTO holds (hold_id, channel, reference, state, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (hold_id) DO UPDATE
         SET state = excluded.state, expires_at = excluded.expires_at",
    )?;
    let mut line_row = conn.prepare_cached(
        "INSERT INTO hold_lines (hold_id, store_id, sku, quantity, committed, state)
         VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (hold_id, store_id, sku) DO UPDATE
         SET quantity = excluded.quantity, committed = excluded.committed,
             state = excluded.state",
    )?;
    for hold in holds {
        hold_row.execute(params![
            hold.hold_id,
            hold.channel,
            hold.reference,
            hold.state.as_str(),
            millis(hold.created_at),
            millis(hold.expires_at),
        ])?;
        for line in &hold.lines {
            line_row.execute(params![
                hold.hold_id,
                line.store_id,
                line.sku,
                line.quantity,
                line.committed,
                line.state.as_str(),
            ])?;
        }
    }
    Ok(())
}

pub(super) fn due(conn: &Connection, now_ms: i64, limit: u32) -> Result<Vec<DueHold>> {
    // Active lines are counted by the hold's key: a walk of its own lines.
    const LINES: &str = "(SELECT COUNT(*) FROM hold_lines l
                           WHERE l.hold_id = h.hold_id AND l.state = 'active')";
    let row = |r: &rusqlite::Row<'_>| {
        Ok(DueHold {
            hold_id: r.get(0)?,
            lines: r.get(1)?,
        })
    };
    let mut due: Vec<DueHold> = conn
        .prepare_cached(&format!(
            "SELECT h.hold_id, {LINES} FROM holds h
             WHERE h.state = 'active' AND h.expires_at <= ?
             ORDER BY h.expires_at, h.hold_id LIMIT ?"
        ))?
        .query_map(params![now_ms, limit], row)?
        .collect::<rusqlite::Result<_>>()?;
    let room = limit.saturating_sub(u32::try_from(due.len()).unwrap_or(u32::MAX));
    if room > 0 {
        // Those of deactivated channels not due by time already.
        let deactivated = conn
            .prepare_cached(&format!(
                "SELECT h.hold_id, {LINES} FROM channels c
                 JOIN holds h ON h.channel = c.channel_id AND h.state = 'active'
                 WHERE NOT c.active AND h.expires_at > ?
                 ORDER BY h.expires_at, h.hold_id LIMIT ?"
            ))?
            .query_map(params![now_ms, room], row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        due.extend(deactivated);
    }
    Ok(due)
}

pub(super) fn on_level(conn: &Connection, store_id: &str, sku: &str) -> Result<Vec<String>> {
    let mut statement = conn.prepare_cached(
        "SELECT hold_id FROM hold_lines WHERE store_id = ? AND sku = ? AND state = 'active'
         ORDER BY hold_id",
    )?;
    let ids = statement.query_map([store_id, sku], |r| r.get(0))?;
    Ok(ids.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn at_store(conn: &Connection, store_id: &str, limit: u32) -> Result<Vec<Hold>> {
    let ids: Vec<String> = conn
        .prepare_cached(
            "SELECT h.hold_id FROM holds h
             WHERE h.state = 'active' AND EXISTS (
                 SELECT 1 FROM hold_lines l
                 WHERE l.hold_id = h.hold_id AND l.store_id = ?1 AND l.state = 'active')
             ORDER BY h.expires_at, h.hold_id LIMIT ?2",
        )?
        .query_map(params![store_id, limit], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut found = holds(conn, &ids)?;
    for hold in &mut found {
        hold.lines.retain(|line| line.store_id == store_id);
    }
    Ok(found)
}

pub(super) fn next_expiry(conn: &Connection) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached(
            "SELECT CASE WHEN EXISTS (
                 SELECT 1 FROM channels c JOIN holds h ON h.channel = c.channel_id
                 WHERE NOT c.active AND h.state = 'active')
             THEN 0 ELSE (SELECT MIN(expires_at) FROM holds WHERE state = 'active') END",
        )?
        .query_row([], |r| r.get(0))?)
}

pub(super) fn stores_stocking(conn: &Connection, sku: &str) -> Result<Vec<(String, i64)>> {
    let mut statement = conn.prepare_cached(
        "SELECT l.store_id, s.safety_stock FROM stock_levels l
         JOIN stores s ON s.store_id = l.store_id
         WHERE l.sku = ? AND s.active ORDER BY l.store_id",
    )?;
    let ids = statement.query_map([sku], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(ids.collect::<rusqlite::Result<_>>()?)
}

const CHANNEL_COLUMNS: &str = "channel_id, name, active, created_at, max_held_units,
     max_level_share_percent, max_hold_life_seconds, held_units";

fn channel(r: &rusqlite::Row<'_>) -> rusqlite::Result<Channel> {
    Ok(Channel {
        channel_id: r.get(0)?,
        name: r.get(1)?,
        active: r.get(2)?,
        created_at: timestamp(r.get(3)?),
        limits: limits(r, 4)?,
        held_units: r.get(7)?,
    })
}

fn limits(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<ChannelLimits> {
    Ok(ChannelLimits {
        max_held_units: r.get(at)?,
        max_level_share_percent: r.get(at + 1)?,
        max_hold_life_seconds: r.get(at + 2)?,
    })
}

pub(super) fn insert_channel(
    conn: &Connection,
    new: &NewChannel,
    secret_hash: &str,
    now_ms: i64,
) -> Result<bool> {
    let limits = new.limits.unwrap_or_default();
    let inserted = conn
        .prepare_cached(
            "INSERT INTO channels (channel_id, name, active, created_at, secret_hash,
                 max_held_units, max_level_share_percent, max_hold_life_seconds)
             VALUES (?, ?, 1, ?, ?, ?, ?, ?) ON CONFLICT (channel_id) DO NOTHING",
        )?
        .execute(params![
            new.channel_id,
            new.name,
            now_ms,
            secret_hash,
            limits.max_held_units,
            limits.max_level_share_percent,
            limits.max_hold_life_seconds,
        ])?;
    Ok(inserted == 1)
}

pub(super) fn change_channel(
    conn: &Connection,
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
    Ok(conn
        .prepare_cached(&format!(
            "UPDATE channels SET active = COALESCE(?1, active),
                 secret_hash = COALESCE(?2, secret_hash),
                 credential_generation = credential_generation + 1
             WHERE channel_id = ?3 RETURNING {CHANNEL_COLUMNS}, credential_generation"
        ))?
        .query_row(params![active, hash, channel_id], |r| {
            Ok((channel(r)?, r.get::<_, i64>(8)? as u64))
        })
        .optional()?)
}

pub(super) fn set_channel_limits(
    conn: &Connection,
    channel_id: &str,
    limits: &ChannelLimits,
) -> Result<Option<Channel>> {
    Ok(conn
        .prepare_cached(&format!(
            "UPDATE channels SET max_held_units = ?, max_level_share_percent = ?,
                 max_hold_life_seconds = ?
             WHERE channel_id = ? RETURNING {CHANNEL_COLUMNS}"
        ))?
        .query_row(
            params![
                limits.max_held_units,
                limits.max_level_share_percent,
                limits.max_hold_life_seconds,
                channel_id
            ],
            channel,
        )
        .optional()?)
}

pub(super) fn channel_terms(conn: &Connection, channel_id: &str) -> Result<Option<ChannelTerms>> {
    Ok(conn
        .prepare_cached(
            "SELECT active, max_held_units, max_level_share_percent, max_hold_life_seconds,
                 held_units
             FROM channels WHERE channel_id = ?",
        )?
        .query_row([channel_id], |r| {
            Ok(ChannelTerms {
                active: r.get(0)?,
                limits: limits(r, 1)?,
                held_units: r.get(4)?,
            })
        })
        .optional()?)
}

pub(super) fn add_channel_held(conn: &Connection, channel_id: &str, units: i64) -> Result<()> {
    conn.prepare_cached("UPDATE channels SET held_units = held_units + ? WHERE channel_id = ?")?
        .execute(params![units, channel_id])?;
    Ok(())
}

pub(super) fn channel_access(conn: &Connection) -> Result<Vec<(String, bool, u64)>> {
    let mut statement =
        conn.prepare_cached("SELECT channel_id, active, credential_generation FROM channels")?;
    let rows = statement.query_map([], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn channel_secret(conn: &Connection, channel_id: &str) -> Result<Option<StoreSecret>> {
    Ok(conn
        .prepare_cached(
            "SELECT secret_hash, active, credential_generation FROM channels WHERE channel_id = ?",
        )?
        .query_row([channel_id], |r| {
            Ok(StoreSecret {
                secret_hash: r.get(0)?,
                active: r.get(1)?,
                generation: r.get::<_, i64>(2)? as u64,
            })
        })
        .optional()?)
}

pub(super) fn channels(conn: &Connection) -> Result<Vec<Channel>> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {CHANNEL_COLUMNS} FROM channels ORDER BY channel_id"
    ))?;
    let rows = statement.query_map([], channel)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn channel_by_id(conn: &Connection, channel_id: &str) -> Result<Option<Channel>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {CHANNEL_COLUMNS} FROM channels WHERE channel_id = ?"
        ))?
        .query_row([channel_id], channel)
        .optional()?)
}

pub(super) fn channel_holds(
    conn: &Connection,
    channel_id: &str,
    limit: u32,
) -> Result<(ChannelHeld, Vec<Hold>)> {
    let active_holds: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM holds WHERE channel = ? AND state = 'active'")?
        .query_row([channel_id], |r| r.get(0))?;
    let stores = conn
        .prepare_cached(
            "SELECT l.store_id, SUM(l.quantity) FROM holds h
             JOIN hold_lines l ON l.hold_id = h.hold_id AND l.state = 'active'
             WHERE h.channel = ? AND h.state = 'active'
             GROUP BY l.store_id ORDER BY l.store_id",
        )?
        .query_map([channel_id], |r| {
            Ok(StoreHeld {
                store_id: r.get(0)?,
                held_units: r.get(1)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let ids: Vec<String> = conn
        .prepare_cached(
            "SELECT hold_id FROM holds WHERE channel = ? AND state = 'active'
             ORDER BY expires_at, hold_id LIMIT ?",
        )?
        .query_map(params![channel_id, limit], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let held = ChannelHeld {
        active_holds: active_holds.max(0) as u64,
        stores,
    };
    Ok((held, holds(conn, &ids)?))
}
