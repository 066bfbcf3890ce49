//! Central serving the built POS page (`--web-dir`): its files at `/` with
//! the right types and cache policy; the API and its 404s stay as they are.

use crate::helpers::{TestApp, problem};

const WASM: &str = "/web-0123456789abcdef_bg.wasm";

/// A page directory shaped like trunk's `dist/`, as `dist/` in a temp dir
/// of its own (so a test can put a file beside it).
fn dist() -> tempfile::TempDir {
    let outer = tempfile::tempdir().expect("temp dir");
    let dir = outer.path().join("dist");
    std::fs::create_dir(&dir).expect("dist dir");
    let files: [(&str, &[u8]); 4] = [
        (
            "index.html",
            b"<!doctype html><title>POS</title><script>navigator.serviceWorker.register('/sw.js');</script>",
        ),
        ("sw.js", b"self.addEventListener('fetch', () => {});"),
        (&WASM[1..], b"\0asm\x01\0\0\0"),
        ("manifest.webmanifest", b"{\"name\": \"Stockline POS\"}"),
    ];
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).expect("write");
    }
    outer
}

#[tokio::test]
async fn serves_the_page_with_types_and_cache_policy() {
    let dist = dist();
    let path = dist.path().join("dist");
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

    // The till keeps a store's secret: its page runs only its own scripts.
    let policy = header(&worker, "content-security-policy").expect("a policy");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert!(policy.contains("connect-src 'self'"), "{policy}");
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    let page = app.get("/").await;
    let policy = header(&page, "content-security-policy").expect("a policy");
    // sha256 of the inline script above, base64.
    assert!(
        policy.contains("'sha256-"),
        "the page's inline script allowed by hash: {policy}"
    );
    assert_eq!(
        header(&page, "x-content-type-options").as_deref(),
        Some("nosniff")
    );

    // The API is unchanged alongside.
    assert_eq!(app.get("/v1/stores").await.status(), 200);
}

#[tokio::test]
async fn no_path_leads_out_of_the_page_directory() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dist = dist();
    let path = dist.path().join("dist");
    // A file beside the page directory that must stay out of reach.
    std::fs::write(dist.path().join("secret-beside-dist.txt"), "secret").unwrap();
    let app = TestApp::spawn_with(move |c| c.web_dir = Some(path)).await;
    let addr = app.url("").trim_start_matches("http://").to_owned();
    for target in [
        "/../secret-beside-dist.txt",
        "/%2e%2e/secret-beside-dist.txt",
        "/..%2fsecret-beside-dist.txt",
    ] {
        // Raw, so nothing normalises the path on the way.
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let request = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(
            !answer.contains("secret\r\n") && !answer.ends_with("secret"),
            "{target}: {answer}"
        );
        assert!(
            answer.starts_with("HTTP/1.1 404") || answer.starts_with("HTTP/1.1 400"),
            "{target}: {answer}"
        );
    }
}

#[tokio::test]
async fn what_is_not_a_file_is_a_problem_not_the_page() {
    let dist = dist();
    let path = dist.path().join("dist");
    let app = TestApp::spawn_with(move |c| c.web_dir = Some(path)).await;
    // An old build's asset: a 404, never index.html a worker would cache.
    problem(
        app.get("/web-ffffffffffffffff_bg.wasm").await,
        404,
        "route_not_found",
    )
    .await;
    problem(app.get("/v1/nope").await, 404, "route_not_found").await;
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

/// The page's assets as the build leaves them: each beside its `.br` and
/// `.gz`, which a client that accepts one gets, marked; one that accepts
/// neither gets the file itself.
#[tokio::test]
async fn assets_go_compressed_to_clients_that_accept_it() {
    let dist = dist();
    let path = dist.path().join("dist");
    let wasm = std::fs::read(path.join(&WASM[1..])).unwrap();
    std::fs::write(path.join(format!("{}.br", &WASM[1..])), b"brotli bytes").unwrap();
    std::fs::write(path.join(format!("{}.gz", &WASM[1..])), b"gzip bytes").unwrap();
    let app = TestApp::spawn_with(move |c| c.web_dir = Some(path)).await;
    let fetch = |accept: &'static str| {
        let request = reqwest::Client::new().get(app.url(WASM));
        let request = match accept {
            "" => request,
            accept => request.header("accept-encoding", accept),
        };
        request.send()
    };
    for (accept, encoding, body) in [
        ("gzip, deflate, br", Some("br"), &b"brotli bytes"[..]),
        ("br;q=0.5, gzip", Some("gzip"), b"gzip bytes"),
        ("gzip", Some("gzip"), b"gzip bytes"),
        ("", None, &wasm),
        ("identity", None, &wasm),
    ] {
        let r = fetch(accept).await.unwrap();
        assert_eq!(r.status(), 200, "{accept:?}");
        let header = |name: &str| {
            r.headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        assert_eq!(
            header("content-encoding").as_deref(),
            encoding,
            "{accept:?}"
        );
        assert_eq!(header("content-type").as_deref(), Some("application/wasm"));
        assert_eq!(header("vary").as_deref(), Some("accept-encoding"));
        assert_eq!(
            header("cache-control").as_deref(),
            Some("public, max-age=31536000, immutable")
        );
        assert_eq!(&r.bytes().await.unwrap()[..], body, "{accept:?}");
    }
    // A file built without compressed copies goes as it is, whatever is
    // accepted.
    let worker = reqwest::Client::new()
        .get(app.url("/sw.js"))
        .header("accept-encoding", "br, gzip")
        .send()
        .await
        .unwrap();
    assert!(worker.headers().get("content-encoding").is_none());
}
