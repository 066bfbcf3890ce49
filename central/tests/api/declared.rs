//! The endpoints declared in `shared::api` are the API: each is routed and
//! documented as declared, admits the callers it declares, and the
//! document describes nothing else.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::Value;
use shared::{
    ErrorCode,
    api::{self, Callers, ENDPOINTS},
};

use crate::helpers::*;

fn method(m: api::Method) -> Method {
    Method::from_bytes(m.as_str().as_bytes()).expect("an HTTP method")
}

/// A declared path with every parameter filled in with `value`.
fn filled(path: &str, value: &str) -> String {
    let n = path.matches('{').count();
    api::fill(path, &vec![value; n])
}

#[tokio::test]
async fn the_document_describes_every_declared_endpoint_and_nothing_else() {
    let app = TestApp::spawn().await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (verb, _) in item.as_object().expect("a path item") {
            documented.insert((verb.to_uppercase(), path.clone()));
        }
    }
    let declared: BTreeSet<_> = ENDPOINTS
        .iter()
        .map(|e| (e.method.as_str().to_owned(), e.path.to_owned()))
        .collect();
    assert_eq!(documented, declared);
    for e in ENDPOINTS {
        let operation = &doc["paths"][e.path][e.method.as_str().to_lowercase()];
        let ok = operation["responses"][e.ok.to_string()].is_object();
        assert!(
            ok,
            "{} {} documents its {}",
            e.method.as_str(),
            e.path,
            e.ok
        );
    }
}

/// Every `$ref` in `value`, with where it was found.
fn refs<'v>(value: &'v Value, at: String, found: &mut Vec<(String, &'v str)>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner.as_str()) {
                    ("$ref", Some(target)) => found.push((at.clone(), target)),
                    _ => refs(inner, format!("{at}/{key}"), found),
                }
            }
        }
        Value::Array(items) => {
            for (i, inner) in items.iter().enumerate() {
                refs(inner, format!("{at}/{i}"), found);
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn every_reference_in_the_document_resolves() {
    let app = TestApp::spawn().await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    let mut found = Vec::new();
    refs(&doc, String::new(), &mut found);
    assert!(found.len() > 50, "the document refers to its components");
    for (at, target) in found {
        let pointer = target.strip_prefix('#').expect("a local reference");
        assert!(doc.pointer(pointer).is_some(), "{at}: {target} resolves");
    }
    // The change log's entries, one named schema per kind, told apart by
    // `kind`: what client generators make types of.
    let event = &doc["components"]["schemas"]["Event"];
    assert_eq!(event["discriminator"]["propertyName"], "kind");
    assert_eq!(
        event["discriminator"]["mapping"]["stock_adjusted"],
        "#/components/schemas/StockAdjustedEvent"
    );
    let adjusted = &doc["components"]["schemas"]["StockAdjustedEvent"];
    for field in [
        "offset",
        "at",
        "kind",
        "store_id",
        "sku",
        "available",
        "version",
    ] {
        assert!(adjusted["properties"][field].is_object(), "{field}");
    }
    assert_eq!(
        event["oneOf"].as_array().map(Vec::len),
        doc["components"]["schemas"]["Change"]["oneOf"]
            .as_array()
            .map(Vec::len)
    );
}

#[tokio::test]
async fn every_declared_endpoint_is_routed_and_admits_only_its_callers() {
    let app = TestApp::spawn().await;
    app.create_channel("shop").await;
    let anonymous = reqwest::Client::new();
    let store = app.store_client("s1").await;
    let channel = app.channel_client("shop").await;
    for e in ENDPOINTS {
        let url = app.url(&filled(e.path, "s1"));
        let what = format!("{} {}", e.method.as_str(), e.path);
        let call = |client: &reqwest::Client| {
            let mut request = client.request(method(e.method), &url);
            if e.keyed {
                request = request.header("Idempotency-Key", "declared-test");
            }
            request.send()
        };
        // Routed: whoever calls, the answer is the endpoint's, never "no
        // such route" or "not that method".
        let r = call(&anonymous).await.unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or_default();
        let code = body["code"].as_str().unwrap_or_default().to_owned();
        assert!(
            code != ErrorCode::RouteNotFound.as_str()
                && code != ErrorCode::MethodNotAllowed.as_str(),
            "{what} is routed: {status} {code}"
        );
        // Anonymous callers get in only where anyone may.
        assert_eq!(
            status == 401,
            e.callers != Callers::Anyone,
            "{what}: {status} {code}"
        );

        // A store is kept out of the admins' endpoints only; the handlers
        // of the others decide what it may do there.
        let r = call(&store).await.unwrap();
        if e.callers == Callers::Admins {
            assert_eq!(r.status(), 403, "{what}: a store");
        }
        let r = call(&channel).await.unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or_default();
        let channel_refused = body["code"] == ErrorCode::ForbiddenChannel.as_str();
        let admin_refused = status == 403 && body["code"] == ErrorCode::Forbidden.as_str();
        match e.callers {
            Callers::Stores => assert!(channel_refused, "{what}: a channel: {status} {body}"),
            Callers::Admins => assert!(admin_refused, "{what}: a channel: {status} {body}"),
            Callers::Anyone | Callers::Holders => {
                assert!(
                    status != 401 && !channel_refused,
                    "{what}: a channel: {status} {body}"
                )
            }
        }
    }
}
