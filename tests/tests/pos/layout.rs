//! The till at the three sizes a tester measures it at (a 1280×800 laptop,
//! an 820×1180 tablet, a 390×844 phone): nothing wider than the screen,
//! the basket and the message line in view after each action, "available
//! nearby" next to its row, the whole catalogue paged with a count, search
//! by words in any order, focus that never falls to the page, control
//! borders a low-vision cashier can see, and no "Offline" at every open.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Central, Driver, PATIENCE, SECRET, Till};

const STORE: &str = "layout-store";
const SIZES: [(u32, u32, &str); 3] = [
    (1280, 800, "pos-1280"),
    (820, 1180, "pos-tablet"),
    (390, 844, "pos-phone"),
];

/// A shop's worth of products, more than a page: SKU-0001…SKU-0060, by
/// threes "Green tea", "Oat milk", "Coffee beans", 30 of each in stock.
async fn seed_catalogue(central: &Central) {
    let names = ["Coffee beans", "Green tea", "Oat milk"];
    let products: Vec<(String, String, i64)> = (1..=60)
        .map(|n| (format!("SKU-{n:04}"), format!("{} {n}", names[n % 3]), 30))
        .collect();
    let products: Vec<(&str, &str, i64)> = products
        .iter()
        .map(|(sku, name, stock)| (sku.as_str(), name.as_str(), *stock))
        .collect();
    central.seed(STORE, &products).await;
}

async fn till_at(driver: &Driver, central: &Central, width: u32, height: u32) -> Till {
    let till = driver.till().await;
    till.set_viewport(width, height).await;
    // The page once, until its form shows: `sign_in` types into the form
    // as soon as the element exists, hidden or not, and a page still
    // compiling its wasm (a loaded machine) refuses the keys. Loaded again
    // by `sign_in`, it starts from the browser's cache at once.
    till.client
        .goto(&central.url("/"))
        .await
        .expect("page loads");
    till.css("#till:not([hidden]), #setup:not([hidden])").await;
    till.sign_in(central, STORE).await;
    till.until_stock("SKU-0001", "30 in stock").await;
    till
}

async fn assert_fits(till: &Till, size: &str) {
    if let Some(wide) = till.horizontal_overflow().await {
        let shot = till.screenshot(&format!("{size}-overflow")).await;
        panic!(
            "at {size}, wider than the screen: {wide} (see {})",
            shot.display()
        );
    }
}

/// The message line and the basket (its Sell button, or on a small
/// screen the basket button at the top) are where the cashier can see
/// them, wherever the row acted on was.
async fn assert_feedback_in_view(till: &Till, size: &str, after: &str) {
    let message = till.in_view("#message").await;
    let basket = till.in_view("#sell-basket").await || till.in_view("#basket-jump").await;
    if !(message && basket) {
        let shot = till.screenshot(&format!("{size}-out-of-view")).await;
        panic!(
            "at {size}, after {after}: message in view {message}, basket in view {basket} \
             (see {})",
            shot.display()
        );
    }
}

