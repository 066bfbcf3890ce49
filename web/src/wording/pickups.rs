//! What the pick-ups panel says: an online order's lines and time left,
//! and how a hand-over or cancel stands with head office, in the cashier's
//! words, with what to do when head office refuses it.

use shared::ErrorCode;
use store_wasm::engine::{IntentStatus, PickupAction, PickupIntent, PickupLine};

use super::{Standing, refusal, unanswered};

/// "Order W-1042".
pub fn order(reference: &str) -> String {
    format!("Order {reference}")
}

/// "2 × Oat milk · 1 × SKU-9" (a product the replica does not name by its
/// sku).
pub fn pickup_lines(lines: &[PickupLine], name: impl Fn(&str) -> Option<String>) -> String {
    lines
        .iter()
        .map(|l| format!("{} × {}", l.quantity, name(&l.sku).unwrap_or(l.sku.clone())))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// How long until head office gives the units back: "12 min left",
/// "under a minute left", "time is up".
pub fn time_left(ms: i64) -> String {
    match ms {
        ..=0 => "time is up: head office is putting it back on sale".into(),
        1..=59_999 => "under a minute left".into(),
        60_000..=7_199_999 => format!("{} min left", ms / 60_000),
        _ => format!("{} h left", ms / 3_600_000),
    }
}

/// A hand-over or cancel on its way, in the order's row.
pub fn pickup_pending(action: PickupAction) -> &'static str {
    match action {
        PickupAction::HandOver => {
            "Handed over: head office hears of it as soon as it answers. It is never counted twice."
        }
        PickupAction::Cancel => {
            "Cancelled: head office hears of it as soon as it answers, then the units are on sale again."
        }
    }
}

/// The title of a hand-over or cancel in the panel.
pub fn pickup_title(intent: &PickupIntent) -> String {
    let what = match intent.action {
        PickupAction::HandOver => "Hand-over of",
        PickupAction::Cancel => "Cancel of",
    };
    format!("{what} {}", order(&intent.pickup.reference))
}

/// How a hand-over or cancel stands. A refusal says what happened to the
/// order and what the cashier should do: the goods may have left already.
pub fn pickup_state(intent: &PickupIntent) -> Standing {
    let handed = intent.action == PickupAction::HandOver;
    let (class, badge, detail) = match &intent.status {
        IntentStatus::Pending => return unanswered(false, intent.attempts),
        IntentStatus::Sent => return unanswered(true, intent.attempts),
        IntentStatus::Applied { .. } if handed => (
            "applied",
            "Done",
            "Done: head office has the goods as collected.".into(),
        ),
        IntentStatus::Applied { .. } => (
            "applied",
            "Done",
            "Done: the units are on sale again.".into(),
        ),
        IntentStatus::Rejected { problem } => {
            let detail = match problem.code {
                ErrorCode::HoldExpired if handed => "The order's hold ran out before head office \
                    heard of the hand-over, so its units went back on sale. If the customer took \
                    the goods, ring them up as a normal sale."
                    .into(),
                ErrorCode::HoldExpired => {
                    "The order's hold had run out already: its units are on sale again.".into()
                }
                ErrorCode::HoldEnded | ErrorCode::HoldNotFound if handed => "Head office has \
                    this order as finished already (collected, or cancelled by the web shop). If \
                    the customer took goods that were not theirs to take, ring them up as a sale."
                    .into(),
                ErrorCode::HoldEnded | ErrorCode::HoldNotFound => {
                    "Head office has this order as finished already: nothing to do.".into()
                }
                _ => {
                    let r = refusal(problem);
                    format!("{}. {}", r.reason, r.advice)
                }
            };
            ("refused", "Refused", detail)
        }
    };
    Standing {
        class,
        badge,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use shared::Problem;
    use store_wasm::engine::Pickup;

    use super::*;

    fn intent(action: PickupAction, status: IntentStatus<shared::HoldState>) -> PickupIntent {
        PickupIntent {
            id: "k".into(),
            action,
            pickup: Pickup {
                hold_id: "h-1".into(),
                channel: "web".into(),
                reference: "W-1".into(),
                expires_at_ms: 0,
                lines: Vec::new(),
            },
            created_at_ms: 0,
            attempts: 2,
            last_error: None,
            status,
        }
    }

    #[test]
    fn lines_name_products_and_time_left_counts_down_plainly() {
        let lines = [
            PickupLine {
                sku: "A".into(),
                quantity: 2,
            },
            PickupLine {
                sku: "B".into(),
                quantity: 1,
            },
        ];
        let name = |sku: &str| (sku == "A").then(|| "Oat milk".to_owned());
        assert_eq!(pickup_lines(&lines, name), "2 × Oat milk · 1 × B");
        assert_eq!(time_left(14 * 60_000 + 5), "14 min left");
        assert_eq!(time_left(30_000), "under a minute left");
        assert_eq!(time_left(3 * 3_600_000), "3 h left");
        assert!(time_left(0).starts_with("time is up"));
    }

    #[test]
    fn a_hand_over_refused_because_the_hold_ran_out_says_to_ring_the_goods_up() {
        let refused = |code| IntentStatus::Rejected {
            problem: Box::new(Problem::new(409, code, None)),
        };
        let expired = pickup_state(&intent(
            PickupAction::HandOver,
            refused(ErrorCode::HoldExpired),
        ));
        assert_eq!((expired.class, expired.badge), ("refused", "Refused"));
        assert!(expired.detail.contains("ring them up as a normal sale"));
        let cancel = pickup_state(&intent(PickupAction::Cancel, refused(ErrorCode::HoldEnded)));
        assert!(cancel.detail.contains("nothing to do"));
        let sent = pickup_state(&intent(PickupAction::HandOver, IntentStatus::Sent));
        assert!(sent.detail.contains("2 tries"), "{}", sent.detail);
        assert_eq!(
            pickup_title(&intent(PickupAction::HandOver, IntentStatus::Pending)),
            "Hand-over of Order W-1"
        );
    }
}
