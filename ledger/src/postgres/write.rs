//! The writer's statements on PostgreSQL.
//!
//! Each group starts by locking the head row (`SELECT … FOR UPDATE`): the
//! groups of every central sharing the database then run one after
//! another, each continuing from the head the last one committed. That
//! keeps offsets gapless and in commit order, makes a guarded decrement
//! read the newest level (no oversell across centrals) and a second
//! central's copy of a key wait for the first and replay its answer.
//! Before COMMIT the group notifies the other centrals' followers.
//!
//! While a group holds the head row, every round trip holds up every
//! central, so a group costs a fixed number of them, not a few per write
//! (statements that need no answer from each other go together, see
//! [`super::pipe`]):
//! - `BEGIN`, the head lock and the reads ahead go in one round trip: the
//!   levels, saved answers and holds its commands want, and the levels of
//!   those holds' active lines ([`WriteBackend::begin`]); nobody else can
//!   change them until COMMIT, since every writer holds the head row;
//! - levels it writes, events it appends and answers it saves are kept in
//!   memory (a later command in the group reads them there) and written
//!   with one statement, sent with the head, the NOTIFY and COMMIT: a
//!   second round trip; holds likewise (read once per group), and a
//!   store's active flag is read once per group.
//!
//! A sale's group is two round trips; an expiry chunk four (the due holds
//! and then their rows are read in the middle of the group).
//!
//! A savepoint rolled back drops what was kept after it: levels, holds
//! and channels' held units by their undo logs ([`Kept`]), events and
//! answers by length. Something that must see the group's
//! writes in the database (retention, a product or store change) writes
//! them out first; a savepoint rolled back over that forgets the kept
//! levels and reads them again.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc,
        atomic::{AtomicI32, Ordering},
    },
};

use postgres::{Row, types::ToSql};
use shared::{
    Channel, ChannelLimits, Device, Hold, NewChannel, NewStore, Product, StockLevel, Store,
};

use super::{
    conn::{Sql, signed, unsigned},
    kept::Kept,
    pipe::{Pipe, Step},
    rows::{self, device_columns, product_columns, store_columns},
};
use crate::{
    backend::{
        ChannelChange, ChannelTerms, DueHold, Positions, Result, SavedKey, StoreChange, StoreTerms,
        Target, Wants, WriteBackend, WriteStatements,
    },
    clock::timestamp,
    cmd::NewDevice,
    publish::StoredEvent,
};

/// The channel every central's follower listens on.
pub(super) const CHANNEL: &str = "stockline_log";

/// Locks the head row for the group and reads the head.
const LOCK_HEAD: &str = "SELECT head_offset FROM ledger_meta WHERE id = 1 FOR UPDATE";

/// Saved answers among the (store, key) pairs of `$1` and `$2`.
const READ_KEYS: &str = "SELECT w.store_id, w.key, i.fingerprint, i.outcome
     FROM UNNEST($1::TEXT[], $2::TEXT[]) AS w (store_id, key)
     CROSS JOIN LATERAL (
         SELECT fingerprint, outcome FROM idempotency
         WHERE store_id = w.store_id AND key = w.key
     ) AS i";

/// What [`target`] reads for each pair `w` (store_id, sku): whether the
/// store exists, whether the product is active, the level (if any).
macro_rules! target_columns {
    () => {
        "SELECT w.store_id, w.sku,
             CASE WHEN l.version IS NULL
                 THEN EXISTS (SELECT 1 FROM stores s WHERE s.store_id = w.store_id)
                 ELSE TRUE END,
             (SELECT active FROM products p WHERE p.sku = w.sku),
             l.available, l.held, l.version, l.updated_at"
    };
}

/// The level of each pair `w`, if there is one.
macro_rules! level_of_w {
    () => {
        " LEFT JOIN LATERAL (
             SELECT available, held, version, updated_at FROM stock_levels
             WHERE store_id = w.store_id AND sku = w.sku
         ) AS l ON TRUE"
    };
}

/// A row for every (store, sku) pair of `$1` and `$2`, level or not:
/// whether the store exists, whether the product is active, the level.
const READ_TARGETS: &str = concat!(
    target_columns!(),
    " FROM UNNEST($1::TEXT[], $2::TEXT[]) AS w (store_id, sku)",
    level_of_w!()
);

/// [`READ_TARGETS`]'s row for each level of an active line of the holds
/// among `$1`: read with the holds, before their lines are known here.
const READ_LINE_TARGETS: &str = concat!(
    target_columns!(),
    " FROM (SELECT DISTINCT store_id, sku FROM hold_lines
           WHERE hold_id = ANY($1) AND state = 'active') AS w",
    level_of_w!()
);

