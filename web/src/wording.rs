//! What the till says, in a cashier's words: stock figures with what this
//! till still has to send apart, ages, and head office's refusals with what
//! to do about them. Never a developer's word ("intent", "central", an
//! HTTP status, a browser's error text). Pure functions, tested natively.
//!
//! "Head office" is central, as a store knows it.

use shared::{Currency, ErrorCode, Problem};

use crate::lock::Unlock;
use store_wasm::engine::{EngineError, Intent, IntentStatus, Purpose, Status, StockView};

mod pickups;

pub use pickups::{order, pickup_lines, pickup_pending, pickup_state, pickup_title, time_left};

/// "1 sale" / "2 sales".
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A stock figure as the till shows it: what may be sold by this till's
/// reckoning, the units held for online orders apart, then central's
/// figure and what is still pending, apart.
pub fn stock(view: &StockView) -> (String, Option<String>) {
    let mut headline = format!("{} in stock", view.shown);
    if view.held > 0 {
        headline.push_str(&format!(" · {} held for online orders", view.held));
    }
    if view.pending_intents == 0 {
        return (headline, None);
    }
    let what = match view.pending_delta.signum() {
        -1 => count(view.pending_intents, "sale", "sales"),
        1 => count(view.pending_intents, "restock", "restocks"),
        _ => count(view.pending_intents, "change", "changes"),
    };
    (
        format!("{headline}, {what} pending"),
        Some(format!(
            "head office: {} · this till: {:+}",
            view.central_available, view.pending_delta
        )),
    )
}

/// "just now", "12 s ago", "3 min ago", "2 h ago", "2 days ago".
pub fn age(ms: Option<i64>) -> String {
    let Some(ms) = ms else {
        return "never".into();
    };
    let s = ms.max(0) / 1000;
    match s {
        0..=1 => "just now".into(),
        2..=59 => format!("{s} s ago"),
        60..=3599 => format!("{} min ago", s / 60),
        3600..=172_799 => format!("{} h ago", s / 3600),
        _ => format!("{} days ago", s / 86_400),
    }
}

/// A whole number with thousands apart: 50000 → "50,000".
pub fn number(n: usize) -> String {
    let digits = n.to_string();
    let mut said = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            said.push(',');
        }
        said.push(digit);
    }
    said
}

/// Which products the results show, out of how many match: "Showing
/// 1–50 of 50,000", "Showing 51–60 of 60 matching “tea”", or "3 products"
/// when one page holds them all. `None` when nothing matches (the page
/// says so apart).
pub fn showing(query: &str, offset: usize, shown: usize, total: usize) -> Option<String> {
    if total == 0 {
        return None;
    }
    let query = query.split_whitespace().collect::<Vec<_>>().join(" ");
    let matching = if query.is_empty() {
        String::new()
    } else {
        format!(" matching “{query}”")
    };
    if offset == 0 && shown >= total {
        let products = if total == 1 { "product" } else { "products" };
        return Some(format!("{} {products}{matching}", number(total)));
    }
    let last = (offset + shown).min(total);
    Some(format!(
        "Showing {}–{} of {}{matching}",
        number(offset + 1),
        number(last),
        number(total)
    ))
}

/// The basket in a word, for the button that leads to it on a small
/// screen: "Basket: empty", "Basket: 3 items, 7.50".
pub fn basket_summary(items: i64, total_cents: i64, currency: &Currency) -> String {
    if items <= 0 {
        return "Basket: empty".into();
    }
    format!(
        "Basket: {}, {}",
        count(items as usize, "item", "items"),
        currency.format(total_cents)
    )
}

/// A PIN the till did not take: wrong (`what` names it: "PIN", "manager
/// PIN"), or not checked at all while the till makes the cashier wait.
pub fn pin_refused(tried: Unlock, what: &str) -> String {
    match tried {
        Unlock::Open => String::new(),
        Unlock::Wrong { free_left } => format!(
            "Wrong {what}. {} before the till makes you wait.",
            count(free_left as usize, "more try", "more tries")
        ),
        Unlock::Wait { ms } => {
            let s = (ms + 999) / 1000;
            let wait = if s < 120 {
                format!("{s} s")
            } else {
                format!("{} min", (s + 59) / 60)
            };
            format!("Too many wrong PINs: try again in {wait}.")
        }
    }
}

