//! The till screen: status bar, product search with its results, the
//! basket, the activity panel. It renders from the node whenever the node
//! says something changed (a sale here, a long-poll answer, another tab),
//! and the status line once a second so ages stay true.
//!
//! This module holds the screen's state and wiring; each region draws
//! itself in a module of its own: [`status`], [`catalogue`] (search and
//! rows), [`nearby`], [`basket`], [`pickups`], [`activity`].

mod activity;
mod basket;
mod catalogue;
mod nearby;
mod pickups;
mod status;

use std::{cell::RefCell, collections::HashSet, rc::Rc};

use store_wasm::{browser::Node, engine::IntentStatus};
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use web_sys::{
    Document, Element, Event, HtmlButtonElement, HtmlElement, HtmlInputElement, KeyboardEvent,
};

use super::dom::{by_id, listen, set_text, show};
use crate::wording;

/// Rows shown at a time: a page of the catalogue, paged with Previous and
/// Next ("Showing 51–100 of 50,000").
const RESULTS: usize = 50;
/// Intents listed in the panel, newest first.
const INTENTS_SHOWN: usize = 30;

/// The page's static regions, found once.
struct Regions {
    screen: Element,
    store: Element,
    status: Element,
    contact: Element,
    sync_now: HtmlButtonElement,
    sign_out: HtmlButtonElement,
    stale: Element,
    trouble: Element,
    search: HtmlInputElement,
    results_scroll: Element,
    results: Element,
    no_results: Element,
    results_count: Element,
    prev_page: HtmlButtonElement,
    next_page: HtmlButtonElement,
    basket_jump: HtmlButtonElement,
    basket: Element,
    basket_total: Element,
    sell_basket: HtmlButtonElement,
    clear_basket: HtmlButtonElement,
    pickups_panel: Element,
    pickups: Element,
    intents: Element,
    message: Element,
}

impl Regions {
    fn find(doc: &Document) -> Result<Regions, JsValue> {
        Ok(Regions {
            screen: by_id(doc, "till")?,
            store: by_id(doc, "store-name")?,
            status: by_id(doc, "status")?,
            contact: by_id(doc, "contact")?,
            sync_now: by_id(doc, "sync-now")?,
            sign_out: by_id(doc, "sign-out")?,
            stale: by_id(doc, "stale-banner")?,
            trouble: by_id(doc, "trouble-banner")?,
            search: by_id(doc, "search")?,
            results_scroll: by_id(doc, "results-scroll")?,
            results: by_id(doc, "results-body")?,
            no_results: by_id(doc, "no-results")?,
            results_count: by_id(doc, "results-count")?,
            prev_page: by_id(doc, "prev-page")?,
            next_page: by_id(doc, "next-page")?,
            basket_jump: by_id(doc, "basket-jump")?,
            basket: by_id(doc, "basket-lines")?,
            basket_total: by_id(doc, "basket-total")?,
            sell_basket: by_id(doc, "sell-basket")?,
            clear_basket: by_id(doc, "clear-basket")?,
            pickups_panel: by_id(doc, "pickups-panel")?,
            pickups: by_id(doc, "pickups")?,
            intents: by_id(doc, "intents")?,
            message: by_id(doc, "message")?,
        })
    }
}

#[derive(Default)]
struct Ui {
    rows: Vec<catalogue::Row>,
    /// Where the page of results starts in the whole list of matches.
    offset: usize,
    /// How many products match the search, all pages.
    total: usize,
    /// The "available nearby" answer open under a row: (its sku, the row
    /// holding it). It goes with its row when a search drops that row.
    nearby: Option<(String, Element)>,
    /// (sku, quantity), in the order scanned.
    basket: Vec<(String, i64)>,
    /// A basket sale is being stored: another Ctrl+Enter must not sell it twice.
    selling_basket: bool,
    /// Rows whose sale or restock is being stored: a double click is one sale.
    recording: HashSet<String>,
    /// The intents of the last action: the message line follows their
    /// answers ("Queued…" becomes "Sold…" when central answers).
    watching: Option<Watch>,
    /// What the intents panel shows (id, state, detail), to redraw on change.
    intents: Vec<(String, wording::Standing)>,
    /// What the pick-ups panel shows, likewise.
    pickups: Vec<pickups::Row>,
    /// The basket line head office refused, and why: marked in the basket
    /// until that line changes or the basket is sold or cleared.
    refused_line: Option<(String, String)>,
    /// A sale the till warned about (more than it shows in stock): the
    /// same press again, soon, sells it anyway.
    warned: Option<Warned>,
}

