//! The till screen: status bar, product search with its results, the
//! basket, the intents panel. It renders from the node whenever the node
//! says something changed (a sale here, a long-poll answer, another tab),
//! and the status line once a second so ages stay true.

use std::{
    cell::RefCell,
    collections::{HashMap, HashSet},
    rc::Rc,
};

use store_wasm::{browser::Node, engine::StockView};
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use wasm_bindgen_futures::spawn_local;
use web_sys::{Document, Element, Event, HtmlButtonElement, HtmlInputElement, KeyboardEvent};

use super::dom::{add, button, by_id, clock_time, closest_with, el, listen, set_text, show};
use crate::wording;

/// Rows shown for a search: a till needs the few that match, not 50,000.
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
    results: Element,
    no_results: Element,
    nearby: Element,
    basket: Element,
    basket_total: Element,
    sell_basket: HtmlButtonElement,
    clear_basket: HtmlButtonElement,
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
            results: by_id(doc, "results-body")?,
            no_results: by_id(doc, "no-results")?,
            nearby: by_id(doc, "nearby")?,
            basket: by_id(doc, "basket-lines")?,
            basket_total: by_id(doc, "basket-total")?,
            sell_basket: by_id(doc, "sell-basket")?,
            clear_basket: by_id(doc, "clear-basket")?,
            intents: by_id(doc, "intents")?,
            message: by_id(doc, "message")?,
        })
    }
}

/// A result row, kept by sku: a live update changes its text in place, so
/// a quantity being typed in it survives.
struct Row {
    sku: String,
    tr: Element,
    name: Element,
    price: Element,
    stock: Element,
    detail: Element,
}

#[derive(Default)]
struct Ui {
    rows: Vec<Row>,
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
}

