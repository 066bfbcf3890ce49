//! [`Transport`] over `fetch` (gloo-net) and [`Clock`] over `Date`/`Math`.
//! Each call is aborted after its endpoint's time limit: `fetch` itself
//! never gives up on a silent network, and a hung long-poll would stall
//! syncing.

use gloo_net::http::{Request, RequestBuilder};
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

/// What a call sends, with its types already spent: the request is built
/// and sent by one function however many endpoints there are, and only
/// encoding the body and decoding the answer are per endpoint.
struct Outgoing<'a> {
    method: Method,
    url: String,
    token: Option<&'a str>,
    key: Option<&'a str>,
    body: Option<String>,
    timeout_ms: u32,
}

/// Sends `out`: the 2xx answer's text, or the problem central answered
/// with.
async fn send(out: Outgoing<'_>) -> Result<String, TransportError> {
    let request = match out.method {
        Method::Get => Request::get(&out.url),
        Method::Post => Request::post(&out.url),
        Method::Put => Request::put(&out.url),
        Method::Patch => Request::patch(&out.url),
        Method::Delete => Request::delete(&out.url),
    };
    let mut request = within(request, out.timeout_ms);
    if let Some(token) = out.token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    if let Some(key) = out.key {
        request = request.header(IDEMPOTENCY_KEY_HEADER, key);
    }
    let sent = match out.body {
        Some(body) => {
            request = request.header("Content-Type", "application/json");
            request.body(body).map_err(network)?.send().await
        }
        None => request.send().await,
    };
    let response = sent.map_err(network)?;
    let text = response.text().await.map_err(network)?;
    if response.ok() {
        return Ok(text);
    }
    let problem = serde_json::from_str::<Problem>(&text).ok();
    Err(TransportError::answered(response.status(), problem))
}

impl Transport for HttpTransport {
    async fn call<E: Endpoint>(
        &self,
        token: Option<&str>,
        call: Call<'_, E>,
    ) -> Result<E::Response, TransportError> {
        let body = match E::HAS_BODY {
            true => Some(serde_json::to_string(call.body).map_err(encoding)?),
            false => None,
        };
        let text = send(Outgoing {
            method: E::METHOD,
            url: self.url(&call.target()),
            token,
            key: call.key,
            body,
            timeout_ms: call.timeout_ms(),
        })
        .await?;
        serde_json::from_str(&text).map_err(encoding)
    }
}

/// An answer that is not what the endpoint declares (or a body that would
/// not encode): no usable answer, as a network failure is.
fn encoding(e: serde_json::Error) -> TransportError {
    TransportError::Network(e.to_string())
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
