//! The manager's step: restocks, counts, returns and voids, behind the
//! manager's PIN and out of the cashier's rows. The PIN is checked on the
//! device, like the till's (offline too), with its own count of wrong
//! tries; manager mode ends with "Done" or after a few idle minutes.
//!
//! The panel says what its tools did in a message line of its own, so the
//! cashier's line and the manager's never write over each other.
//!
//! Here too: what the till shows below zero (a sale recorded offline took
//! more than the shelf held), for the manager to count.

use std::{cell::RefCell, rc::Rc};

use store_wasm::{browser::Node, engine::Intent};
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use wasm_bindgen_futures::spawn_local;
use web_sys::{Document, Element, Event, HtmlButtonElement, HtmlInputElement, HtmlSelectElement};

use super::{
    dom::{add, button, by_id, closest_with, el, listen, set_text, show},
    identity::Identity,
    kdf,
};
use crate::{lock::Unlock, wording};

/// Manager mode ends after this long without a manager action.
const IDLE_MS: f64 = 5.0 * 60.0 * 1000.0;

struct Regions {
    open: HtmlButtonElement,
    panel: Element,
    unlock: Element,
    pin: HtmlInputElement,
    enter: HtmlButtonElement,
    error: Element,
    tools: Element,
    sku: HtmlInputElement,
    quantity: HtmlInputElement,
    reason: HtmlSelectElement,
    below_zero: Element,
    message: Element,
}

pub struct Manager {
    doc: Document,
    node: Node,
    regions: Regions,
    /// Until when manager mode holds (ms since the epoch); `None`: closed.
    until: RefCell<Option<f64>>,
    /// The last tool's intent: the message line follows its answer.
    watching: RefCell<Option<String>>,
    /// A PIN is being checked: one at a time, each counts.
    checking: std::cell::Cell<bool>,
    /// The below-zero list as drawn, (sku, figure): redrawn only when it
    /// changes, so a button being pressed is never replaced under the finger.
    drawn: RefCell<Option<Vec<(String, i64)>>>,
}

fn now() -> f64 {
    js_sys::Date::now()
}

impl Manager {
    pub fn open(doc: Document, node: Node) -> Result<Rc<Manager>, JsValue> {
        let regions = Regions {
            open: by_id(&doc, "manager-open")?,
            panel: by_id(&doc, "manager")?,
            unlock: by_id(&doc, "manager-unlock")?,
            pin: by_id(&doc, "manager-pin")?,
            enter: by_id(&doc, "manager-enter")?,
            error: by_id(&doc, "manager-error")?,
            tools: by_id(&doc, "manager-tools")?,
            sku: by_id(&doc, "manager-sku")?,
            quantity: by_id(&doc, "manager-qty")?,
            reason: by_id(&doc, "manager-reason")?,
            below_zero: by_id(&doc, "below-zero")?,
            message: by_id(&doc, "manager-message")?,
        };
        let manager = Rc::new(Manager {
            doc,
            node,
            regions,
            until: RefCell::new(None),
            watching: RefCell::new(None),
            checking: std::cell::Cell::new(false),
            drawn: RefCell::new(None),
        });
        manager.listen()?;
        let me = manager.clone();
        manager.node.subscribe(move || me.render());
        let me = manager.clone();
        let tick = Closure::<dyn FnMut()>::new(move || me.expire());
        if let Some(window) = web_sys::window() {
            window.set_interval_with_callback_and_timeout_and_arguments_0(
                tick.as_ref().unchecked_ref(),
                10_000,
            )?;
        }
        tick.forget();
        manager.render();
        Ok(manager)
    }

    fn active(&self) -> bool {
        self.until.borrow().is_some_and(|until| now() < until)
    }

    fn expire(&self) {
        if self.until.borrow().is_some() && !self.active() {
            self.close();
        }
    }

    fn close(&self) {
        *self.until.borrow_mut() = None;
        show(&self.regions.panel, false);
        let _ = self.regions.open.focus();
    }

    fn say(&self, text: &str) {
        set_text(&self.regions.message, text);
    }

    fn listen(self: &Rc<Self>) -> Result<(), JsValue> {
        let r = &self.regions;
        let me = self.clone();
        listen(&r.open, "click", move |_: Event| me.ask())?;
        let me = self.clone();
        listen(&r.unlock, "submit", move |event: Event| {
            event.prevent_default();
            me.try_pin();
        })?;
        let me = self.clone();
        listen(&r.panel, "click", move |event: Event| {
            if let Some((_, action)) = closest_with(&event, "data-manager") {
                me.act(&action);
            }
        })?;
        Ok(())
    }

    /// "Manager": the PIN form, or the tools while manager mode holds.
    fn ask(&self) {
        show(&self.regions.panel, true);
        let active = self.active();
        show(&self.regions.unlock, !active);
        show(&self.regions.tools, active);
        if active {
            let _ = self.regions.sku.focus();
        } else {
            set_text(&self.regions.error, "");
            let _ = self.regions.pin.focus();
        }
    }