/// A basket line of more than the till shows in stock, said when added.
pub fn more_than_shown(sku: &str, in_basket: i64, shown: i64, online: bool) -> String {
    let then = if online {
        "head office will refuse the basket unless it has more"
    } else {
        "sold offline, it will be recorded below zero for a manager to count"
    };
    format!("{in_basket} × {sku} in the basket, {shown} in stock: {then}.")
}

/// A sale of more than the till shows in stock: said before it is made,
/// and made if the cashier presses Sell again.
pub fn sell_more_than_shown(sku: &str, quantity: i64, shown: i64, online: bool) -> String {
    let then = if online {
        "head office will likely refuse it"
    } else {
        "it will be recorded below zero, for a manager to count"
    };
    format!(
        "The till shows {shown} of {sku} in stock; {then}. Press Sell again to sell {quantity} anyway."
    )
}

/// What this till still has to send: "1 sale waiting to send", "2 sales
/// and 1 restock waiting to send", or "nothing waiting to send".
pub fn waiting(intents: &[Intent]) -> String {
    let unanswered: Vec<&Intent> = intents.iter().filter(|i| i.is_unanswered()).collect();
    let of = |purposes: &[Purpose]| {
        unanswered
            .iter()
            .filter(|i| purposes.contains(&i.purpose()))
            .count()
    };
    let parts: Vec<String> = [
        (of(&[Purpose::Sale]), "sale", "sales"),
        (of(&[Purpose::Restock]), "restock", "restocks"),
        (
            of(&[Purpose::Return, Purpose::Void, Purpose::Count]),
            "correction",
            "corrections",
        ),
    ]
    .into_iter()
    .filter(|(n, ..)| *n > 0)
    .map(|(n, one, many)| count(n, one, many))
    .collect();
    match parts.as_slice() {
        [] => "nothing waiting to send".into(),
        [one] => format!("{one} waiting to send"),
        [first @ .., last] => format!("{} and {last} waiting to send", first.join(", ")),
    }
}

/// The status bar's state: announced to screen readers when it changes, so
/// it holds no ticking age.
pub fn state(status: &Status, intents: &[Intent]) -> String {
    let online = if status.online {
        "Online"
    } else if status.connecting {
        // Not known yet: "Offline" would alarm the cashier at every open.
        "Connecting to head office…"
    } else {
        "Offline: can't reach head office"
    };
    format!("{online} · {}", waiting(intents))
}

/// The status bar's contact line: how long ago head office answered, and
/// whether the till is still catching up.
pub fn contact(status: &Status, now_ms: i64) -> String {
    let mut said = format!(
        "head office answered {}",
        age(status.last_contact_ms.map(|at| now_ms - at))
    );
    if status.lag > 0 {
        said.push_str(&format!(
            " · catching up ({} to go)",
            count(status.lag as usize, "change", "changes")
        ));
    }
    said
}

/// The banner shown while the figures may be old; `since` is the local
/// time central last answered. Its text does not tick, so it is announced
/// once. Not while the till is still connecting: the first answer (most
/// often a moment away) settles it.
pub fn stale_banner(status: &Status, since: Option<&str>) -> Option<String> {
    if !status.stale || status.connecting {
        return None;
    }
    let since = match since {
        Some(at) => format!("head office last answered at {at}"),
        None => "head office has not answered yet".into(),
    };
    Some(format!(
        "Stock figures may be out of date: {since}. Sales are kept on this till and sent \
         when head office is back."
    ))
}

/// Why central refused an intent, and what the cashier can do.
pub struct Refusal {
    pub reason: String,
    pub advice: &'static str,
}

pub fn refusal(problem: &Problem) -> Refusal {
    let current = problem.current.as_ref().map(|l| l.available);
    let (reason, advice) = match problem.code {
        ErrorCode::InsufficientStock => (
            match current {
                Some(n) => format!("Not enough stock: head office has {n}"),
                None => "Not enough stock".into(),
            },
            "Check the shelf: sell what is there, or ask a manager to count the stock.",
        ),
        ErrorCode::BatchAborted => (
            "Not sold: another line of the basket was refused".into(),
            "Sell the basket again without the refused line.",
        ),
        ErrorCode::ProductNotFound => (
            "Unknown product".into(),
            "Check the sku; the catalogue may have changed.",
        ),
        ErrorCode::ProductInactive => (
            "This product is withdrawn from sale".into(),
            "Do not sell it; ask a manager.",
        ),
        ErrorCode::VersionConflict => (
            "The stock changed meanwhile".into(),
            "Look at the new figure and try again.",
        ),
        ErrorCode::ForbiddenStore | ErrorCode::Forbidden => (
            "This till may not change that stock".into(),
            "Sign in as the right store.",
        ),
        _ => (
            problem
                .detail
                .clone()
                .unwrap_or_else(|| problem.title.clone()),
            "Try again; if it happens again, ask a manager.",
        ),
    };
    Refusal { reason, advice }
}

