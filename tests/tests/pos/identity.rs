//! The till as a device: set up once online (the store's secret exchanged
//! for the till's own credential), unlocked with its PIN, offline too, and
//! for nobody without it; revoked by head office, it stops selling.

use crate::harness::{Central, Driver, PIN, SECRET, Till};
use crate::{STORE, until_offline_ready};

/// Whether the till (the selling screen) is showing.
async fn till_shown(till: &Till) -> bool {
    till.visible("#till").await
}

/// Once, a till signed out with head office down opened for the secret
/// "totally-wrong" and took a sale under an identity it never proved. Now
/// a locked till opens offline for its PIN alone, and a till that was
/// never set up cannot be set up offline at all.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Chromium and the trunk-built page: cargo xtask test runs it"]
async fn a_locked_till_opens_offline_for_its_pin_and_for_nothing_else() {
    let mut central = Central::start().await;
    central.seed(STORE, &[("COF-1", "Coffee beans", 5)]).await;
    let driver = Driver::start().await;
    let till = driver.till().await;
    till.sign_in(&central, STORE).await;
    until_offline_ready(&till).await;
    // The store's secret is not kept on the device.
    let stored = till
        .eval("return JSON.stringify(Object.assign({}, localStorage));")
        .await;
    assert!(
        !stored.as_str().unwrap_or_default().contains(SECRET),
        "the store secret stays off the till: {stored}"
    );

    till.lock().await;
    central.down().await;
    for wrong in ["0000", "totally-wrong", ""] {
        till.unlock(wrong).await;
        till.until_text("#unlock-error", "Wrong PIN").await;
        assert!(!till_shown(&till).await, "{wrong:?} opened the till");
    }
    // A reload does not open it either: it stays locked.
    till.client.refresh().await.expect("reload");
    till.css("#unlock:not([hidden])").await;
    assert!(!till_shown(&till).await);

    till.unlock(PIN).await;
    till.css("#till:not([hidden])").await;
    till.until_text("#status", "Offline").await;
    till.search("COF-1").await;
    till.act("COF-1", 1, "sell").await;
    till.until_text("#message", "Saved on this till: 1 × COF-1")
        .await;
    let key = till.attr("#intents li[data-id]", "data-id").await;

    // Head office back: the sale arrives, recorded as this till's.
    central.up().await;
    till.css(&format!("#intents li.applied[data-id='{key}']"))
        .await;
    let devices = central.devices(STORE).await;
    assert_eq!(devices.len(), 1, "one till enrolled: {devices:?}");
    let events = central.events_of(STORE, &key).await;
    assert_eq!(events.len(), 1, "exactly once");
    assert_eq!(
        events[0]["device_id"], devices[0]["device_id"],
        "central records which till sold it"
    );
    till.client.close().await.unwrap();
}

/// Five wrong PINs in a row and the till stops checking PINs for a while,
/// the right one included; a reload does not reset the count.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Chromium and the trunk-built page: cargo xtask test runs it"]
async fn five_wrong_pins_make_the_till_wait_even_across_a_reload() {
    let central = Central::start().await;
    central.seed(STORE, &[("COF-1", "Coffee beans", 5)]).await;
    let driver = Driver::start().await;
    let till = driver.till().await;
    till.sign_in(&central, STORE).await;
    till.lock().await;
    for left in ["4 more tries", "3 more tries", "2 more tries", "1 more try"] {
        till.unlock("1357").await;
        till.until_text("#unlock-error", &format!("Wrong PIN. {left}"))
            .await;
    }
    till.client.refresh().await.expect("reload");
    till.css("#unlock:not([hidden])").await;
    till.unlock("1357").await;
    till.until_text("#unlock-error", "Too many wrong PINs")
        .await;
    till.unlock(PIN).await;
    till.until_text("#unlock-error", "Too many wrong PINs")
        .await;
    assert!(!till_shown(&till).await, "not even the right PIN, for now");
    till.client.close().await.unwrap();
}

/// A browser that was never set up as a till, with head office down: no
/// store secret, right or wrong, opens it.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Chromium and the trunk-built page: cargo xtask test runs it"]
async fn a_till_never_set_up_cannot_be_set_up_offline() {
    let mut central = Central::start().await;
    central.seed(STORE, &[("COF-1", "Coffee beans", 5)]).await;
    let driver = Driver::start().await;
    let till = driver.till().await;
    till.client
        .goto(&central.url("/"))
        .await
        .expect("page loads");
    till.css("#setup:not([hidden])").await;
    // Reloaded once, the service worker controls the page and has it.
    till.client.refresh().await.expect("reload");
    until_offline_ready(&till).await;

    central.down().await;
    till.client.refresh().await.expect("reload offline");
    till.css("#setup:not([hidden])").await;
    for secret in ["totally-wrong-secret", SECRET] {
        till.set_up(STORE, secret).await;
        till.until_text("#setup-error", "Can't reach head office")
            .await;
        assert!(!till_shown(&till).await, "opened offline with {secret}");
    }
    // Checked before anything is sent: an empty form says what is missing.
    till.fill("#setup-store", "").await;
    till.css("#setup-submit").await.click().await.unwrap();
    till.until_text("#setup-error", "Type the store id.").await;
    till.fill("#setup-store", STORE).await;
    till.fill("#setup-pin", "12").await;
    till.css("#setup-submit").await.click().await.unwrap();
    till.until_text("#setup-error", "4 to 8 digits").await;

    // Head office back: the right secret sets it up; a wrong one never.
    central.up().await;
    till.set_up(STORE, "totally-wrong-secret").await;
    till.until_text("#setup-error", "Wrong store id or store secret")
        .await;
    assert!(central.devices(STORE).await.is_empty());
    till.set_up(STORE, SECRET).await;
    till.css("#till:not([hidden])").await;
    till.until_text("#status", "Online").await;
    assert_eq!(central.devices(STORE).await.len(), 1);
    till.client.close().await.unwrap();
}

/// Head office revokes a till (lost, stolen, replaced): it stops selling
/// and asks to be set up again, and what it had not sent stays on it.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Chromium and the trunk-built page: cargo xtask test runs it"]
async fn a_revoked_till_stops_selling_and_asks_to_be_set_up_again() {
    let central = Central::start().await;
    central.seed(STORE, &[("COF-1", "Coffee beans", 5)]).await;
    let driver = Driver::start().await;
    let till = driver.till().await;
    till.sign_in(&central, STORE).await;
    till.search("COF-1").await;
    till.act("COF-1", 1, "sell").await;
    till.until_text("#message", "head office now has 4").await;

    let device = central.devices(STORE).await[0]["device_id"]
        .as_str()
        .expect("device id")
        .to_owned();
    central.revoke(&device).await;
    // The next call to head office finds out; Sync now makes one at once
    // (unless the till found out first and is gone to set-up already).
    let _ = till.css("#sync-now").await.click().await;
    till.css("#setup:not([hidden])").await;
    till.until_text("#setup-error", "Head office no longer accepts this till")
        .await;
    assert!(!till_shown(&till).await);

    // Set up again: a new device, and the till sells again.
    till.set_up(STORE, SECRET).await;
    till.css("#till:not([hidden])").await;
    till.until_text("#status", "Online").await;
    let devices = central.devices(STORE).await;
    assert_eq!(devices.len(), 2);
    assert!(devices.iter().any(|d| d["revoked_at"].is_string()));
    till.search("COF-1").await;
    till.act("COF-1", 1, "sell").await;
    till.until_text("#message", "head office now has 3").await;
    till.client.close().await.unwrap();
}
