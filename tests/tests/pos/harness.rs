//! What the POS tests stand on: a real central (in this process, on a fixed
//! port so a restart keeps the page's origin, with a real SQLite file)
//! serving the page trunk built, and real Chromium sessions driven over
//! WebDriver by Debian's chromedriver.

use std::os::unix::process::CommandExt;
use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use shared::api;
use testkit::TestApp;

pub const SECRET: &str = "pos-test-secret-0123456789";
/// The PIN every test till is set up with.
pub const PIN: &str = "2580";
/// The manager's PIN of every test till.
pub const MANAGER_PIN: &str = "8642";
/// Long enough for a till to come back through its retry back-off.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Set by `cargo xtask test` after `trunk build --release`.
fn dist() -> PathBuf {
    match std::env::var_os("STOCKLINE_WEB_DIST") {
        Some(dir) => PathBuf::from(dir),
        None => panic!(
            "STOCKLINE_WEB_DIST is unset: run through `cargo xtask test`, which builds the page"
        ),
    }
}

/// A key no other write of this test run uses.
fn unique_key(prefix: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{prefix}-{}-{nanos}-{n}", std::process::id())
}

/// Central (the test kit's, on SQLite) serving the page: stoppable and
/// restartable on the same address, so the page's origin stays, and the
/// same database.
pub struct Central {
    app: TestApp,
    /// The admin's client.
    pub http: reqwest::Client,
}

impl Central {
    pub async fn start() -> Central {
        let app = TestApp::builder()
            .bare()
            .configure(|c| c.web_dir = Some(dist()))
            .start()
            .await;
        Central {
            http: app.client.clone(),
            app,
        }
    }

    pub fn url(&self, path: &str) -> String {
        self.app.url(path)
    }

    /// Graceful stop, as on SIGTERM: the tills see central gone.
    pub async fn down(&mut self) {
        self.app.stop().await;
    }

    /// Starts again on the same address and database.
    pub async fn up(&mut self) {
        self.app.start_again().await;
    }

