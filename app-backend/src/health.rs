//! `/healthz` (the process answers) and `/readyz` (the database answers too), for load
//! balancers and orchestrators.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::db::Db;
use crate::error::ErrorResponse;

/// Liveness: always 200 while the process serves.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "`{ok: true}`", body = Object)))]
pub async fn healthz() -> Json<Value> {
    Json(json!({"ok": true}))
}

/// Readiness: 200 when the database answers, else 503.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, description = "Ready", body = Object), (status = 503, description = "The database does not answer", body = Object)))]
pub async fn readyz(State(db): State<Db>) -> (StatusCode, Json<Value>) {
    match db.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({"ok": true}))),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(
                    ErrorResponse::new("DATABASE_UNAVAILABLE", "The database does not answer.")
                        .to_value(),
                ),
            )
        }
    }
}
