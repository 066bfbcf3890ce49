//! The change log's events are stored as JSON and served as stored, for
//! as long as retention keeps them: replicas of every release read them.
//! Each kind's JSON is pinned here, so a rename cannot silently break a
//! replay.

use shared::{AdjustKind, Change, Event, HeldLevel, Product, ReleaseReason, Store};
use time::macros::datetime;

fn event(offset: u64, change: Change) -> Event {
    Event {
        offset,
        at: datetime!(2026-12-01 12:00:00 UTC),
        change,
    }
}

fn held(quantity: i64, released: i64) -> HeldLevel {
    HeldLevel {
        sku: "A".into(),
        quantity,
        released,
        available: 3,
        held: 2,
        version: 11,
    }
}

#[test]
fn every_event_kind_keeps_its_stored_json() {
    let product = Product {
        sku: "A".into(),
        name: "Beans".into(),
        price_cents: 250,
        active: true,
        version: 1,
        updated_at: datetime!(2026-12-01 12:00:00 UTC),
    };
    let store = Store {
        store_id: "s1".into(),
        name: "Downtown".into(),
        active: true,
        created_at: datetime!(2026-12-01 12:00:00 UTC),
        safety_stock: 0,
    };
    let at = r#""offset":1,"at":"2026-12-01T12:00:00Z""#;
    let product_json = r#"{"sku":"A","name":"Beans","price_cents":250,"active":true,"version":1,"updated_at":"2026-12-01T12:00:00Z"}"#;
    let store_json =
        r#"{"store_id":"s1","name":"Downtown","active":true,"created_at":"2026-12-01T12:00:00Z"}"#;
    let golden = [
        (
            Change::StockAdjusted {
                store_id: "s1".into(),
                sku: "A".into(),
                delta: -2,
                adjust_kind: AdjustKind::Recorded,
                available: -1,
                held: 0,
                version: 9,
                idempotency_key: "k-1".into(),
                reason: Some("sold offline".into()),
                device_id: None,
            },
            format!(
                r#"{{{at},"kind":"stock_adjusted","store_id":"s1","sku":"A","delta":-2,"adjust_kind":"recorded","available":-1,"version":9,"idempotency_key":"k-1","reason":"sold offline"}}"#
            ),
        ),
        (
            Change::StockAdjusted {
                store_id: "s1".into(),
                sku: "A".into(),
                delta: -1,
                adjust_kind: AdjustKind::Guarded,
                available: 4,
                held: 0,
                version: 10,
                idempotency_key: "k-2".into(),
                reason: None,
                device_id: Some("dev-0123456789abcdef0123".into()),
            },
            format!(
                r#"{{{at},"kind":"stock_adjusted","store_id":"s1","sku":"A","delta":-1,"adjust_kind":"guarded","available":4,"version":10,"idempotency_key":"k-2","device_id":"dev-0123456789abcdef0123"}}"#
            ),
        ),
        (
            Change::StockSet {
                store_id: "s1".into(),
                sku: "A".into(),
                previous: 3,
                available: 10,
                held: 0,
                version: 4,
                reason: None,
            },
            format!(
                r#"{{{at},"kind":"stock_set","store_id":"s1","sku":"A","previous":3,"available":10,"version":4}}"#
            ),
        ),
        (
            Change::Discrepancy {
                store_id: "s1".into(),
                sku: "A".into(),
                available: -1,
                held: 0,
                version: 9,
                idempotency_key: "k-1".into(),
                holds_at_risk: Vec::new(),
            },
            format!(
                r#"{{{at},"kind":"discrepancy","store_id":"s1","sku":"A","available":-1,"version":9,"idempotency_key":"k-1"}}"#
            ),
        ),
        // Held units: an adjustment and a discrepancy that name them.
        (
            Change::StockAdjusted {
                store_id: "s1".into(),
                sku: "A".into(),
                delta: -1,
                adjust_kind: AdjustKind::Recorded,
                available: -1,
                held: 2,
                version: 12,
                idempotency_key: "k-3".into(),
                reason: None,
                device_id: None,
            },
            format!(
                r#"{{{at},"kind":"stock_adjusted","store_id":"s1","sku":"A","delta":-1,"adjust_kind":"recorded","available":-1,"held":2,"version":12,"idempotency_key":"k-3"}}"#
            ),
        ),
        (
            Change::Discrepancy {
                store_id: "s1".into(),
                sku: "A".into(),
                available: -1,
                held: 2,
                version: 12,
                idempotency_key: "k-3".into(),
                holds_at_risk: vec!["hold-1".into()],
            },
            format!(
                r#"{{{at},"kind":"discrepancy","store_id":"s1","sku":"A","available":-1,"held":2,"version":12,"idempotency_key":"k-3","holds_at_risk":["hold-1"]}}"#
            ),
        ),
        (
            Change::HoldPlaced {
                hold_id: "hold-1".into(),
                store_id: "s1".into(),
                channel: "web".into(),
                reference: "order-7".into(),
                expires_at: datetime!(2026-12-01 12:15:00 UTC),
                lines: vec![held(2, 0)],
            },
            format!(
                r#"{{{at},"kind":"hold_placed","hold_id":"hold-1","store_id":"s1","channel":"web","reference":"order-7","expires_at":"2026-12-01T12:15:00Z","lines":[{{"sku":"A","quantity":2,"available":3,"held":2,"version":11}}]}}"#
            ),
        ),
        (
            Change::HoldExtended {
                hold_id: "hold-1".into(),
                store_id: "s1".into(),
                expires_at: datetime!(2026-12-01 12:30:00 UTC),
            },
            format!(
                r#"{{{at},"kind":"hold_extended","hold_id":"hold-1","store_id":"s1","expires_at":"2026-12-01T12:30:00Z"}}"#
            ),
        ),
        (
            Change::HoldCommitted {
                hold_id: "hold-1".into(),
                store_id: "s1".into(),
                lines: vec![held(1, 1)],
            },
            format!(
                r#"{{{at},"kind":"hold_committed","hold_id":"hold-1","store_id":"s1","lines":[{{"sku":"A","quantity":1,"released":1,"available":3,"held":2,"version":11}}]}}"#
            ),
        ),
        (
            Change::HoldReleased {
                hold_id: "hold-1".into(),
                store_id: "s1".into(),
                reason: ReleaseReason::Expired,
                admin: None,
                lines: vec![held(2, 0)],
            },
            format!(
                r#"{{{at},"kind":"hold_released","hold_id":"hold-1","store_id":"s1","reason":"expired","lines":[{{"sku":"A","quantity":2,"available":3,"held":2,"version":11}}]}}"#
            ),
        ),
        (
            Change::ProductCreated {
                product: product.clone(),
            },
            format!(r#"{{{at},"kind":"product_created","product":{product_json}}}"#),
        ),
        (
            Change::ProductUpdated {
                product: product.clone(),
            },
            format!(r#"{{{at},"kind":"product_updated","product":{product_json}}}"#),
        ),
        (
            Change::ProductDeleted { product },
            format!(r#"{{{at},"kind":"product_deleted","product":{product_json}}}"#),
        ),
        (
            Change::StoreCreated {
                store: store.clone(),
            },
            format!(r#"{{{at},"kind":"store_created","store":{store_json}}}"#),
        ),
        (
            Change::StoreUpdated { store },
            format!(r#"{{{at},"kind":"store_updated","store":{store_json}}}"#),
        ),
    ];
    for (change, stored) in golden {
        let event = event(1, change);
        assert_eq!(serde_json::to_string(&event).unwrap(), stored);
        let read: Event = serde_json::from_str(&stored).unwrap();
        assert_eq!(read, event, "{stored} reads back");
    }
}
