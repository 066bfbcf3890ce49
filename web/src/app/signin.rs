//! Signing the till in as a store. The credentials are remembered on the
//! device (the till is the store's device), so a reload, even offline,
//! opens the till straight from its replica.

use std::rc::Rc;

use serde::{Deserialize, Serialize};
use store_wasm::{
    browser::{Node, Options},
    engine::EngineError,
};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::spawn_local;
use web_sys::{
    Document, Element, Event, HtmlButtonElement, HtmlInputElement, HtmlOptionElement, Storage,
};

use super::dom::{by_id, listen, set_text, show};
use shared::ErrorCode;

const KEY: &str = "stockline.signin";

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
    show(&by_id(doc, "signin-demo-hint")?, true);
    if store.value().is_empty() {
        store.set_value(first);
        secret.set_value(&demo_secret(first).unwrap_or_default());
    }
    Ok(())
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// "" when the page is served by central (or proxied to it).
    pub central_url: String,
    pub store_id: String,
    pub client_secret: String,
}

fn local_storage() -> Option<Storage> {
    web_sys::window()?.local_storage().ok()?
}

impl Credentials {
    pub fn remembered() -> Option<Credentials> {
        let text = local_storage()?.get_item(KEY).ok()??;
        serde_json::from_str(&text).ok()
    }

    fn remember(&self) {
        if let (Some(storage), Ok(text)) = (local_storage(), serde_json::to_string(self)) {
            let _ = storage.set_item(KEY, &text);
        }
    }

    pub fn forget() {
        if let Some(storage) = local_storage() {
            let _ = storage.remove_item(KEY);
        }
    }

    pub fn options(&self) -> Options {
        Options {
            central_url: self.central_url.clone(),
            store_id: self.store_id.clone(),
            client_secret: self.client_secret.clone(),
            db_name: None,
            stale_after_ms: None,
        }
    }
}

/// What a failed sign-in means for the person at the till.
fn explain(error: &EngineError, url: &str) -> String {
    let central = if url.is_empty() { "this server" } else { url };
    match error {
        EngineError::Refused(p) if p.code == ErrorCode::InvalidCredentials => {
            "Wrong store id or secret.".into()
        }
        EngineError::Refused(p) if p.code == ErrorCode::TokenRevoked => {
            "This store is deactivated or its secret was changed: ask a manager.".into()
        }
        EngineError::Refused(p) => p.detail.clone().unwrap_or_else(|| p.title.clone()),
        EngineError::Offline(_) => format!(
            "Can't reach head office at {central}. A till's first sign-in needs head office."
        ),
        EngineError::Storage(_) => "This browser refused to store the till's data.".into(),
        EngineError::Invalid(reason) => reason.clone(),
    }
}

/// Shows the sign-in form; `signed_in` gets the opened node once central
/// accepted the credentials (or, offline, when this device already holds
/// the store's replica).
pub fn show_form(
    doc: &Document,
    signed_in: impl Fn(Node, Credentials) + 'static,
) -> Result<(), JsValue> {
    let section: Element = by_id(doc, "signin")?;
    let central: HtmlInputElement = by_id(doc, "signin-central")?;
    let store: HtmlInputElement = by_id(doc, "signin-store")?;
    let secret: HtmlInputElement = by_id(doc, "signin-secret")?;
    let submit: HtmlButtonElement = by_id(doc, "signin-submit")?;
    let error: Element = by_id(doc, "signin-error")?;
    offer_demo_stores(doc, &store, &secret)?;
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

    let signed_in = Rc::new(signed_in);
    let form = by_id::<Element>(doc, "signin-form")?;
    listen(&form, "submit", move |event: Event| {
        event.prevent_default();
        let origin = web_sys::window()
            .and_then(|w| w.location().origin().ok())
            .unwrap_or_default();
        let url = central.value().trim().trim_end_matches('/').to_owned();
        let credentials = Credentials {
            central_url: if url == origin { String::new() } else { url },
            store_id: store.value().trim().to_owned(),
            client_secret: secret.value(),
        };
        submit.set_disabled(true);
        set_text(&error, "Signing in…");
        let (submit, error, section, signed_in) = (
            submit.clone(),
            error.clone(),
            section.clone(),
            signed_in.clone(),
        );
        spawn_local(async move {
            match open(&credentials).await {
                Ok(node) => {
                    credentials.remember();
                    set_text(&error, "");
                    show(&section, false);
                    signed_in(node, credentials);
                }
                Err(e) => set_text(&error, &explain(&e, &credentials.central_url)),
            }
            submit.set_disabled(false);
        });
    })
}

/// Opens the store's replica and checks the credentials with central.
async fn open(credentials: &Credentials) -> Result<Node, EngineError> {
    let node = Node::open(credentials.options()).await?;
    match node.sign_in().await {
        Ok(()) => Ok(node),
        // Offline, but this device holds the store's replica: sell from it.
        Err(EngineError::Offline(_)) if node.engine().status().offset.is_some() => Ok(node),
        Err(e) => Err(e),
    }
}
