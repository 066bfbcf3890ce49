//! Credentials an attacker would try: secrets too short to be keys, admin
//! tokens that outlive their key, a bad credential beside a good one,
//! guessing at full speed, and a store reaching past its own data.

use std::time::Duration;

use central::{Config, Running, config::Secret};
use serde_json::{Value, json};
use shared::TokenResponse;

use crate::helpers::{
    ADMIN_KEY, JWT_SECRET, OTHER_ADMIN_KEY, TestApp, client_with, problem, secret_of,
};

fn config_in(dir: &std::path::Path) -> Config {
    let mut config = Config::with_data_dir(dir);
    config.admin_api_keys = vec![Secret::new(ADMIN_KEY)];
    config.rate_limit = false;
    config
}

async fn refused_start(config: Config) -> String {
    match Running::start(config).await {
        Ok(_) => panic!("central started"),
        Err(error) => format!("{error:#}"),
    }
}

#[cfg(unix)]
fn write_secret_file(dir: &std::path::Path, contents: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("jwt-secret");
    std::fs::write(&path, contents).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A secret file a crash left empty was once used as an empty HMAC key: a
/// token anyone can sign opened admin routes. Now no source of a short
/// secret starts central.
#[cfg(unix)]
#[tokio::test]
async fn a_short_or_empty_signing_secret_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    for contents in ["", "   \n", "31-bytes-is-one-byte-too-short"] {
        write_secret_file(dir.path(), contents, 0o600);
        let error = refused_start(config_in(dir.path())).await;
        assert!(error.contains("at least 32"), "{error}");
    }
    write_secret_file(dir.path(), JWT_SECRET, 0o644);
    let error = refused_start(config_in(dir.path())).await;
    assert!(error.contains("0644"), "others may read it: {error}");

    let mut configured = config_in(tempfile::tempdir().unwrap().path());
    configured.jwt_secret = Some(Secret::new("short"));
    let error = refused_start(configured).await;
    assert!(error.contains("at least 32"), "{error}");

    // A fresh directory gets a whole secret, private, and starts.
    let fresh = tempfile::tempdir().unwrap();
    let server = Running::start(config_in(fresh.path())).await.unwrap();
    let kept = std::fs::read_to_string(fresh.path().join("jwt-secret")).unwrap();
    assert_eq!(kept.len(), 64);
    server.stop().await.unwrap();
}

/// `STOCKLINE_ADMIN_API_KEYS="key,"` once configured an empty key, which
/// `X-API-Key:` with no value matched.
#[tokio::test]
async fn short_or_empty_admin_keys_refuse_to_start() {
    for keys in [
        vec!["".to_owned()],
        vec![ADMIN_KEY.to_owned(), String::new()],
        vec!["short-key".into()],
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config_in(dir.path());
        config.admin_api_keys = keys.iter().map(Secret::new).collect();
        let error = refused_start(config).await;
        assert!(
            error.contains("at least 32 are needed"),
            "{keys:?}: {error}"
        );
    }
}