async fn scroll_position(till: &Till) -> (f64, f64) {
    let at = till
        .eval("return [scrollY, document.getElementById('results-scroll').scrollTop];")
        .await;
    (
        at[0].as_f64().unwrap_or(f64::NAN),
        at[1].as_f64().unwrap_or(f64::NAN),
    )
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Chromium and the trunk-built page: cargo xtask test runs it"]
async fn at_every_size_rows_fit_and_the_basket_and_message_stay_in_view() {
    let central = Central::start().await;
    seed_catalogue(&central).await;
    let driver = Driver::start().await;
    for ((width, height, size), far) in SIZES.into_iter().zip(["SKU-0040", "SKU-0041", "SKU-0042"])
    {
        let till = till_at(&driver, &central, width, height).await;
        assert_fits(&till, size).await;

        // A row far down the list: the list (or the page) scrolls to it.
        till.act(far, 1, "basket").await;
        till.until_text("#message", &format!("Added 1 × {far} to the basket."))
            .await;
        assert_feedback_in_view(&till, size, "+ Basket").await;
        if till.in_view("#basket-jump").await {
            assert_eq!(till.text("#basket-jump").await, "Basket · 1");
            assert_eq!(
                till.attr("#basket-jump", "aria-label").await,
                "Basket: 1 item, €2.50"
            );
        }

        till.act(far, 1, "sell").await;
        till.until_text(
            "#message",
            &format!("Sold 1 × {far}: head office now has 29."),
        )
        .await;
        assert_feedback_in_view(&till, size, "Sell").await;

        till.sell_anyway(far, 999).await;
        till.until_text(
            "#message",
            &format!("Refused: 999 × {far}. Not enough stock: head office has 29."),
        )
        .await;
        assert_feedback_in_view(&till, size, "a refused sale").await;
        assert_fits(&till, size).await;
        let shot = till.screenshot(size).await;
        eprintln!("screenshot at {width}×{height}: {}", shot.display());
        till.client.close().await.expect("close");
    }
}

/// A pending sale's figure ("29 in stock, 1 sale pending") once widened the
/// Stock column of every row and pushed Restock and Nearby off the screen.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Chromium and the trunk-built page: cargo xtask test runs it"]
async fn a_pending_sale_widens_nothing() {
    let mut central = Central::start().await;
    seed_catalogue(&central).await;
    let driver = Driver::start().await;
    let till = till_at(&driver, &central, 1280, 800).await;
    central.down().await;
    till.until_text("#status", "Offline").await;
    till.act("SKU-0001", 1, "sell").await;
    till.until_stock("SKU-0001", "29 in stock, 1 sale pending")
        .await;
    assert_fits(&till, "pos-1280-pending").await;
    for action in ["sell", "basket", "nearby"] {
        let selector = format!("tr[data-sku='SKU-0002'] button[data-action='{action}']");
        assert!(till.in_view(&selector).await, "{action} is on the screen");
    }
    till.screenshot("pos-1280-pending").await;
    till.client.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Chromium and the trunk-built page: cargo xtask test runs it"]
async fn nearby_answers_under_its_row_without_the_page_jumping() {
    let central = Central::start().await;
    seed_catalogue(&central).await;
    let other = json!({"store_id": "harbour", "name": "Harbourside", "client_secret": SECRET});
    assert_eq!(
        central
            .admin("POST", shared::api::CreateStore::PATH, other)
            .await
            .0,
        201
    );
    let stock = json!({"available": 7});
    let path = shared::api::fill(shared::api::SetStock::PATH, &["harbour", "SKU-0001"]);
    assert_eq!(central.admin("PUT", &path, stock).await.0, 200);
    let driver = Driver::start().await;
    for (width, height, size) in [SIZES[0], SIZES[2]] {
        let till = till_at(&driver, &central, width, height).await;
        let before = scroll_position(&till).await;
        till.css("tr[data-sku='SKU-0001'] button[data-action='nearby']")
            .await
            .click()
            .await
            .expect("Nearby");
        till.until_text("#nearby", "Harbourside (harbour): 7 in stock")
            .await;
        assert!(
            till.in_view("#nearby").await,
            "at {size}, the answer is on the screen"
        );
        let after = scroll_position(&till).await;
        let moved = (after.0 - before.0).abs() + (after.1 - before.1).abs();
        assert!(
            moved < 100.0,
            "at {size}, the page moved {moved} px ({before:?} → {after:?})"
        );
        let under = till
            .eval("return !!document.querySelector(\"tr[data-sku='SKU-0001'] + tr.nearby-row #nearby\");")
            .await;
        assert_eq!(under, Value::Bool(true), "right under its row");
        assert_eq!(till.focused().await["id"], "nearby-title");
        till.screenshot(&format!("{size}-nearby")).await;

        till.css("#nearby button[data-close]")
            .await
            .click()
            .await
            .expect("Close");
        let focused = till.focused().await;
        assert_eq!(
            (&focused["action"], &focused["sku"]),
            (&json!("nearby"), &json!("SKU-0001")),
            "back where it was asked from"
        );
        assert!(!till.visible("#nearby").await);
        till.client.close().await.expect("close");
    }
}

async fn rows(till: &Till) -> Vec<String> {
    let skus = till
        .eval("return [...document.querySelectorAll('tr[data-sku]')].map(r => r.dataset.sku);")
        .await;
    skus.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Chromium and the trunk-built page: cargo xtask test runs it"]
async fn the_whole_catalogue_pages_with_a_count_and_words_match_in_any_order() {
    let central = Central::start().await;
    seed_catalogue(&central).await;
    let driver = Driver::start().await;
    let till = till_at(&driver, &central, 1280, 800).await;

    till.until_text("#results-count", "Showing 1–50 of 60")
        .await;
    assert_eq!(rows(&till).await.len(), 50);
    till.css("#next-page").await.click().await.expect("Next");
    till.until_text("#results-count", "Showing 51–60 of 60")
        .await;
    let page = rows(&till).await;
    assert_eq!(page.len(), 10);
    assert_eq!(page.first().map(String::as_str), Some("SKU-0051"));
    assert_eq!(
        till.attr("#next-page", "disabled").await,
        "true",
        "the last page"
    );
    assert_eq!(
        till.focused().await["id"],
        "prev-page",
        "not the page: Next is disabled"
    );
    till.css("#prev-page")
        .await
        .click()
        .await
        .expect("Previous");
    till.until_text("#results-count", "Showing 1–50 of 60")
        .await;
    assert_eq!(till.focused().await["id"], "next-page");

    // Every word, in any order, in the sku or the name.
    for query in ["coffee beans", "beans coffee", "BEANS Coffee"] {
        till.search(query).await;
        till.until_text("#results-count", "20 products matching")
            .await;
        let found = rows(&till).await;
        assert_eq!(found.len(), 20, "{query}");
        assert!(found.contains(&"SKU-0003".to_owned()), "{query}");
    }
    till.search("milk 0059").await;
    till.until_text("#results-count", "1 product matching “milk 0059”")
        .await;
    assert_eq!(rows(&till).await, ["SKU-0059"]);
    till.search("a").await;
    till.until_text("#results-count", "Showing 1–50 of 60 matching “a”")
        .await;
    till.client.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Chromium and the trunk-built page: cargo xtask test runs it"]
async fn focus_never_falls_to_the_page_after_remove_clear_or_dismiss() {
    let central = Central::start().await;
    seed_catalogue(&central).await;
    let driver = Driver::start().await;
    let till = till_at(&driver, &central, 1280, 800).await;
    let remove = |sku: &str| format!("li[data-line='{sku}'] button[data-action='remove']");
    let on = |focused: &Value| {
        (
            focused["action"].as_str().unwrap_or("").to_owned(),
            focused["line"].as_str().unwrap_or("").to_owned(),
        )
    };

    for sku in ["SKU-0001", "SKU-0002", "SKU-0003", "SKU-0002"] {
        till.scan(sku).await;
    }
    till.until_text("#basket-lines", "1 × SKU-0003").await;
    till.css(&remove("SKU-0001")).await.click().await.unwrap();
    assert_eq!(
        on(&till.focused().await),
        ("remove".into(), "SKU-0002".into()),
        "the next line's Remove"
    );
    // One less of a line with two: the same button, drawn afresh.
    let less = "li[data-line='SKU-0002'] button[data-action='less']";
    till.css(less).await.click().await.unwrap();
    till.until_text("#basket-lines", "1 × SKU-0002").await;
    assert_eq!(
        on(&till.focused().await),
        ("less".into(), "SKU-0002".into())
    );
    till.css(&remove("SKU-0003")).await.click().await.unwrap();
    assert_eq!(
        on(&till.focused().await),
        ("remove".into(), "SKU-0002".into()),
        "the last line went: the one before"
    );
    till.css(&remove("SKU-0002")).await.click().await.unwrap();
    assert_eq!(
        till.focused().await["id"],
        "search",
        "the basket is empty: back to scanning"
    );

    till.scan("SKU-0004").await;
    till.until_text("#basket-lines", "1 × SKU-0004").await;
    till.css("#clear-basket").await.click().await.unwrap();
    till.until_text("#message", "Basket cleared.").await;
    assert_eq!(till.focused().await["id"], "search");

    // Two refusals, dismissed one after the other.
    for sku in ["SKU-0005", "SKU-0006"] {
        till.sell_anyway(sku, 999).await;
        till.until_text("#message", &format!("Refused: 999 × {sku}"))
            .await;
    }
    till.css("#intents li.refused + li.refused button[data-dismiss]")
        .await;
    let dismiss = "#intents button[data-dismiss]";
    let first = till.attr(dismiss, "data-dismiss").await;
    till.css(dismiss).await.click().await.unwrap();
    until_focus_on_another_dismiss(&till, &first).await;
    till.css(dismiss).await.click().await.unwrap();
    till.until_text("#intents", "No sales or restocks yet.")
        .await;
    let last = till.focused().await;
    assert_eq!(last["id"], "intents", "the list, not the page: {last}");
    till.client.close().await.expect("close");
}

/// Waits until focus is on the Dismiss of a refusal other than `id` (the
/// one just dismissed).
async fn until_focus_on_another_dismiss(till: &Till, id: &str) {
    let started = std::time::Instant::now();
    loop {
        let focused = till.focused().await;
        if focused["dismiss"].is_string() && focused["dismiss"] != json!(id) {
            return;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "focus never went to the other refusal's Dismiss: {focused}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Chromium and the trunk-built page: cargo xtask test runs it"]
async fn control_borders_stand_out_from_their_background() {
    let central = Central::start().await;
    seed_catalogue(&central).await;
    let driver = Driver::start().await;
    let till = till_at(&driver, &central, 1280, 800).await;
    // WCAG 2.x contrast of each control's border against what is behind
    // it (the first ancestor with a background), from computed styles.
    let ratios = till
        .eval(
            "const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
             const lum = ([r, g, b]) => [r, g, b].map((v) => {
               v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
             }).reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
             const behind = (e) => {
               for (let p = e.parentElement; p; p = p.parentElement) {
                 const c = rgb(getComputedStyle(p).backgroundColor);
                 if (c.length === 3 || c[3] > 0) return c.slice(0, 3);
               }
               return [255, 255, 255];
             };
             const ratio = (a, b) => {
               const [x, y] = [lum(a), lum(b)].sort((m, n) => n - m);
               return (x + 0.05) / (y + 0.05);
             };
             return ['#sync-now', '#sign-out', '#next-page',
                     \"tr[data-sku='SKU-0001'] button[data-action='sell']\",
                     \"tr[data-sku='SKU-0001'] input[data-qty]\", '#search']
               .map((s) => {
                 const e = document.querySelector(s);
                 const border = rgb(getComputedStyle(e).borderTopColor).slice(0, 3);
                 return [s, ratio(border, behind(e))];
               });",
        )
        .await;
    let ratios = ratios.as_array().cloned().unwrap_or_default();
    assert_eq!(ratios.len(), 6, "every control measured: {ratios:?}");
    for measured in ratios {
        let ratio = measured[1].as_f64().unwrap_or(0.0);
        assert!(ratio >= 3.0, "{} border contrast {ratio:.2}:1", measured[0]);
    }
    till.client.close().await.expect("close");
}

/// The till once said "Offline" (and showed the stale banner) at every
/// open, until its first contact: it says "Connecting…" until then.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Chromium and the trunk-built page: cargo xtask test runs it"]
async fn opening_the_till_never_says_offline_while_head_office_answers() {
    let central = Central::start().await;
    seed_catalogue(&central).await;
    let driver = Driver::start().await;
    let till = till_at(&driver, &central, 1280, 800).await;
    for _ in 0..3 {
        till.client.refresh().await.expect("reload");
        // Every text #status has from now until it says Online, watched in
        // the page (a mutation observer), so no flash between polls is lost.
        let seen = till
            .eval_async(
                "const done = arguments[0];
                 const said = [];
                 const note = () => {
                   const s = document.getElementById('status');
                   const text = s ? s.textContent : '';
                   if (said[said.length - 1] !== text) said.push(text);
                   const banner = document.getElementById('stale-banner');
                   if (banner && !banner.hidden) said.push('stale banner: ' + banner.textContent);
                   if (text.startsWith('Online')) { watch.disconnect(); done(said); }
                 };
                 const watch = new MutationObserver(note);
                 watch.observe(document.documentElement,
                   {subtree: true, childList: true, characterData: true, attributes: true});
                 note();
                 setTimeout(() => { watch.disconnect(); done(said); }, 20000);",
            )
            .await;
        let seen: Vec<&str> = seen
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        assert!(
            seen.last().is_some_and(|s| s.starts_with("Online")),
            "it comes online: {seen:?}"
        );
        assert!(
            seen.iter()
                .all(|s| !s.contains("Offline") && !s.starts_with("stale")),
            "never offline nor stale while head office answers: {seen:?}"
        );
    }
    till.client.close().await.expect("close");
}