    pub async fn admin(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let url = self.url(path);
        let request = match method {
            "POST" => self.http.post(url).json(&body),
            "PUT" => self.http.put(url).json(&body),
            _ => self.http.get(url),
        };
        let response = request.send().await.expect("central answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A store with `SECRET`, and products at the given stock in it.
    pub async fn seed(&self, store: &str, products: &[(&str, &str, i64)]) {
        let body =
            json!({"store_id": store, "name": format!("Store {store}"), "client_secret": SECRET});
        assert_eq!(
            self.admin("POST", api::CreateStore::PATH, body).await.0,
            201
        );
        for (sku, name, stock) in products {
            let product = json!({"sku": sku, "name": name, "price_cents": 250});
            assert_eq!(
                self.admin("POST", api::CreateProduct::PATH, product)
                    .await
                    .0,
                201
            );
            let path = api::fill(api::SetStock::PATH, &[store, sku]);
            assert_eq!(
                self.admin("PUT", &path, json!({"available": stock}))
                    .await
                    .0,
                200
            );
        }
    }

    pub async fn level(&self, store: &str, sku: &str) -> i64 {
        let path = api::fill(api::GetLevel::PATH, &[store, sku]);
        let (_, level) = self.admin("GET", &path, Value::Null).await;
        level["available"].as_i64().expect("a level")
    }

    /// A sale made elsewhere (another system, straight to central).
    pub async fn sell_elsewhere(&self, store: &str, sku: &str, quantity: i64) {
        let response = self
            .http
            .post(self.url(&api::fill(api::AdjustStock::PATH, &[store])))
            .header("Idempotency-Key", unique_key("elsewhere"))
            .json(&json!({"sku": sku, "delta": -quantity}))
            .send()
            .await
            .expect("central answers");
        assert_eq!(response.status(), 200, "the sale elsewhere");
    }

    /// How many events of the change log carry `key`: exactly-once means 1.
    pub async fn events_with_key(&self, store: &str, key: &str) -> usize {
        self.events_of(store, key).await.len()
    }

    /// The store's events in the change log (its first 1,000).
    async fn events(&self, store: &str) -> Vec<Value> {
        let path = format!("{}?from=0&limit=1000&store={store}", api::GetChanges::PATH);
        let (_, page) = self.admin("GET", &path, Value::Null).await;
        page["events"].as_array().expect("events").clone()
    }

    /// The events of the change log that carry `key`.
    pub async fn events_of(&self, store: &str, key: &str) -> Vec<Value> {
        let events = self.events(store).await;
        events
            .into_iter()
            .filter(|e| e["idempotency_key"] == key)
            .collect()
    }

    /// The reasons central recorded on the store's stock events, in order.
    pub async fn reasons(&self, store: &str) -> Vec<String> {
        let events = self.events(store).await;
        events
            .iter()
            .filter_map(|e| e["reason"].as_str().map(str::to_owned))
            .collect()
    }

    /// The store's devices (tills), as an admin lists them.
    pub async fn devices(&self, store: &str) -> Vec<Value> {
        let path = api::fill(api::ListDevices::PATH, &[store]);
        let (status, devices) = self.admin("GET", &path, Value::Null).await;
        assert_eq!(status, 200);
        devices.as_array().expect("devices").clone()
    }

    /// Registers the web shop as a sales channel and signs it in: a client
    /// that holds stock as the shop does.
    pub async fn web_shop(&self) -> reqwest::Client {
        let body = json!({"channel_id": "web", "name": "Web shop", "channel_secret": SECRET});
        assert_eq!(
            self.admin("POST", api::CreateChannel::PATH, body).await.0,
            201
        );
        let token: Value = self
            .app
            .channel_sign_in("web", SECRET)
            .await
            .json()
            .await
            .expect("a token");
        let bearer = format!("Bearer {}", token["access_token"].as_str().expect("token"));
        testkit::client_with(&[("authorization", &bearer)])
    }

    /// The shop holds `quantity` of `sku` at `store` for order `reference`
    /// (click and collect) for `ttl_seconds`; the hold's id.
    pub async fn hold_for_pickup(
        &self,
        shop: &reqwest::Client,
        store: &str,
        reference: &str,
        sku: &str,
        quantity: i64,
        ttl_seconds: u32,
    ) -> String {
        let body = json!({
            "reference": reference,
            "ttl_seconds": ttl_seconds,
            "lines": [{"sku": sku, "quantity": quantity, "store_id": store}],
        });
        let response = shop
            .post(self.url(api::PlaceHold::PATH))
            .header("Idempotency-Key", unique_key("hold"))
            .json(&body)
            .send()
            .await
            .expect("central answers");
        assert_eq!(response.status(), 201, "the hold is placed");
        let hold: Value = response.json().await.expect("a hold");
        hold["hold_id"].as_str().expect("an id").to_owned()
    }

    /// A hold as central keeps it, asked by the shop.
    pub async fn hold(&self, shop: &reqwest::Client, hold_id: &str) -> Value {
        let response = shop
            .get(self.url(&api::fill(api::GetHold::PATH, &[hold_id])))
            .send()
            .await
            .expect("central answers");
        assert_eq!(response.status(), 200);
        response.json().await.expect("a hold")
    }

    /// The store's events of `kind` in the change log.
    pub async fn events_of_kind(&self, store: &str, kind: &str) -> Vec<Value> {
        let events = self.events(store).await;
        events.into_iter().filter(|e| e["kind"] == kind).collect()
    }

    /// Revokes a device, as an admin does for a till lost or replaced.
    pub async fn revoke(&self, device_id: &str) {
        let path = api::fill(api::RevokeDevice::PATH, &[device_id]);
        assert_eq!(self.admin("POST", &path, json!({})).await.0, 200);
    }
}

/// Debian's chromedriver on a free port, killed with the test.
pub struct Driver {
    child: Child,
    pub url: String,
}

impl Driver {
    pub async fn start() -> Driver {
        let port = testkit::free_port().expect("a free port");
        let binary =
            std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        // A group of its own: the browsers it starts are in it, and go
        // with it (killing chromedriver alone leaves them running).
        let child = Command::new(&binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {binary}: {e} (cargo xtask test installs it)"));
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while reqwest::get(format!("{url}/status")).await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Driver { child, url }
    }

    /// A new browser, with a profile of its own: another till.
    pub async fn till(&self) -> Till {
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync", "--no-first-run",
                         "--window-size=1280,900"]
            }
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("an object literal")
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a browser session");
        Till { client }
    }
}

impl Driver {
    /// Chromedriver's process id, which is also its process group's (the
    /// page benchmark measures that group's renderers).
    #[allow(dead_code)]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole group: chromedriver and every browser it started, even
        // one a failed test left spinning. Not `kill -KILL -<pgid>`: Debian's
        // procps-ng 4.0.2 misreads a negative id and sent SIGKILL to every
        // process on the machine (kill(-1)).
        if let Ok(group) = libc::pid_t::try_from(self.child.id())
            && group > 1
        {
            // SAFETY: kill(2) takes no pointers; a negative id names the
            // group chromedriver leads (it was started with process_group(0)).
            unsafe {
                libc::kill(-group, libc::SIGKILL);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser: a till, as a cashier sees it.
pub struct Till {
    pub client: Client,
}

impl Till {
    pub async fn css(&self, selector: &str) -> Element {
        let found = self
            .client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(selector))
            .await;
        match found {
            Ok(element) => element,
            Err(e) => {
                let shot = self.screenshot("failure").await;
                panic!("no {selector} on the page ({e}); see {}", shot.display())
            }
        }
    }

    /// An attribute of the first element matching `selector`, found again
    /// if the page redrew it meanwhile (a live list does).
    pub async fn attr(&self, selector: &str, name: &str) -> String {
        let started = Instant::now();
        loop {
            if let Ok(Some(value)) = self.css(selector).await.attr(name).await {
                return value;
            }
            assert!(started.elapsed() < PATIENCE, "no {name} on {selector}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn text(&self, selector: &str) -> String {
        match self.client.find(Locator::Css(selector)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    pub async fn visible(&self, selector: &str) -> bool {
        match self.client.find(Locator::Css(selector)).await {
            Ok(e) => e.is_displayed().await.unwrap_or(false),
            Err(_) => false,
        }
    }

    /// Waits until `selector`'s text contains `wanted`.
    pub async fn until_text(&self, selector: &str, wanted: &str) -> String {
        self.until(selector, wanted, |text| text.contains(wanted))
            .await
    }

    /// Waits until `selector`'s text satisfies `ok` (`wanted` says what for
    /// the failure message).
    async fn until(&self, selector: &str, wanted: &str, ok: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let text = self.text(selector).await;
            if ok(&text) {
                return text;
            }
            if started.elapsed() > PATIENCE {
                let shot = self.screenshot("failure").await;
                panic!(
                    "{selector} never said “{wanted}”; it says “{text}” (see {})",
                    shot.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs a script; `arguments[0]` is the callback of an async one.
    pub async fn eval(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .expect("script runs")
    }

    pub async fn eval_async(&self, script: &str) -> Value {
        self.client
            .execute_async(script, vec![])
            .await
            .expect("script runs")
    }

    /// Opens the page and sets the till up for `store` (its secret, the
    /// PIN [`PIN`]): the till opens, online.
    pub async fn sign_in(&self, central: &Central, store: &str) {
        self.client
            .goto(&central.url("/"))
            .await
            .expect("page loads");
        self.set_up(store, SECRET).await;
        self.css("#till:not([hidden])").await;
        self.until_text("#status", "Online").await;
    }

    /// Fills the set-up form in (store id, secret, PIN twice) and sends it.
    pub async fn set_up(&self, store: &str, secret: &str) {
        // Shown, not merely there: a page still starting its wasm would
        // drop what is typed into a form it has not shown yet.
        self.css("#setup:not([hidden])").await;
        self.fill("#setup-store", store).await;
        self.fill("#setup-secret", secret).await;
        self.fill("#setup-pin", PIN).await;
        self.fill("#setup-pin-again", PIN).await;
        self.fill("#setup-manager-pin", MANAGER_PIN).await;
        self.fill("#setup-manager-pin-again", MANAGER_PIN).await;
        self.css("#setup-submit")
            .await
            .click()
            .await
            .expect("submit");
    }

    /// Types `text` into the field `selector`, emptied first.
    pub async fn fill(&self, selector: &str, text: &str) {
        let field = self.css(selector).await;
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect("type");
    }

    /// Locks the till ("Lock"): the unlock form shows.
    pub async fn lock(&self) {
        self.css("#sign-out").await.click().await.expect("Lock");
        self.css("#unlock:not([hidden])").await;
    }

    /// Types a PIN into the unlock form and sends it, once the check of
    /// the one before is done (one at a time, each counts).
    pub async fn unlock(&self, pin: &str) {
        self.css("#unlock-submit:not([disabled])").await;
        self.fill("#unlock-pin", pin).await;
        self.css("#unlock-submit")
            .await
            .click()
            .await
            .expect("Unlock");
    }

    /// Clears the search box with Esc, as a cashier does, and types
    /// `query` (as a scanner would, without Enter).
    pub async fn search(&self, query: &str) {
        let search = self.css("#search").await;
        let keys = format!("{}{query}", fantoccini::key::Key::Escape);
        search.send_keys(&keys).await.expect("type");
    }

    /// Sets a row's quantity and presses one of its buttons.
    pub async fn act(&self, sku: &str, quantity: u32, action: &str) {
        let row = format!("tr[data-sku='{sku}']");
        let input = self.css(&format!("{row} input[data-qty]")).await;
        input.clear().await.expect("clear");
        input.send_keys(&quantity.to_string()).await.expect("type");
        self.css(&format!("{row} button[data-action='{action}']"))
            .await
            .click()
            .await
            .expect("click");
    }

    /// Sells more of `sku` than the till shows in stock: the till warns
    /// first, and sells on the second press.
    pub async fn sell_anyway(&self, sku: &str, quantity: u32) {
        self.act(sku, quantity, "sell").await;
        self.until_text(
            "#message",
            &format!("Press Sell again to sell {quantity} anyway"),
        )
        .await;
        self.css(&format!("tr[data-sku='{sku}'] button[data-action='sell']"))
            .await
            .click()
            .await
            .expect("click again");
    }

    /// Waits until the row of `sku` shows exactly `wanted` as its stock.
    pub async fn until_stock(&self, sku: &str, wanted: &str) {
        let selector = format!("tr[data-sku='{sku}'] td.stock .figure");
        self.until(&selector, wanted, |text| text == wanted).await;
    }

    /// Types a sku and Enter into the search box, as a barcode scanner does.
    pub async fn scan(&self, sku: &str) {
        self.search(&format!("{sku}{}", fantoccini::key::Key::Enter))
            .await;
    }

    /// A scanner's keystrokes, a code and Enter, into whatever the search
    /// box holds now: no Esc first, as a real scanner never sends one.
    pub async fn scan_as_is(&self, code: &str) {
        let search = self.css("#search").await;
        let keys = format!("{code}{}", fantoccini::key::Key::Enter);
        search.send_keys(&keys).await.expect("type");
    }

    /// Makes the page's viewport (the screen, as CSS sees it) `width` ×
    /// `height` CSS pixels: the window is set larger by whatever the
    /// browser's own frame takes (headless Chromium has one, ~140 px high).
    /// The browser resizes in its own time: its size is read until it holds.
    pub async fn set_viewport(&self, width: u32, height: u32) {
        let wanted = (i64::from(width), i64::from(height));
        let (mut outer_w, mut outer_h) = wanted;
        for _ in 0..10 {
            let (w, h) = (outer_w.max(1) as u32, outer_h.max(1) as u32);
            self.client
                .set_window_size(w, h)
                .await
                .expect("window size");
            let mut inner = (0, 0);
            for _ in 0..10 {
                tokio::time::sleep(Duration::from_millis(50)).await;
                let size = self.eval("return [innerWidth, innerHeight];").await;
                let now = (size[0].as_i64().unwrap_or(0), size[1].as_i64().unwrap_or(0));
                if now == inner {
                    break;
                }
                inner = now;
            }
            if inner == wanted {
                return;
            }
            outer_w += wanted.0 - inner.0;
            outer_h += wanted.1 - inner.1;
        }
        panic!("the viewport does not come to {width}×{height}");
    }

    /// Whether the element matching `selector` is shown and lies wholly
    /// within the viewport (no scrolling needed to see it).
    pub async fn in_view(&self, selector: &str) -> bool {
        let script = format!(
            "const e = document.querySelector({selector:?});
             if (!e) return false;
             const r = e.getBoundingClientRect();
             const root = document.documentElement;
             return r.width > 0 && r.height > 0 && r.top >= 0 && r.left >= 0
               && r.bottom <= root.clientHeight && r.right <= root.clientWidth;"
        );
        self.eval(&script).await == Value::Bool(true)
    }

    /// What overflows sideways, if anything: the page itself, or a panel
    /// of it that would need a horizontal scrollbar. `None` when all fits.
    pub async fn horizontal_overflow(&self) -> Option<String> {
        let found = self
            .eval(
                "const wide = [];
                 const root = document.documentElement;
                 if (root.scrollWidth > root.clientWidth)
                   wide.push(`the page: ${root.scrollWidth} px in ${root.clientWidth}`);
                 for (const e of document.querySelectorAll('#till *')) {
                   // Hidden, a text field (its text scrolls in it), or a
                   // 1 px box for screen readers only: nothing to see.
                   if (e.offsetParent === null || e.tagName === 'INPUT') continue;
                   if (e.scrollWidth > e.clientWidth + 1 && e.clientWidth > 1
                       && getComputedStyle(e).overflowX !== 'visible')
                     wide.push(`${e.tagName.toLowerCase()}#${e.id}.${e.className}: `
                       + `${e.scrollWidth} px in ${e.clientWidth}`);
                 }
                 return wide.join('; ');",
            )
            .await;
        match found.as_str() {
            Some("") => None,
            Some(said) => Some(said.to_owned()),
            None => Some(format!("no answer: {found}")),
        }
    }

    /// The element that has focus: `{tag, id, action, line, dismiss, sku}`
    /// (`tag` is "body" when focus fell to the page).
    pub async fn focused(&self) -> Value {
        self.eval(
            "const e = document.activeElement || document.body;
             const up = (a) => e.closest(`[${a}]`)?.getAttribute(a) ?? null;
             return {tag: e.tagName.toLowerCase(), id: e.id || null,
                     action: e.getAttribute('data-action'), line: up('data-line'),
                     dismiss: e.getAttribute('data-dismiss'), sku: up('data-sku')};",
        )
        .await
    }

    /// Saves a screenshot under `tests/artifacts/` for a person to look at.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("artifacts");
        std::fs::create_dir_all(&dir).expect("artifacts dir");
        let path = dir.join(format!("{name}.png"));
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(&path, png).expect("write screenshot");
        path
    }
}
