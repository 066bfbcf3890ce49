//! The pick-ups panel ("Online orders to hand over"): this store's held
//! orders, soonest to run out first, each with its lines, time left, Hand
//! over and Cancel; then hand-overs head office refused, with what to do,
//! kept until the cashier dismisses them. Hidden while there is neither.
//!
//! Cancel gives a customer's order back to sale, so it asks to be pressed
//! twice; a hand-over is what the cashier just did and goes at once.

use std::rc::Rc;

use store_wasm::engine::{IntentStatus, PickupAction, PickupView};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::spawn_local;
use web_sys::Event;

use super::Till;
use crate::app::dom::{add, button, clock_time, closest_with, el, listen, show};
use crate::wording;

impl Till {
    pub(super) fn listen_pickups(self: &Rc<Self>) -> Result<(), JsValue> {
        let me = self.clone();
        listen(&self.regions.pickups, "click", move |e: Event| {
            if let Some((_, hold)) = closest_with(&e, "data-hand-over") {
                me.pickup(hold, PickupAction::HandOver);
            } else if let Some((_, hold)) = closest_with(&e, "data-cancel-pickup") {
                me.pickup(hold, PickupAction::Cancel);
            } else if let Some((_, id)) = closest_with(&e, "data-dismiss-pickup") {
                me.dismiss_pickup(id);
            }
        })
    }

    fn pickup(self: &Rc<Self>, hold_id: String, action: PickupAction) {
        let engine = self.node.engine();
        let Some(view) = engine
            .pickups()
            .into_iter()
            .find(|v| v.pickup.hold_id == hold_id)
        else {
            return;
        };
        let order = wording::order(&view.pickup.reference);
        if action == PickupAction::Cancel {
            let warning = format!(
                "Press Cancel again to give {order}'s units back to sale: the customer will not \
                 be able to collect it."
            );
            if !self.confirmed(&format!("cancel {hold_id}"), Some(warning)) {
                return;
            }
        }
        let me = self.clone();
        spawn_local(async move {
            let done = match action {
                PickupAction::HandOver => me.node.hand_over(&hold_id).await,
                PickupAction::Cancel => me.node.cancel_pickup(&hold_id).await,
            };
            match done {
                Ok(_) => {
                    let said = match action {
                        PickupAction::HandOver => format!("{order} handed over."),
                        PickupAction::Cancel => {
                            format!("{order} cancelled: its units are on sale again.")
                        }
                    };
                    me.say(&said, false);
                    me.render();
                }
                Err(error) => me.say(&wording::engine_error(&error), true),
            }
        });
    }

    fn dismiss_pickup(self: &Rc<Self>, id: String) {
        let me = self.clone();
        spawn_local(async move {
            match me.node.dismiss_pickup(&id).await {
                Ok(()) => {
                    me.render();
                    me.focus("pickups");
                }
                Err(error) => me.say(&wording::engine_error(&error), true),
            }
        });
    }

    /// Redrawn only when what it shows changed (time left moves by the
    /// minute, so the status tick redraws it rarely).
    pub(super) fn render_pickups(&self) -> Result<(), JsValue> {
        let engine = self.node.engine();
        let pickups = engine.pickups();
        let refused: Vec<_> = engine
            .pickup_intents()
            .into_iter()
            .rev()
            .filter(|i| matches!(i.status, IntentStatus::Rejected { .. }))
            .collect();
        let name = |sku: &str| engine.view(sku).and_then(|v| v.name);
        let rows: Vec<Row> = pickups
            .iter()
            .map(|view| Row::pickup(view, &name))
            .chain(refused.iter().map(|intent| {
                let standing = wording::pickup_state(intent);
                Row {
                    key: intent.id.clone(),
                    class: format!("intent {}", standing.class),
                    title: wording::pickup_title(intent),
                    when: clock_time(intent.created_at_ms),
                    lines: wording::pickup_lines(&intent.pickup.lines, name),
                    detail: standing.detail,
                    actions: Actions::Dismiss,
                }
            }))
            .collect();
        let mut ui = self.ui.borrow_mut();
        if ui.pickups == rows {
            return Ok(());
        }
        show(&self.regions.pickups_panel, !rows.is_empty());
        let (doc, list) = (&self.doc, &self.regions.pickups);
        list.set_text_content(None);
        for row in &rows {
            let li = el(doc, "li", &row.class, "")?;
            li.set_attribute("data-id", &row.key)?;
            let head = el(doc, "p", "head", "")?;
            add(&head, el(doc, "span", "title", &row.title)?)?;
            add(&head, el(doc, "time", "", &row.when)?)?;
            li.append_child(&head)?;
            add(&li, el(doc, "p", "lines", &row.lines)?)?;
            if !row.detail.is_empty() {
                add(&li, el(doc, "p", "detail", &row.detail)?)?;
            }
            match row.actions {
                Actions::HandOverOrCancel => {
                    let actions = el(doc, "div", "row", "")?;
                    let hand = button(
                        doc,
                        "Hand over",
                        "hand-over",
                        &format!("Hand over {}", row.title),
                    )?;
                    hand.set_attribute("data-hand-over", &row.key)?;
                    hand.set_class_name("primary");
                    actions.append_child(&hand)?;
                    let cancel = button(
                        doc,
                        "Cancel",
                        "cancel-pickup",
                        &format!("Cancel {}", row.title),
                    )?;
                    cancel.set_attribute("data-cancel-pickup", &row.key)?;
                    cancel.set_class_name("quiet");
                    actions.append_child(&cancel)?;
                    li.append_child(&actions)?;
                }
                Actions::Dismiss => {
                    let dismiss = button(
                        doc,
                        "Dismiss",
                        "dismiss",
                        &format!("Dismiss: {}", row.title),
                    )?;
                    dismiss.set_attribute("data-dismiss-pickup", &row.key)?;
                    li.append_child(&dismiss)?;
                }
                Actions::None => {}
            }
            list.append_child(&li)?;
        }
        ui.pickups = rows;
        Ok(())
    }
}

/// One row of the panel, as drawn: compared to redraw only on change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Row {
    /// The hold id (an order) or the intent id (a refused hand-over).
    key: String,
    class: String,
    title: String,
    when: String,
    lines: String,
    detail: String,
    actions: Actions,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Actions {
    HandOverOrCancel,
    Dismiss,
    /// A hand-over or cancel on its way: nothing more to press.
    None,
}

impl Row {
    fn pickup(view: &PickupView, name: &impl Fn(&str) -> Option<String>) -> Row {
        let late = view.expires_in_ms <= 0;
        let (detail, actions) = match view.pending {
            Some(action) => (wording::pickup_pending(action).to_owned(), Actions::None),
            None => (String::new(), Actions::HandOverOrCancel),
        };
        Row {
            key: view.pickup.hold_id.clone(),
            class: if late {
                "intent pickup late"
            } else {
                "intent pickup"
            }
            .into(),
            title: wording::order(&view.pickup.reference),
            when: wording::time_left(view.expires_in_ms),
            lines: wording::pickup_lines(&view.pickup.lines, name),
            detail,
            actions,
        }
    }
}