/// Writes what a group kept, in one statement. Data-modifying WITH
/// clauses all run, to completion, whether or not the outer query reads
/// them. Foreign keys are checked at the end of the statement, so the
/// lines find their holds.
const WRITE_GROUP: &str = "WITH e AS (
         INSERT INTO events (seq, at, kind, store_id, data)
         SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::TEXT[])
     ), k AS (
         INSERT INTO idempotency (store_id, key, fingerprint, outcome, created_at)
         SELECT * FROM UNNEST($6::TEXT[], $7::TEXT[], $8::BYTEA[], $9::TEXT[], $10::BIGINT[])
     ), l AS (
         INSERT INTO stock_levels (store_id, sku, available, held, version, updated_at)
         SELECT * FROM UNNEST($11::TEXT[], $12::TEXT[], $13::BIGINT[], $14::BIGINT[], $15::BIGINT[], $16::BIGINT[])
         ON CONFLICT (store_id, sku) DO UPDATE
         SET available = EXCLUDED.available, held = EXCLUDED.held,
             version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
     ), h AS (
         INSERT INTO holds (hold_id, channel, reference, state, created_at, expires_at)
         SELECT * FROM UNNEST($17::TEXT[], $18::TEXT[], $19::TEXT[], $20::TEXT[], $21::BIGINT[], $22::BIGINT[])
         ON CONFLICT (hold_id) DO UPDATE
         SET state = EXCLUDED.state, expires_at = EXCLUDED.expires_at
     ), hl AS (
         INSERT INTO hold_lines (hold_id, store_id, sku, quantity, committed, state)
         SELECT * FROM UNNEST($23::TEXT[], $24::TEXT[], $25::TEXT[], $26::BIGINT[], $27::BIGINT[], $28::TEXT[])
         ON CONFLICT (hold_id, store_id, sku) DO UPDATE
         SET quantity = EXCLUDED.quantity, committed = EXCLUDED.committed, state = EXCLUDED.state
     ), c AS (
         UPDATE channels SET held_units = channels.held_units + m.units
         FROM UNNEST($29::TEXT[], $30::BIGINT[]) AS m (channel_id, units)
         WHERE channels.channel_id = m.channel_id
     )
     SELECT 1";

pub(super) struct PostgresWriter {
    url: String,
    conn: Pipe,
    /// The backend process of `conn`, which the follower tells apart.
    pid: Arc<AtomicI32>,
    events: Vec<PendingEvent>,
    keys: Vec<PendingKey>,
    /// Where each kept answer is in `keys`.
    key_index: HashMap<Pair, usize>,
    /// Saved answers as the database holds them (read ahead); `None`: no
    /// such key.
    known_keys: HashMap<Pair, Option<SavedKey>>,
    /// Levels read in this group, with what the group wrote to them.
    levels: Kept<Pair, KeptLevel>,
    /// Holds read in this group (`None`: no such hold), with what the
    /// group wrote to them.
    holds: Kept<String, KeptHold>,
    /// Stores' terms read in this group (`None`: no such store).
    stores: HashMap<String, Option<StoreTerms>>,
    /// Channels' terms as the database held them when read in this group
    /// (`None`: no such channel); what the group moved is in
    /// `channel_held`.
    channels: HashMap<String, Option<ChannelTerms>>,
    /// Units the group moved each channel's held units by: written with
    /// the group's statement.
    channel_held: Kept<String, i64>,
    /// Bumped when kept levels are written out mid-group.
    epoch: u64,
    /// Open savepoints, and what was kept when each was set.
    marks: Vec<Mark>,
}

/// (store, key) or (store, sku).
type Pair = (String, String);

#[derive(Clone)]
struct KeptLevel {
    target: Target,
    /// The level's write time in ms, if this group wrote it (to be written).
    written_ms: Option<i64>,
}

#[derive(Clone)]
struct KeptHold {
    hold: Option<Hold>,
    /// Written by this group: to be written out.
    written: bool,
}

struct Mark {
    name: &'static str,
    events: usize,
    keys: usize,
    levels: usize,
    holds: usize,
    channel_held: usize,
    epoch: u64,
}

struct PendingEvent {
    seq: i64,
    at: i64,
    kind: String,
    store_id: Option<String>,
    json: String,
}

struct PendingKey {
    store_id: String,
    key: String,
    saved: SavedKey,
    created_at: i64,
}

impl PostgresWriter {
    pub(super) fn new(url: String, pid: Arc<AtomicI32>) -> anyhow::Result<Self> {
        let conn = Pipe::connect(&url)?;
        let mut writer = PostgresWriter {
            url,
            conn,
            pid,
            events: Vec::new(),
            keys: Vec::new(),
            key_index: HashMap::new(),
            known_keys: HashMap::new(),
            levels: Kept::new(),
            holds: Kept::new(),
            stores: HashMap::new(),
            channels: HashMap::new(),
            channel_held: Kept::new(),
            epoch: 0,
            marks: Vec::new(),
        };
        writer.bound()?;
        Ok(writer)
    }

