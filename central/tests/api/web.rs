//! Central serving the built POS page (`--web-dir`): its files at `/` with
//! the right types and cache policy; the API and its 404s stay as they are.

use crate::helpers::{TestApp, problem};

const WASM: &str = "/web-0123456789abcdef_bg.wasm";

/// A page directory shaped like trunk's `dist/`.
fn dist() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let files: [(&str, &[u8]); 4] = [
        ("index.html", b"<!doctype html><title>POS</title>"),
        ("sw.js", b"self.addEventListener('fetch', () => {});"),
        (&WASM[1..], b"\0asm\x01\0\0\0"),
        ("manifest.webmanifest", b"{\"name\": \"Stockline POS\"}"),
    ];
    for (name, bytes) in files {
        std::fs::write(dir.path().join(name), bytes).expect("write");
    }
    dir
}

#[tokio::test]
async fn serves_the_page_with_types_and_cache_policy() {
    let dist = dist();
    let path = dist.path().to_owned();
    let app = TestApp::spawn_with(move |c| c.web_dir = Some(path)).await;
    let header = |r: &reqwest::Response, name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };

    let page = app.get("/").await;
    assert_eq!(page.status(), 200);
    assert_eq!(header(&page, "content-type").as_deref(), Some("text/html"));
    assert_eq!(header(&page, "cache-control").as_deref(), Some("no-cache"));
    assert!(page.text().await.unwrap().contains("<title>POS</title>"));

    let wasm = app.get(WASM).await;
    assert_eq!(wasm.status(), 200);
    assert_eq!(
        header(&wasm, "content-type").as_deref(),
        Some("application/wasm")
    );
    assert_eq!(
        header(&wasm, "cache-control").as_deref(),
        Some("public, max-age=31536000, immutable"),
        "a hashed name never changes its bytes"
    );

    let worker = app.get("/sw.js").await;
    assert_eq!(worker.status(), 200);
    assert!(
        header(&worker, "content-type")
            .unwrap()
            .contains("javascript")
    );
    assert_eq!(
        header(&worker, "cache-control").as_deref(),
        Some("no-cache")
    );

    // The API is unchanged alongside.
    assert_eq!(app.get("/v1/stores").await.status(), 200);
}

#[tokio::test]
async fn what_is_not_a_file_is_a_problem_not_the_page() {
    let dist = dist();
    let path = dist.path().to_owned();
    let app = TestApp::spawn_with(move |c| c.web_dir = Some(path)).await;
    // An old build's asset: a 404, never index.html a worker would cache.
    problem(
        app.get("/web-ffffffffffffffff_bg.wasm").await,
        404,
        "route_not_found",
    )
    .await;
    problem(app.get("/v1/nope").await, 404, "route_not_found").await;
    problem(app.get("/../Cargo.toml").await, 404, "route_not_found").await;
    let posted = app
        .client
        .post(app.url("/index.html"))
        .body("x")
        .send()
        .await
        .unwrap();
    problem(posted, 404, "route_not_found").await;
}

#[tokio::test]
async fn without_a_web_dir_the_root_is_a_problem() {
    let app = TestApp::spawn().await;
    problem(app.get("/").await, 404, "route_not_found").await;
}
