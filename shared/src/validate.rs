//! Input rules both sides apply: central refuses what breaks them, and the
//! store node checks before it queues an intent it could never send.

use crate::{AdjustRequest, FieldError, NewProduct, NewStore, limits::*};

/// Whether a delta is one the API takes: non-zero and within
/// ±[`MAX_QUANTITY`]. Written as a range test, not with `abs()`:
/// `i64::MIN.abs()` overflows (a panic in debug, `i64::MIN` in release,
/// which once let a delta of `i64::MIN` through).
pub fn delta_in_range(delta: i64) -> bool {
    delta != 0 && (-MAX_QUANTITY..=MAX_QUANTITY).contains(&delta)
}

/// A level after `delta`, or `None` if it would leave ±[`MAX_LEVEL`].
pub fn level_after(available: i64, delta: i64) -> Option<i64> {
    available
        .checked_add(delta)
        .filter(|next| (-MAX_LEVEL..=MAX_LEVEL).contains(next))
}

/// Skus and store ids: 1–64 of `A-Z a-z 0-9 . _ -`, so they are safe in paths.
///
/// Not dots alone: an id goes into URL paths, where `.` and `..` are
/// segments every client resolves away before sending.
pub fn identifier(field: &str, value: &str, errors: &mut Vec<FieldError>) {
    let ok = !value.is_empty()
        && value.len() <= MAX_ID_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && value.bytes().any(|b| b != b'.');
    if !ok {
        errors.push(FieldError::new(
            field,
            format!(
                "must be 1-{MAX_ID_LEN} characters of A-Z, a-z, 0-9, '.', '_' or '-', not dots alone"
            ),
        ));
    }
}

/// Idempotency keys: 1–128 visible ASCII characters (a UUID fits).
pub fn idempotency_key(value: &str) -> Result<(), String> {
    if value.is_empty() || value.len() > MAX_KEY_LEN || !value.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(format!(
            "an idempotency key is 1-{MAX_KEY_LEN} visible ASCII characters"
        ));
    }
    Ok(())
}

/// A name: 1–`max` characters, not only white space, no control
/// characters (they would reach receipts, logs and other tills).
fn text(field: &str, value: &str, max: usize, errors: &mut Vec<FieldError>) {
    let count = value.chars().count();
    if count == 0
        || count > max
        || value.chars().any(char::is_control)
        || value.chars().all(char::is_whitespace)
    {
        errors.push(FieldError::new(
            field,
            format!("must be 1-{max} characters, not blank, without control characters"),
        ));
    }
}

fn reason(field: &str, value: Option<&str>, errors: &mut Vec<FieldError>) {
    if value.is_some_and(|r| r.chars().count() > MAX_REASON_LEN || r.chars().any(char::is_control))
    {
        errors.push(FieldError::new(
            field,
            format!("must be at most {MAX_REASON_LEN} characters, without control characters"),
        ));
    }
}

pub fn adjust(prefix: &str, req: &AdjustRequest, errors: &mut Vec<FieldError>) {
    identifier(&format!("{prefix}sku"), &req.sku, errors);
    if !delta_in_range(req.delta) {
        errors.push(FieldError::new(
            format!("{prefix}delta"),
            format!("must be non-zero and within ±{MAX_QUANTITY}"),
        ));
    }
    if req.expected_version.is_some() && req.kind == crate::AdjustKind::Recorded {
        errors.push(FieldError::new(
            format!("{prefix}expected_version"),
            "a recorded fact is applied whatever the version; leave expected_version out",
        ));
    }
    reason(&format!("{prefix}reason"), req.reason.as_deref(), errors);
}

pub fn set_stock(on_hand: i64, reason_text: Option<&str>, errors: &mut Vec<FieldError>) {
    if !(0..=MAX_QUANTITY).contains(&on_hand) {
        errors.push(FieldError::new(
            "on_hand",
            format!("must be within 0..={MAX_QUANTITY}"),
        ));
    }
    reason("reason", reason_text, errors);
}

pub fn price(field: &str, price_cents: i64, errors: &mut Vec<FieldError>) {
    if !(0..=MAX_QUANTITY).contains(&price_cents) {
        errors.push(FieldError::new(
            field,
            format!("must be within 0..={MAX_QUANTITY}"),
        ));
    }
}

pub fn product_name(field: &str, name: &str, errors: &mut Vec<FieldError>) {
    text(field, name, MAX_NAME_LEN, errors);
}

pub fn new_product(p: &NewProduct, errors: &mut Vec<FieldError>) {
    identifier("sku", &p.sku, errors);
    product_name("name", &p.name, errors);
    price("price_cents", p.price_cents, errors);
}

