//! The manager's step: restocks, counts, returns and voids behind the
//! manager's PIN, and what the till shows below zero, for the manager to
//! count.

use crate::STORE;
use crate::harness::{Central, Driver, MANAGER_PIN, Till};

async fn manager_tool(till: &Till, sku: &str, quantity: &str, action: &str) {
    till.fill("#manager-sku", sku).await;
    till.fill("#manager-qty", quantity).await;
    till.css(&format!("#manager-tools button[data-manager='{action}']"))
        .await
        .click()
        .await
        .expect("click");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Chromium and the trunk-built page: cargo xtask test runs it"]
async fn restocks_counts_returns_and_voids_need_the_managers_pin() {
    let mut central = Central::start().await;
    central.seed(STORE, &[("COF-1", "Coffee beans", 5)]).await;
    let driver = Driver::start().await;
    let till = driver.till().await;
    till.sign_in(&central, STORE).await;

    // Not for the cashier: the tools show only after the manager's PIN.
    till.css("#manager-open")
        .await
        .click()
        .await
        .expect("Manager");
    till.css("#manager-unlock:not([hidden])").await;
    assert!(!till.visible("#manager-tools").await);
    for (wrong, left) in [("2580", "4 more tries"), ("1111", "3 more tries")] {
        till.css("#manager-enter:not([disabled])").await;
        till.fill("#manager-pin", wrong).await;
        till.css("#manager-enter")
            .await
            .click()
            .await
            .expect("Enter");
        till.until_text("#manager-error", &format!("Wrong manager PIN. {left}"))
            .await;
        assert!(!till.visible("#manager-tools").await, "{wrong} opened it");
    }
    till.css("#manager-enter:not([disabled])").await;
    till.fill("#manager-pin", MANAGER_PIN).await;
    till.css("#manager-enter")
        .await
        .click()
        .await
        .expect("Enter");
    till.css("#manager-tools:not([hidden])").await;

    manager_tool(&till, "cof-1", "3", "restock").await;
    till.until_text(
        "#manager-message",
        "Restocked 3 × COF-1: head office now has 8.",
    )
    .await;
    manager_tool(&till, "COF-1", "6", "count").await;
    till.until_text(
        "#manager-message",
        "Recorded the count of COF-1: head office now has 6.",
    )
    .await;
    till.css("#manager-reason")
        .await
        .select_by_value("faulty")
        .await
        .expect("reason");
    manager_tool(&till, "COF-1", "1", "return").await;
    till.until_text(
        "#manager-message",
        "Returned 1 × COF-1: head office now has 7.",
    )
    .await;
    assert_eq!(central.level(STORE, "COF-1").await, 7);

    // The cashier sells 2; the manager voids that sale.
    till.search("COF-1").await;
    till.act("COF-1", 2, "sell").await;
    till.until_text("#message", "head office now has 5").await;
    let sale = till.attr("#intents li.applied[data-id]", "data-id").await;
    till.css("#void-last").await.click().await.expect("Void");
    till.until_text(
        "#manager-message",
        "Voided the last sale: 2 × COF-1 put back.",
    )
    .await;
    till.until_stock("COF-1", "7 in stock").await;
    assert_eq!(central.level(STORE, "COF-1").await, 7);
    let reasons = central.reasons(STORE).await;
    for wanted in [
        "count: 6 counted, 8 shown".to_owned(),
        "return: faulty".to_owned(),
        format!("void of sale {sale}"),
    ] {
        assert!(reasons.contains(&wanted), "{wanted} in {reasons:?}");
    }

    // Offline, a sale of more than the shelf holds is recorded, and the
    // manager sees it below zero, and counts it.
    central.down().await;
    till.until_text("#status", "Offline").await;
    till.sell_anyway("COF-1", 9).await;
    till.until_text("#manager-open", "1 below zero").await;
    till.until_text("#below-zero", "COF-1").await;
    till.css("#below-zero button[data-manager='count:COF-1']")
        .await
        .click()
        .await
        .expect("Count it");
    till.fill("#manager-qty", "0").await;
    till.css("#manager-tools button[data-manager='count']")
        .await
        .click()
        .await
        .expect("count");
    till.until_text("#below-zero", "Nothing below zero.").await;
    central.up().await;
    till.until_text("#status", "Online").await;
    till.until_stock("COF-1", "0 in stock").await;

    till.css("#manager-done").await.click().await.expect("Done");
    assert!(!till.visible("#manager").await);
    till.client.close().await.unwrap();
}
