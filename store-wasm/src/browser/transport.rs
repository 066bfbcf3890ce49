//! [`Transport`] over `fetch` (gloo-net) and [`Clock`] over `Date`/`Math`.

use gloo_net::http::{Request, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use shared::{
    AdjustRequest, AdjustResult, BatchAdjustRequest, BatchAdjustResponse, ChangesPage,
    CommitHoldRequest, DeviceCredentials, EnrolRequest, Hold, IDEMPOTENCY_KEY_HEADER, Problem,
    ProductAvailability, Snapshot, TokenRequest, TokenResponse,
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

    /// Enrols this device with its store's secret (`POST /v1/devices`):
    /// the device's own credential, shown this once. Not a port of the
    /// engine: a till is enrolled before it has a node.
    pub async fn enrol(&self, request: &EnrolRequest) -> Result<DeviceCredentials, TransportError> {
        let request = within(Request::post(&self.url("/v1/devices")), CALL_TIMEOUT_MS)
            .json(request)
            .map_err(network)?;
        answer(request.send().await).await
    }
}

/// How long a call may take before the node gives up on it: `fetch` itself
/// never does on a silent network, and a hung long-poll would stall syncing.
const CALL_TIMEOUT_MS: u32 = 15_000;
/// A snapshot of a large catalogue takes longer to download.
const SNAPSHOT_TIMEOUT_MS: u32 = 120_000;

fn bearer(request: RequestBuilder, token: &str) -> RequestBuilder {
    request.header("Authorization", &format!("Bearer {token}"))
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
    async fn sign_in(&self, body: &TokenRequest) -> Result<TokenResponse, TransportError> {
        let request = within(Request::post(&self.url("/v1/auth/token")), CALL_TIMEOUT_MS)
            .json(body)
            .map_err(network)?;
        answer(request.send().await).await
    }

    async fn snapshot(&self, token: &str, store: &str) -> Result<Snapshot, TransportError> {
        let url = self.url(&format!("/v1/replication/snapshot?store={store}"));
        let request = within(bearer(Request::get(&url), token), SNAPSHOT_TIMEOUT_MS);
        answer(request.send().await).await
    }

    async fn changes(
        &self,
        token: &str,
        store: &str,
        from: u64,
        wait_s: u32,
    ) -> Result<ChangesPage, TransportError> {
        let url = self.url(&format!(
            "/v1/replication/changes?from={from}&store={store}&wait={wait_s}"
        ));
        let timeout = wait_s.saturating_mul(1000).saturating_add(CALL_TIMEOUT_MS);
        let request = within(bearer(Request::get(&url), token), timeout);
        answer(request.send().await).await
    }

    async fn adjust(
        &self,
        token: &str,
        store: &str,
        key: &str,
        request: &AdjustRequest,
    ) -> Result<AdjustResult, TransportError> {
        let url = self.url(&format!("/v1/stores/{store}/adjustments"));
        let request = within(bearer(Request::post(&url), token), CALL_TIMEOUT_MS)
            .header(IDEMPOTENCY_KEY_HEADER, key)
            .json(request)
            .map_err(network)?;
        answer(request.send().await).await
    }

    async fn adjust_batch(
        &self,
        token: &str,
        store: &str,
        request: &BatchAdjustRequest,
    ) -> Result<BatchAdjustResponse, TransportError> {
        let url = self.url(&format!("/v1/stores/{store}/adjustments/batch"));
        let request = within(bearer(Request::post(&url), token), CALL_TIMEOUT_MS)
            .json(request)
            .map_err(network)?;
        answer(request.send().await).await
    }

    async fn commit_hold(
        &self,
        token: &str,
        key: &str,
        hold_id: &str,
        request: &CommitHoldRequest,
    ) -> Result<Hold, TransportError> {
        let url = self.url(&format!("/v1/holds/{hold_id}/commit"));
        let request = within(bearer(Request::post(&url), token), CALL_TIMEOUT_MS)
            .header(IDEMPOTENCY_KEY_HEADER, key)
            .json(request)
            .map_err(network)?;
        answer(request.send().await).await
    }

    async fn release_hold(
        &self,
        token: &str,
        key: &str,
        hold_id: &str,
    ) -> Result<Hold, TransportError> {
        let url = self.url(&format!("/v1/holds/{hold_id}/release"));
        let request = within(bearer(Request::post(&url), token), CALL_TIMEOUT_MS)
            .header(IDEMPOTENCY_KEY_HEADER, key);
        answer(request.send().await).await
    }

    async fn availability(
        &self,
        token: &str,
        sku: &str,
    ) -> Result<ProductAvailability, TransportError> {
        let url = self.url(&format!("/v1/products/{sku}"));
        let request = within(bearer(Request::get(&url), token), CALL_TIMEOUT_MS);
        answer(request.send().await).await
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