pub fn new_store(s: &NewStore, errors: &mut Vec<FieldError>) {
    identifier("store_id", &s.store_id, errors);
    text("name", &s.name, MAX_NAME_LEN, errors);
    if let Some(secret) = &s.client_secret {
        client_secret("client_secret", secret, errors);
    }
}

pub fn enrol(e: &crate::EnrolRequest, errors: &mut Vec<FieldError>) {
    identifier("store_id", &e.store_id, errors);
    client_secret("client_secret", &e.client_secret, errors);
    text("device_name", &e.device_name, MAX_NAME_LEN, errors);
}

pub fn new_channel(c: &crate::NewChannel, errors: &mut Vec<FieldError>) {
    identifier("channel_id", &c.channel_id, errors);
    text("name", &c.name, MAX_NAME_LEN, errors);
    if let Some(secret) = &c.channel_secret {
        client_secret("channel_secret", secret, errors);
    }
    if let Some(limits) = &c.limits {
        channel_limits(limits, errors);
    }
}

/// A channel's bounds: at least one unit, a share of 1-100 %, a life of
/// one second to a week.
pub fn channel_limits(l: &crate::ChannelLimits, errors: &mut Vec<FieldError>) {
    if !(1..=MAX_QUANTITY).contains(&l.max_held_units) {
        errors.push(FieldError::new(
            "max_held_units",
            format!("must be within 1..={MAX_QUANTITY}"),
        ));
    }
    if !(1..=100).contains(&l.max_level_share_percent) {
        errors.push(FieldError::new(
            "max_level_share_percent",
            "must be within 1..=100",
        ));
    }
    let life = crate::limits::MAX_HOLD_LIFE_SECONDS;
    if !(1..=life).contains(&l.max_hold_life_seconds) {
        errors.push(FieldError::new(
            "max_hold_life_seconds",
            format!("must be within 1..={life}"),
        ));
    }
}

/// A store's safety stock: 0..=[`MAX_QUANTITY`] units.
pub fn safety_stock(s: &crate::SafetyStock, errors: &mut Vec<FieldError>) {
    if !(0..=MAX_QUANTITY).contains(&s.units) {
        errors.push(FieldError::new(
            "units",
            format!("must be within 0..={MAX_QUANTITY}"),
        ));
    }
}

fn ttl(value: Option<u32>, errors: &mut Vec<FieldError>) {
    let max = crate::limits::MAX_HOLD_TTL_SECONDS;
    if value.is_some_and(|t| !(1..=max).contains(&t)) {
        errors.push(FieldError::new(
            "ttl_seconds",
            format!("must be within 1..={max}"),
        ));
    }
}

/// A hold request: 1-100 lines of a sku and 1..=[`MAX_QUANTITY`] units,
/// a reference of visible ASCII, a time to live within a day, and a
/// priority list of 1-100 stores.
pub fn place_hold(req: &crate::PlaceHoldRequest, errors: &mut Vec<FieldError>) {
    use crate::limits::{MAX_HOLD_LINES, MAX_PRIORITY_STORES, MAX_REFERENCE_LEN};
    let reference = &req.reference;
    if reference.is_empty()
        || reference.len() > MAX_REFERENCE_LEN
        || !reference.bytes().all(|b| b.is_ascii_graphic())
    {
        errors.push(FieldError::new(
            "reference",
            format!("must be 1-{MAX_REFERENCE_LEN} visible ASCII characters"),
        ));
    }
    if req.lines.is_empty() || req.lines.len() > MAX_HOLD_LINES {
        errors.push(FieldError::new(
            "lines",
            format!("1-{MAX_HOLD_LINES} lines"),
        ));
    }
    for (i, line) in req.lines.iter().take(MAX_HOLD_LINES).enumerate() {
        identifier(&format!("lines[{i}].sku"), &line.sku, errors);
        if !(1..=MAX_QUANTITY).contains(&line.quantity) {
            errors.push(FieldError::new(
                format!("lines[{i}].quantity"),
                format!("must be within 1..={MAX_QUANTITY}"),
            ));
        }
        if let Some(store_id) = &line.store_id {
            identifier(&format!("lines[{i}].store_id"), store_id, errors);
        }
    }
    ttl(req.ttl_seconds, errors);
    if let crate::Allocation::Priority { stores } = &req.allocation {
        if stores.is_empty() || stores.len() > MAX_PRIORITY_STORES {
            errors.push(FieldError::new(
                "allocation.stores",
                format!("1-{MAX_PRIORITY_STORES} stores"),
            ));
        }
        for (i, store_id) in stores.iter().take(MAX_PRIORITY_STORES).enumerate() {
            identifier(&format!("allocation.stores[{i}]"), store_id, errors);
        }
    }
}

