//! The axum server: renders the page, answers the no-JS form posts, serves the static files,
//! and puts the security headers on every response.
//!
//! Nothing here logs a request body or a rendered page: both can hold a secret.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Form, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use leptos::prelude::*;
use serde::Deserialize;
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::model::{GeneratorState, InspectorState, MadeBy, Plugin};
use crate::page::{OUTPUT_NAME, Page};

/// The page's Content-Security-Policy: only this origin's files; `'wasm-unsafe-eval'` lets
/// the page compile its own WASM and nothing else; no inline script or style; forms post
/// only here; no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; \
style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; \
frame-ancestors 'none'";

/// Settings, read from the environment in [`Config::from_env`].
#[derive(Debug, Clone)]
pub struct Config {
    /// `GENERATOR_ADDR`, default `127.0.0.1:3000`.
    pub addr: SocketAddr,
    /// `GENERATOR_SITE_ROOT`, default this crate's `public/` directory: `style.css`,
    /// `boot.js`, `favicon.svg`, and `pkg/` written by `cargo run -p xtask -- site`.
    pub site_root: PathBuf,
}

impl Config {
    /// Default site root: `generator-site/public` of this checkout.
    pub fn default_site_root() -> PathBuf {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/public"))
    }

    /// Reads `GENERATOR_ADDR` and `GENERATOR_SITE_ROOT`, with the defaults above.
    pub fn from_env() -> Result<Self, Error> {
        let addr = match std::env::var("GENERATOR_ADDR") {
            Ok(v) => v
                .parse()
                .map_err(|_| Error::Config(format!("GENERATOR_ADDR={v:?} is not host:port")))?,
            Err(_) => SocketAddr::from(([127, 0, 0, 1], 3000)),
        };
        let site_root = std::env::var_os("GENERATOR_SITE_ROOT")
            .map(PathBuf::from)
            .unwrap_or_else(Self::default_site_root);
        Ok(Self { addr, site_root })
    }
}

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    site: Arc<Site>,
}

#[derive(Debug)]
struct Site {
    /// Whether `pkg/` holds the built WASM: without it the page omits its scripts and works
    /// as the no-JS version.
    scripts: bool,
}

impl AppState {
    /// State for a site served from `site_root`.
    pub fn new(site_root: &std::path::Path) -> Self {
        let pkg = site_root.join("pkg");
        let scripts = pkg.join(format!("{OUTPUT_NAME}_bg.wasm")).is_file()
            && pkg.join(format!("{OUTPUT_NAME}.js")).is_file();
        Self {
            site: Arc::new(Site { scripts }),
        }
    }

    /// State for a deployment whose static host serves the built `pkg/` (Vercel): the page
    /// always loads the islands.
    pub fn with_scripts(scripts: bool) -> Self {
        Self {
            site: Arc::new(Site { scripts }),
        }
    }

    /// Whether the page will load the WASM islands.
    pub fn scripts(&self) -> bool {
        self.site.scripts
    }
}

/// This crate's errors, answered in one place ([`IntoResponse`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting is invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// Binding or serving failed.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        // Neither variant can carry a secret; the message stays generic for visitors anyway.
        (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
    }
}

/// The router: page, form posts, static files from `site_root`, security headers, gzip.
pub fn router(state: AppState, site_root: &std::path::Path) -> Router {
    let statics = ServeDir::new(site_root).append_index_html_on_directories(false);
    secure(pages(state).fallback_service(statics))
}

/// The page and form routes alone, with the same headers, for hosts that serve the static
/// files themselves (the Vercel function: Vercel serves `public/`).
pub fn page_router(state: AppState) -> Router {
    secure(pages(state))
}

fn pages(state: AppState) -> Router {
    Router::new()
        .route("/", get(index).post(generate))
        .route("/inspect", get(index).post(inspect))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(state)
}

/// Security headers on every response (pages and static files), gzip, a small body limit.
fn secure(router: Router) -> Router {
    router
        .layer(DefaultBodyLimit::max(16 * 1024))
        .layer(CompressionLayer::new())
        .layer(header_layer(
            header::CONTENT_SECURITY_POLICY,
            CONTENT_SECURITY_POLICY,
        ))
        // Static files keep their names across deploys: revalidate them (pages set their own).
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        ))
        .layer(header_layer(header::REFERRER_POLICY, "no-referrer"))
        .layer(header_layer(header::X_FRAME_OPTIONS, "DENY"))
        .layer(header_layer(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header_layer(
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ))
        .layer(header_layer(
            HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=()",
        ))
}

fn header_layer(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value))
}

/// Renders the page with the given states to a complete HTML document.
pub fn render_page(
    state: &AppState,
    generator: GeneratorState,
    inspector: InspectorState,
) -> String {
    let scripts = state.scripts();
    let owner = Owner::new();
    let body = owner.with(|| view! { <Page generator inspector scripts /> }.to_html());
    format!("<!DOCTYPE html>{body}")
}

/// A rendered page with its cache policy: `no-store` when it holds anything typed or made.
fn page_response(status: StatusCode, html: String, private: bool) -> Response {
    let cache = if private { "no-store" } else { "no-cache" };
    (
        status,
        [(header::CACHE_CONTROL, HeaderValue::from_static(cache))],
        Html(html),
    )
        .into_response()
}

async fn index(State(state): State<AppState>) -> Response {
    let html = render_page(&state, GeneratorState::default(), InspectorState::default());
    page_response(StatusCode::OK, html, false)
}

/// The generator form as a plain POST (`application/x-www-form-urlencoded`).
#[derive(Debug, Default, Deserialize)]
pub struct GenerateForm {
    /// The app URL as typed.
    #[serde(default)]
    pub uri: String,
    /// The base path as typed.
    #[serde(default)]
    pub base: String,
    /// `rust` or `typescript` (the radio buttons; the Rust plugin when absent).
    #[serde(default)]
    pub plugin: String,
}

/// The no-JS path: validate, make the secret with the OS CSPRNG, answer the page holding
/// the result (422 with the messages when a field is wrong). Uncached, unlogged.
async fn generate(State(state): State<AppState>, Form(form): Form<GenerateForm>) -> Response {
    let generator = GeneratorState::submit(
        form.uri,
        form.base,
        Plugin::from_form(&form.plugin),
        MadeBy::Server,
    );
    let status = if generator.result.is_some() {
        StatusCode::OK
    } else if generator.failure.is_some() {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let html = render_page(&state, generator, InspectorState::default());
    page_response(status, html, true)
}

/// The inspector form as a plain POST.
#[derive(Debug, Default, Deserialize)]
pub struct InspectForm {
    /// The pasted connection string.
    #[serde(default)]
    pub connection: String,
}

/// The no-JS inspector: decode, answer the page with everything but the secret.
async fn inspect(State(state): State<AppState>, Form(form): Form<InspectForm>) -> Response {
    let inspector = InspectorState::inspect(&form.connection);
    let status = if inspector.inspection.is_some() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let html = render_page(&state, GeneratorState::default(), inspector);
    page_response(status, html, true)
}

/// Serves until the listener fails.
pub async fn serve(listener: tokio::net::TcpListener, config: &Config) -> Result<(), Error> {
    let state = AppState::new(&config.site_root);
    let app = router(state, &config.site_root);
    axum::serve(listener, app).await?;
    Ok(())
}
