//! The activity panel ("Sales and restocks"): every sale and restock of
//! this till and how it stands with head office, refusals kept until the
//! cashier dismisses them.
//!
//! After a Dismiss, focus goes to the next refusal's Dismiss (else the
//! previous one's, else the list), so the cashier can dismiss one after
//! another; a redraw keeps it on the same Dismiss.

use std::rc::Rc;

use store_wasm::engine::{Intent, IntentStatus};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::spawn_local;
use web_sys::Event;

use super::{INTENTS_SHOWN, Till};
use crate::app::dom::{add, button, clock_time, closest_with, el, listen};
use crate::wording;

impl Till {
    pub(super) fn listen_activity(self: &Rc<Self>) -> Result<(), JsValue> {
        let me = self.clone();
        listen(&self.regions.intents, "click", move |e: Event| {
            if let Some((_, id)) = closest_with(&e, "data-dismiss") {
                me.dismiss(id);
            }
        })
    }

    fn dismiss(self: &Rc<Self>, id: String) {
        let listed = self.dismissable();
        let at = listed.iter().position(|d| *d == id);
        let then = at.and_then(|at| {
            listed
                .get(at + 1)
                .or(at.checked_sub(1).and_then(|b| listed.get(b)))
                .cloned()
        });
        let me = self.clone();
        spawn_local(async move {
            match me.node.dismiss(&id).await {
                Ok(()) => {
                    me.render();
                    me.focus_dismiss(then.as_deref());
                }
                Err(error) => me.say(&wording::engine_error(&error), true),
            }
        });
    }

    /// The ids the panel has a Dismiss for, in its order.
    fn dismissable(&self) -> Vec<String> {
        let Ok(buttons) = self.regions.intents.query_selector_all("[data-dismiss]") else {
            return Vec::new();
        };
        (0..buttons.length())
            .filter_map(|n| buttons.item(n))
            .filter_map(|b| wasm_bindgen::JsCast::dyn_into::<web_sys::Element>(b).ok())
            .filter_map(|b| b.get_attribute("data-dismiss"))
            .collect()
    }

    /// Focuses the Dismiss of `id`, or when it has none, the list itself.
    fn focus_dismiss(&self, id: Option<&str>) {
        let dismiss = id.map(|id| format!("#intents [data-dismiss='{id}']"));
        if !dismiss.is_some_and(|d| self.focus_first(&d)) {
            self.focus("intents");
        }
    }

    /// Every refused and unanswered intent (the cashier must see them, however
    /// long the queue was), then the newest applied ones, newest first.
    pub(super) fn render_intents(&self) -> Result<(), JsValue> {
        let engine = self.node.engine();
        let intents = engine.intents();
        let mut listed: Vec<_> = intents
            .iter()
            .rev()
            .filter(|i| !matches!(i.status, IntentStatus::Applied { .. }))
            .collect();
        let room = INTENTS_SHOWN.saturating_sub(listed.len());
        listed.extend(
            intents
                .iter()
                .rev()
                .filter(|i| matches!(i.status, IntentStatus::Applied { .. }))
                .take(room),
        );
        listed.sort_unstable_by(|a, b| (b.created_at_ms, &b.id).cmp(&(a.created_at_ms, &a.id)));
        let shown: Vec<_> = listed
            .iter()
            .map(|i| (i.id.clone(), wording::intent_state(i)))
            .collect();
        let mut ui = self.ui.borrow_mut();
        if ui.intents == shown {
            return Ok(());
        }
        let (doc, list) = (&self.doc, &self.regions.intents);
        // Drawn afresh: focus on a Dismiss goes back to it once drawn.
        let focused = self
            .focused_in(list)
            .map(|e| e.get_attribute("data-dismiss"));
        list.set_text_content(None);
        if listed.is_empty() {
            add(list, el(doc, "li", "none", "No sales or restocks yet.")?)?;
        }
        for (intent, (_, standing)) in listed.iter().zip(&shown) {
            let li = el(doc, "li", &format!("intent {}", standing.class), "")?;
            li.set_attribute("data-id", &intent.id)?;
            let head = el(doc, "p", "head", "")?;
            add(&head, el(doc, "span", "badge", standing.badge)?)?;
            let name = engine.view(&intent.sku).and_then(|v| v.name);
            let title = wording::intent_title(intent, name.as_deref());
            add(&head, el(doc, "span", "title", &title)?)?;
            add(
                &head,
                el(doc, "time", "", &clock_time(intent.created_at_ms))?,
            )?;
            li.append_child(&head)?;
            add(&li, el(doc, "p", "detail", &standing.detail)?)?;
            if engine.may_dismiss(intent) {
                let dismiss = button(doc, "Dismiss", "dismiss", &format!("Dismiss: {title}"))?;
                dismiss.set_attribute("data-dismiss", &intent.id)?;
                li.append_child(&dismiss)?;
            }
            list.append_child(&li)?;
        }
        ui.intents = shown;
        drop(ui);
        if let Some(id) = focused {
            self.focus_dismiss(id.as_deref());
        }
        Ok(())
    }
}

/// Applied, or queued to be: nothing the cashier must act on.
pub(super) fn intent_went_well(intent: &Intent) -> bool {
    !matches!(intent.status, IntentStatus::Rejected { .. })
}