struct Watch {
    ids: Vec<String>,
    basket: bool,
    /// A basket's lines, put back in the basket if central refuses it (to
    /// sell again without the line that stopped it); taken once.
    lines: Option<Vec<(String, i64)>>,
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
        let tick = Closure::<dyn FnMut()>::new(move || me.render_status());
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
            let went_well = intents.iter().all(intent_went_well);
            let text = if watch.basket {
                wording::basket_outcome(&intents)
            } else {
                wording::outcome(&intents[0])
            };
            let refused_lines = if went_well { None } else { watch.lines.take() };
            ((text, !went_well), refused_lines)
        };
        self.say(&said.0, said.1);
        if let Some(lines) = refused_lines {
            for (sku, quantity) in lines {
                self.put_in_basket(&sku, quantity);
            }
            self.render_basket();
        }
    }

    fn watch(&self, ids: Vec<String>, lines: Option<Vec<(String, i64)>>) {
        let basket = lines.is_some();
        self.ui.borrow_mut().watching = Some(Watch { ids, basket, lines });
        self.follow_watched();
    }

    /// Says what just happened; `warn` for what the cashier must act on.
    fn say(&self, text: &str, warn: bool) {
        let message = &self.regions.message;
        message.set_class_name(if warn { "message warn" } else { "message" });
        set_text(message, text);
    }

    fn listen(self: &Rc<Self>) -> Result<(), JsValue> {
        let r = &self.regions;
        let me = self.clone();
        listen(&r.search, "input", move |_: Event| {
            let _ = me.render_results();
        })?;
        let me = self.clone();
        listen(&r.search, "keydown", move |e: KeyboardEvent| {
            match e.key().as_str() {
                "Enter" if !e.ctrl_key() && !e.meta_key() => {
                    e.prevent_default();
                    me.scan();
                }
                "Escape" => {
                    me.regions.search.set_value("");
                    let _ = me.render_results();
                }
                _ => {}
            }
        })?;
        let me = self.clone();
        listen(&r.results, "click", move |e: Event| me.row_action(&e))?;
        let me = self.clone();
        listen(&r.results, "keydown", move |e: KeyboardEvent| {
            // Enter in a row's quantity: that many into the basket. (On a
            // button, Enter presses the button.)
            if e.key() == "Enter"
                && !e.ctrl_key()
                && !e.meta_key()
                && closest_with(&e, "data-qty").is_some()
                && let Some((row, sku)) = closest_with(&e, "data-sku")
                && let Ok(quantity) = me.quantity(&row)
            {
                e.prevent_default();
                me.add_to_basket(&sku, quantity);
            }
        })?;
        let me = self.clone();
        listen(&r.basket, "click", move |e: Event| me.basket_action(&e))?;
        let me = self.clone();
        listen(&r.sell_basket, "click", move |_: Event| {
            me.sell_basket(false)
        })?;
        let me = self.clone();
        listen(&r.clear_basket, "click", move |_: Event| {
            me.ui.borrow_mut().basket.clear();
            me.render_basket();
            me.say("Basket cleared.", false);
        })?;
        let me = self.clone();
        listen(&r.intents, "click", move |e: Event| {
            if let Some((_, id)) = closest_with(&e, "data-dismiss") {
                let me = me.clone();
                spawn_local(async move {
                    match me.node.dismiss(&id).await {
                        // The button is gone: keep the cashier in the panel.
                        Ok(()) => me.focus("intents-title"),
                        Err(error) => me.say(&wording::engine_error(&error), true),
                    }
                });
            }
        })?;
        let me = self.clone();
        listen(&r.nearby, "click", move |e: Event| {
            if closest_with(&e, "data-close").is_some() {
                show(&me.regions.nearby, false);
                let _ = me.regions.search.focus();
            }
        })?;
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

    // ---- status ----------------------------------------------------------

    fn render_status(&self) {
        let r = &self.regions;
        let engine = self.node.engine();
        let status = engine.status();
        let now = js_sys::Date::now() as i64;
        let store = engine.store_id();
        let name = engine
            .store_name(store)
            .map_or_else(|| store.to_owned(), |n| format!("{n} ({store})"));
        set_text(&r.store, &name);
        // The live region changes only when the state does; the age ticks
        // apart, unannounced.
        set_text(&r.status, &wording::state(&status, &engine.intents()));
        set_text(&r.contact, &wording::contact(&status, now));
        r.status.set_class_name(if status.online {
            "status online"
        } else {
            "status offline"
        });
        let since = status.last_contact_ms.map(clock_time);
        match wording::stale_banner(&status, since.as_deref()) {
            Some(text) => {
                set_text(&r.stale, &text);
                show(&r.stale, true);
            }
            None => show(&r.stale, false),
        }
        let trouble = if let Some(problem) = &status.signed_out {
            Some(format!(
                "Head office did not accept this till's sign-in{}. Sales stay on this till: \
                 sign out and sign in again.",
                match problem.code {
                    shared::ErrorCode::TokenRevoked => " (the store's secret was changed)",
                    _ => "",
                }
            ))
        } else {
            status.storage_error.as_ref().map(|_| {
                "This device refuses to store more. Sales go straight to head office while it \
                 answers; free some space in the browser's storage."
                    .to_owned()
            })
        };
        match trouble {
            Some(text) => {
                set_text(&r.trouble, &text);
                show(&r.trouble, true);
            }
            None => show(&r.trouble, false),
        }
    }

    fn sync_now(self: &Rc<Self>) {
        let me = self.clone();
        self.regions.sync_now.set_disabled(true);
        self.say("Checking with head office…", false);
        spawn_local(async move {
            match me.node.sync_now().await {
                Ok(status) if status.queued == 0 => me.say("Up to date with head office.", false),
                Ok(_) => me.say(
                    &format!(
                        "Up to date; {}.",
                        wording::waiting(&me.node.engine().intents())
                    ),
                    true,
                ),
                Err(e) => me.say(&wording::engine_error(&e), true),
            }
            me.regions.sync_now.set_disabled(false);
            me.render();
        });
    }

    /// Locks the till; it goes on sending what it holds meanwhile.
    fn sign_out(&self) {
        super::lock();
    }

    // ---- search and results ----------------------------------------------

    fn render_results(&self) -> Result<(), JsValue> {
        let query = self.regions.search.value();
        let views = self.node.engine().list(&query, RESULTS);
        let mut ui = self.ui.borrow_mut();
        let same = ui.rows.len() == views.len()
            && ui.rows.iter().zip(&views).all(|(row, v)| row.sku == v.sku);
        if !same {
            let mut old: HashMap<String, Row> =
                ui.rows.drain(..).map(|r| (r.sku.clone(), r)).collect();
            self.regions.results.set_text_content(None);
            for view in &views {
                let row = match old.remove(&view.sku) {
                    Some(row) => row,
                    None => self.new_row(view)?,
                };
                self.regions.results.append_child(&row.tr)?;
                ui.rows.push(row);
            }
        }
        for (row, view) in ui.rows.iter().zip(&views) {
            let (headline, detail) = wording::stock(view);
            set_text(&row.stock, &headline);
            set_text(&row.detail, detail.as_deref().unwrap_or(""));
            set_text(&row.name, view.name.as_deref().unwrap_or(""));
            set_text(
                &row.price,
                &view.price_cents.map(wording::money).unwrap_or_default(),
            );
            row.tr
                .set_class_name(if view.shown <= 0 { "out" } else { "" });
        }
        let empty = if views.is_empty() {
            Some(if self.node.engine().status().offset.is_none() {
                "No catalogue yet: waiting for head office to send it.".to_owned()
            } else {
                format!("No product matches “{}”.", query.trim())
            })
        } else {
            None
        };
        set_text(&self.regions.no_results, empty.as_deref().unwrap_or(""));
        show(&self.regions.no_results, empty.is_some());
        Ok(())
    }

    fn new_row(&self, view: &StockView) -> Result<Row, JsValue> {
        let doc = &self.doc;
        let sku = &view.sku;
        let tr = el(doc, "tr", "", "")?;
        tr.set_attribute("data-sku", sku)?;
        let cell = |class: &str, text: &str| -> Result<Element, JsValue> {
            let td = el(doc, "td", class, text)?;
            tr.append_child(&td)?;
            Ok(td)
        };
        cell("sku", sku)?;
        let name = cell("name", "")?;
        let price = cell("price", "")?;
        let stock_cell = cell("stock", "")?;
        let stock = el(doc, "span", "figure", "")?;
        let detail = el(doc, "span", "detail", "")?;
        stock_cell.append_child(&stock)?;
        stock_cell.append_child(&detail)?;
        let quantity = el(doc, "input", "", "")?;
        for (attr, value) in [
            ("type", "number"),
            ("min", "1"),
            ("step", "1"),
            ("value", "1"),
            ("inputmode", "numeric"),
            ("data-qty", ""),
            ("aria-label", &format!("Quantity of {sku}")),
        ] {
            quantity.set_attribute(attr, value)?;
        }
        cell("qty", "")?.append_child(&quantity)?;
        let actions = cell("actions", "")?;
        for (text, action, label) in [
            ("Sell", "sell", format!("Sell {sku}")),
            ("+ Basket", "basket", format!("Add {sku} to the basket")),
            ("Restock", "restock", format!("Restock {sku}")),
            ("Nearby", "nearby", format!("{sku} in other stores")),
        ] {
            add(&actions, button(doc, text, action, &label)?)?;
        }
        Ok(Row {
            sku: sku.clone(),
            tr,
            name,
            price,
            stock,
            detail,
        })
    }

    /// The quantity typed in a row (at least 1, whole).
    fn quantity(&self, row: &Element) -> Result<i64, String> {
        let input = row
            .query_selector("input[data-qty]")
            .ok()
            .flatten()
            .and_then(|e| e.dyn_into::<HtmlInputElement>().ok());
        let n = input.map_or(f64::NAN, |i| i.value_as_number());
        if n.is_finite() && n >= 1.0 && n.fract() == 0.0 && n <= 1e9 {
            Ok(n as i64)
        } else {
            Err("Enter a whole quantity of at least 1.".into())
        }
    }

    fn row_action(self: &Rc<Self>, event: &Event) {
        let Some((_, action)) = closest_with(event, "data-action") else {
            return;
        };
        let Some((row, sku)) = closest_with(event, "data-sku") else {
            return;
        };
        if action == "nearby" {
            self.nearby(sku);
            return;
        }
        let quantity = match self.quantity(&row) {
            Ok(q) => q,
            Err(why) => return self.say(&why, true),
        };
        match action.as_str() {
            "basket" => self.add_to_basket(&sku, quantity),
            "sell" | "restock" => self.record(sku, quantity, action == "restock"),
            _ => {}
        }
    }

    /// A scanner typed a sku and Enter: that product goes into the basket.
    fn scan(&self) {
        let query = self.regions.search.value().trim().to_owned();
        if query.is_empty() {
            return;
        }
        match self.node.engine().list(&query, 1).first() {
            Some(v) if v.sku.eq_ignore_ascii_case(&query) => {
                let sku = v.sku.clone();
                self.add_to_basket(&sku, 1);
                self.regions.search.set_value("");
                let _ = self.render_results();
            }
            Some(_) => {
                self.say(
                    &format!("No product has the sku “{query}”: pick one of the matches."),
                    true,
                );
                self.replace_next_scan();
            }
            None => {
                self.say(&format!("No product matches “{query}”."), true);
                self.replace_next_scan();
            }
        }
    }

    /// After a code that found nothing, the next scan replaces it rather
    /// than being appended to it ("BAD-999SKU-0015"): the text stays,
    /// selected, so the cashier still sees what was scanned.
    fn replace_next_scan(&self) {
        self.regions.search.select();
    }

    fn record(self: &Rc<Self>, sku: String, quantity: i64, restock: bool) {
        if !self.ui.borrow_mut().recording.insert(sku.clone()) {
            return;
        }
        let me = self.clone();
        spawn_local(async move {
            let recorded = if restock {
                me.node.restock(&sku, quantity).await
            } else {
                me.node.sell(&sku, quantity).await
            };
            me.ui.borrow_mut().recording.remove(&sku);
            match recorded {
                Ok(intent) => me.watch(vec![intent.id], None),
                Err(e) => me.say(&wording::engine_error(&e), true),
            }
            me.render();
        });
    }

    /// Moves focus to an element of the page (one with `tabindex="-1"` when
    /// it is not a control).
    fn focus(&self, id: &str) {
        if let Ok(e) = by_id::<web_sys::HtmlElement>(&self.doc, id) {
            let _ = e.focus();
        }
    }

    fn nearby(self: &Rc<Self>, sku: String) {
        let me = self.clone();
        let panel = self.regions.nearby.clone();
        panel.set_text_content(Some(&format!("Asking head office about {sku}…")));
        show(&panel, true);
        spawn_local(async move {
            let answer = me.node.nearby(&sku).await;
            if let Err(e) = me.render_nearby(&sku, answer) {
                web_sys::console::error_1(&e);
            }
        });
    }

    fn render_nearby(
        &self,
        sku: &str,
        answer: Result<Vec<store_wasm::engine::Nearby>, store_wasm::engine::EngineError>,
    ) -> Result<(), JsValue> {
        let (doc, panel) = (&self.doc, &self.regions.nearby);
        panel.set_text_content(None);
        let name = self.node.engine().view(sku).and_then(|v| v.name);
        let title = format!("Available nearby: {sku} {}", name.unwrap_or_default());
        let heading = add(panel, el(doc, "h3", "", title.trim())?)?;
        heading.set_id("nearby-title");
        heading.set_attribute("tabindex", "-1")?;
        let mine = self.node.engine().store_id().to_owned();
        match answer {
            Ok(mut stores) => {
                stores.retain(|s| s.store_id != mine);
                stores.sort_by_key(|s| std::cmp::Reverse(s.available));
                if stores.is_empty() {
                    add(panel, el(doc, "p", "", "No other store stocks it.")?)?;
                }
                let list = el(doc, "ul", "", "")?;
                for s in stores {
                    let who = s
                        .name
                        .map_or_else(|| s.store_id.clone(), |n| format!("{n} ({})", s.store_id));
                    let text = format!("{who}: {} in stock", s.available);
                    add(&list, el(doc, "li", "", &text)?)?;
                }
                panel.append_child(&list)?;
            }
            Err(e) => {
                let text = format!(
                    "Needs head office, which can't be reached now: {}",
                    wording::engine_error(&e)
                );
                add(panel, el(doc, "p", "warn", &text)?)?;
            }
        }
        let close = button(doc, "Close", "close", "Close the nearby list")?;
        close.set_attribute("data-close", "")?;
        panel.append_child(&close)?;
        self.focus("nearby-title");
        Ok(())
    }

    // ---- basket ----------------------------------------------------------

    fn put_in_basket(&self, sku: &str, quantity: i64) {
        let mut ui = self.ui.borrow_mut();
        match ui.basket.iter_mut().find(|(s, _)| s == sku) {
            Some((_, q)) => *q += quantity,
            None => ui.basket.push((sku.to_owned(), quantity)),
        }
    }

    fn add_to_basket(&self, sku: &str, quantity: i64) {
        self.put_in_basket(sku, quantity);
        self.render_basket();
        self.say(&format!("Added {quantity} × {sku} to the basket."), false);
    }

    fn basket_action(&self, event: &Event) {
        let (Some((_, action)), Some((_, sku))) = (
            closest_with(event, "data-action"),
            closest_with(event, "data-line"),
        ) else {
            return;
        };
        {
            let mut ui = self.ui.borrow_mut();
            if let Some(at) = ui.basket.iter().position(|(s, _)| *s == sku) {
                match action.as_str() {
                    "more" => ui.basket[at].1 += 1,
                    "less" if ui.basket[at].1 > 1 => ui.basket[at].1 -= 1,
                    "less" | "remove" => {
                        ui.basket.remove(at);
                    }
                    _ => {}
                }
            }
        }
        self.render_basket();
    }

    fn render_basket(&self) {
        if let Err(e) = self.draw_basket() {
            web_sys::console::error_1(&e);
        }
    }

    fn draw_basket(&self) -> Result<(), JsValue> {
        let (doc, list) = (&self.doc, &self.regions.basket);
        let ui = self.ui.borrow();
        list.set_text_content(None);
        let (mut total, mut items) = (0, 0);
        for (sku, quantity) in &ui.basket {
            let view = self.node.engine().view(sku);
            let name = view
                .as_ref()
                .and_then(|v| v.name.clone())
                .unwrap_or_default();
            let price = view.as_ref().and_then(|v| v.price_cents).unwrap_or(0);
            total += price * quantity;
            items += quantity;
            let li = el(doc, "li", "", "")?;
            li.set_attribute("data-line", sku)?;
            let text = format!("{quantity} × {sku} {name}");
            add(&li, el(doc, "span", "line", text.trim())?)?;
            add(
                &li,
                el(doc, "span", "price", &wording::money(price * quantity))?,
            )?;
            for (label, action, aria) in [
                ("−", "less", format!("One {sku} less")),
                ("+", "more", format!("One {sku} more")),
                ("Remove", "remove", format!("Remove {sku} from the basket")),
            ] {
                add(&li, button(doc, label, action, &aria)?)?;
            }
            list.append_child(&li)?;
        }
        let summary = if ui.basket.is_empty() {
            "Empty: scan a product, or “+ Basket” on a row.".to_owned()
        } else {
            format!(
                "Total {} · {}",
                wording::money(total),
                wording::count(items as usize, "item", "items")
            )
        };
        set_text(&self.regions.basket_total, &summary);
        self.regions
            .basket_total
            .set_class_name(if ui.basket.is_empty() {
                "total empty"
            } else {
                "total"
            });
        self.regions.sell_basket.set_disabled(ui.basket.is_empty());
        self.regions.clear_basket.set_disabled(ui.basket.is_empty());
        Ok(())
    }

    /// Sells the basket as one atomic batch. `from_keys`: Ctrl+Enter, so
    /// the search box gets focus back for the next scan (after a tap it
    /// does not: that would pop up a tablet's keyboard).
    fn sell_basket(self: &Rc<Self>, from_keys: bool) {
        let lines = {
            let mut ui = self.ui.borrow_mut();
            if ui.selling_basket {
                return;
            }
            if ui.basket.is_empty() {
                drop(ui);
                return self.say("The basket is empty.", true);
            }
            ui.selling_basket = true;
            ui.basket.clone()
        };
        let me = self.clone();
        self.regions.sell_basket.set_disabled(true);
        spawn_local(async move {
            match me.node.sell_basket(&lines).await {
                Ok(intents) => {
                    // Recorded: what was sold leaves the basket; lines
                    // scanned meanwhile stay.
                    me.take_out_of_basket(&lines);
                    let ids = intents.into_iter().map(|i| i.id).collect();
                    me.watch(ids, Some(lines));
                }
                Err(e) => me.say(&wording::engine_error(&e), true),
            }
            me.ui.borrow_mut().selling_basket = false;
            me.render_basket();
            me.render();
            me.focus(if from_keys { "search" } else { "basket-title" });
        });
    }

    fn take_out_of_basket(&self, sold: &[(String, i64)]) {
        let mut ui = self.ui.borrow_mut();
        for (sku, quantity) in sold {
            if let Some(at) = ui.basket.iter().position(|(s, _)| s == sku) {
                ui.basket[at].1 -= quantity;
                if ui.basket[at].1 <= 0 {
                    ui.basket.remove(at);
                }
            }
        }
    }

    // ---- intents ---------------------------------------------------------

    /// Every refused and unanswered intent (the cashier must see them, however
    /// long the queue was), then the newest applied ones, newest first.
    fn render_intents(&self) -> Result<(), JsValue> {
        let engine = self.node.engine();
        let intents = engine.intents();
        let mut listed: Vec<_> = intents
            .iter()
            .rev()
            .filter(|i| !matches!(i.status, store_wasm::engine::IntentStatus::Applied { .. }))
            .collect();
        let room = INTENTS_SHOWN.saturating_sub(listed.len());
        listed.extend(
            intents
                .iter()
                .rev()
                .filter(|i| matches!(i.status, store_wasm::engine::IntentStatus::Applied { .. }))
                .take(room),
        );
        listed.sort_by(|a, b| (b.created_at_ms, &b.id).cmp(&(a.created_at_ms, &a.id)));
        let shown: Vec<_> = listed
            .iter()
            .map(|i| (i.id.clone(), wording::intent_state(i)))
            .collect();
        let mut ui = self.ui.borrow_mut();
        if ui.intents == shown {
            return Ok(());
        }
        let (doc, list) = (&self.doc, &self.regions.intents);
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
        Ok(())
    }
}

/// Applied, or queued to be: nothing the cashier must act on.
fn intent_went_well(intent: &store_wasm::engine::Intent) -> bool {
    !matches!(
        intent.status,
        store_wasm::engine::IntentStatus::Rejected { .. }
    )
}