    /// Bounds on the session: a group waits at most 10 s for the head row
    /// (then it is refused, and retried by its callers), and a central that
    /// stops in the middle of a group (frozen, not killed) has its
    /// transaction ended by the server after 30 s, so it cannot hold the
    /// head row, and every other central, for ever.
    ///
    /// Plans are made for each execution's values: a plan cached for any
    /// array of keys may walk a whole table where an index finds each key.
    ///
    /// Also tells the follower which notifications are this writer's.
    fn bound(&mut self) -> Result<()> {
        self.conn.batch(
            "SET lock_timeout = '10s';
             SET idle_in_transaction_session_timeout = '30s';
             SET plan_cache_mode = force_custom_plan",
        )?;
        let pid: i32 = self
            .conn
            .query_one("SELECT pg_backend_pid()", &[])?
            .try_get(0)?;
        self.pid.store(pid, Ordering::Relaxed);
        Ok(())
    }

    /// A connection the server closed (a restart, a fail-over) is replaced
    /// before the next group, rather than failing every group after it.
    fn reconnect_if_closed(&mut self) -> Result<()> {
        if self.conn.is_closed() {
            tracing::warn!("the writer's connection to PostgreSQL closed; reconnecting");
            self.conn = Pipe::connect(&self.url)?;
            self.bound()?;
        }
        Ok(())
    }

    fn forget_kept(&mut self) {
        self.events.clear();
        self.keys.clear();
        self.key_index.clear();
        self.known_keys.clear();
        self.levels.clear();
        self.holds.clear();
        self.stores.clear();
        self.channels.clear();
        self.channel_held.clear();
        self.marks.clear();
    }

    /// Writes what the group kept — events, saved answers, levels — with
    /// one statement, and forgets it: from here the database has it.
    fn write_kept(&mut self) -> Result<()> {
        self.write_kept_then(None)
    }

    /// [`Self::write_kept`], with `then` (statements without parameters)
    /// sent in the same round trip, after it.
    fn write_kept_then(&mut self, then: Option<&str>) -> Result<()> {
        let written: Vec<(Pair, KeptLevel)> = self
            .levels
            .take()
            .filter(|(_, kept)| kept.written_ms.is_some())
            .collect();
        let holds: Vec<Hold> = self
            .holds
            .take()
            .filter_map(|(_, kept)| kept.hold.filter(|_| kept.written))
            .collect();
        // Channels are read again after this: the database then holds what
        // the group moved.
        self.channels.clear();
        let moved: Vec<(String, i64)> = self
            .channel_held
            .take()
            .filter(|(_, units)| *units != 0)
            .collect();
        if self.events.is_empty()
            && self.keys.is_empty()
            && written.is_empty()
            && holds.is_empty()
            && moved.is_empty()
        {
            return match then {
                Some(then) => self.conn.batch(then),
                None => Ok(()),
            };
        }
        self.epoch += 1;
        // What the database now holds is read from it again.
        self.known_keys.clear();
        self.key_index.clear();
        let events = std::mem::take(&mut self.events);
        let keys = std::mem::take(&mut self.keys);

        let seq: Vec<i64> = events.iter().map(|e| e.seq).collect();
        let at: Vec<i64> = events.iter().map(|e| e.at).collect();
        let kind: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        let event_store: Vec<Option<&str>> = events.iter().map(|e| e.store_id.as_deref()).collect();
        let json: Vec<&str> = events.iter().map(|e| e.json.as_str()).collect();

        let key_store: Vec<&str> = keys.iter().map(|k| k.store_id.as_str()).collect();
        let key: Vec<&str> = keys.iter().map(|k| k.key.as_str()).collect();
        let fingerprint: Vec<&[u8]> = keys
            .iter()
            .map(|k| k.saved.fingerprint.as_slice())
            .collect();
        let outcome: Vec<&str> = keys.iter().map(|k| k.saved.outcome.as_str()).collect();
        let created: Vec<i64> = keys.iter().map(|k| k.created_at).collect();

        let level_store: Vec<&str> = written.iter().map(|(p, _)| p.0.as_str()).collect();
        let sku: Vec<&str> = written.iter().map(|(p, _)| p.1.as_str()).collect();
        let available: Vec<i64> = written
            .iter()
            .map(|(_, k)| k.target.level.available)
            .collect();
        let held: Vec<i64> = written.iter().map(|(_, k)| k.target.level.held).collect();
        let version: Vec<i64> = written
            .iter()
            .map(|(_, k)| signed(k.target.level.version))
            .collect();
        let updated: Vec<i64> = written
            .iter()
            .map(|(_, k)| k.written_ms.unwrap_or_default())
            .collect();

        let h = super::holds::Columns::of(&holds);
        let (moved_channel, moved_units): (Vec<&str>, Vec<i64>) =
            moved.iter().map(|(c, u)| (c.as_str(), *u)).unzip();

        let params: [&(dyn ToSql + Sync); 30] = [
            &seq,
            &at,
            &kind,
            &event_store,
            &json,
            &key_store,
            &key,
            &fingerprint,
            &outcome,
            &created,
            &level_store,
            &sku,
            &available,
            &held,
            &version,
            &updated,
            &h.id,
            &h.channel,
            &h.reference,
            &h.state,
            &h.created,
            &h.expires,
            &h.line_hold,
            &h.store,
            &h.sku,
            &h.quantity,
            &h.committed,
            &h.line_state,
            &moved_channel,
            &moved_units,
        ];
        let write = Step::Query(WRITE_GROUP, &params);
        match then {
            Some(then) => self.conn.pipeline(&[write, Step::Batch(then)])?,
            None => self.conn.pipeline(&[write])?,
        };
        Ok(())
    }

