//! A real central on port 0 with a fresh SQLite file, and a client for it.
//! Built with [`TestApp::builder`] (crates.io's `TestAppBuilder` shape), or
//! with the shorthands [`TestApp::spawn`], `spawn_with`, `spawn_bare`.

use central::{
    Config, Running,
    config::{DatabaseUrl, Secret},
};

use crate::{ADMIN_KEY, OTHER_ADMIN_KEY, chaos::ChaosProxy};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use shared::{ChangesPage, Problem, Snapshot, StockLevel, api};
use tempfile::TempDir;

pub struct TestApp {
    server: Option<Running>,
    /// Where central listens; kept across a restart, so a page's origin
    /// stays the same.
    pub addr: std::net::SocketAddr,
    pub config: Config,
    pub client: reqwest::Client,
    /// The proxy in front of central, with [`TestAppBuilder::with_chaos_proxy`].
    pub chaos: Option<ChaosProxy>,
    _dir: TempDir,
}

/// One change to the configuration.
type Configure = Box<dyn FnOnce(&mut Config)>;

/// How a [`TestApp`] starts: its configuration, whether it gets the two
/// stores and two products, and a chaos proxy in front.
pub struct TestAppBuilder {
    configure: Vec<Configure>,
    seeded: bool,
    chaos: Option<u64>,
    postgres: bool,
}

impl TestAppBuilder {
    /// Changes the configuration (applied in order, after the defaults).
    pub fn configure(mut self, f: impl FnOnce(&mut Config) + 'static) -> Self {
        self.configure.push(Box::new(f));
        self
    }

    /// No stores or products.
    pub fn bare(mut self) -> Self {
        self.seeded = false;
        self
    }

    /// The ledger in a fresh PostgreSQL database instead of a SQLite file.
    pub fn with_postgres(mut self) -> Self {
        self.postgres = true;
        self
    }

    /// A [`ChaosProxy`] in front of central, its faults drawn from `seed`.
    pub fn with_chaos_proxy(mut self, seed: u64) -> Self {
        self.chaos = Some(seed);
        self
    }

    pub async fn start(self) -> TestApp {
        let configure = self.configure;
        let database_url = match self.postgres || backend_is_postgres() {
            true => Some(crate::postgres::fresh_database().await),
            false => None,
        };
        let mut app = TestApp::start_bare(database_url, move |config| {
            for f in configure {
                f(config);
            }
        })
        .await;
        if let Some(seed) = self.chaos {
            let addr = app.server.as_ref().expect("server running").addr;
            app.chaos = Some(
                ChaosProxy::start(addr, seed)
                    .await
                    .expect("the proxy starts"),
            );
        }
        if self.seeded {
            app.seed().await;
        }
        app
    }
}

