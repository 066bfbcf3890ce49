//! Holds in PostgreSQL's rows, for the writer and the readers alike. A
//! group reads and writes many holds at once (expiry), so each is one
//! statement over arrays, whatever the number of holds; the writer's
//! are part of the statement that writes its group.

use std::collections::HashMap;

use shared::{Channel, Hold, HoldLine, HoldState, NewChannel};

use super::conn::{Conn, unsigned};
use crate::{
    StoreSecret,
    backend::Result,
    clock::{millis, timestamp},
};

fn state(value: &str) -> Result<HoldState> {
    HoldState::parse(value).ok_or_else(|| anyhow::anyhow!("unknown hold state '{value}'"))
}

/// The holds among `hold_ids` that exist, in the order asked.
pub(super) fn holds(conn: &mut Conn, hold_ids: &[String]) -> Result<Vec<Hold>> {
    if hold_ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = conn.query(
        "SELECT hold_id, channel, reference, state, created_at, expires_at
         FROM holds WHERE hold_id = ANY($1)",
        &[&hold_ids],
    )?;
    let mut found = HashMap::with_capacity(rows.len());
    for r in rows {
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
    let lines = conn.query(
        "SELECT hold_id, store_id, sku, quantity, committed, state FROM hold_lines
         WHERE hold_id = ANY($1) ORDER BY hold_id, store_id, sku",
        &[&hold_ids],
    )?;
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

pub(super) fn due(conn: &mut Conn, now_ms: i64, limit: u32) -> Result<Vec<String>> {
    let rows = conn.query(
        "SELECT hold_id FROM holds WHERE state = 'active' AND expires_at <= $1
         ORDER BY expires_at, hold_id LIMIT $2",
        &[&now_ms, &i64::from(limit)],
    )?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}

pub(super) fn on_level(conn: &mut Conn, store_id: &str, sku: &str) -> Result<Vec<String>> {
    let rows = conn.query(
        "SELECT hold_id FROM hold_lines WHERE store_id = $1 AND sku = $2 AND state = 'active'
         ORDER BY hold_id",
        &[&store_id, &sku],
    )?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}

pub(super) fn at_store(conn: &mut Conn, store_id: &str, limit: u32) -> Result<Vec<Hold>> {
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
    holds(conn, &ids)
}

pub(super) fn next_expiry(conn: &mut Conn) -> Result<Option<i64>> {
    Ok(conn
        .query_one(
            "SELECT MIN(expires_at) FROM holds WHERE state = 'active'",
            &[],
        )?
        .try_get(0)?)
}

pub(super) fn stores_stocking(conn: &mut Conn, sku: &str) -> Result<Vec<String>> {
    let rows = conn.query(
        "SELECT l.store_id FROM stock_levels l JOIN stores s ON s.store_id = l.store_id
         WHERE l.sku = $1 AND s.active ORDER BY l.store_id",
        &[&sku],
    )?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}

fn channel(r: &postgres::Row) -> Result<Channel> {
    Ok(Channel {
        channel_id: r.try_get(0)?,
        name: r.try_get(1)?,
        active: r.try_get(2)?,
        created_at: timestamp(r.try_get(3)?),
    })
}

pub(super) fn insert_channel(
    conn: &mut Conn,
    new: &NewChannel,
    secret_hash: &str,
    now_ms: i64,
) -> Result<bool> {
    let inserted = conn.execute(
        "INSERT INTO channels (channel_id, name, active, created_at, secret_hash)
         VALUES ($1, $2, TRUE, $3, $4) ON CONFLICT (channel_id) DO NOTHING",
        &[&new.channel_id, &new.name, &now_ms, &secret_hash],
    )?;
    Ok(inserted == 1)
}

pub(super) fn set_channel_active(
    conn: &mut Conn,
    channel_id: &str,
    active: bool,
) -> Result<Option<(Channel, u64)>> {
    let row = conn.query_opt(
        "UPDATE channels SET active = $1, credential_generation = credential_generation + 1
         WHERE channel_id = $2
         RETURNING channel_id, name, active, created_at, credential_generation",
        &[&active, &channel_id],
    )?;
    row.map(|r| Ok((channel(&r)?, unsigned(r.try_get(4)?))))
        .transpose()
}

pub(super) fn channel_access(conn: &mut Conn) -> Result<Vec<(String, bool, u64)>> {
    let rows = conn.query(
        "SELECT channel_id, active, credential_generation FROM channels",
        &[],
    )?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, unsigned(r.try_get(2)?))))
        .collect()
}

pub(super) fn channel_secret(conn: &mut Conn, channel_id: &str) -> Result<Option<StoreSecret>> {
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

pub(super) fn channels(conn: &mut Conn) -> Result<Vec<Channel>> {
    let rows = conn.query(
        "SELECT channel_id, name, active, created_at FROM channels ORDER BY channel_id",
        &[],
    )?;
    rows.iter().map(channel).collect()
}