    /// Reads saved answers as the database holds them into `known_keys`
    /// (`None` for a key it does not hold), with one statement.
    fn read_keys(&mut self, wanted: &[&Pair]) -> Result<()> {
        if wanted.is_empty() {
            return Ok(());
        }
        let (store, key) = columns(wanted);
        let rows = self.conn.query(READ_KEYS, &[&store, &key])?;
        self.keys_read(wanted, rows)
    }

    /// What [`READ_KEYS`] answered for `wanted`, kept.
    fn keys_read(&mut self, wanted: &[&Pair], rows: Vec<Row>) -> Result<()> {
        for pair in wanted {
            self.known_keys.insert((*pair).clone(), None);
        }
        for row in rows {
            let saved = SavedKey {
                fingerprint: row.try_get(2)?,
                outcome: row.try_get(3)?,
            };
            self.known_keys
                .insert((row.try_get(0)?, row.try_get(1)?), Some(saved));
        }
        Ok(())
    }

    /// Reads levels as the database holds them into `levels`, with one
    /// statement (a row for every pair, written or not).
    fn read_targets(&mut self, wanted: &[&Pair]) -> Result<()> {
        if wanted.is_empty() {
            return Ok(());
        }
        let (store, sku) = columns(wanted);
        let rows = self.conn.query(READ_TARGETS, &[&store, &sku])?;
        self.targets_read(rows)
    }

    /// What [`READ_TARGETS`] or [`READ_LINE_TARGETS`] answered, kept
    /// where the group has not read (or written) the level already.
    fn targets_read(&mut self, rows: Vec<Row>) -> Result<()> {
        for row in rows {
            let (store_id, sku): (String, String) = (row.try_get(0)?, row.try_get(1)?);
            let target = target(&store_id, &sku, &row, 2)?;
            let kept = KeptLevel {
                target,
                written_ms: None,
            };
            self.levels.read((store_id, sku), kept);
        }
        Ok(())
    }

    /// What [`super::holds::assemble`] made of the rows for `hold_ids`,
    /// kept (`None` for an id with no hold).
    fn holds_read(&mut self, hold_ids: &[String], found: Vec<Hold>) {
        let mut found: HashMap<String, Hold> = found
            .into_iter()
            .map(|hold| (hold.hold_id.clone(), hold))
            .collect();
        for id in hold_ids {
            let hold = found.remove(id);
            let kept = KeptHold {
                hold,
                written: false,
            };
            self.holds.read(id.clone(), kept);
        }
    }

    /// The levels of the active lines of holds read, not read yet.
    fn read_lines_levels(&mut self, hold_ids: &[String]) -> Result<()> {
        let lines: HashSet<Pair> = hold_ids
            .iter()
            .filter_map(|id| self.holds.get(id).and_then(|kept| kept.hold.as_ref()))
            .flat_map(|hold| &hold.lines)
            .filter(|line| line.state == shared::HoldState::Active)
            .map(|line| (line.store_id.clone(), line.sku.clone()))
            .filter(|pair| !self.levels.contains(pair))
            .collect();
        self.read_targets(&lines.iter().collect::<Vec<_>>())
    }

    /// A level as the group sees it: kept, or read now.
    fn kept_level(&mut self, pair: &Pair) -> Result<KeptLevel> {
        if !self.levels.contains(pair) {
            self.read_targets(&[pair])?;
        }
        self.levels
            .get(pair)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("the level read returned no row"))
    }
}

/// Each of `items` once.
fn distinct<T: Eq + std::hash::Hash>(items: &[T]) -> Vec<&T> {
    items.iter().collect::<HashSet<_>>().into_iter().collect()
}

/// The two arrays a read-ahead statement takes, from (store, x) pairs.
fn columns<'a>(pairs: &[&'a Pair]) -> (Vec<&'a str>, Vec<&'a str>) {
    pairs
        .iter()
        .map(|pair| (pair.0.as_str(), pair.1.as_str()))
        .unzip()
}

