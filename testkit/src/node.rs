//! The store node's engine, natively, against a real central: its
//! [`Transport`] port over reqwest (what the browser does with `fetch`),
//! its clock over the system's, its storage in memory. End-to-end tests
//! drive the very engine a till runs, not a copy of its protocol.

use std::time::Duration;

use reqwest::Response;
use serde::de::DeserializeOwned;
use shared::{
    IDEMPOTENCY_KEY_HEADER, Problem,
    api::{Call, Endpoint, Method},
};
use store_wasm::engine::{
    Clock, Config, Credential, Engine, MemoryStorage, Transport, TransportError,
};

/// Central over HTTP, as the till's `HttpTransport` calls it.
pub struct NativeTransport {
    client: reqwest::Client,
    base: String,
}

impl NativeTransport {
    /// `base`: central's URL, without a trailing slash.
    pub fn new(base: &str) -> Self {
        NativeTransport {
            client: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    /// One connection per request, as through a proxy that faults whole
    /// connections ([`crate::chaos`]): a fault then strikes one request,
    /// never a pooled connection that every later request would reuse.
    pub fn unpooled(base: &str) -> Self {
        NativeTransport {
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .expect("an HTTP client"),
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// A 2xx body, or the problem central answered with; anything else (no
/// answer, or an answer not from central) is a network failure, retried.
async fn answer<T: DeserializeOwned>(
    sent: Result<Response, reqwest::Error>,
) -> Result<T, TransportError> {
    let network = |e: reqwest::Error| TransportError::Network(e.to_string());
    let response = sent.map_err(network)?;
    let status = response.status();
    if status.is_success() {
        return response.json().await.map_err(network);
    }
    let problem = response.json::<Problem>().await.ok();
    Err(TransportError::answered(status.as_u16(), problem))
}

impl Transport for NativeTransport {
    async fn call<E: Endpoint>(
        &self,
        token: Option<&str>,
        call: Call<'_, E>,
    ) -> Result<E::Response, TransportError> {
        answer(self.send(token, call).await).await
    }
}

impl NativeTransport {
    /// Sends `call` and hands back central's answer as it came.
    pub async fn send<E: Endpoint>(
        &self,
        token: Option<&str>,
        call: Call<'_, E>,
    ) -> Result<Response, reqwest::Error> {
        let method = match E::METHOD {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Patch => reqwest::Method::PATCH,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut request = self
            .client
            .request(method, self.url(&call.target()))
            .timeout(Duration::from_millis(u64::from(call.timeout_ms())));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(key) = call.key {
            request = request.header(IDEMPOTENCY_KEY_HEADER, key);
        }
        if E::HAS_BODY {
            request = request.json(call.body);
        }
        request.send().await
    }
}

/// The system's clock; jitter from the clock's nanoseconds.
#[derive(Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
    }

    fn random(&self) -> f64 {
        let nanos = time::OffsetDateTime::now_utc().nanosecond();
        f64::from(nanos % 1_000_000) / 1_000_000.0
    }
}

/// A store node as a till runs it, natively.
pub type NativeNode = Engine<MemoryStorage, NativeTransport, SystemClock>;

/// Opens a node for `store_id` on central at `base`, signing in with
/// `credential`, its storage empty (a till set up just now).
pub async fn open_node(base: &str, store_id: &str, credential: Credential) -> NativeNode {
    open_node_over(NativeTransport::new(base), store_id, credential).await
}

/// [`open_node`] over a transport of the caller's.
pub async fn open_node_over(
    transport: NativeTransport,
    store_id: &str,
    credential: Credential,
) -> NativeNode {
    Engine::open(
        MemoryStorage::default(),
        transport,
        SystemClock,
        Config::new(store_id, credential),
    )
    .await
    .expect("the node opens")
}