async fn admin_token(app: &TestApp, key: &str) -> String {
    let r = reqwest::Client::new()
        .post(app.url("/v1/auth/token"))
        .json(&json!({"api_key": key}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<TokenResponse>().await.unwrap().access_token
}

fn bearer(token: &str) -> reqwest::Client {
    client_with(&[("authorization", &format!("Bearer {token}"))])
}

/// A leaked key is removed from the configuration and central restarted:
/// the admin tokens minted with it die with it; the other key's live on.
#[tokio::test]
async fn an_admin_token_dies_with_its_key() {
    let mut app = TestApp::spawn().await;
    let leaked = admin_token(&app, ADMIN_KEY).await;
    let kept = admin_token(&app, OTHER_ADMIN_KEY).await;
    let stores = |token: &str| bearer(token).get(app.url("/v1/admin/stores")).send();
    assert_eq!(stores(&leaked).await.unwrap().status(), 200);

    app.config.admin_api_keys = vec![Secret::new(OTHER_ADMIN_KEY)];
    app.restart().await;
    let stores = |token: &str| bearer(token).get(app.url("/v1/admin/stores")).send();
    problem(stores(&leaked).await.unwrap(), 401, "token_revoked").await;
    assert_eq!(stores(&kept).await.unwrap().status(), 200);

    // An admin token that names no key (as every token did before) is
    // refused too, however well signed.
    let now = jsonwebtoken::get_current_timestamp();
    let claims = json!({"sub": "admin:key-x", "role": "admin", "iss": "stockline-central",
                        "iat": now, "exp": now + 300});
    let unnamed = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap();
    problem(stores(&unnamed).await.unwrap(), 401, "token_revoked").await;
}

/// An OpenAPI fuzzer found every route taking a request with a bogus
/// bearer token beside a valid API key. Every credential must be valid, and
/// all must name one caller.
#[tokio::test]
async fn any_invalid_credential_refuses_the_request() {
    let app = TestApp::spawn().await;
    let s1 = app.sign_in("s1", &secret_of("s1")).await;
    let s1 = s1.json::<TokenResponse>().await.unwrap().access_token;
    let s1_bearer = format!("Bearer {s1}");
    let get = |headers: Vec<(&'static str, String)>| {
        let mut request = reqwest::Client::new().get(app.url("/v1/products"));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send()
    };
    let r = get(vec![
        ("x-api-key", ADMIN_KEY.into()),
        ("authorization", "Bearer nonsense".into()),
    ])
    .await
    .unwrap();
    problem(r, 401, "invalid_token").await;
    let r = get(vec![
        ("authorization", s1_bearer.clone()),
        ("x-api-key", "guess".into()),
    ])
    .await
    .unwrap();
    problem(r, 401, "invalid_api_key").await;
    let r = get(vec![
        ("x-api-key", ADMIN_KEY.into()),
        ("x-api-key", "guess".into()),
    ])
    .await
    .unwrap();
    problem(r, 401, "invalid_api_key").await;
    let r = get(vec![("x-api-key", "".into())]).await.unwrap();
    problem(r, 401, "invalid_api_key").await;
    // Two good credentials of two callers: which one is it? Neither.
    let r = get(vec![
        ("x-api-key", ADMIN_KEY.into()),
        ("authorization", s1_bearer.clone()),
    ])
    .await
    .unwrap();
    problem(r, 401, "invalid_token").await;
    // The same caller twice is fine.
    let r = get(vec![
        ("x-api-key", ADMIN_KEY.into()),
        ("x-api-key", ADMIN_KEY.into()),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let r = get(vec![("authorization", s1_bearer)]).await.unwrap();
    assert_eq!(r.status(), 200);
}

/// Guessing once cost nothing: ~6,600 wrong keys a second, never a 429.
/// Now each guess is a strike against the address; at the limit the
/// address's credentials are refused unchecked — the right key too, so a
/// lucky guess teaches nothing — until its window ends.
#[tokio::test]
async fn guessing_is_budgeted_per_address() {
    let app = TestApp::spawn_with(|c| {
        c.auth_failures_per_address = 5;
        c.auth_failure_window_secs = 2;
    })
    .await;
    let products = |client: reqwest::Client| {
        let url = app.url("/v1/products");
        async move { client.get(url).send().await.unwrap() }
    };
    for i in 0..5 {
        let guess = if i % 2 == 0 {
            client_with(&[("x-api-key", "a-guess")])
        } else {
            bearer("a.forged.token")
        };
        problem(
            products(guess).await,
            401,
            if i % 2 == 0 {
                "invalid_api_key"
            } else {
                "invalid_token"
            },
        )
        .await;
    }
    let blocked = products(client_with(&[("x-api-key", "another-guess")])).await;
    let retry: u64 = blocked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    problem(blocked, 429, "rate_limited").await;
    problem(products(app.client.clone()).await, 429, "rate_limited").await;
    problem(
        app.sign_in("s1", &secret_of("s1")).await,
        429,
        "rate_limited",
    )
    .await;
    // Requests without credentials are not what is budgeted.
    let anonymous = reqwest::Client::new();
    let health = anonymous.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        products(app.client.clone()).await.status(),
        200,
        "the window ended"
    );
}

/// Wrong secrets for one known store count against its id from the
/// guessing address too: at the limit even its right secret waits there
/// (refused unchecked), while other stores sign in. Unknown ids are not
/// tracked by id (a caller could make them up without end); they count
/// against the address.
#[tokio::test]
async fn wrong_secrets_are_budgeted_per_id_from_an_address() {
    let app = TestApp::spawn_with(|c| {
        c.auth_failures_per_client = 3;
        c.auth_failures_per_address = 100;
    })
    .await;
    for _ in 0..3 {
        problem(
            app.sign_in("s1", "wrong-secret-0123456789").await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    problem(
        app.sign_in("s1", &secret_of("s1")).await,
        429,
        "rate_limited",
    )
    .await;
    assert_eq!(app.sign_in("s2", &secret_of("s2")).await.status(), 200);
    for i in 0..5 {
        problem(
            app.sign_in(&format!("nobody-{i}"), "x").await,
            401,
            "invalid_credentials",
        )
        .await;
    }
}

/// With rate limiting on, each known id has a sign-in budget of its own
/// from each address. It is charged before the secret is checked, and was
/// once per id alone: a stranger's two wrong secrets spent the store's
/// budget, and its right secret from its own address was refused.
#[tokio::test]
async fn sign_ins_are_budgeted_per_id_from_each_address() {
    let app = TestApp::spawn_with(|c| {
        c.rate_limit = true;
        c.sign_in_burst = 2;
        c.sign_ins_per_minute = 1;
        c.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let (stranger, store) = ("198.51.100.66", "198.51.100.1");
    let s1 = |secret: &str| json!({"client_id": "s1", "client_secret": secret});
    for _ in 0..2 {
        let r = token_from(&app, stranger, s1("wrong-secret-0123456789")).await;
        problem(r, 401, "invalid_credentials").await;
    }
    let limited = token_from(&app, stranger, s1(&secret_of("s1"))).await;
    assert!(limited.headers().contains_key("retry-after"));
    problem(limited, 429, "rate_limited").await;
    for _ in 0..2 {
        let r = token_from(&app, store, s1(&secret_of("s1"))).await;
        assert_eq!(r.status(), 200, "the stranger spent its own budget only");
    }
    let limited = token_from(&app, store, s1(&secret_of("s1"))).await;
    problem(limited, 429, "rate_limited").await;
    assert_eq!(app.sign_in("s2", &secret_of("s2")).await.status(), 200);
}

/// `POST /v1/auth/token` from `address`, as a trusted proxy would say it.
async fn token_from(app: &TestApp, address: &str, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url("/v1/auth/token"))
        .header("x-forwarded-for", address)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Ids are not secret (every store sees the channels' ids on holds), and
/// wrong secrets were once strikes against the id itself: ten wrong
/// guesses a minute, from anywhere, kept a store, a till or the web shop
/// from signing in, the right secret refused. Now a guesser blocks only
/// itself: after many wrong guesses from one address, for a store (at
/// sign-in and at enrolment), a device, a channel and an admin key, the
/// right secret from another address gets in, while the guessing address
/// is refused, the right secret too.
#[tokio::test]
async fn a_strangers_wrong_guesses_never_lock_out_the_right_secret() {
    let app = TestApp::spawn_with(|c| {
        c.auth_failures_per_address = 12;
        c.auth_failures_per_client = 3;
        c.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    app.create_channel("web").await;
    let till = app.enrolled("s2", "Till 1").await;
    let device_id = till.device.device_id.clone();
    let (guesser, owner) = ("198.51.100.66", "198.51.100.1");
    let kinds = [
        (
            json!({"client_id": "s1", "client_secret": "wrong-secret-0123456789"}),
            json!({"client_id": "s1", "client_secret": secret_of("s1")}),
        ),
        (
            json!({"device_id": device_id, "device_secret": "wrong-secret-0123456789"}),
            json!({"device_id": device_id, "device_secret": till.device_secret}),
        ),
        (
            json!({"channel_id": "web", "channel_secret": "wrong-secret-0123456789"}),
            json!({"channel_id": "web", "channel_secret": secret_of("web")}),
        ),
    ];
    for (wrong, right) in &kinds {
        for _ in 0..3 {
            let r = token_from(&app, guesser, wrong.clone()).await;
            problem(r, 401, "invalid_credentials").await;
        }
        // Blocked for that id: refused unchecked, the right secret too.
        for body in [wrong, right] {
            let r = token_from(&app, guesser, body.clone()).await;
            problem(r, 429, "rate_limited").await;
        }
        let r = token_from(&app, owner, right.clone()).await;
        assert_eq!(r.status(), 200, "{right}: {:?}", r.text().await);
    }
    // Enrolment shares the store's budget: blocked from the guesser only.
    let enrol = |address: &'static str| {
        reqwest::Client::new()
            .post(app.url("/v1/devices"))
            .header("x-forwarded-for", address)
            .json(&json!({"store_id": "s1", "client_secret": secret_of("s1"), "device_name": "T"}))
            .send()
    };
    problem(enrol(guesser).await.unwrap(), 429, "rate_limited").await;
    assert_eq!(enrol(owner).await.unwrap().status(), 201);

    // Admin keys have no id: three wrong ones bring the guesser to its
    // address's budget (12), and the whole address is blocked.
    for _ in 0..3 {
        let r = token_from(&app, guesser, json!({"api_key": "a-wrong-admin-key"})).await;
        problem(r, 401, "invalid_api_key").await;
    }
    let admin_read = |address: &'static str| {
        reqwest::Client::new()
            .get(app.url("/v1/admin/stores"))
            .header("x-forwarded-for", address)
            .header("x-api-key", ADMIN_KEY)
            .send()
    };
    problem(admin_read(guesser).await.unwrap(), 429, "rate_limited").await;
    let r = token_from(&app, guesser, json!({"api_key": ADMIN_KEY})).await;
    problem(r, 429, "rate_limited").await;
    assert_eq!(admin_read(owner).await.unwrap().status(), 200);
    let r = token_from(&app, owner, json!({"api_key": ADMIN_KEY})).await;
    assert_eq!(r.status(), 200);
    // And every other kind from elsewhere still signs in.
    for (_, right) in &kinds {
        let r = token_from(&app, owner, right.clone()).await;
        assert_eq!(r.status(), 200, "{right}");
    }
}

/// Behind a proxy every caller arrives from the proxy's address. With the
/// proxy trusted, each client is budgeted by the address the proxy names;
/// without, a client's own `X-Forwarded-For` is never believed.
#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_budget() {
    let guess = |app: &TestApp, client: &'static str| {
        reqwest::Client::new()
            .get(app.url("/v1/products"))
            .header("x-api-key", "a-guess")
            .header("x-forwarded-for", client)
            .send()
    };
    let app = TestApp::spawn_with(|c| {
        c.auth_failures_per_address = 2;
        c.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    for _ in 0..2 {
        problem(
            guess(&app, "198.51.100.1").await.unwrap(),
            401,
            "invalid_api_key",
        )
        .await;
    }
    problem(
        guess(&app, "198.51.100.1").await.unwrap(),
        429,
        "rate_limited",
    )
    .await;
    problem(
        guess(&app, "198.51.100.2").await.unwrap(),
        401,
        "invalid_api_key",
    )
    .await;
    // IPv6 clients share a budget per /64.
    for _ in 0..2 {
        problem(
            guess(&app, "2001:db8:1:2::a").await.unwrap(),
            401,
            "invalid_api_key",
        )
        .await;
    }
    problem(
        guess(&app, "2001:db8:1:2::b").await.unwrap(),
        429,
        "rate_limited",
    )
    .await;
    problem(
        guess(&app, "2001:db8:1:3::a").await.unwrap(),
        401,
        "invalid_api_key",
    )
    .await;

    let untrusting = TestApp::spawn_with(|c| c.auth_failures_per_address = 2).await;
    for client in ["198.51.100.1", "198.51.100.2"] {
        problem(
            guess(&untrusting, client).await.unwrap(),
            401,
            "invalid_api_key",
        )
        .await;
    }
    problem(
        guess(&untrusting, "198.51.100.3").await.unwrap(),
        429,
        "rate_limited",
    )
    .await;
}

/// A store token once fetched every store's levels with a snapshot without
/// `store=`. A store reads its own snapshot and changes, and may name only
/// itself.
#[tokio::test]
async fn a_store_reads_only_its_own_replica() {
    let app = TestApp::spawn().await;
    app.set_stock("s1", "A", 3).await;
    app.set_stock("s2", "A", 4).await;
    let s1 = app.store_client("s1").await;
    let get = |path: &str| s1.get(app.url(path)).send();
    let snapshot: shared::Snapshot = get("/v1/replication/snapshot")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(snapshot.store_id.as_deref(), Some("s1"));
    assert!(
        snapshot.levels.iter().all(|l| l.store_id == "s1"),
        "{:?}",
        snapshot.levels
    );
    assert_eq!(snapshot.levels.len(), 1);
    assert_eq!(snapshot.products.len(), 2, "the catalogue comes whole");
    problem(
        get("/v1/replication/snapshot?store=s2").await.unwrap(),
        403,
        "forbidden_store",
    )
    .await;
    problem(
        get("/v1/replication/changes?from=0&store=s2")
            .await
            .unwrap(),
        403,
        "forbidden_store",
    )
    .await;
    let page: Value = get("/v1/replication/changes?from=0")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stores: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["store_id"].as_str())
        .collect();
    assert!(
        !stores.is_empty() && stores.iter().all(|s| *s == "s1"),
        "{stores:?}"
    );
    // An admin still reads every store's.
    let all = app.snapshot("").await;
    assert_eq!(all.levels.len(), 2);
}