/// A [`Target`] from a row whose columns from `at` on are: store exists,
/// product active, available, held, version, updated at.
fn target(store_id: &str, sku: &str, row: &postgres::Row, at: usize) -> Result<Target> {
    Ok(Target {
        store_exists: row.try_get(at)?,
        product_active: row.try_get(at + 1)?,
        level: StockLevel {
            store_id: store_id.to_owned(),
            sku: sku.to_owned(),
            available: row.try_get::<_, Option<i64>>(at + 2)?.unwrap_or(0),
            held: row.try_get::<_, Option<i64>>(at + 3)?.unwrap_or(0),
            version: row.try_get::<_, Option<i64>>(at + 4)?.map_or(0, unsigned),
            updated_at: row.try_get::<_, Option<i64>>(at + 5)?.map(timestamp),
        },
    })
}

impl WriteStatements for PostgresWriter {
    /// What a command wants in the middle of a group (the group's start
    /// reads what its commands want with [`WriteBackend::begin`]).
    fn prefetch(&mut self, wants: &Wants) -> Result<()> {
        let keys: HashSet<&Pair> = wants
            .keys
            .iter()
            .filter(|pair| !self.known_keys.contains_key(*pair))
            .collect();
        self.read_keys(&keys.into_iter().collect::<Vec<_>>())?;
        // The holds first: their active lines name levels to read too.
        self.holds(&wants.holds)?;
        let targets: HashSet<&Pair> = wants
            .targets
            .iter()
            .filter(|pair| !self.levels.contains(pair))
            .collect();
        self.read_targets(&targets.into_iter().collect::<Vec<_>>())?;
        self.read_lines_levels(&wants.holds)
    }

    fn target(&mut self, store_id: &str, sku: &str) -> Result<Target> {
        let pair = (store_id.to_owned(), sku.to_owned());
        Ok(self.kept_level(&pair)?.target)
    }

    /// Kept until COMMIT, with the entry it replaces for a savepoint.
    fn write_level(&mut self, level: &StockLevel, _existed: bool, now_ms: i64) -> Result<()> {
        let pair = (level.store_id.clone(), level.sku.clone());
        let mut next = self.kept_level(&pair)?;
        next.target.level = level.clone();
        next.written_ms = Some(now_ms);
        self.levels.write(pair, next);
        Ok(())
    }

    fn saved_key(&mut self, store_id: &str, key: &str) -> Result<Option<SavedKey>> {
        let pair = (store_id.to_owned(), key.to_owned());
        if let Some(&at) = self.key_index.get(&pair) {
            return Ok(Some(self.keys[at].saved.clone()));
        }
        if !self.known_keys.contains_key(&pair) {
            self.read_keys(&[&pair])?;
        }
        Ok(self.known_keys.get(&pair).cloned().flatten())
    }

    fn save_key(&mut self, store_id: &str, key: &str, saved: &SavedKey, now_ms: i64) -> Result<()> {
        let at = self.keys.len();
        self.key_index
            .insert((store_id.to_owned(), key.to_owned()), at);
        self.keys.push(PendingKey {
            store_id: store_id.to_owned(),
            key: key.to_owned(),
            saved: saved.clone(),
            created_at: now_ms,
        });
        Ok(())
    }

    fn append_event(
        &mut self,
        offset: u64,
        at_ms: i64,
        kind: &str,
        store_id: Option<&str>,
        json: &str,
    ) -> Result<()> {
        self.events.push(PendingEvent {
            seq: signed(offset),
            at: at_ms,
            kind: kind.to_owned(),
            store_id: store_id.map(str::to_owned),
            json: json.to_owned(),
        });
        Ok(())
    }

    fn product(&mut self, sku: &str) -> Result<Option<Product>> {
        let row = self.conn.query_opt(
            concat!(
                "SELECT ",
                product_columns!(),
                " FROM products WHERE sku = $1"
            ),
            &[&sku],
        )?;
        row.as_ref().map(rows::product).transpose()
    }

    /// Kept levels know whether their product is active: write them out
    /// and read them again after this.
    fn write_product(&mut self, p: &Product, now_ms: i64) -> Result<()> {
        self.write_kept()?;
        self.conn.execute(
            "INSERT INTO products (sku, name, price_cents, active, version, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (sku) DO UPDATE
             SET name = EXCLUDED.name, price_cents = EXCLUDED.price_cents,
                 active = EXCLUDED.active, version = EXCLUDED.version,
                 updated_at = EXCLUDED.updated_at",
            &[
                &p.sku,
                &p.name,
                &p.price_cents,
                &p.active,
                &signed(p.version),
                &now_ms,
            ],
        )?;
        Ok(())
    }

    /// Kept levels know whether their store exists: write them out and read
    /// them again after this.
    fn insert_store(&mut self, new: &NewStore, secret_hash: &str, now_ms: i64) -> Result<bool> {
        self.write_kept()?;
        let inserted = self.conn.execute(
            "INSERT INTO stores (store_id, name, active, created_at, secret_hash, credential_generation)
             VALUES ($1, $2, TRUE, $3, $4, 1)
             ON CONFLICT (store_id) DO NOTHING",
            &[&new.store_id, &new.name, &now_ms, &secret_hash],
        )?;
        Ok(inserted == 1)
    }

