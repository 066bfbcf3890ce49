//! Setting the till up and unlocking it.
//!
//! A till is set up once, online: the store id and secret are exchanged at
//! head office for the till's own credential (the secret is not kept), and
//! the cashier chooses the PIN that unlocks it. Unlocking checks that PIN
//! on the device, so a locked till opens offline, but only for the PIN: a
//! till never set up, or given a wrong PIN, opens for nobody.

use std::rc::Rc;

use shared::{EnrolRequest, ErrorCode, validate};
use store_wasm::{
    browser::{Node, enrol},
    engine::{EngineError, TransportError},
};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::spawn_local;
use web_sys::{Document, Element, Event, HtmlButtonElement, HtmlInputElement, HtmlOptionElement};

use super::kdf;
use super::{
    dom::{by_id, listen, set_text, show},
    identity::{Identity, random_salt},
};
use crate::{
    lock::{self, Unlock},
    wording,
};

/// The demo stores `central serve --demo` seeds (with the `demo` feature):
/// choosing one fills in its secret.
#[cfg(feature = "demo")]
const DEMO_STORES: [(&str, &str); 3] = [
    ("store-001", "Downtown"),
    ("store-002", "Harbourside"),
    ("store-003", "Airport"),
];
#[cfg(not(feature = "demo"))]
const DEMO_STORES: [(&str, &str); 0] = [];

fn demo_secret(store: &str) -> Option<String> {
    DEMO_STORES
        .iter()
        .any(|(id, _)| *id == store)
        .then(|| format!("demo-secret-{store}"))
}

/// Offers the demo stores in the form, the first one filled in.
fn offer_demo_stores(
    doc: &Document,
    store: &HtmlInputElement,
    secret: &HtmlInputElement,
) -> Result<(), JsValue> {
    let Some((first, _)) = DEMO_STORES.first() else {
        return Ok(());
    };
    let list: Element = by_id(doc, "demo-stores")?;
    for (id, name) in DEMO_STORES {
        let option: HtmlOptionElement = doc.create_element("option")?.dyn_into()?;
        option.set_value(id);
        option.set_text_content(Some(name));
        list.append_child(&option)?;
    }
    show(&by_id(doc, "setup-demo-hint")?, true);
    if store.value().is_empty() {
        store.set_value(first);
        secret.set_value(&demo_secret(first).unwrap_or_default());
    }
    Ok(())
}

/// What a failed enrolment means for the person setting the till up.
fn explain(error: &TransportError, url: &str) -> String {
    let central = if url.is_empty() { "this server" } else { url };
    match error {
        TransportError::Network(_) => format!(
            "Can't reach head office at {central}. Setting up a till needs head office; \
             try again when it answers."
        ),
        TransportError::Problem(p) => match p.code {
            ErrorCode::InvalidCredentials => "Wrong store id or store secret.".into(),
            ErrorCode::DeviceLimit => {
                "This store has as many tills as it may: ask head office to remove one it no \
                 longer uses."
                    .into()
            }
            ErrorCode::RateLimited => "Too many tries: wait a minute, then try again.".into(),
            _ if p.status >= 500 => "Head office could not take it just now: try again.".into(),
            _ => p.detail.clone().unwrap_or_else(|| p.title.clone()),
        },
    }
}

/// The set-up form's fields, checked before anything is sent.
struct Filled {
    central_url: String,
    request: EnrolRequest,
    pin: String,
    manager_pin: String,
}

/// The set-up form's fields.
struct Form {
    central: HtmlInputElement,
    store: HtmlInputElement,
    secret: HtmlInputElement,
    name: HtmlInputElement,
    pin: HtmlInputElement,
    again: HtmlInputElement,
    manager: HtmlInputElement,
    manager_again: HtmlInputElement,
}

impl Form {
    fn find(doc: &Document) -> Result<Form, JsValue> {
        Ok(Form {
            central: by_id(doc, "setup-central")?,
            store: by_id(doc, "setup-store")?,
            secret: by_id(doc, "setup-secret")?,
            name: by_id(doc, "setup-name")?,
            pin: by_id(doc, "setup-pin")?,
            again: by_id(doc, "setup-pin-again")?,
            manager: by_id(doc, "setup-manager-pin")?,
            manager_again: by_id(doc, "setup-manager-pin-again")?,
        })
    }
}