/// A warned sale: what was pressed, and when.
#[derive(Clone, PartialEq)]
struct Warned {
    what: String,
    at_ms: f64,
}

/// How long a warning's "press again" holds.
const WARNED_MS: f64 = 10_000.0;

struct Watch {
    ids: Vec<String>,
    basket: bool,
    /// What a basket came to, said once it is sold.
    total: String,
    /// A basket's lines, put back in the basket if central refuses it (to
    /// sell again without the line that stopped it); taken once.
    lines: Option<Vec<(String, i64)>>,
    /// What was last said of it: said again only when it changes, so a
    /// later message (a warning, a manager's) is not written over.
    said: Option<String>,
}

pub struct Till {
    doc: Document,
    node: Node,
    regions: Regions,
    ui: RefCell<Ui>,
}

impl Till {
    /// Shows the till for a signed-in node and starts it syncing.
    pub fn open(doc: Document, node: Node) -> Result<Rc<Till>, JsValue> {
        let till = Rc::new(Till {
            regions: Regions::find(&doc)?,
            doc,
            node,
            ui: RefCell::default(),
        });
        till.listen()?;
        let me = till.clone();
        till.node.subscribe(move || me.render());
        let me = till.clone();
        let tick = Closure::<dyn FnMut()>::new(move || {
            me.render_status();
            // Time left moves on without the node saying anything.
            if let Err(e) = me.render_pickups() {
                web_sys::console::error_1(&e);
            }
        });
        if let Some(window) = web_sys::window() {
            window.set_interval_with_callback_and_timeout_and_arguments_0(
                tick.as_ref().unchecked_ref(),
                1000,
            )?;
        }
        tick.forget();
        show(&till.regions.screen, true);
        till.render();
        till.render_basket();
        till.node.start()?;
        let _ = till.regions.search.focus();
        Ok(till)
    }

    fn render(&self) {
        self.render_status();
        self.follow_watched();
        if let Err(e) = self.render_results() {
            web_sys::console::error_1(&e);
        }
        if let Err(e) = self.render_pickups() {
            web_sys::console::error_1(&e);
        }
        if let Err(e) = self.render_intents() {
            web_sys::console::error_1(&e);
        }
    }

    /// Says what became of the last action's intents, as central answers.
    fn follow_watched(&self) {
        let (said, refused_lines) = {
            let mut ui = self.ui.borrow_mut();
            let Some(watch) = &mut ui.watching else {
                return;
            };
            let intents: Vec<_> = self
                .node
                .engine()
                .intents()
                .into_iter()
                .filter(|i| watch.ids.contains(&i.id))
                .collect();
            if intents.len() != watch.ids.len() {
                return;
            }
            let went_well = intents.iter().all(activity::intent_went_well);
            let text = if watch.basket {
                wording::basket_outcome(&intents, &watch.total)
            } else {
                wording::outcome(&intents[0])
            };
            let refused_lines = if went_well { None } else { watch.lines.take() };
            let refused_line = refused_lines.as_ref().and_then(|_| {
                intents.iter().find_map(|i| match &i.status {
                    IntentStatus::Rejected { problem }
                        if problem.code != shared::ErrorCode::BatchAborted =>
                    {
                        Some((i.sku.clone(), wording::refusal(problem).reason))
                    }
                    _ => None,
                })
            });
            if refused_line.is_some() {
                ui.refused_line = refused_line;
            }
            let Some(watch) = &mut ui.watching else {
                return;
            };
            let fresh = watch.said.as_deref() != Some(text.as_str());
            watch.said = Some(text.clone());
            ((text, !went_well, fresh), refused_lines)
        };
        if said.2 {
            self.say(&said.0, said.1);
        }
        if let Some(lines) = refused_lines {
            for (sku, quantity) in lines {
                self.put_in_basket(&sku, quantity);
            }
            self.render_basket();
        }
    }

