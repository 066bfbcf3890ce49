//! The POS page, when central serves it (`--web-dir`): the files trunk
//! built, at `/`. A path that is not a file gets the API's 404 problem, never
//! the page: a service worker must not cache HTML in place of a script.

use std::path::Path;

use axum::{
    Router,
    extract::Request,
    handler::HandlerWithoutStateExt,
    http::{HeaderValue, header},
    middleware::{Next, from_fn},
    response::Response,
};
use tower_http::services::ServeDir;

use super::route_not_found;

pub fn router(dir: &Path) -> Router {
    let files = ServeDir::new(dir)
        .call_fallback_on_method_not_allowed(true)
        .not_found_service(route_not_found.into_service());
    Router::new()
        .fallback_service(files)
        .layer(from_fn(cache_policy))
}

/// trunk names built assets with a 16-hex-digit content hash
/// (`web-0123456789abcdef_bg.wasm`): such a file never changes.
fn is_hashed(path: &str) -> bool {
    let stem = path.rsplit('/').next().unwrap_or("");
    let stem = stem.split('.').next().unwrap_or("");
    let stem = stem.strip_suffix("_bg").unwrap_or(stem);
    stem.rsplit_once('-')
        .is_some_and(|(_, hash)| hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Hashed assets are cached for good; the page, the service worker and the
/// manifest are revalidated each time, so a new build reaches the tills.
async fn cache_policy(request: Request, next: Next) -> Response {
    let hashed = is_hashed(request.uri().path());
    let mut response = next.run(request).await;
    if response.status().is_success() {
        let policy = if hashed {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::is_hashed;

    #[test]
    fn only_trunk_hashed_names_are_immutable() {
        assert!(is_hashed("/web-e017d9f69634051f_bg.wasm"));
        assert!(is_hashed("/web-e017d9f69634051f.js"));
        assert!(is_hashed("/style-1d8077353214f93e.css"));
        assert!(!is_hashed("/"));
        assert!(!is_hashed("/sw.js"));
        assert!(!is_hashed("/index.html"));
        assert!(!is_hashed("/manifest.webmanifest"));
        assert!(!is_hashed("/web-nothex0000000000.js"));
    }
}