fn check(form: &Form) -> Result<Filled, (String, HtmlInputElement)> {
    let Form {
        central,
        store,
        secret,
        name,
        pin,
        again,
        manager,
        manager_again,
    } = form;
    let store_id = store.value().trim().to_owned();
    let mut problems = Vec::new();
    validate::identifier("store_id", &store_id, &mut problems);
    if store_id.is_empty() {
        return Err(("Type the store id.".into(), store.clone()));
    }
    if !problems.is_empty() {
        return Err((
            "A store id is letters, digits, '-', '_' or '.', like store-001.".into(),
            store.clone(),
        ));
    }
    if secret.value().is_empty() {
        return Err(("Type the store secret.".into(), secret.clone()));
    }
    let device_name = name.value().trim().to_owned();
    if device_name.is_empty() {
        return Err(("Give the till a name, like Till 1.".into(), name.clone()));
    }
    if let Some(problem) = lock::pin_problem(&pin.value()) {
        return Err((problem, pin.clone()));
    }
    if again.value() != pin.value() {
        return Err(("The two PINs differ.".into(), again.clone()));
    }
    if let Some(problem) = lock::pin_problem(&manager.value()) {
        return Err((format!("Manager PIN: {problem}"), manager.clone()));
    }
    if manager.value() == pin.value() {
        return Err((
            "The manager's PIN must differ from the till's.".into(),
            manager.clone(),
        ));
    }
    if manager_again.value() != manager.value() {
        return Err(("The two manager PINs differ.".into(), manager_again.clone()));
    }
    let origin = web_sys::window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_default();
    let url = central.value().trim().trim_end_matches('/').to_owned();
    Ok(Filled {
        central_url: if url == origin { String::new() } else { url },
        request: EnrolRequest {
            store_id,
            client_secret: secret.value(),
            device_name,
        },
        pin: pin.value(),
        manager_pin: manager.value(),
    })
}

/// Enrols the till, stores who it is, and opens its node.
async fn set_up(filled: Filled) -> Result<Node, String> {
    let no_random = "This browser gives no secure random numbers.";
    let salt = random_salt().ok_or(no_random)?;
    let manager_salt = random_salt().ok_or(no_random)?;
    let enrolled = enrol(&filled.central_url, &filled.request)
        .await
        .map_err(|e| explain(&e, &filled.central_url))?;
    let identity = Identity::new(
        filled.central_url,
        enrolled,
        kdf::new_lock(&filled.pin, salt)
            .await
            .map_err(|_| no_crypto())?,
        kdf::new_lock(&filled.manager_pin, manager_salt)
            .await
            .map_err(|_| no_crypto())?,
    );
    if !identity.save() {
        return Err(
            "This browser refused to keep the till's sign-in (is its storage full?).".into(),
        );
    }
    let node = Node::open(identity.options())
        .await
        .map_err(|e| wording::engine_error(&e))?;
    match node.sign_in().await {
        Ok(()) | Err(EngineError::Offline(_)) => Ok(node),
        Err(e) => Err(wording::engine_error(&e)),
    }
}