/// "Sale of 2 × SKU-0001 Coffee beans".
pub fn intent_title(intent: &Intent, name: Option<&str>) -> String {
    let what = match intent.purpose() {
        Purpose::Sale => "Sale",
        Purpose::Restock => "Restock",
        Purpose::Return => "Return",
        Purpose::Void => "Void",
        Purpose::Count if intent.delta < 0 => "Count: fewer",
        Purpose::Count => "Count: more",
    };
    // A void's lines travel as one batch, but a void is not a basket.
    let basket = if intent.basket.is_some() && intent.purpose() != Purpose::Void {
        "Basket: "
    } else {
        ""
    };
    let name = name.map(|n| format!(" {n}")).unwrap_or_default();
    format!(
        "{basket}{what} of {} × {}{name}",
        intent.delta.unsigned_abs(),
        intent.sku
    )
}

/// How a sale or restock stands, for its row in the panel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// For styling and tests: `queued`, `sent`, `applied`, `refused`.
    pub class: &'static str,
    /// The badge, in the cashier's words.
    pub badge: &'static str,
    pub detail: String,
}

/// How a write central has not answered stands (a sale's, a hand-over's):
/// never sent, or `sent` without an answer — "not sent yet", never "sent",
/// since nothing says it arrived.
pub(crate) fn unanswered(sent: bool, attempts: u32) -> Standing {
    if !sent {
        return Standing {
            class: "queued",
            badge: "Waiting to send",
            detail: "Kept on this till; sent as soon as head office answers.".to_owned(),
        };
    }
    Standing {
        class: "sent",
        badge: "Not sent yet",
        detail: format!(
            "Not sent yet — will retry ({} so far). It is never counted twice.",
            count(attempts as usize, "try", "tries"),
        ),
    }
}

/// What a sale or restock's state means for the cashier. A sale that was
/// tried and got no answer has not arrived: "not sent yet", never "sent".
pub fn intent_state(intent: &Intent) -> Standing {
    let (class, badge, detail) = match &intent.status {
        IntentStatus::Pending => return unanswered(false, intent.attempts),
        IntentStatus::Sent => return unanswered(true, intent.attempts),
        IntentStatus::Applied { result } => (
            "applied",
            "Done",
            format!("Done: head office now has {}.", result.available),
        ),
        IntentStatus::Rejected { problem } => {
            let Refusal { reason, advice } = refusal(problem);
            ("refused", "Refused", format!("{reason}. {advice}"))
        }
    };
    Standing {
        class,
        badge,
        detail,
    }
}

/// What the till says right after a sale or restock was recorded.
pub fn outcome(intent: &Intent) -> String {
    let what = format!("{} × {}", intent.delta.unsigned_abs(), intent.sku);
    let verb = match intent.purpose() {
        Purpose::Sale => "Sold",
        Purpose::Restock => "Restocked",
        Purpose::Return => "Returned",
        Purpose::Void => "Put back",
        Purpose::Count => "Recorded",
    };
    let what = match intent.purpose() {
        Purpose::Count => format!("the count of {}", intent.sku),
        _ => what,
    };
    match &intent.status {
        IntentStatus::Applied { result } => {
            format!("{verb} {what}: head office now has {}.", result.available)
        }
        IntentStatus::Pending | IntentStatus::Sent => {
            format!("Saved on this till: {what}, sent when head office answers.")
        }
        IntentStatus::Rejected { problem } => {
            let Refusal { reason, advice } = refusal(problem);
            format!("Refused: {what}. {reason}. {advice}")
        }
    }
}