    fn change_store(
        &mut self,
        store_id: &str,
        change: StoreChange<'_>,
    ) -> Result<Option<(Store, u64)>> {
        self.stores.remove(store_id);
        let row = match change {
            StoreChange::Active(active) => self.conn.query_opt(
                "UPDATE stores SET active = $1, credential_generation = credential_generation + 1
                 WHERE store_id = $2
                 RETURNING store_id, name, active, created_at, safety_stock, credential_generation",
                &[&active, &store_id],
            )?,
            StoreChange::Secret(hash) => self.conn.query_opt(
                "UPDATE stores SET secret_hash = $1, credential_generation = credential_generation + 1
                 WHERE store_id = $2
                 RETURNING store_id, name, active, created_at, safety_stock, credential_generation",
                &[&hash, &store_id],
            )?,
        };
        row.map(|r| Ok((rows::store(&r)?, unsigned(r.try_get(5)?))))
            .transpose()
    }

    fn device_room(&mut self, store_id: &str) -> Result<(bool, u64)> {
        let row = self.conn.query_one(
            "SELECT EXISTS (SELECT 1 FROM stores WHERE store_id = $1),
                 (SELECT COUNT(*) FROM devices WHERE store_id = $1 AND revoked_at IS NULL)",
            &[&store_id],
        )?;
        Ok((row.try_get(0)?, unsigned(row.try_get(1)?)))
    }

