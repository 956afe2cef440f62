//! The pages of `stride serve`: one HTML shell and its scripts and styles, all
//! compiled into the binary (nothing is fetched from anywhere but this server).
//! The pages read the JSON API; they hold no data themselves, so they are served
//! without the token, which the browser then sends with every API call.

use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::Server;

/// Every asset by name: its content type and bytes.
const ASSETS: &[(&str, &str, &str)] = &[
    ("app.js", JS, include_str!("assets/app.js")),
    ("dom.js", JS, include_str!("assets/dom.js")),
    ("charts.js", JS, include_str!("assets/charts.js")),
    ("lineage.js", JS, include_str!("assets/lineage.js")),
    (
        "lineage_page.js",
        JS,
        include_str!("assets/lineage_page.js"),
    ),
    ("overview.js", JS, include_str!("assets/overview.js")),
    ("runs.js", JS, include_str!("assets/runs.js")),
    ("model.js", JS, include_str!("assets/model.js")),
    ("compare.js", JS, include_str!("assets/compare.js")),
    ("marts.js", JS, include_str!("assets/marts.js")),
    ("quarantine.js", JS, include_str!("assets/quarantine.js")),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("assets/style.css"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_str!("assets/favicon.svg"),
    ),
];

const JS: &str = "text/javascript; charset=utf-8";

/// The shell every page path answers with; the script shows the page the path names.
const INDEX: &str = include_str!("assets/index.html");

/// What the pages may load and where they may send: this server only.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The page paths and the assets.
pub fn router() -> Router<Arc<Server>> {
    Router::new()
        .route("/", get(page))
        .route("/lineage", get(page))
        .route("/runs", get(page))
        .route("/runs/{id}", get(page))
        .route("/models/{model}", get(page))
        .route("/marts", get(page))
        .route("/quarantine", get(page))
        .route("/assets/{file}", get(asset))
        .route("/favicon.ico", get(favicon))
}

/// Headers every answer of the pages carries.
fn secured(mut response: Response, content_type: &str) -> Response {
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // The assets change with the binary; a browser asks again each time.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The folder `STRIDE_UI_DIR` names, whose files are served in place of the
/// built-in ones: for working on the pages without rebuilding the binary.
fn override_dir() -> Option<std::path::PathBuf> {
    std::env::var_os("STRIDE_UI_DIR").map(std::path::PathBuf::from)
}

/// The text of asset `name`: from `STRIDE_UI_DIR` when set, else built in.
fn body(name: &str, built_in: &'static str) -> Response {
    match override_dir() {
        Some(dir) => match std::fs::read_to_string(dir.join(name)) {
            Ok(text) => text.into_response(),
            Err(e) => (
                StatusCode::NOT_FOUND,
                format!("STRIDE_UI_DIR {}: {name}: {e}", dir.display()),
            )
                .into_response(),
        },
        None => built_in.into_response(),
    }
}

async fn page() -> Response {
    secured(body("index.html", INDEX), "text/html; charset=utf-8")
}

async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((name, content_type, built_in)) => secured(body(name, built_in), content_type),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

async fn favicon() -> Response {
    asset(Path("favicon.svg".to_string())).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_a_script_imports_is_served() {
        for (name, _, body) in ASSETS.iter().filter(|(n, _, _)| n.ends_with(".js")) {
            for line in body.lines().filter(|l| l.starts_with("import ")) {
                let Some(from) = line.split("from \"./").nth(1) else {
                    continue;
                };
                let module = from.trim_end_matches("\";");
                assert!(
                    ASSETS.iter().any(|(n, _, _)| *n == module),
                    "{name} imports {module}, which is not served"
                );
            }
        }
    }
}