/// The same for a basket, line by line folded into one sentence; `total`
/// is what it came to, said once it is sold.
pub fn basket_outcome(lines: &[Intent], total: &str) -> String {
    let refused = lines.iter().find_map(|l| match &l.status {
        IntentStatus::Rejected { problem } if problem.code != ErrorCode::BatchAborted => {
            Some((l, problem))
        }
        _ => None,
    });
    if let Some((line, problem)) = refused {
        let Refusal { reason, advice } = refusal(problem);
        return format!(
            "Basket refused, nothing sold: {} × {}. {reason}. {advice} The basket is back \
             to sell again without that line.",
            line.delta.unsigned_abs(),
            line.sku
        );
    }
    let lines_said = count(lines.len(), "line", "lines");
    if lines
        .iter()
        .all(|l| matches!(l.status, IntentStatus::Applied { .. }))
    {
        format!("Basket sold: {lines_said}, {total}.")
    } else if lines.iter().any(Intent::is_unanswered) {
        format!("Basket saved on this till: {lines_said}, sent together when head office answers.")
    } else {
        format!("Basket refused, nothing sold: {lines_said}.")
    }
}

/// An error of the node, for the message line.
pub fn engine_error(error: &EngineError) -> String {
    match error {
        // The browser's own words ("TypeError: Failed to fetch") mean
        // nothing to a cashier.
        EngineError::Offline(_) => "Can't reach head office. Sales are kept on this till.".into(),
        EngineError::Refused(problem) => {
            let Refusal { reason, advice } = refusal(problem);
            format!("{reason}. {advice}")
        }
        EngineError::Storage(_) => {
            "This device could not save it (its storage is full or blocked).".into()
        }
        EngineError::Invalid(reason) => {
            let mut said = reason.clone();
            if let Some(first) = said.get_mut(..1) {
                first.make_ascii_uppercase();
            }
            format!("{said}.")
        }
    }
}

#[cfg(test)]
mod tests {
    use shared::{AdjustKind, AdjustResult, StockLevel};

    use super::*;

    fn view(central: i64, delta: i64, intents: usize) -> StockView {
        StockView {
            sku: "SKU-1".into(),
            name: Some("Coffee".into()),
            price_cents: Some(450),
            central_available: central,
            pending_delta: delta,
            shown: central + delta,
            held: 0,
            pending_intents: intents,
            stale: false,
            age_ms: Some(0),
        }
    }

    #[test]
    fn stock_shows_pending_intents_apart() {
        assert_eq!(stock(&view(4, 0, 0)), ("4 in stock".into(), None));
        let (headline, detail) = stock(&view(4, -1, 1));
        assert_eq!(headline, "3 in stock, 1 sale pending");
        assert_eq!(detail.as_deref(), Some("head office: 4 · this till: -1"));
        assert_eq!(stock(&view(4, 5, 2)).0, "9 in stock, 2 restocks pending");
        assert_eq!(stock(&view(4, 0, 2)).0, "4 in stock, 2 changes pending");
    }

    #[test]
    fn stock_shows_units_held_for_online_orders_apart() {
        let held = StockView {
            held: 1,
            ..view(4, 0, 0)
        };
        assert_eq!(stock(&held).0, "4 in stock · 1 held for online orders");
        let pending = StockView {
            held: 2,
            ..view(4, -1, 1)
        };
        assert_eq!(
            stock(&pending).0,
            "3 in stock · 2 held for online orders, 1 sale pending"
        );
    }

    #[test]
    fn ages_and_money_read_naturally() {
        assert_eq!(age(None), "never");
        assert_eq!(age(Some(300)), "just now");
        assert_eq!(age(Some(12_000)), "12 s ago");
        assert_eq!(age(Some(185_000)), "3 min ago");
        assert_eq!(age(Some(7_300_000)), "2 h ago");
        assert_eq!(age(Some(3 * 86_400_000)), "3 days ago");
    }

    fn status(online: bool, stale: bool, queued: usize, lag: u64) -> Status {
        Status {
            online,
            connecting: false,
            stale,
            offset: Some(10),
            lag,
            queued,
            last_contact_ms: Some(1_000),
            storage_error: None,
            signed_out: None,
        }
    }

