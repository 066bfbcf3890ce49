//! Moving up: a SQLite ledger copied into an empty PostgreSQL database —
//! catalogue, stores with their credential hashes, levels, holds, devices, the
//! retained change log with its offsets, the saved answers of keys and the
//! log's positions — so tills following the old central keep following
//! the new one from the offset they hold, without a 410.
//!
//! The source is read inside one write-locked transaction (a central still
//! serving the file waits, and should be stopped first); the target is
//! written in one transaction, checked against the source (row counts, the
//! head and the pruned offset) and committed only if they agree.

use std::path::Path;

use ::postgres::types::ToSql;
use anyhow::{Context, bail, ensure};
use rusqlite::Connection;

use crate::postgres;

/// Rows per INSERT: arrays of this many values per column.
const BATCH: usize = 2_000;

/// What was copied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Copied {
    pub stores: u64,
    pub products: u64,
    pub levels: u64,
    pub holds: u64,
    pub channels: u64,
    pub hold_lines: u64,
    pub devices: u64,
    pub events: u64,
    pub keys: u64,
    pub head: u64,
    pub pruned_through: u64,
}

/// Copies the SQLite ledger at `source` into the empty PostgreSQL database
/// at `target_url` (migrated first). Refuses a target that holds anything.
/// Blocking.
pub fn sqlite_to_postgres(source: &Path, target_url: &str) -> anyhow::Result<Copied> {
    ensure!(source.exists(), "no SQLite ledger at {}", source.display());
    // The source at the newest schema too, so every column copied exists.
    let from = crate::sqlite::migrated(source).context("opening the SQLite ledger")?;
    // Held to the end: no central can write the file while it is copied.
    from.execute_batch("BEGIN IMMEDIATE")
        .context("locking the SQLite ledger (is a central still serving it?)")?;

    let mut to = postgres::migrated(target_url)?;
    let mut tx = to.transaction()?;
    let held: i64 = tx
        .query_one(
            "SELECT (SELECT COUNT(*) FROM stores) + (SELECT COUNT(*) FROM products)
                  + (SELECT COUNT(*) FROM events) + (SELECT COUNT(*) FROM idempotency)
                  + (SELECT head_offset FROM ledger_meta WHERE id = 1)",
            &[],
        )?
        .try_get(0)?;
    if held != 0 {
        bail!("the PostgreSQL database already holds a ledger: migrate-to only fills an empty one");
    }

    let copied = Copied {
        stores: copy(
            &from,
            &mut tx,
            "SELECT store_id, name, active, created_at, secret_hash, credential_generation, safety_stock FROM stores",
            "INSERT INTO stores (store_id, name, active, created_at, secret_hash, credential_generation, safety_stock)
             SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::BOOLEAN[], $4::BIGINT[], $5::TEXT[], $6::BIGINT[], $7::BIGINT[])",
            &[Column::Text, Column::Text, Column::Bool, Column::Int, Column::Text, Column::Int, Column::Int],
        )?,
        products: copy(
            &from,
            &mut tx,
            "SELECT sku, name, price_cents, active, version, updated_at FROM products",
            "INSERT INTO products (sku, name, price_cents, active, version, updated_at)
             SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::BIGINT[], $4::BOOLEAN[], $5::BIGINT[], $6::BIGINT[])",
            &[Column::Text, Column::Text, Column::Int, Column::Bool, Column::Int, Column::Int],
        )?,
        levels: copy(
            &from,
            &mut tx,
            "SELECT store_id, sku, available, held, version, updated_at FROM stock_levels",
            "INSERT INTO stock_levels (store_id, sku, available, held, version, updated_at)
             SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::BIGINT[], $4::BIGINT[], $5::BIGINT[], $6::BIGINT[])",
            &[Column::Text, Column::Text, Column::Int, Column::Int, Column::Int, Column::Int],
        )?,
        holds: copy(
            &from,
            &mut tx,
            "SELECT hold_id, channel, reference, state, created_at, expires_at FROM holds",
            "INSERT INTO holds (hold_id, channel, reference, state, created_at, expires_at)
             SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::BIGINT[], $6::BIGINT[])",
            &[Column::Text, Column::Text, Column::Text, Column::Text, Column::Int, Column::Int],
        )?,
        channels: copy(
            &from,
            &mut tx,
            "SELECT channel_id, name, active, created_at, secret_hash, credential_generation,
                 max_held_units, max_level_share_percent, max_hold_life_seconds, held_units FROM channels",
            "INSERT INTO channels (channel_id, name, active, created_at, secret_hash, credential_generation,
                 max_held_units, max_level_share_percent, max_hold_life_seconds, held_units)
             SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::BOOLEAN[], $4::BIGINT[], $5::TEXT[], $6::BIGINT[],
                 $7::BIGINT[], $8::BIGINT[], $9::BIGINT[], $10::BIGINT[])",
            &[
                Column::Text, Column::Text, Column::Bool, Column::Int, Column::Text, Column::Int,
                Column::Int, Column::Int, Column::Int, Column::Int,
            ],
        )?,
        hold_lines: copy(
            &from,
            &mut tx,
            "SELECT hold_id, store_id, sku, quantity, committed, state FROM hold_lines",
            "INSERT INTO hold_lines (hold_id, store_id, sku, quantity, committed, state)
             SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::BIGINT[], $5::BIGINT[], $6::TEXT[])",
            &[Column::Text, Column::Text, Column::Text, Column::Int, Column::Int, Column::Text],
        )?,
        devices: copy(
            &from,
            &mut tx,
            "SELECT device_id, store_id, name, secret_hash, enrolled_at, revoked_at FROM devices",
            "INSERT INTO devices (device_id, store_id, name, secret_hash, enrolled_at, revoked_at)
             SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::BIGINT[], $6::BIGINT[])",
            &[Column::Text, Column::Text, Column::Text, Column::Text, Column::Int, Column::OptionalInt],
        )?,
        events: copy(
            &from,
            &mut tx,
            "SELECT seq, at, kind, store_id, data FROM events ORDER BY seq",
            "INSERT INTO events (seq, at, kind, store_id, data)
             SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::TEXT[])",
            &[Column::Int, Column::Int, Column::Text, Column::OptionalText, Column::Text],
        )?,
        keys: copy(
            &from,
            &mut tx,
            "SELECT store_id, key, fingerprint, outcome, created_at FROM idempotency",
            "INSERT INTO idempotency (store_id, key, fingerprint, outcome, created_at)
             SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::BYTEA[], $4::TEXT[], $5::BIGINT[])",
            &[Column::Text, Column::Text, Column::Bytes, Column::Text, Column::Int],
        )?,
        ..Copied::default()
    };
    let (head, pruned_through, demo): (i64, i64, bool) = from.query_row(
        "SELECT head_offset, pruned_through, demo FROM ledger_meta WHERE id = 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    tx.execute(
        "UPDATE ledger_meta SET head_offset = $1, pruned_through = $2, demo = $3 WHERE id = 1",
        &[&head, &pruned_through, &demo],
    )?;
    let copied = Copied {
        head: head as u64,
        pruned_through: pruned_through as u64,
        ..copied
    };
    verify(&from, &mut tx, &copied)?;
    tx.commit()?;
    from.execute_batch("ROLLBACK")?;
    Ok(copied)
}