pub fn extend_hold(req: &crate::ExtendHoldRequest, errors: &mut Vec<FieldError>) {
    ttl(req.ttl_seconds, errors);
}

/// The lines a commit names: 1-100, each a count within
/// 0..=[`MAX_QUANTITY`] (lines naming the same store and sku add up).
pub fn commit_hold(req: &crate::CommitHoldRequest, errors: &mut Vec<FieldError>) {
    let Some(lines) = &req.lines else {
        return;
    };
    let max = crate::limits::MAX_HOLD_LINES;
    if lines.is_empty() || lines.len() > max {
        errors.push(FieldError::new("lines", format!("1-{max} lines, or none")));
    }
    for (i, line) in lines.iter().take(max).enumerate() {
        identifier(&format!("lines[{i}].store_id"), &line.store_id, errors);
        identifier(&format!("lines[{i}].sku"), &line.sku, errors);
        if !(0..=MAX_QUANTITY).contains(&line.quantity) {
            errors.push(FieldError::new(
                format!("lines[{i}].quantity"),
                format!("must be within 0..={MAX_QUANTITY}"),
            ));
        }
    }
}

pub fn availability(req: &crate::AvailabilityRequest, errors: &mut Vec<FieldError>) {
    if req.skus.is_empty() || req.skus.len() > MAX_AVAILABILITY_SKUS {
        errors.push(FieldError::new(
            "skus",
            format!("1-{MAX_AVAILABILITY_SKUS} skus"),
        ));
    }
    for (i, sku) in req.skus.iter().take(MAX_AVAILABILITY_SKUS).enumerate() {
        identifier(&format!("skus[{i}]"), sku, errors);
    }
}

pub fn client_secret(field: &str, secret: &str, errors: &mut Vec<FieldError>) {
    if secret.len() < MIN_SECRET_LEN
        || secret.len() > MAX_SECRET_LEN
        || !secret.bytes().all(|b| b.is_ascii_graphic())
    {
        errors.push(FieldError::new(
            field,
            format!("must be {MIN_SECRET_LEN}-{MAX_SECRET_LEN} visible ASCII characters"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        let mut e = Vec::new();
        for good in ["SKU-001.a_b", ".a", "a..", "-", "_."] {
            identifier("sku", good, &mut e);
        }
        assert!(e.is_empty(), "{e:?}");
        for bad in [
            "",
            "has space",
            "slash/",
            &"x".repeat(65),
            "é",
            ".",
            "..",
            "...",
        ] {
            let mut e = Vec::new();
            identifier("sku", bad, &mut e);
            assert_eq!(e.len(), 1, "{bad:?} should be refused");
        }
    }

    #[test]
    fn adjust_rules() {
        let mut req = AdjustRequest {
            sku: "A".into(),
            delta: 0,
            kind: crate::AdjustKind::Recorded,
            expected_version: Some(1),
            reason: Some("r".repeat(201)),
        };
        let mut e = Vec::new();
        adjust("", &req, &mut e);
        let fields: Vec<_> = e.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["delta", "expected_version", "reason"]);
        req.delta = -1;
        req.expected_version = None;
        req.reason = None;
        let mut e = Vec::new();
        adjust("", &req, &mut e);
        assert!(e.is_empty());
    }

    #[test]
    fn the_extreme_deltas_are_refused() {
        for delta in [
            i64::MIN,
            i64::MIN + 1,
            -MAX_QUANTITY - 1,
            0,
            MAX_QUANTITY + 1,
            i64::MAX,
        ] {
            assert!(!delta_in_range(delta), "{delta}");
        }
        for delta in [-MAX_QUANTITY, -1, 1, MAX_QUANTITY] {
            assert!(delta_in_range(delta), "{delta}");
        }
        assert_eq!(level_after(MAX_LEVEL, 1), None);
        assert_eq!(level_after(-MAX_LEVEL, -1), None);
        assert_eq!(level_after(i64::MAX, 1), None);
        assert_eq!(level_after(5, -7), Some(-2));
    }

    #[test]
    fn keys() {
        assert!(idempotency_key("0b6f3c1e-8a9d-4f5e-9b1a-2c3d4e5f6a7b").is_ok());
        assert!(idempotency_key("").is_err());
        assert!(idempotency_key("has space").is_err());
        assert!(idempotency_key(&"k".repeat(129)).is_err());
    }
}