    #[test]
    fn the_status_bar_and_banner_say_where_the_till_stands() {
        assert_eq!(
            state(&status(true, false, 0, 0), &[]),
            "Online · nothing waiting to send"
        );
        let mut restock = intent(IntentStatus::Pending);
        restock.delta = 3;
        let waiting = [intent(IntentStatus::Sent), restock];
        assert_eq!(
            state(&status(false, true, 2, 3), &waiting[..1]),
            "Offline: can't reach head office · 1 sale waiting to send"
        );
        assert_eq!(
            state(&status(false, true, 2, 3), &waiting),
            "Offline: can't reach head office · 1 sale and 1 restock waiting to send"
        );
        assert_eq!(
            contact(&status(true, false, 0, 0), 3_000),
            "head office answered 2 s ago"
        );
        assert_eq!(
            contact(&status(false, true, 1, 3), 121_000),
            "head office answered 2 min ago · catching up (3 changes to go)"
        );
        assert_eq!(
            stale_banner(&status(true, false, 0, 0), Some("14:02:11")),
            None
        );
        let banner = stale_banner(&status(false, true, 0, 0), Some("14:02:11")).unwrap();
        assert!(
            banner.contains("head office last answered at 14:02:11"),
            "{banner}"
        );
        let never = stale_banner(&status(false, true, 0, 0), None).unwrap();
        assert!(
            never.contains("head office has not answered yet"),
            "{never}"
        );
    }

    #[test]
    fn opening_the_till_says_connecting_not_offline() {
        let mut opening = status(false, true, 0, 0);
        opening.connecting = true;
        assert_eq!(
            state(&opening, &[]),
            "Connecting to head office… · nothing waiting to send"
        );
        assert_eq!(stale_banner(&opening, Some("09:12:00")), None);
        opening.connecting = false;
        assert!(state(&opening, &[]).starts_with("Offline"));
        assert!(stale_banner(&opening, Some("09:12:00")).is_some());
    }

    #[test]
    fn the_results_say_which_products_they_show_of_how_many() {
        assert_eq!(number(0), "0");
        assert_eq!(number(999), "999");
        assert_eq!(number(1000), "1,000");
        assert_eq!(number(50_000), "50,000");
        assert_eq!(number(1_234_567), "1,234,567");
        assert_eq!(
            showing("", 0, 50, 50_000).as_deref(),
            Some("Showing 1–50 of 50,000")
        );
        assert_eq!(
            showing(" green  tea ", 50, 10, 60).as_deref(),
            Some("Showing 51–60 of 60 matching “green tea”")
        );
        assert_eq!(showing("", 0, 3, 3).as_deref(), Some("3 products"));
        assert_eq!(
            showing("cof-1", 0, 1, 1).as_deref(),
            Some("1 product matching “cof-1”")
        );
        assert_eq!(showing("zzz", 0, 0, 0), None);
        let eur = Currency::default();
        assert_eq!(basket_summary(0, 0, &eur), "Basket: empty");
        assert_eq!(basket_summary(3, 750, &eur), "Basket: 3 items, €7.50");
        assert_eq!(basket_summary(1, 250, &eur), "Basket: 1 item, €2.50");
    }

    fn intent(status: IntentStatus) -> Intent {
        Intent {
            id: "k".into(),
            sku: "SKU-1".into(),
            delta: -2,
            kind: AdjustKind::Guarded,
            basket: None,
            reason: None,
            created_at_ms: 0,
            attempts: 3,
            last_error: Some("connection refused".into()),
            status,
        }
    }

    #[test]
    fn refusals_say_why_and_what_to_do() {
        let mut problem = Problem::new(409, ErrorCode::InsufficientStock, None);
        problem.current = Some(StockLevel {
            store_id: "s".into(),
            sku: "SKU-1".into(),
            available: 1,
            held: 0,
            version: 4,
            updated_at: None,
        });
        let refused = intent_state(&intent(IntentStatus::Rejected {
            problem: Box::new(problem),
        }));
        assert_eq!((refused.class, refused.badge), ("refused", "Refused"));
        assert!(
            refused
                .detail
                .starts_with("Not enough stock: head office has 1."),
            "{}",
            refused.detail
        );
        assert!(
            refused.detail.contains("Check the shelf"),
            "{}",
            refused.detail
        );
        let aborted = Problem::new(424, ErrorCode::BatchAborted, None);
        assert!(
            refusal(&aborted)
                .reason
                .contains("another line of the basket")
        );
    }