/// The target, before it commits, holds exactly what the source holds.
fn verify(
    from: &Connection,
    tx: &mut ::postgres::Transaction<'_>,
    copied: &Copied,
) -> anyhow::Result<()> {
    for (table, rows) in [
        ("stores", copied.stores),
        ("products", copied.products),
        ("stock_levels", copied.levels),
        ("holds", copied.holds),
        ("channels", copied.channels),
        ("hold_lines", copied.hold_lines),
        ("devices", copied.devices),
        ("events", copied.events),
        ("idempotency", copied.keys),
    ] {
        let count = format!("SELECT COUNT(*) FROM {table}");
        let source: i64 = from.query_row(&count, [], |r| r.get(0))?;
        let target: i64 = tx.query_one(count.as_str(), &[])?.try_get(0)?;
        ensure!(
            source as u64 == rows && target == source,
            "{table}: {source} rows in SQLite, {target} copied"
        );
    }
    let (head, pruned): (i64, i64) = {
        let row = tx.query_one(
            "SELECT head_offset, pruned_through FROM ledger_meta WHERE id = 1",
            &[],
        )?;
        (row.try_get(0)?, row.try_get(1)?)
    };
    ensure!(
        head as u64 == copied.head && pruned as u64 == copied.pruned_through,
        "positions differ after the copy"
    );
    let newest: Option<i64> = tx
        .query_one("SELECT MAX(seq) FROM events", &[])?
        .try_get(0)?;
    ensure!(
        newest.is_none_or(|n| n as u64 == copied.head),
        "the newest event is not at the head"
    );
    Ok(())
}

