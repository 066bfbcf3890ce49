//! A few helpers over web-sys. The page's markup is static HTML (so the
//! service worker can serve it offline); Rust fills in text and rows, and
//! listens once per region (event delegation), never once per row.

use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use web_sys::{Document, Element, Event, EventTarget};

pub fn document() -> Result<Document, JsValue> {
    web_sys::window()
        .and_then(|w| w.document())
        .ok_or_else(|| JsValue::from_str("no document"))
}

/// The element with `id`, as `T`; the page's markup must have it.
pub fn by_id<T: JsCast>(doc: &Document, id: &str) -> Result<T, JsValue> {
    doc.get_element_by_id(id)
        .ok_or_else(|| JsValue::from_str(&format!("the page has no #{id}")))?
        .dyn_into::<T>()
        .map_err(|_| JsValue::from_str(&format!("#{id} is not the expected element")))
}

/// A new `<tag class="…">`, with text if any.
pub fn el(doc: &Document, tag: &str, class: &str, text: &str) -> Result<Element, JsValue> {
    let e = doc.create_element(tag)?;
    if !class.is_empty() {
        e.set_class_name(class);
    }
    if !text.is_empty() {
        e.set_text_content(Some(text));
    }
    Ok(e)
}

/// Appends `child` to `parent`; returns the child.
pub fn add(parent: &Element, child: Element) -> Result<Element, JsValue> {
    parent.append_child(&child)?;
    Ok(child)
}

/// Sets text only when it changed: no needless layout, and screen readers
/// in live regions hear only real news.
pub fn set_text(e: &Element, text: &str) {
    if e.text_content().as_deref() != Some(text) {
        e.set_text_content(Some(text));
    }
}

pub fn show(e: &Element, visible: bool) {
    if e.has_attribute("hidden") == visible {
        let _ = e.toggle_attribute_with_force("hidden", !visible);
    }
}

/// A button, labelled for screen readers when its text alone is ambiguous
/// ("Sell" in every row).
pub fn button(doc: &Document, text: &str, action: &str, label: &str) -> Result<Element, JsValue> {
    let b = el(doc, "button", "", text)?;
    b.set_attribute("type", "button")?;
    b.set_attribute("data-action", action)?;
    b.set_attribute("aria-label", label)?;
    Ok(b)
}

/// Scrolls `e` into view as little as needed (not at all when it is in
/// view already): what was asked for shows without the page jumping.
pub fn bring_into_view(e: &Element) {
    let options = web_sys::ScrollIntoViewOptions::new();
    options.set_block(web_sys::ScrollLogicalPosition::Nearest);
    e.scroll_into_view_with_scroll_into_view_options(&options);
}

/// Focuses `e` without the browser's own scroll (which puts it at the
/// top of the screen); pair with [`bring_into_view`].
pub fn focus_in_place(e: &web_sys::HtmlElement) {
    let options = web_sys::FocusOptions::new();
    options.set_prevent_scroll(true);
    let _ = e.focus_with_options(&options);
}

/// Runs `f` on every `event` at `target`, for the page's lifetime.
pub fn listen<E: JsCast + 'static>(
    target: &EventTarget,
    event: &str,
    mut f: impl FnMut(E) + 'static,
) -> Result<(), JsValue> {
    let closure = Closure::<dyn FnMut(Event)>::new(move |e: Event| {
        if let Ok(e) = e.dyn_into::<E>() {
            f(e);
        }
    });
    target.add_event_listener_with_callback(event, closure.as_ref().unchecked_ref())?;
    // Listeners on the page's static regions live as long as the page.
    closure.forget();
    Ok(())
}

/// The element under an event that carries `attr`, and the attribute.
pub fn closest_with(event: &Event, attr: &str) -> Option<(Element, String)> {
    let target = event.target()?.dyn_into::<Element>().ok()?;
    let found = target.closest(&format!("[{attr}]")).ok()??;
    let value = found.get_attribute(attr)?;
    Some((found, value))
}

/// Local wall-clock time of `ms` since the epoch, as "14:03:12".
pub fn clock_time(ms: i64) -> String {
    let date = js_sys::Date::new(&JsValue::from_f64(ms as f64));
    format!(
        "{:02}:{:02}:{:02}",
        date.get_hours(),
        date.get_minutes(),
        date.get_seconds()
    )
}
