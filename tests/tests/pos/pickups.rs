//! Online orders at the till: a hold the web shop places shows up live in
//! the pick-ups panel, and a hand-over at the counter, online or offline,
//! reaches central exactly once.

use std::time::{Duration, Instant};

use super::{STORE, until_offline_ready};
use crate::harness::{Central, Driver, PATIENCE, Till};

async fn press(till: &Till, selector: &str) {
    till.css(selector).await.click().await.expect("click");
}

/// Waits until central has the hold in `state`.
async fn until_hold(central: &Central, shop: &reqwest::Client, hold: &str, state: &str) {
    let started = Instant::now();
    while central.hold(shop, hold).await["state"] != state {
        assert!(started.elapsed() < PATIENCE, "{hold} never {state}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the pick-ups panel has nothing to show and is hidden.
async fn until_no_panel(till: &Till) {
    let started = Instant::now();
    while till.visible("#pickups-panel").await {
        assert!(started.elapsed() < PATIENCE, "the panel stays");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Chromium and the trunk-built page: cargo xtask test runs it"]
async fn an_online_order_appears_live_and_is_handed_over_or_cancelled_once() {
    let central = Central::start().await;
    central.seed(STORE, &[("COF-1", "Coffee beans", 5)]).await;
    let shop = central.web_shop().await;
    let driver = Driver::start().await;
    let till = driver.till().await;
    till.sign_in(&central, STORE).await;
    till.search("COF-1").await;
    till.until_stock("COF-1", "5 in stock").await;
    assert!(!till.visible("#pickups-panel").await, "no orders, no panel");

    // The shop holds 2 for click and collect: the till shows it live.
    let hold = central
        .hold_for_pickup(&shop, STORE, "W-1001", "COF-1", 2, 900)
        .await;
    till.until_text("#pickups", "Order W-1001").await;
    till.until_text("#pickups", "2 × Coffee beans").await;
    till.until_text("#pickups", "min left").await;
    till.until_stock("COF-1", "3 in stock · 2 held for online orders")
        .await;
    let shot = till.screenshot("pos-pickups").await;
    eprintln!("screenshot of the pick-ups panel: {}", shot.display());

    press(&till, &format!("#pickups [data-hand-over='{hold}']")).await;
    till.until_text("#message", "Order W-1001 handed over.")
        .await;
    until_hold(&central, &shop, &hold, "committed").await;
    till.until_stock("COF-1", "3 in stock").await;
    assert_eq!(central.level(STORE, "COF-1").await, 3);
    assert_eq!(
        central.events_of_kind(STORE, "hold_committed").await.len(),
        1,
        "handed over once"
    );

    // Cancel asks to be pressed twice: it gives the customer's order away.
    let second = central
        .hold_for_pickup(&shop, STORE, "W-1002", "COF-1", 1, 900)
        .await;
    till.until_text("#pickups", "Order W-1002").await;
    let cancel = format!("#pickups [data-cancel-pickup='{second}']");
    press(&till, &cancel).await;
    till.until_text("#message", "Press Cancel again").await;
    assert_eq!(central.hold(&shop, &second).await["state"], "active");
    press(&till, &cancel).await;
    till.until_text("#message", "Order W-1002 cancelled").await;
    until_hold(&central, &shop, &second, "released").await;
    till.until_stock("COF-1", "3 in stock").await;
    until_no_panel(&till).await;
    till.client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Chromium and the trunk-built page: cargo xtask test runs it"]
async fn hand_overs_made_offline_are_replayed_once_and_an_expired_hold_is_answered_plainly() {
    let mut central = Central::start().await;
    central.seed(STORE, &[("COF-1", "Coffee beans", 5)]).await;
    let shop = central.web_shop().await;
    let driver = Driver::start().await;
    let till = driver.till().await;
    till.sign_in(&central, STORE).await;
    until_offline_ready(&till).await;

    let kept = central
        .hold_for_pickup(&shop, STORE, "W-2001", "COF-1", 2, 900)
        .await;
    let short = central
        .hold_for_pickup(&shop, STORE, "W-2002", "COF-1", 1, 6)
        .await;
    let short_ends = Instant::now() + Duration::from_secs(6);
    till.until_text("#pickups", "Order W-2002").await;
    till.until_text("#pickups", "Order W-2001").await;

    // Offline, both are handed over: kept on the till, across a reload.
    central.down().await;
    till.until_text("#status", "Offline").await;
    press(&till, &format!("#pickups [data-hand-over='{kept}']")).await;
    till.until_text("#message", "Order W-2001 handed over.")
        .await;
    press(&till, &format!("#pickups [data-hand-over='{short}']")).await;
    till.until_text("#message", "Order W-2002 handed over.")
        .await;
    till.client.refresh().await.expect("reload");
    till.css("#till:not([hidden])").await;
    till.until_text(
        &format!("#pickups li[data-id='{kept}']"),
        "head office hears of it as soon as it answers",
    )
    .await;

    // The short hold runs out while central is away.
    tokio::time::sleep(short_ends.saturating_duration_since(Instant::now())).await;
    central.up().await;
    till.until_text("#status", "Online").await;
    till.until_text("#pickups li.refused", "Hand-over of Order W-2002")
        .await;
    till.until_text("#pickups li.refused", "ring them up as a normal sale")
        .await;
    until_hold(&central, &shop, &kept, "committed").await;
    assert_eq!(central.hold(&shop, &short).await["state"], "expired");
    let committed = central.events_of_kind(STORE, "hold_committed").await;
    assert_eq!(committed.len(), 1, "the kept order, exactly once");
    assert_eq!(committed[0]["hold_id"], kept.as_str());
    assert_eq!(central.level(STORE, "COF-1").await, 3);
    till.search("COF-1").await;
    till.until_stock("COF-1", "3 in stock").await;

    // The refusal goes once dismissed; then the panel has nothing to show.
    press(&till, "#pickups [data-dismiss-pickup]").await;
    until_no_panel(&till).await;
    till.client.close().await.unwrap();
}