    #[test]
    fn a_refused_pin_says_how_many_tries_are_left_or_how_long_to_wait() {
        assert_eq!(
            pin_refused(Unlock::Wrong { free_left: 1 }, "manager PIN"),
            "Wrong manager PIN. 1 more try before the till makes you wait."
        );
        assert_eq!(
            pin_refused(Unlock::Wait { ms: 29_001 }, "PIN"),
            "Too many wrong PINs: try again in 30 s."
        );
        assert_eq!(
            pin_refused(Unlock::Wait { ms: 3_600_000 }, "PIN"),
            "Too many wrong PINs: try again in 60 min."
        );
    }

    #[test]
    fn returns_voids_and_counts_say_what_they_are() {
        let with = |delta: i64, reason: &str| Intent {
            delta,
            reason: Some(reason.into()),
            ..intent(IntentStatus::Pending)
        };
        let back = with(2, "return: faulty");
        assert_eq!(intent_title(&back, None), "Return of 2 × SKU-1");
        let void = with(2, "void of sale k-1");
        assert_eq!(intent_title(&void, None), "Void of 2 × SKU-1");
        let fewer = with(-3, "count: 6 counted, 9 shown");
        assert_eq!(intent_title(&fewer, None), "Count: fewer of 3 × SKU-1");
        let applied = Intent {
            status: IntentStatus::Applied {
                result: AdjustResult {
                    store_id: "s".into(),
                    sku: "SKU-1".into(),
                    available: 6,
                    held: 0,
                    version: 2,
                    offset: 9,
                    discrepancy_offset: None,
                },
            },
            ..fewer.clone()
        };
        assert_eq!(
            outcome(&applied),
            "Recorded the count of SKU-1: head office now has 6."
        );
        let sale = intent(IntentStatus::Pending);
        let restock = Intent {
            delta: 4,
            ..intent(IntentStatus::Sent)
        };
        assert_eq!(
            waiting(&[sale.clone(), restock, back, void, fewer]),
            "1 sale, 1 restock and 3 corrections waiting to send"
        );
        assert_eq!(waiting(&[sale]), "1 sale waiting to send");
        assert_eq!(waiting(&[]), "nothing waiting to send");
    }

    #[test]
    fn intents_read_as_what_happened() {
        let sent = intent(IntentStatus::Sent);
        assert_eq!(
            intent_title(&sent, Some("Coffee")),
            "Sale of 2 × SKU-1 Coffee"
        );
        let tried = intent_state(&sent);
        assert_eq!((tried.class, tried.badge), ("sent", "Not sent yet"));
        assert!(
            tried
                .detail
                .starts_with("Not sent yet — will retry (3 tries so far)"),
            "{}",
            tried.detail
        );
        assert!(
            !tried.detail.contains("connection refused"),
            "no browser words"
        );
        let applied = intent(IntentStatus::Applied {
            result: AdjustResult {
                store_id: "s".into(),
                sku: "SKU-1".into(),
                available: 7,
                held: 0,
                version: 2,
                offset: 9,
                discrepancy_offset: None,
            },
        });
        assert_eq!(
            intent_state(&applied).detail,
            "Done: head office now has 7."
        );
        assert_eq!(outcome(&applied), "Sold 2 × SKU-1: head office now has 7.");
        assert!(outcome(&sent).starts_with("Saved on this till: 2 × SKU-1"));
    }

    #[test]
    fn a_basket_says_which_line_stopped_it() {
        let refused = |code, status| {
            let mut i = intent(IntentStatus::Rejected {
                problem: Box::new(Problem::new(status, code, None)),
            });
            i.basket = Some("b".into());
            i
        };
        let mut short = refused(ErrorCode::InsufficientStock, 409);
        short.sku = "SKU-2".into();
        let said = basket_outcome(&[refused(ErrorCode::BatchAborted, 424), short], "€5.00");
        assert!(
            said.starts_with("Basket refused, nothing sold: 2 × SKU-2. Not enough stock"),
            "{said}"
        );
        let queued = basket_outcome(
            &[intent(IntentStatus::Pending), intent(IntentStatus::Sent)],
            "€5.00",
        );
        assert_eq!(
            queued,
            "Basket saved on this till: 2 lines, sent together when head office answers."
        );
        assert_eq!(
            engine_error(&EngineError::Offline("TypeError: Failed to fetch".into())),
            "Can't reach head office. Sales are kept on this till."
        );
        assert_eq!(
            engine_error(&EngineError::Invalid("unknown sku X".into())),
            "Unknown sku X."
        );
    }
}