    fn watch(&self, ids: Vec<String>, lines: Option<Vec<(String, i64)>>) {
        let basket = lines.is_some();
        let total = lines
            .as_ref()
            .map_or_else(String::new, |l| self.total_of(l));
        self.ui.borrow_mut().watching = Some(Watch {
            ids,
            basket,
            total,
            lines,
            said: None,
        });
        self.follow_watched();
    }

    /// What `lines` cost, in the chain's currency.
    fn total_of(&self, lines: &[(String, i64)]) -> String {
        let engine = self.node.engine();
        let cents: i64 = lines
            .iter()
            .map(|(sku, quantity)| {
                let price = engine.view(sku).and_then(|v| v.price_cents).unwrap_or(0);
                price.saturating_mul(*quantity)
            })
            .fold(0, i64::saturating_add);
        engine.currency().format(cents)
    }

    /// Whether `what` may go ahead: true if nothing needs saying, or the
    /// cashier pressed the same again within a few seconds of `warning`.
    fn confirmed(&self, what: &str, warning: Option<String>) -> bool {
        let Some(warning) = warning else {
            return true;
        };
        let now = js_sys::Date::now();
        let mut ui = self.ui.borrow_mut();
        let again = ui
            .warned
            .as_ref()
            .is_some_and(|w| w.what == what && now - w.at_ms < WARNED_MS);
        if again {
            ui.warned = None;
            return true;
        }
        ui.warned = Some(Warned {
            what: what.to_owned(),
            at_ms: now,
        });
        drop(ui);
        self.say(&warning, true);
        false
    }

    /// Says what just happened; `warn` for what the cashier must act on.
    fn say(&self, text: &str, warn: bool) {
        let message = &self.regions.message;
        message.set_class_name(if warn { "message warn" } else { "message" });
        set_text(message, text);
    }

    /// Listens once per region (event delegation); each region's module
    /// wires its own.
    fn listen(self: &Rc<Self>) -> Result<(), JsValue> {
        self.listen_catalogue()?;
        self.listen_nearby()?;
        self.listen_basket()?;
        self.listen_pickups()?;
        self.listen_activity()?;
        let r = &self.regions;
        let me = self.clone();
        listen(&r.sync_now, "click", move |_: Event| me.sync_now())?;
        let me = self.clone();
        listen(&r.sign_out, "click", move |_: Event| me.sign_out())?;
        let me = self.clone();
        listen(&self.doc, "keydown", move |e: KeyboardEvent| {
            if e.key() == "Enter" && (e.ctrl_key() || e.meta_key()) {
                e.prevent_default();
                me.sell_basket(true);
            }
        })
    }

    /// Moves focus to an element of the page (one with `tabindex="-1"` when
    /// it is not a control).
    fn focus(&self, id: &str) {
        if let Ok(e) = by_id::<HtmlElement>(&self.doc, id) {
            let _ = e.focus();
        }
    }

    /// Moves focus to the first element matching `selector`, if any;
    /// whether it did.
    fn focus_first(&self, selector: &str) -> bool {
        let found = self.doc.query_selector(selector).ok().flatten();
        match found.and_then(|e| e.dyn_into::<HtmlElement>().ok()) {
            Some(e) => e.focus().is_ok(),
            None => false,
        }
    }

    /// The element that has focus, if it lies within `region`.
    fn focused_in(&self, region: &Element) -> Option<Element> {
        self.doc
            .active_element()
            .filter(|active| region.contains(Some(active)))
    }
}
