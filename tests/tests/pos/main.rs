//! The POS page in real headless Chromium (WebDriver, Debian's
//! chromedriver) against a real central serving the page trunk built.
//! `cargo xtask test` builds the page and runs these; a bare `cargo test`
//! skips them (they need the browser and the build).

mod harness;
mod identity;
mod layout;
mod manager;
mod pickups;

use std::time::Duration;

use fantoccini::key::Key;
use harness::{Central, Driver, Till};

const STORE: &str = "till-store";

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Chromium and the trunk-built page: cargo xtask test runs it"]
async fn sign_in_find_a_product_and_sell_one() {
    let central = Central::start().await;
    central
        .seed(
            STORE,
            &[("COF-1", "Coffee beans 1kg", 5), ("TEA-1", "Green tea", 2)],
        )
        .await;
    let driver = Driver::start().await;
    let till = driver.till().await;
    till.sign_in(&central, STORE).await;

    // Search by name, any case: the product and its stock, from the replica.
    till.search("coffee").await;
    till.until_stock("COF-1", "5 in stock").await;
    assert!(
        !till.visible("tr[data-sku='TEA-1']").await,
        "only what matches"
    );

    till.act("COF-1", 1, "sell").await;
    till.until_text("#message", "Sold 1 × COF-1: head office now has 4.")
        .await;
    till.until_stock("COF-1", "4 in stock").await;
    assert_eq!(central.level(STORE, "COF-1").await, 4, "central's ledger");
    let key = till.attr("#intents li.applied", "data-id").await;
    assert_eq!(central.events_with_key(STORE, &key).await, 1);

    // The main screen, for a person to look at.
    till.search("").await;
    till.until_stock("TEA-1", "2 in stock").await;
    let shot = till.screenshot("pos-main").await;
    eprintln!("screenshot of the main screen: {}", shot.display());
    till.client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Chromium and the trunk-built page: cargo xtask test runs it"]
async fn keyboard_only_scan_and_sell_a_basket() {
    let central = Central::start().await;
    central
        .seed(
            STORE,
            &[("COF-1", "Coffee beans", 5), ("TEA-1", "Green tea", 2)],
        )
        .await;
    let driver = Driver::start().await;
    let till = driver.till().await;
    till.sign_in(&central, STORE).await;

    // A scanner types the sku and Enter: into the basket.
    for sku in ["cof-1", "TEA-1", "COF-1"] {
        till.scan(sku).await;
    }
    till.until_text("#basket-lines", "2 × COF-1").await;
    till.until_text("#basket-lines", "1 × TEA-1").await;
    till.until_text("#basket-total", "Total €7.50 · 3 items")
        .await;

    // Ctrl+Enter sells the basket, as one atomic batch.
    let search = till.css("#search").await;
    search
        .send_keys(&(Key::Control + &Key::Enter))
        .await
        .unwrap();
    till.until_text("#message", "Basket sold: 2 lines, €7.50.")
        .await;
    assert_eq!(central.level(STORE, "COF-1").await, 3);
    assert_eq!(central.level(STORE, "TEA-1").await, 1);
    till.until_text("#basket-total", "Empty").await;

    // A basket central cannot serve whole sells nothing, and says why.
    for sku in ["TEA-1", "TEA-1"] {
        till.scan(sku).await;
    }
    // More in the basket than the till shows: said at once, and marked.
    till.until_text("#message", "2 × TEA-1 in the basket, 1 in stock")
        .await;
    till.until_text("#basket-lines li.short", "1 in stock")
        .await;
    till.scan("COF-1").await;
    till.until_text("#basket-lines", "1 × COF-1").await;
    till.css("#sell-basket").await.click().await.unwrap();
    till.until_text(
        "#message",
        "Basket refused, nothing sold: 2 × TEA-1. Not enough stock: head office has 1",
    )
    .await;
    assert_eq!(central.level(STORE, "COF-1").await, 3, "no line applied");
    assert_eq!(central.level(STORE, "TEA-1").await, 1);
    till.until_text("#basket-lines", "2 × TEA-1").await;
    // The line that stopped it is marked, with why, until it changes.
    till.until_text(
        "#basket-lines li.refused[data-line='TEA-1']",
        "Refused: Not enough stock: head office has 1",
    )
    .await;
    till.css("li[data-line='TEA-1'] button[data-action='less']")
        .await
        .click()
        .await
        .unwrap();
    till.until_text("#basket-lines", "1 × TEA-1").await;
    assert!(!till.visible("#basket-lines li.refused").await);
    till.css("#sell-basket").await.click().await.unwrap();
    till.until_text("#message", "Basket sold: 2 lines, €5.00.")
        .await;
    assert_eq!(central.level(STORE, "TEA-1").await, 0);
    till.client.close().await.unwrap();
}

/// A scanner sends the code and Enter, never Esc: after a code that
/// matched nothing, the next scan must replace it, not be appended to it
/// ("BAD-999COF-1").
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Chromium and the trunk-built page: cargo xtask test runs it"]
async fn a_scan_after_an_unknown_code_replaces_it() {
    let central = Central::start().await;
    central.seed(STORE, &[("COF-1", "Coffee beans", 5)]).await;
    let driver = Driver::start().await;
    let till = driver.till().await;
    till.sign_in(&central, STORE).await;

    till.scan_as_is("BAD-999").await;
    till.until_text("#message", "No product matches “BAD-999”.")
        .await;
    till.scan_as_is("COF-1").await;
    till.until_text("#basket-lines", "1 × COF-1").await;
    // And again after a code that matched several products but no sku.
    till.scan_as_is("Coffee").await;
    till.until_text("#message", "No product has the sku “Coffee”")
        .await;
    till.scan_as_is("COF-1").await;
    till.until_text("#basket-lines", "2 × COF-1").await;
    till.client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Chromium and the trunk-built page: cargo xtask test runs it"]
async fn a_sale_at_one_till_shows_on_the_other_without_reload() {
    let central = Central::start().await;
    central.seed(STORE, &[("COF-1", "Coffee beans", 9)]).await;
    let driver = Driver::start().await;
    let (one, two) = (driver.till().await, driver.till().await);
    one.sign_in(&central, STORE).await;
    two.sign_in(&central, STORE).await;
    for till in [&one, &two] {
        till.search("COF-1").await;
        till.until_stock("COF-1", "9 in stock").await;
    }
    // Marks the page: a reload would lose it.
    two.eval("window.notReloaded = true").await;

    one.act("COF-1", 2, "sell").await;
    one.until_stock("COF-1", "7 in stock").await;
    two.until_stock("COF-1", "7 in stock").await;

    // A sale elsewhere (another system, straight to central) too.
    central.sell_elsewhere(STORE, "COF-1", 3).await;
    one.until_stock("COF-1", "4 in stock").await;
    two.until_stock("COF-1", "4 in stock").await;
    assert_eq!(
        two.eval("return window.notReloaded === true").await,
        serde_json::Value::Bool(true),
        "live, not reloaded"
    );
    one.client.close().await.unwrap();
    two.client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Chromium and the trunk-built page: cargo xtask test runs it"]
async fn two_tabs_of_one_till_one_syncs_the_other_follows() {
    let central = Central::start().await;
    central.seed(STORE, &[("COF-1", "Coffee beans", 9)]).await;
    let driver = Driver::start().await;
    let till = driver.till().await;
    till.sign_in(&central, STORE).await;
    let first = till.client.window().await.unwrap();
    till.search("COF-1").await;
    till.until_stock("COF-1", "9 in stock").await;

    // A second tab of the same browser: the till opens signed in, and
    // follows the first tab, which holds the store's lock and syncs.
    let second = till.client.new_window(true).await.unwrap().handle;
    till.client.switch_to_window(second.clone()).await.unwrap();
    till.client.goto(&central.url("/")).await.unwrap();
    till.css("#till:not([hidden])").await;
    till.until_text("#status", "Online").await;
    till.search("COF-1").await;
    till.until_stock("COF-1", "9 in stock").await;

    // A sale in the following tab: stored there, forwarded by the syncing
    // one, answered back to it.
    till.act("COF-1", 2, "sell").await;
    till.until_text("#message", "Sold 2 × COF-1: head office now has 7.")
        .await;
    till.until_stock("COF-1", "7 in stock").await;
    assert_eq!(central.level(STORE, "COF-1").await, 7);
    let key = till.attr("#intents li.applied", "data-id").await;
    assert_eq!(central.events_with_key(STORE, &key).await, 1, "sent once");

    // A sale elsewhere reaches both tabs.
    central.sell_elsewhere(STORE, "COF-1", 3).await;
    till.until_stock("COF-1", "4 in stock").await;
    till.client.switch_to_window(first).await.unwrap();
    till.until_stock("COF-1", "4 in stock").await;
    till.client.close().await.unwrap();
}

/// Waits until the service worker controls the page and has the shell. A
/// page loaded before the worker was active stays uncontrolled until it is
/// loaded again: reload it every few seconds until it is.
async fn until_offline_ready(till: &Till) {
    let started = std::time::Instant::now();
    let mut reloaded = std::time::Instant::now();
    loop {
        let ready = till
            .eval_async(
                "const done = arguments[0];
                 (async () => navigator.serviceWorker.controller !== null
                    && (await (await caches.open('stockline-shell-v1')).keys()).length >= 4)()
                   .then(done, () => done(false));",
            )
            .await;
        if ready == serde_json::Value::Bool(true) {
            return;
        }
        assert!(
            started.elapsed() < harness::PATIENCE,
            "the service worker never took the page"
        );
        if reloaded.elapsed() > Duration::from_secs(5) {
            till.client.refresh().await.expect("reload");
            reloaded = std::time::Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Chromium and the trunk-built page: cargo xtask test runs it"]
async fn offline_sale_survives_a_reload_and_drains_once() {
    let mut central = Central::start().await;
    central.seed(STORE, &[("COF-1", "Coffee beans", 5)]).await;
    let driver = Driver::start().await;
    let till = driver.till().await;
    till.sign_in(&central, STORE).await;
    until_offline_ready(&till).await;

    // Central goes down: the page says so and keeps selling.
    central.down().await;
    till.until_text("#status", "Offline").await;
    till.search("COF-1").await;
    till.act("COF-1", 1, "sell").await;
    till.until_text("#message", "Saved on this till: 1 × COF-1")
        .await;
    till.until_stock("COF-1", "4 in stock, 1 sale pending")
        .await;
    let key = till.attr("#intents li[data-id]", "data-id").await;

    // Reload with central still down: the service worker opens the till,
    // and the queue is intact.
    till.client.refresh().await.expect("reload");
    till.css("#till:not([hidden])").await;
    till.until_text("#status", "Offline").await;
    till.until_text(
        &format!("#intents li[data-id='{key}']"),
        "Sale of 1 × COF-1",
    )
    .await;
    till.search("COF-1").await;
    till.until_stock("COF-1", "4 in stock, 1 sale pending")
        .await;
    assert_eq!(
        central_level_offline(&central).await,
        None,
        "central is down"
    );

    // Central back: the queue drains by itself, exactly once.
    central.up().await;
    till.css(&format!("#intents li.applied[data-id='{key}']"))
        .await;
    till.until_stock("COF-1", "4 in stock").await;
    till.until_text("#status", "Online").await;
    assert_eq!(central.level(STORE, "COF-1").await, 4);
    assert_eq!(
        central.events_with_key(STORE, &key).await,
        1,
        "exactly once"
    );
    till.client.close().await.unwrap();
}

/// Central's figure if it answers at all (it should not, while down).
async fn central_level_offline(central: &Central) -> Option<i64> {
    let url = central.url(&shared::api::fill(
        shared::api::GetLevel::PATH,
        &[STORE, "COF-1"],
    ));
    let response = central.http.get(url).send().await.ok()?;
    let level: serde_json::Value = response.json().await.ok()?;
    level["available"].as_i64()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Chromium and the trunk-built page: cargo xtask test runs it"]
async fn a_refused_sale_is_shown_with_its_reason() {
    let central = Central::start().await;
    central.seed(STORE, &[("TEA-1", "Green tea", 1)]).await;
    let driver = Driver::start().await;
    let till = driver.till().await;
    till.sign_in(&central, STORE).await;
    till.search("TEA-1").await;
    till.until_stock("TEA-1", "1 in stock").await;

    // More than the till shows: it says so first, and records nothing.
    till.act("TEA-1", 3, "sell").await;
    till.until_text(
        "#message",
        "The till shows 1 of TEA-1 in stock; head office will likely refuse it.",
    )
    .await;
    till.until_text("#intents", "No sales or restocks yet.")
        .await;
    // The same press again sells it.
    till.css("tr[data-sku='TEA-1'] button[data-action='sell']")
        .await
        .click()
        .await
        .expect("Sell again");
    till.until_text(
        "#message",
        "Refused: 3 × TEA-1. Not enough stock: head office has 1.",
    )
    .await;
    let refused = till
        .until_text(
            "#intents li.refused",
            "Not enough stock: head office has 1.",
        )
        .await;
    assert!(refused.contains("Check the shelf"), "what to do: {refused}");
    till.until_stock("TEA-1", "1 in stock").await;
    assert_eq!(central.level(STORE, "TEA-1").await, 1, "nothing applied");

    // The cashier dismisses it once read.
    till.css("#intents li.refused button[data-dismiss]")
        .await
        .click()
        .await
        .unwrap();
    till.until_text("#intents", "No sales or restocks yet.")
        .await;
    till.client.close().await.unwrap();
}

/// "Sync now" with central down once froze the page: the syncing loop met
/// the cashier's sync in progress, was told "busy", and asked again at once,
/// forever, without ever yielding to the browser — so the fetch it waited on
/// never finished, not even after central came back. The page must keep
/// answering, and sync once central returns.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Chromium and the trunk-built page: cargo xtask test runs it"]
async fn sync_now_offline_keeps_the_page_responsive_and_syncs_when_central_returns() {
    let mut central = Central::start().await;
    central.seed(STORE, &[("COF-1", "Coffee beans", 5)]).await;
    let driver = Driver::start().await;
    let till = driver.till().await;
    till.sign_in(&central, STORE).await;
    until_offline_ready(&till).await;

    central.down().await;
    till.until_text("#status", "Offline").await;
    // Bounded here: a frozen page would hold the click for WebDriver's 300 s.
    let clicked =
        tokio::time::timeout(Duration::from_secs(10), till.css("#sync-now").await.click()).await;
    assert!(matches!(clicked, Ok(Ok(_))), "Sync now: {clicked:?}");
    // A page that answers a trivial script within 100 ms, again and again
    // while its sync fails, is not spinning.
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let asked = std::time::Instant::now();
        let answered = tokio::time::timeout(Duration::from_secs(5), till.eval("return 1;")).await;
        assert!(answered.is_ok(), "the page stopped answering");
        slowest = slowest.max(asked.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        slowest < Duration::from_millis(100),
        "the page answered in {slowest:?} at worst"
    );

    central.up().await;
    central.sell_elsewhere(STORE, "COF-1", 2).await;
    till.css("#sync-now").await.click().await.expect("Sync now");
    till.until_text("#status", "Online").await;
    till.search("COF-1").await;
    till.until_stock("COF-1", "3 in stock").await;
    till.client.close().await.unwrap();
}