    fn try_pin(self: &Rc<Self>) {
        let typed = self.regions.pin.value();
        self.regions.pin.set_value("");
        if self.checking.replace(true) {
            return;
        }
        self.regions.enter.set_disabled(true);
        let me = self.clone();
        spawn_local(async move {
            let tried = match Identity::load() {
                Some(mut identity) => {
                    let tried = kdf::try_pin(&mut identity.manager, &typed, now() as i64).await;
                    identity.save();
                    Some(tried)
                }
                None => None,
            };
            me.checking.set(false);
            me.regions.enter.set_disabled(false);
            me.judged(tried);
        });
    }

    fn judged(&self, tried: Option<Unlock>) {
        let r = &self.regions;
        let Some(tried) = tried else {
            set_text(&r.error, "This till is not set up.");
            return;
        };
        match tried {
            Unlock::Open => {
                *self.until.borrow_mut() = Some(now() + IDLE_MS);
                self.ask();
                self.render();
            }
            refused => set_text(&r.error, &wording::pin_refused(refused, "manager PIN")),
        }
    }

    /// One of the tools, or "Done" (`data-manager` says which).
    fn act(self: &Rc<Self>, action: &str) {
        if action == "done" {
            return self.close();
        }
        if !self.active() {
            self.say("Manager mode ended: enter the manager PIN again.");
            return self.close();
        }
        *self.until.borrow_mut() = Some(now() + IDLE_MS);
        if action == "void" {
            return self.void();
        }
        if let Some(sku) = action.strip_prefix("count:") {
            self.regions.sku.set_value(sku);
            let _ = self.regions.quantity.focus();
            return;
        }
        let code = self.regions.sku.value();
        let Some(view) = self.node.engine().find_sku(&code) else {
            return self.say(&format!("No product has the sku “{}”.", code.trim()));
        };
        let quantity = match self.regions.quantity.value().trim().parse::<i64>() {
            Ok(q) if q >= 0 => q,
            _ => return self.say("Type the quantity as a whole number."),
        };
        let (me, sku, action) = (self.clone(), view.sku, action.to_owned());
        let reason = self.regions.reason.value();
        spawn_local(async move {
            let done = match action.as_str() {
                "restock" => me.node.restock(&sku, quantity).await,
                "count" => me.node.count(&sku, quantity).await,
                "return" => me.node.return_item(&sku, quantity, &reason).await,
                _ => return,
            };
            match done {
                Ok(intent) => {
                    me.say(&wording::outcome(&intent));
                    me.regions.quantity.set_value("");
                    if intent.is_unanswered() {
                        *me.watching.borrow_mut() = Some(intent.id);
                    }
                }
                Err(e) => me.say(&wording::engine_error(&e)),
            }
        });
    }

    fn void(self: &Rc<Self>) {
        let me = self.clone();
        spawn_local(async move {
            match me.node.void_last_sale().await {
                Ok(lines) => me.say(&voided(&lines)),
                Err(e) => me.say(&wording::engine_error(&e)),
            }
        });
    }

    /// The below-zero list, and its count on the Manager button, so it is
    /// seen by whoever may resolve it.
    fn render(&self) {
        let answered = self.watching.borrow().as_ref().and_then(|id| {
            let intents = self.node.engine().intents();
            intents
                .into_iter()
                .find(|i| i.id == *id && !i.is_unanswered())
        });
        if let Some(intent) = answered {
            *self.watching.borrow_mut() = None;
            self.say(&wording::outcome(&intent));
        }
        let below = self.node.engine().below_zero();
        let label = match below.len() {
            0 => "Manager".to_owned(),
            n => format!("Manager · {n} below zero"),
        };
        self.regions.open.set_text_content(Some(&label));
        let now: Vec<(String, i64)> = below.iter().map(|v| (v.sku.clone(), v.shown)).collect();
        if self.drawn.borrow().as_ref() == Some(&now) {
            return;
        }
        *self.drawn.borrow_mut() = Some(now);
        let list = &self.regions.below_zero;
        list.set_text_content(None);
        let drawn = (|| -> Result<(), JsValue> {
            if below.is_empty() {
                add(list, el(&self.doc, "li", "none", "Nothing below zero.")?)?;
            }
            for view in &below {
                let name = view.name.clone().unwrap_or_default();
                let text = format!("{} {name}: {} on this till", view.sku, view.shown);
                let li = el(&self.doc, "li", "below", &text)?;
                li.set_attribute("data-sku", &view.sku)?;
                let count = button(
                    &self.doc,
                    "Count it",
                    "count-it",
                    &format!("Count {}", view.sku),
                )?;
                count.set_attribute("data-manager", &format!("count:{}", view.sku))?;
                add(&li, count)?;
                add(list, li)?;
            }
            Ok(())
        })();
        if let Err(e) = drawn {
            web_sys::console::error_1(&e);
        }
    }
}

/// "Voided: 2 × COF-1 and 1 × TEA-1 put back."
fn voided(lines: &[Intent]) -> String {
    let what: Vec<String> = lines
        .iter()
        .map(|l| format!("{} × {}", l.delta, l.sku))
        .collect();
    format!("Voided the last sale: {} put back.", what.join(" and "))
}