/// A column's type, as read from SQLite and sent as a PostgreSQL array.
#[derive(Clone, Copy)]
enum Column {
    Text,
    OptionalText,
    Int,
    OptionalInt,
    Bool,
    Bytes,
}

/// One column's values of a batch.
enum Values {
    Text(Vec<String>),
    OptionalText(Vec<Option<String>>),
    Int(Vec<i64>),
    OptionalInt(Vec<Option<i64>>),
    Bool(Vec<bool>),
    Bytes(Vec<Vec<u8>>),
}

impl Values {
    fn new(column: Column) -> Values {
        match column {
            Column::Text => Values::Text(Vec::new()),
            Column::OptionalText => Values::OptionalText(Vec::new()),
            Column::Int => Values::Int(Vec::new()),
            Column::OptionalInt => Values::OptionalInt(Vec::new()),
            Column::Bool => Values::Bool(Vec::new()),
            Column::Bytes => Values::Bytes(Vec::new()),
        }
    }

    fn push(&mut self, row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<()> {
        match self {
            Values::Text(v) => v.push(row.get(i)?),
            Values::OptionalText(v) => v.push(row.get(i)?),
            Values::Int(v) => v.push(row.get(i)?),
            Values::OptionalInt(v) => v.push(row.get(i)?),
            Values::Bool(v) => v.push(row.get(i)?),
            Values::Bytes(v) => v.push(row.get(i)?),
        }
        Ok(())
    }

    fn param(&self) -> &(dyn ToSql + Sync) {
        match self {
            Values::Text(v) => v,
            Values::OptionalText(v) => v,
            Values::Int(v) => v,
            Values::OptionalInt(v) => v,
            Values::Bool(v) => v,
            Values::Bytes(v) => v,
        }
    }
}

/// Copies every row `select` reads into `insert`, a batch at a time; the
/// number of rows copied.
fn copy(
    from: &Connection,
    tx: &mut ::postgres::Transaction<'_>,
    select: &str,
    insert: &str,
    columns: &[Column],
) -> anyhow::Result<u64> {
    let insert = tx.prepare(insert)?;
    let mut statement = from.prepare(select)?;
    let mut rows = statement.query([])?;
    let mut copied = 0;
    loop {
        let mut batch: Vec<Values> = columns.iter().copied().map(Values::new).collect();
        let mut n = 0;
        while n < BATCH {
            let Some(row) = rows.next()? else { break };
            for (i, values) in batch.iter_mut().enumerate() {
                values.push(row, i)?;
            }
            n += 1;
        }
        if n == 0 {
            return Ok(copied);
        }
        let params: Vec<&(dyn ToSql + Sync)> = batch.iter().map(Values::param).collect();
        tx.execute(&insert, &params)?;
        copied += n as u64;
    }
}
