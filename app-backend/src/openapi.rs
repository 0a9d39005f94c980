//! The OpenAPI document of the HTTP API, generated from the handlers' annotations (utoipa) and
//! served at `GET /openapi.json`.

use axum::Json;
use utoipa::OpenApi;

use crate::error::{ErrorDetail, ErrorResponse};

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "attio-auth backend",
        description = "The service behind the Attio app: installations, record actions, sync with Attio."
    ),
    paths(
        crate::health::healthz,
        crate::health::readyz,
        crate::metrics::render,
        crate::installations::create,
        crate::oauth::start,
        crate::oauth::callback,
        crate::oauth::confirm,
        crate::actions::handle,
        crate::actions::audit::audit_list,
        crate::actions::bulk::jobs_list,
        crate::actions::bulk::bulk_status,
        crate::backfill::post,
        crate::backfill::get,
        crate::webhooks::receive,
        crate::events::receive,
    ),
    components(schemas(ErrorResponse, ErrorDetail))
)]
pub struct ApiDoc;

/// `GET /openapi.json`.
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