    fn insert_device(&mut self, new: &NewDevice, secret_hash: &str, now_ms: i64) -> Result<()> {
        self.conn.execute(
            "INSERT INTO devices (device_id, store_id, name, secret_hash, enrolled_at)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &new.device_id,
                &new.store_id,
                &new.name,
                &secret_hash,
                &now_ms,
            ],
        )?;
        Ok(())
    }

    fn revoke_device(&mut self, device_id: &str, now_ms: i64) -> Result<Option<(Device, bool)>> {
        let revoked = self.conn.query_opt(
            concat!(
                "UPDATE devices SET revoked_at = $1 WHERE device_id = $2 AND revoked_at IS NULL
                 RETURNING ",
                device_columns!()
            ),
            &[&now_ms, &device_id],
        )?;
        if let Some(row) = revoked {
            return Ok(Some((rows::device(&row)?, true)));
        }
        let already = self.conn.query_opt(
            concat!(
                "SELECT ",
                device_columns!(),
                " FROM devices WHERE device_id = $1"
            ),
            &[&device_id],
        )?;
        already
            .map(|row| Ok((rows::device(&row)?, false)))
            .transpose()
    }

    fn positions(&mut self) -> Result<Positions> {
        rows::positions(&mut self.conn)
    }

    fn newest_event_before(&mut self, at_ms: i64) -> Result<Option<u64>> {
        // Retention sees the group's own events as written.
        self.write_kept()?;
        let row = self
            .conn
            .query_one("SELECT MAX(seq) FROM events WHERE at < $1", &[&at_ms])?;
        Ok(row.try_get::<_, Option<i64>>(0)?.map(unsigned))
    }

    fn prune_events_through(&mut self, offset: u64) -> Result<u64> {
        self.write_kept()?;
        let offset = signed(offset);
        let pruned = self
            .conn
            .execute("DELETE FROM events WHERE seq <= $1", &[&offset])?;
        self.conn.execute(
            "UPDATE ledger_meta SET pruned_through = $1 WHERE id = 1",
            &[&offset],
        )?;
        Ok(pruned)
    }

    fn prune_keys_before(&mut self, at_ms: i64, limit: u64) -> Result<u64> {
        self.write_kept()?;
        let limit = signed(limit);
        self.conn.execute(
            "DELETE FROM idempotency WHERE (store_id, key) IN
             (SELECT store_id, key FROM idempotency WHERE created_at < $1 LIMIT $2)",
            &[&at_ms, &limit],
        )
    }

    fn insert_channel(&mut self, new: &NewChannel, secret_hash: &str, now_ms: i64) -> Result<bool> {
        super::holds::insert_channel(&mut self.conn, new, secret_hash, now_ms)
    }

    fn change_channel(
        &mut self,
        channel_id: &str,
        change: ChannelChange<'_>,
    ) -> Result<Option<(Channel, u64)>> {
        self.channels.remove(channel_id);
        self.write_kept()?;
        super::holds::change_channel(&mut self.conn, channel_id, change)
    }

    /// Written out first, so the channel's row carries the group's moves.
    fn set_channel_limits(
        &mut self,
        channel_id: &str,
        limits: &ChannelLimits,
    ) -> Result<Option<Channel>> {
        self.channels.remove(channel_id);
        self.write_kept()?;
        super::holds::set_channel_limits(&mut self.conn, channel_id, limits)
    }

    /// Read once per group; the group's own moves are added.
    fn channel_terms(&mut self, channel_id: &str) -> Result<Option<ChannelTerms>> {
        let read = match self.channels.get(channel_id) {
            Some(read) => *read,
            None => {
                let read = super::holds::channel_terms(&mut self.conn, channel_id)?;
                self.channels.insert(channel_id.to_owned(), read);
                read
            }
        };
        let moved = self.channel_held.get(channel_id).copied().unwrap_or(0);
        Ok(read.map(|terms| ChannelTerms {
            held_units: terms.held_units + moved,
            ..terms
        }))
    }

    /// Kept until COMMIT, and undone with a savepoint.
    fn add_channel_held(&mut self, channel_id: &str, units: i64) -> Result<()> {
        let moved = self.channel_held.get(channel_id).copied().unwrap_or(0);
        self.channel_held
            .write(channel_id.to_owned(), moved + units);
        Ok(())
    }

    fn set_safety_stock(&mut self, store_id: &str, units: i64) -> Result<Option<Store>> {
        self.stores.remove(store_id);
        let row = self.conn.query_opt(
            concat!(
                "UPDATE stores SET safety_stock = $1 WHERE store_id = $2 RETURNING ",
                store_columns!()
            ),
            &[&units, &store_id],
        )?;
        row.as_ref().map(rows::store).transpose()
    }

    fn store_terms(&mut self, store_id: &str) -> Result<Option<StoreTerms>> {
        if let Some(&terms) = self.stores.get(store_id) {
            return Ok(terms);
        }
        let row = self.conn.query_opt(
            "SELECT active, safety_stock FROM stores WHERE store_id = $1",
            &[&store_id],
        )?;
        let terms = row
            .map(|r| -> Result<StoreTerms> {
                Ok(StoreTerms {
                    active: r.try_get(0)?,
                    safety_stock: r.try_get(1)?,
                })
            })
            .transpose()?;
        self.stores.insert(store_id.to_owned(), terms);
        Ok(terms)
    }

    /// Levels this group wrote may be new: write them out first, so the
    /// stores they are at are found.
    fn stores_stocking(&mut self, sku: &str) -> Result<Vec<(String, i64)>> {
        self.write_kept()?;
        super::holds::stores_stocking(&mut self.conn, sku)
    }

    /// As the group sees them: kept, or read now (those not kept, in one
    /// round trip with the levels of their active lines).
    fn holds(&mut self, hold_ids: &[String]) -> Result<Vec<Hold>> {
        let missing: Vec<String> = hold_ids
            .iter()
            .filter(|id| !self.holds.contains(*id))
            .cloned()
            .collect();
        if !missing.is_empty() {
            let params: [&(dyn ToSql + Sync); 1] = [&missing];
            let answers = self.conn.pipeline(&[
                Step::Query(super::holds::HOLDS_BY_ID, &params),
                Step::Query(super::holds::LINES_BY_ID, &params),
                Step::Query(READ_LINE_TARGETS, &params),
            ])?;
            let [holds, lines, levels]: [Vec<Row>; 3] = answers
                .try_into()
                .map_err(|_| anyhow::anyhow!("a statement went unanswered"))?;
            let found = super::holds::assemble(holds, lines, &missing)?;
            self.holds_read(&missing, found);
            self.targets_read(levels)?;
        }
        Ok(hold_ids
            .iter()
            .filter_map(|id| self.holds.get(id).and_then(|kept| kept.hold.clone()))
            .collect())
    }

    /// Kept until COMMIT, with the entry each replaces for a savepoint.
    fn write_holds(&mut self, written: &[&Hold]) -> Result<()> {
        for hold in written {
            let kept = KeptHold {
                hold: Some((*hold).clone()),
                written: true,
            };
            self.holds.write(hold.hold_id.clone(), kept);
        }
        Ok(())
    }

    /// Asks the database which holds are due: what the group kept is
    /// written out first, so a hold it ended is not due.
    fn due_holds(&mut self, now_ms: i64, limit: u32) -> Result<Vec<DueHold>> {
        self.write_kept()?;
        super::holds::due(&mut self.conn, now_ms, limit)
    }

    fn holds_on(&mut self, store_id: &str, sku: &str) -> Result<Vec<String>> {
        self.write_kept()?;
        super::holds::on_level(&mut self.conn, store_id, sku)
    }

    // Names come from the ledger's own code, never from a request.
    fn savepoint(&mut self, name: &'static str) -> Result<()> {
        self.conn.batch(&format!("SAVEPOINT {name}"))?;
        self.marks.push(Mark {
            name,
            events: self.events.len(),
            keys: self.keys.len(),
            levels: self.levels.mark(),
            holds: self.holds.mark(),
            channel_held: self.channel_held.mark(),
            epoch: self.epoch,
        });
        Ok(())
    }

    /// Drops what was kept after the savepoint, which stays set.
    fn rollback_to(&mut self, name: &'static str) -> Result<()> {
        self.conn.batch(&format!("ROLLBACK TO SAVEPOINT {name}"))?;
        let Some(at) = self.marks.iter().rposition(|m| m.name == name) else {
            anyhow::bail!("no savepoint {name}");
        };
        self.marks.truncate(at + 1);
        let mark = &self.marks[at];
        if mark.epoch != self.epoch {
            // Kept things were written meanwhile: the database rolled them
            // back. Levels are read again; events and answers cannot be,
            // so the command fails whole.
            self.levels.clear();
            self.holds.clear();
            self.channels.clear();
            anyhow::bail!("a savepoint rolled back over written events");
        }
        let (events, keys) = (mark.events, mark.keys);
        let (levels, holds, channel_held) = (mark.levels, mark.holds, mark.channel_held);
        self.events.truncate(events);
        for dropped in self.keys.drain(keys..) {
            self.key_index.remove(&(dropped.store_id, dropped.key));
        }
        self.levels.roll_back(levels);
        self.holds.roll_back(holds);
        self.channel_held.roll_back(channel_held);
        Ok(())
    }

    fn release(&mut self, name: &'static str) -> Result<()> {
        self.conn.batch(&format!("RELEASE SAVEPOINT {name}"))?;
        if let Some(at) = self.marks.iter().rposition(|m| m.name == name) {
            self.marks.truncate(at);
        }
        Ok(())
    }
}