impl TestApp {
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder {
            configure: Vec::new(),
            seeded: true,
            chaos: None,
            postgres: false,
        }
    }

    /// The two stores (`s1`, `s2`) and two products (`A`, `B`).
    async fn seed(&self) {
        for store in ["s1", "s2"] {
            self.create_store(store).await;
        }
        for sku in ["A", "B"] {
            self.create_product(sku).await;
        }
    }

    /// The proxy's URL for `path`: what a client behind a bad network uses.
    pub fn proxied_url(&self, path: &str) -> String {
        self.chaos.as_ref().expect("a chaos proxy").url(path)
    }

    /// A fresh central with two stores (`s1`, `s2`) and two products (`A`, `B`).
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// The default client signs in as admin with [`ADMIN_KEY`]; rate
    /// limiting is off unless a test turns it on.
    pub async fn spawn_with(configure: impl FnOnce(&mut Config)) -> TestApp {
        let app = Self::spawn_bare(configure).await;
        app.seed().await;
        app
    }

    /// A central with no stores or products yet.
    pub async fn spawn_bare(configure: impl FnOnce(&mut Config)) -> TestApp {
        let database_url = match backend_is_postgres() {
            true => Some(crate::postgres::fresh_database().await),
            false => None,
        };
        Self::start_bare(database_url, configure).await
    }

    async fn start_bare(
        database_url: Option<String>,
        configure: impl FnOnce(&mut Config),
    ) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::with_data_dir(dir.path());
        config.database_url = database_url.map(DatabaseUrl::from);
        config.admin_api_keys = vec![Secret::new(ADMIN_KEY), Secret::new(OTHER_ADMIN_KEY)];
        config.jwt_secret = Some(Secret::new(JWT_SECRET));
        config.rate_limit = false;
        configure(&mut config);
        let server = Running::start(config.clone())
            .await
            .expect("central starts");
        TestApp {
            addr: server.addr,
            server: Some(server),
            config,
            client: client_with(&[("x-api-key", ADMIN_KEY)]),
            chaos: None,
            _dir: dir,
        }
    }

    /// `path` on central, whether it is running now or not.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A URL on the operations listener (`config.ops_listen` set).
    pub fn ops_url(&self, path: &str) -> String {
        let server = self.server.as_ref().expect("server running");
        let ops = server.ops_addr.expect("an operations listener");
        format!("http://{ops}{path}")
    }

    /// Graceful stop, then a new server on the same database and address.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.start_again().await;
    }

    /// Starts central again after [`Self::stop`], on the same database and
    /// address (which may linger for a moment after the stop).
    pub async fn start_again(&mut self) {
        let started = std::time::Instant::now();
        loop {
            match Running::start_on(self.config.clone(), self.addr).await {
                Ok(server) => {
                    self.server = Some(server);
                    return;
                }
                Err(e) if started.elapsed() < std::time::Duration::from_secs(10) => {
                    eprintln!("central not up again yet: {e:#}");
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
                Err(e) => panic!("central does not start again: {e:#}"),
            }
        }
    }

    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await.expect("clean stop");
        }
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("POST")
    }

    /// Registers a store whose secret is `secret_of(store_id)`.
    pub async fn create_store(&self, store_id: &str) {
        let r = self
            .post(
                api::CreateStore::PATH,
                &json!({
                    "store_id": store_id,
                    "name": format!("Store {store_id}"),
                    "client_secret": secret_of(store_id),
                }),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
    }

    /// Signs a store in; the answer as it came.
    pub async fn sign_in(&self, client_id: &str, client_secret: &str) -> Response {
        reqwest::Client::new()
            .post(self.url(api::SignIn::PATH))
            .json(&json!({"client_id": client_id, "client_secret": client_secret}))
            .send()
            .await
            .expect("POST token")
    }

    /// A client signed in as `store_id`.
    pub async fn store_client(&self, store_id: &str) -> reqwest::Client {
        let r = self.sign_in(store_id, &secret_of(store_id)).await;
        assert_eq!(r.status(), StatusCode::OK);
        let token: shared::TokenResponse = r.json().await.expect("token");
        client_with(&[("authorization", &format!("Bearer {}", token.access_token))])
    }

    /// Enrols a device (a till) of `store_id` with the store's secret; the
    /// answer as it came.
    pub async fn enrol(&self, store_id: &str, name: &str) -> Response {
        reqwest::Client::new()
            .post(self.url(api::EnrolDevice::PATH))
            .json(&json!({
                "store_id": store_id,
                "client_secret": secret_of(store_id),
                "device_name": name,
            }))
            .send()
            .await
            .expect("POST devices")
    }

    /// Enrols a device of `store_id`; its credentials.
    pub async fn enrolled(&self, store_id: &str, name: &str) -> shared::DeviceCredentials {
        let r = self.enrol(store_id, name).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
        r.json().await.expect("device credentials")
    }

    /// Signs a device in; the answer as it came.
    pub async fn device_sign_in(&self, device_id: &str, device_secret: &str) -> Response {
        reqwest::Client::new()
            .post(self.url(api::SignIn::PATH))
            .json(&json!({"device_id": device_id, "device_secret": device_secret}))
            .send()
            .await
            .expect("POST token")
    }

    /// A client signed in as the enrolled device `device`.
    pub async fn device_client(&self, device: &shared::DeviceCredentials) -> reqwest::Client {
        let r = self
            .device_sign_in(&device.device.device_id, &device.device_secret)
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
        let token: shared::TokenResponse = r.json().await.expect("token");
        client_with(&[("authorization", &format!("Bearer {}", token.access_token))])
    }

    /// Registers a sales channel whose secret is `secret_of(channel_id)`.
    pub async fn create_channel(&self, channel_id: &str) {
        let r = self
            .post(
                api::CreateChannel::PATH,
                &json!({
                    "channel_id": channel_id,
                    "name": format!("Channel {channel_id}"),
                    "channel_secret": secret_of(channel_id),
                }),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
    }

    /// Signs a sales channel in; the answer as it came.
    pub async fn channel_sign_in(&self, channel_id: &str, secret: &str) -> Response {
        reqwest::Client::new()
            .post(self.url(api::SignIn::PATH))
            .json(&json!({"channel_id": channel_id, "channel_secret": secret}))
            .send()
            .await
            .expect("POST token")
    }

    /// A client signed in as the sales channel `channel_id`.
    pub async fn channel_client(&self, channel_id: &str) -> reqwest::Client {
        let r = self
            .channel_sign_in(channel_id, &secret_of(channel_id))
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
        let token: shared::TokenResponse = r.json().await.expect("token");
        client_with(&[("authorization", &format!("Bearer {}", token.access_token))])
    }

    pub async fn create_product(&self, sku: &str) {
        let r = self
            .post(
                api::CreateProduct::PATH,
                &json!({"sku": sku, "name": format!("Product {sku}"), "price_cents": 250}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }

    pub async fn set_stock(&self, store: &str, sku: &str, available: i64) -> StockLevel {
        let r = self
            .client
            .put(self.url(&api::fill(api::SetStock::PATH, &[store, sku])))
            .json(&json!({"available": available}))
            .send()
            .await
            .expect("PUT");
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.expect("json");
        serde_json::from_value(body["level"].clone()).expect("level")
    }

    /// A single adjustment with the given key; the response as it came.
    pub async fn adjust(&self, store: &str, key: &str, body: &Value) -> Response {
        self.client
            .post(self.url(&api::fill(api::AdjustStock::PATH, &[store])))
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .await
            .expect("POST adjustment")
    }

    pub async fn level(&self, store: &str, sku: &str) -> StockLevel {
        let r = self
            .get(&api::fill(api::GetLevel::PATH, &[store, sku]))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.expect("level")
    }

    pub async fn changes(&self, query: &str) -> ChangesPage {
        let r = self
            .get(&format!("{}?{query}", api::GetChanges::PATH))
            .await;
        assert_eq!(r.status(), StatusCode::OK, "changes?{query}");
        r.json().await.expect("changes page")
    }

    /// Starts a long-poll of `changes?{query}` in the background.
    pub fn poll(&self, query: &str) -> tokio::task::JoinHandle<Response> {
        let (client, url) = (
            self.client.clone(),
            self.url(&format!("{}?{query}", api::GetChanges::PATH)),
        );
        tokio::spawn(async move { client.get(url).send().await.expect("long-poll") })
    }

    pub async fn snapshot(&self, query: &str) -> Snapshot {
        let r = self
            .get(&format!("{}?{query}", api::GetSnapshot::PATH))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.expect("snapshot")
    }

    pub async fn head(&self) -> u64 {
        self.changes("from=0&limit=1").await.head
    }
}

pub const JWT_SECRET: &str = "test-jwt-secret-test-jwt-secret-0123456789";

/// Set to `postgres` (by `cargo xtask test`'s second run of a suite), every
/// [`TestApp`] keeps its ledger in a fresh PostgreSQL database.
pub const BACKEND_ENV: &str = "STOCKLINE_TEST_BACKEND";

/// Whether this run's [`TestApp`]s are on PostgreSQL.
pub fn backend_is_postgres() -> bool {
    std::env::var(BACKEND_ENV).is_ok_and(|b| b == "postgres")
}

pub fn secret_of(store_id: &str) -> String {
    format!("secret-of-{store_id}-0123456789")
}

pub fn client_with(headers: &[(&str, &str)]) -> reqwest::Client {
    let mut map = reqwest::header::HeaderMap::new();
    for (name, value) in headers {
        map.insert(
            reqwest::header::HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            value.parse().expect("header value"),
        );
    }
    reqwest::Client::builder()
        .default_headers(map)
        .build()
        .expect("client")
}

/// Asserts a problem+json answer with this status and code; returns it.
pub async fn problem(response: Response, status: u16, code: &str) -> Problem {
    assert_eq!(response.status().as_u16(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("problem body");
    assert_eq!(body["code"], code, "code in {body}");
    assert_eq!(body["status"], status);
    serde_json::from_value(body).expect("problem shape")
}
