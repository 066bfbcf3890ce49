//! [`Transport`] over `fetch` (gloo-net) and [`Clock`] over `Date`/`Math`.
//! Each call is aborted after its endpoint's time limit: `fetch` itself
//! never gives up on a silent network, and a hung long-poll would stall
//! syncing.

use gloo_net::http::{Request, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use shared::{
    DeviceCredentials, EnrolRequest, IDEMPOTENCY_KEY_HEADER, Problem,
    api::{self, Call, Endpoint, Method},
};

use crate::engine::{Clock, Transport, TransportError};

pub struct HttpTransport {
    /// Central's base URL, without a trailing slash ("" for same-origin).
    base: String,
}

impl HttpTransport {
    pub fn new(base: &str) -> Self {
        HttpTransport {
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Enrols this device with its store's secret: the device's own
    /// credential, shown this once. Not a port of the engine: a till is
    /// enrolled before it has a node.
    pub async fn enrol(&self, request: &EnrolRequest) -> Result<DeviceCredentials, TransportError> {
        self.call::<api::EnrolDevice>(None, Call::with(&(), request))
            .await
    }
}

/// Aborts the call after `ms` (the browser's `AbortSignal.timeout`).
fn within(request: RequestBuilder, ms: u32) -> RequestBuilder {
    let signal = web_sys::AbortSignal::timeout_with_u32(ms);
    request.abort_signal(Some(&signal))
}

fn network(e: gloo_net::Error) -> TransportError {
    TransportError::Network(e.to_string())
}

/// A 2xx body, or the problem central answered with.
async fn answer<T: DeserializeOwned>(
    response: Result<Response, gloo_net::Error>,
) -> Result<T, TransportError> {
    let response = response.map_err(network)?;
    if response.ok() {
        return response.json().await.map_err(network);
    }
    let status = response.status();
    let problem = response.json::<Problem>().await.ok();
    Err(TransportError::answered(status, problem))
}

impl Transport for HttpTransport {
    async fn call<E: Endpoint>(
        &self,
        token: Option<&str>,
        call: Call<'_, E>,
    ) -> Result<E::Response, TransportError> {
        let url = self.url(&call.target());
        let request = match E::METHOD {
            Method::Get => Request::get(&url),
            Method::Post => Request::post(&url),
            Method::Put => Request::put(&url),
            Method::Patch => Request::patch(&url),
            Method::Delete => Request::delete(&url),
        };
        let mut request = within(request, call.timeout_ms());
        if let Some(token) = token {
            request = request.header("Authorization", &format!("Bearer {token}"));
        }
        if let Some(key) = call.key {
            request = request.header(IDEMPOTENCY_KEY_HEADER, key);
        }
        let sent = if E::HAS_BODY {
            request.json(call.body).map_err(network)?.send().await
        } else {
            request.send().await
        };
        answer(sent).await
    }
}

pub struct JsClock;

impl Clock for JsClock {
    fn now_ms(&self) -> i64 {
        js_sys::Date::now() as i64
    }

    fn random(&self) -> f64 {
        js_sys::Math::random()
    }
}