/// Shows the set-up form, with `notice` (why the till needs setting up
/// again) if there is one; `opened` gets the node once the till is set up.
pub fn show_setup(
    doc: &Document,
    notice: Option<&str>,
    opened: impl Fn(Node) + 'static,
) -> Result<(), JsValue> {
    let section: Element = by_id(doc, "setup")?;
    let fields = Form::find(doc)?;
    let (store, secret) = (fields.store.clone(), fields.secret.clone());
    let submit: HtmlButtonElement = by_id(doc, "setup-submit")?;
    let error: Element = by_id(doc, "setup-error")?;
    offer_demo_stores(doc, &store, &secret)?;
    set_text(&error, notice.unwrap_or_default());
    show(&section, true);
    let _ = store.focus();

    let (store_in, secret_in) = (store.clone(), secret.clone());
    listen(&store, "input", move |_: Event| {
        let typed_by_hand = !secret_in.value().is_empty()
            && !DEMO_STORES
                .iter()
                .any(|(s, _)| demo_secret(s) == Some(secret_in.value()));
        if let Some(demo) = demo_secret(&store_in.value())
            && !typed_by_hand
        {
            secret_in.set_value(&demo);
        }
    })?;

    let opened = Rc::new(opened);
    let form = by_id::<Element>(doc, "setup-form")?;
    listen(&form, "submit", move |event: Event| {
        event.prevent_default();
        let filled = match check(&fields) {
            Ok(filled) => filled,
            Err((problem, field)) => {
                set_text(&error, &problem);
                let _ = field.focus();
                return;
            }
        };
        submit.set_disabled(true);
        set_text(&error, "Setting up…");
        let (submit, error, section, secret, opened) = (
            submit.clone(),
            error.clone(),
            section.clone(),
            fields.secret.clone(),
            opened.clone(),
        );
        spawn_local(async move {
            match set_up(filled).await {
                Ok(node) => {
                    // Not kept: the till has its own credential now.
                    secret.set_value("");
                    set_text(&error, "");
                    show(&section, false);
                    opened(node);
                }
                Err(problem) => set_text(&error, &problem),
            }
            submit.set_disabled(false);
        });
    })
}

/// Shows the unlock form for the till `identity` is; `opened` gets `node`
/// once the PIN is right. The PIN is checked here, on the device.
pub fn show_unlock(
    doc: &Document,
    identity: Identity,
    node: Node,
    opened: impl Fn(Node) + 'static,
) -> Result<(), JsValue> {
    let section: Element = by_id(doc, "unlock")?;
    let pin: HtmlInputElement = by_id(doc, "unlock-pin")?;
    let error: Element = by_id(doc, "unlock-error")?;
    let who: Element = by_id(doc, "unlock-who")?;
    set_text(
        &who,
        &format!("{} of store {}", identity.device_name, identity.store_id),
    );
    show(&section, true);
    let _ = pin.focus();

    let identity = Rc::new(std::cell::RefCell::new(identity));
    let reset: HtmlButtonElement = by_id(doc, "unlock-reset")?;
    let queued = node.clone();
    listen(&reset, "click", move |_: Event| {
        let Some(window) = web_sys::window() else {
            return;
        };
        let waiting = wording::waiting(&queued.engine().intents());
        let question = format!(
            "Set this till up again? It needs head office and the store secret. This till has \
             {waiting}: that stays on it and is sent once it is set up again for the same store."
        );
        if window.confirm_with_message(&question).unwrap_or(false) {
            Identity::forget();
            let _ = window.location().reload();
        }
    })?;

    let form = by_id::<Element>(doc, "unlock-form")?;
    let opened = Rc::new(opened);
    let submit: HtmlButtonElement = by_id(doc, "unlock-submit")?;
    listen(&form, "submit", move |event: Event| {
        event.prevent_default();
        // One check at a time: each counts, and each takes a moment.
        if submit.disabled() {
            return;
        }
        submit.set_disabled(true);
        let typed = pin.value();
        pin.set_value("");
        let (identity, pin, error, section, node, opened, submit) = (
            identity.clone(),
            pin.clone(),
            error.clone(),
            section.clone(),
            node.clone(),
            opened.clone(),
            submit.clone(),
        );
        spawn_local(async move {
            let now = js_sys::Date::now() as i64;
            let mut lock = identity.borrow().pin.clone();
            let tried = kdf::try_pin(&mut lock, &typed, now).await;
            let mut held = identity.borrow_mut();
            held.pin = lock;
            submit.set_disabled(false);
            match tried {
                Unlock::Open => {
                    held.locked = false;
                    held.save();
                    drop(held);
                    set_text(&error, "");
                    show(&section, false);
                    opened(node);
                }
                refused => {
                    held.save();
                    set_text(&error, &wording::pin_refused(refused, "PIN"));
                    let _ = pin.focus();
                }
            }
        });
    })
}

fn no_crypto() -> String {
    "This browser cannot keep a PIN safely (no WebCrypto).".into()
}
