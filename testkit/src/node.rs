//! The store node's engine, natively, against a real central: its
//! [`Transport`] port over reqwest (what the browser does with `fetch`),
//! its clock over the system's, its storage in memory. End-to-end tests
//! drive the very engine a till runs, not a copy of its protocol.

use std::time::Duration;

use reqwest::Response;
use serde::de::DeserializeOwned;
use shared::{
    AdjustRequest, AdjustResult, BatchAdjustRequest, BatchAdjustResponse, ChangesPage,
    CommitHoldRequest, Hold, IDEMPOTENCY_KEY_HEADER, Problem, ProductAvailability, Snapshot,
    TokenRequest, TokenResponse,
};
use store_wasm::engine::{
    Clock, Config, Credential, Engine, MemoryStorage, Transport, TransportError,
};

/// How long a call may take; a long-poll gets its wait on top.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

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
    async fn sign_in(&self, request: &TokenRequest) -> Result<TokenResponse, TransportError> {
        let sent = self
            .client
            .post(self.url("/v1/auth/token"))
            .timeout(CALL_TIMEOUT)
            .json(request)
            .send()
            .await;
        answer(sent).await
    }

    async fn snapshot(&self, token: &str, store: &str) -> Result<Snapshot, TransportError> {
        let sent = self
            .client
            .get(self.url(&format!("/v1/replication/snapshot?store={store}")))
            .bearer_auth(token)
            .timeout(CALL_TIMEOUT * 8)
            .send()
            .await;
        answer(sent).await
    }

    async fn changes(
        &self,
        token: &str,
        store: &str,
        from: u64,
        wait_s: u32,
    ) -> Result<ChangesPage, TransportError> {
        let path = format!("/v1/replication/changes?store={store}&from={from}&wait={wait_s}");
        let sent = self
            .client
            .get(self.url(&path))
            .bearer_auth(token)
            .timeout(CALL_TIMEOUT + Duration::from_secs(u64::from(wait_s)))
            .send()
            .await;
        answer(sent).await
    }

    async fn adjust(
        &self,
        token: &str,
        store: &str,
        key: &str,
        request: &AdjustRequest,
    ) -> Result<AdjustResult, TransportError> {
        let sent = self
            .client
            .post(self.url(&format!("/v1/stores/{store}/adjustments")))
            .bearer_auth(token)
            .header(IDEMPOTENCY_KEY_HEADER, key)
            .timeout(CALL_TIMEOUT)
            .json(request)
            .send()
            .await;
        answer(sent).await
    }

    async fn adjust_batch(
        &self,
        token: &str,
        store: &str,
        request: &BatchAdjustRequest,
    ) -> Result<BatchAdjustResponse, TransportError> {
        let sent = self
            .client
            .post(self.url(&format!("/v1/stores/{store}/adjustments/batch")))
            .bearer_auth(token)
            .timeout(CALL_TIMEOUT)
            .json(request)
            .send()
            .await;
        answer(sent).await
    }

    async fn commit_hold(
        &self,
        token: &str,
        key: &str,
        hold_id: &str,
        request: &CommitHoldRequest,
    ) -> Result<Hold, TransportError> {
        let sent = self
            .client
            .post(self.url(&format!("/v1/holds/{hold_id}/commit")))
            .bearer_auth(token)
            .header(IDEMPOTENCY_KEY_HEADER, key)
            .timeout(CALL_TIMEOUT)
            .json(request)
            .send()
            .await;
        answer(sent).await
    }

    async fn release_hold(
        &self,
        token: &str,
        key: &str,
        hold_id: &str,
    ) -> Result<Hold, TransportError> {
        let sent = self
            .client
            .post(self.url(&format!("/v1/holds/{hold_id}/release")))
            .bearer_auth(token)
            .header(IDEMPOTENCY_KEY_HEADER, key)
            .timeout(CALL_TIMEOUT)
            .send()
            .await;
        answer(sent).await
    }

    async fn availability(
        &self,
        token: &str,
        sku: &str,
    ) -> Result<ProductAvailability, TransportError> {
        let sent = self
            .client
            .get(self.url(&format!("/v1/products/{sku}")))
            .bearer_auth(token)
            .timeout(CALL_TIMEOUT)
            .send()
            .await;
        answer(sent).await
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