impl WriteBackend for PostgresWriter {
    /// Locks the head row: from here to COMMIT this central's group is the
    /// only one; the head it reads is the last committed by any central.
    /// BEGIN, the lock and the reads ahead (the levels of the holds'
    /// active lines with them) go in one round trip.
    fn begin(&mut self, wants: &Wants) -> Result<u64> {
        self.forget_kept();
        self.reconnect_if_closed()?;
        let keys = distinct(&wants.keys);
        let targets = distinct(&wants.targets);
        let hold_ids: Vec<String> = distinct(&wants.holds).into_iter().cloned().collect();
        let (key_store, key) = columns(&keys);
        let (level_store, sku) = columns(&targets);
        let key_params: [&(dyn ToSql + Sync); 2] = [&key_store, &key];
        let level_params: [&(dyn ToSql + Sync); 2] = [&level_store, &sku];
        let hold_params: [&(dyn ToSql + Sync); 1] = [&hold_ids];

        let mut steps = vec![Step::Batch("BEGIN"), Step::Query(LOCK_HEAD, &[])];
        if !keys.is_empty() {
            steps.push(Step::Query(READ_KEYS, &key_params));
        }
        if !hold_ids.is_empty() {
            steps.push(Step::Query(super::holds::HOLDS_BY_ID, &hold_params));
            steps.push(Step::Query(super::holds::LINES_BY_ID, &hold_params));
            steps.push(Step::Query(READ_LINE_TARGETS, &hold_params));
        }
        if !targets.is_empty() {
            steps.push(Step::Query(READ_TARGETS, &level_params));
        }
        let mut answers = self.conn.pipeline(&steps)?.into_iter().skip(1);
        let mut next = || {
            answers
                .next()
                .ok_or_else(|| anyhow::anyhow!("a statement went unanswered"))
        };
        let head: i64 = next()?
            .first()
            .ok_or_else(|| anyhow::anyhow!("the ledger has no head row"))?
            .try_get(0)?;
        let keys_rows = if keys.is_empty() { None } else { Some(next()?) };
        let holds_rows = if hold_ids.is_empty() {
            None
        } else {
            Some((next()?, next()?, next()?))
        };
        let targets_rows = if targets.is_empty() {
            None
        } else {
            Some(next()?)
        };
        if let Some(rows) = keys_rows {
            self.keys_read(&keys, rows)?;
        }
        if let Some(rows) = targets_rows {
            self.targets_read(rows)?;
        }
        if let Some((holds, lines, levels)) = holds_rows {
            let found = super::holds::assemble(holds, lines, &hold_ids)?;
            self.holds_read(&hold_ids, found);
            self.targets_read(levels)?;
        }
        Ok(unsigned(head))
    }

    /// What the group kept, the head, the NOTIFY and COMMIT: one round
    /// trip.
    fn commit(&mut self, head: Option<u64>) -> Result<()> {
        match head {
            // The NOTIFY is delivered to every listener when, and only if,
            // this commits. Both figures are the ledger's own integers.
            Some(head) => self.write_kept_then(Some(&format!(
                "UPDATE ledger_meta SET head_offset = {head} WHERE id = 1;
                 SELECT pg_notify('{CHANNEL}', '{head}');
                 COMMIT",
                head = signed(head),
            ))),
            None => self.write_kept_then(Some("COMMIT")),
        }
    }

    fn rollback(&mut self) -> Result<()> {
        self.forget_kept();
        self.conn.batch("ROLLBACK")
    }

    fn events_between(&mut self, from: u64, through: u64) -> Result<Vec<StoredEvent>> {
        rows::events_between(&mut self.conn, from, through)
    }
}
