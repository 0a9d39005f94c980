//! The OpenAPI document of the HTTP API, generated from the handlers' annotations (utoipa) and
//! served at `GET /openapi.json`.

use axum::Json;
use utoipa::{Modify, OpenApi};

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
    components(schemas(ErrorResponse, ErrorDetail)),
    modifiers(&ActionNames)
)]
pub struct ApiDoc;

/// Names the actions of `POST /v1/actions/{action}` in its `action` parameter, from the shared
/// list ([`crate::actions::action_names`]): an annotation can only hold a literal.
struct ActionNames;

impl Modify for ActionNames {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(op) = openapi
            .paths
            .paths
            .get_mut("/v1/actions/{action}")
            .and_then(|p| p.post.as_mut())
        else {
            return;
        };
        for param in op.parameters.iter_mut().flatten() {
            if param.name == "action" {
                param.description = Some(format!(
                    "A plugin action ({}) or a lifecycle action ({})",
                    crate::actions::action_names()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    crate::actions::LIFECYCLE_ACTIONS
                        .map(|n| format!("`{n}`"))
                        .join(" / "),
                ));
            }
        }
    }
}

/// `GET /openapi.json`.
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_action_parameter_names_every_action_from_the_shared_list() {
        let doc = ApiDoc::openapi();
        let op = doc.paths.paths["/v1/actions/{action}"].post.as_ref();
        let description = op
            .and_then(|op| op.parameters.as_ref())
            .and_then(|ps| ps.iter().find(|p| p.name == "action"))
            .and_then(|p| p.description.clone())
            .unwrap_or_default();
        let names: Vec<&str> = crate::actions::action_names()
            .chain(crate::actions::LIFECYCLE_ACTIONS)
            .collect();
        assert!(names.contains(&"update-ban-status") && names.contains(&"uninstall"));
        for name in names {
            assert!(
                description.contains(&format!("`{name}`")),
                "{name}: {description}"
            );
        }
        assert!(
            !description.contains("`link`"),
            "internal actions are not listed"
        );
    }
}
