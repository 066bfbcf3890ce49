//! The POS page, when central serves it (`--web-dir`): the files trunk
//! built, at `/`. A path that is not a file gets the API's 404 problem, never
//! the page: a service worker must not cache HTML in place of a script.
//!
//! The till keeps its store's secret on the device, so the page is served
//! with a Content-Security-Policy that runs only its own scripts (the inline
//! ones by hash, computed here once) and talks only to this origin.

use std::path::Path;

use axum::{
    Router,
    extract::Request,
    handler::HandlerWithoutStateExt,
    http::{HeaderName, HeaderValue, header},
    middleware::{Next, from_fn},
    response::Response,
};
use base64::{Engine, engine::general_purpose::STANDARD};
use sha2::{Digest, Sha256};
use tower_http::services::ServeDir;

use super::route_not_found;

pub fn router(dir: &Path) -> Router {
    // The build writes each asset compressed beside it (`.br`, `.gz`): a
    // till that accepts either gets it, with `Content-Encoding`, and the
    // plain file otherwise.
    let files = ServeDir::new(dir)
        .precompressed_br()
        .precompressed_gzip()
        .call_fallback_on_method_not_allowed(true)
        .not_found_service(route_not_found.into_service());
    let page = std::fs::read_to_string(dir.join("index.html")).unwrap_or_default();
    let policy = HeaderValue::from_str(&content_security_policy(&page))
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'"));
    Router::new()
        .fallback_service(files)
        .layer(from_fn(move |request: Request, next: Next| {
            let policy = policy.clone();
            async move { page_headers(request, next, policy).await }
        }))
}

/// The policy for the page: its own origin only; inline scripts by hash;
/// wasm compiled from its own bytes; never framed.
fn content_security_policy(page: &str) -> String {
    let hashes: String = inline_scripts(page)
        .map(|script| format!(" 'sha256-{}'", STANDARD.encode(Sha256::digest(script))))
        .collect();
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{hashes}; \
         style-src 'self'; img-src 'self' data:; connect-src 'self'; worker-src 'self'; \
         manifest-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'"
    )
}

/// The text of each `<script>` without a `src`, exactly as a browser hashes
/// it.
fn inline_scripts(page: &str) -> impl Iterator<Item = &str> {
    page.split("<script").skip(1).filter_map(|rest| {
        let (attributes, body) = rest.split_once('>')?;
        let (script, _) = body.split_once("</script>")?;
        (!attributes.contains("src=")).then_some(script)
    })
}

/// trunk names built assets with a content hash (hex, up to 16 digits:
/// `web-0123456789abcdef_bg.wasm`): such a file never changes.
fn is_hashed(path: &str) -> bool {
    let stem = path.rsplit('/').next().unwrap_or("");
    let stem = stem.split('.').next().unwrap_or("");
    let stem = stem.strip_suffix("_bg").unwrap_or(stem);
    stem.rsplit_once('-').is_some_and(|(_, hash)| {
        (8..=16).contains(&hash.len()) && hash.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// Hashed assets are cached for good; the page, the service worker and the
/// manifest are revalidated each time, so a new build reaches the tills.
async fn page_headers(request: Request, next: Next, policy: HeaderValue) -> Response {
    let hashed = is_hashed(request.uri().path());
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    if response.status().is_success() {
        // Which file a client gets depends on its `Accept-Encoding`.
        response
            .headers_mut()
            .insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        let cache = if hashed {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_trunk_hashed_names_are_immutable() {
        assert!(is_hashed("/web-e017d9f69634051f_bg.wasm"));
        assert!(is_hashed("/web-e017d9f69634051f.js"));
        assert!(is_hashed("/style-1d8077353214f93e.css"));
        assert!(
            is_hashed("/web-17d9f69634051f.js"),
            "fewer digits: not padded"
        );
        assert!(!is_hashed("/"));
        assert!(!is_hashed("/sw.js"));
        assert!(!is_hashed("/index.html"));
        assert!(!is_hashed("/manifest.webmanifest"));
        assert!(!is_hashed("/web-nothex0000000000.js"));
        assert!(!is_hashed("/style-1.css"));
    }

    #[test]
    fn the_policy_runs_the_pages_own_inline_scripts_only() {
        let page = "<head><script type=\"module\">import init from '/web.js';</script>\
                    <script src=\"/other.js\"></script></head>\
                    <body><script>navigator.serviceWorker.register('/sw.js');</script></body>";
        let scripts: Vec<_> = inline_scripts(page).collect();
        assert_eq!(
            scripts,
            [
                "import init from '/web.js';",
                "navigator.serviceWorker.register('/sw.js');"
            ]
        );
        let policy = content_security_policy(page);
        let hash = STANDARD.encode(Sha256::digest("import init from '/web.js';"));
        assert!(policy.contains(&format!("'sha256-{hash}'")), "{policy}");
        assert!(policy.contains("frame-ancestors 'none'"));
        assert!(policy.contains("connect-src 'self'"));
        assert!(!policy.contains("unsafe-inline"));
    }
}
