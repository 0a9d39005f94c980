//! Objects, attributes and select options (`/v2/objects...`, OpenAPI schemas `object`,
//! `attribute`, `select-option`).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{ApiJson, ApiPath, ApiQuery, Auth, data_of};
use crate::error::ApiError;
use crate::model::{Attribute, SelectOption};
use crate::standard::new_attribute;
use crate::state::AppState;
use crate::write::Event;

/// Attribute types that can be created on an object (OpenAPI: create-attribute `type` enum
/// minus `status`, which Attio rejects on objects).
const CREATABLE: &[&str] = &[
    "text",
    "number",
    "checkbox",
    "currency",
    "date",
    "timestamp",
    "rating",
    "select",
    "record-reference",
    "actor-reference",
    "location",
    "domain",
    "email-address",
    "phone-number",
];

pub(crate) async fn list_objects(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<Value>, ApiError> {
    state.read(&auth, |ws| {
        let data: Vec<Value> = ws
            .objects
            .iter()
            .filter(|o| o.enabled)
            .map(|o| o.json(ws.id))
            .collect();
        Ok(Json(json!({"data": data})))
    })
}

pub(crate) async fn get_object(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(object): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    state.read(&auth, |ws| {
        Ok(Json(json!({"data": ws.object(&object)?.json(ws.id)})))
    })
}

#[derive(Deserialize)]
pub(crate) struct Page {
    limit: Option<usize>,
    offset: Option<usize>,
    /// Archived attributes are listed only with `show_archived=true` (OpenAPI parameter of
    /// the list-attributes operation).
    #[serde(default)]
    show_archived: bool,
}

pub(crate) async fn list_attributes(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(object): ApiPath<String>,
    ApiQuery(page): ApiQuery<Page>,
) -> Result<Json<Value>, ApiError> {
    state.read(&auth, |ws| {
        let object = ws.object(&object)?;
        let data: Vec<Value> = ws
            .attributes_of(object.id)
            .filter(|a| page.show_archived || !a.is_archived)
            .skip(page.offset.unwrap_or(0))
            .take(page.limit.unwrap_or(usize::MAX))
            .map(|a| ws.attribute_json(a))
            .collect();
        Ok(Json(json!({"data": data})))
    })
}

fn attribute_not_found(ident: &str) -> ApiError {
    ApiError::NotFound(format!("Attribute with slug/ID \"{ident}\" not found."))
}

pub(crate) async fn get_attribute(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((object, attribute)): ApiPath<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    state.read(&auth, |ws| {
        let object = ws.object(&object)?;
        let attr = ws
            .attribute(object.id, &attribute)
            .ok_or_else(|| attribute_not_found(&attribute))?;
        Ok(Json(json!({"data": ws.attribute_json(attr)})))
    })
}

fn field<'a>(data: &'a serde_json::Map<String, Value>, name: &str) -> Result<&'a Value, ApiError> {
    data.get(name).ok_or_else(|| {
        ApiError::Validation(format!(
            "Body payload validation error: \"data.{name}\" is required."
        ))
    })
}

fn bool_field(data: &serde_json::Map<String, Value>, name: &str) -> Result<bool, ApiError> {
    field(data, name)?.as_bool().ok_or_else(|| {
        ApiError::Validation(format!(
            "Body payload validation error: \"data.{name}\" must be a boolean."
        ))
    })
}

fn str_field<'a>(
    data: &'a serde_json::Map<String, Value>,
    name: &str,
) -> Result<&'a str, ApiError> {
    field(data, name)?.as_str().ok_or_else(|| {
        ApiError::Validation(format!(
            "Body payload validation error: \"data.{name}\" must be a string."
        ))
    })
}

fn valid_slug(s: &str) -> bool {
    !s.is_empty()
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// `POST /v2/objects/{object}/attributes`: body `{data: {title, description, api_slug, type,
/// is_required, is_unique, is_multiselect, config, default_value?, relationship?}}`.
pub(crate) async fn create_attribute(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(object): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<Value>, ApiError> {
    let data = data_of(&body)?.clone();
    state.write(&auth, |ws| {
        let object = ws.object(&object)?.clone();
        let title = str_field(&data, "title")?;
        let description = match field(&data, "description")? {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            _ => {
                return Err(ApiError::Validation(
                    "Body payload validation error: \"data.description\" must be a string or null."
                        .into(),
                ));
            }
        };
        let slug = str_field(&data, "api_slug")?;
        let kind = str_field(&data, "type")?;
        let (is_required, is_unique, is_multiselect) = (
            bool_field(&data, "is_required")?,
            bool_field(&data, "is_unique")?,
            bool_field(&data, "is_multiselect")?,
        );
        let config = field(&data, "config")?;
        if !config.is_object() {
            return Err(ApiError::Validation(
                "Body payload validation error: \"data.config\" must be an object.".into(),
            ));
        }
        if !valid_slug(slug) {
            return Err(ApiError::Validation(format!(
                "api_slug \"{slug}\" must be snake_case."
            )));
        }
        if kind == "status" {
            return Err(ApiError::Validation(
                "Status attributes are not supported on objects.".into(),
            ));
        }
        if !CREATABLE.contains(&kind) {
            return Err(ApiError::Validation(format!(
                "Body payload validation error: \"{kind}\" is not a valid attribute type."
            )));
        }
        // docs.attio.com/docs/attribute-types/attribute-types-select: "select attributes
        // cannot be configured to be unique".
        if kind == "select" && is_unique {
            return Err(ApiError::Validation(
                "Select attributes cannot be configured to be unique.".into(),
            ));
        }
        if ws.attribute(object.id, slug).is_some() {
            return Err(ApiError::SlugConflict(
                "An attribute with the same API slug already exists on this object. Please choose a different API slug."
                    .into(),
            ));
        }
        let mut attr = new_attribute(object.id, slug, title, kind);
        attr.description = description;
        attr.is_required = is_required;
        attr.is_unique = is_unique;
        attr.is_multiselect = is_multiselect;
        attr.default_value = data.get("default_value").cloned().unwrap_or(Value::Null);
        if kind == "currency" {
            let currency = config.get("currency").filter(|c| {
                c.get("default_currency_code").is_some() && c.get("display_type").is_some()
            });
            attr.currency = currency.cloned().ok_or_else(|| {
                ApiError::Validation(
                    "config.currency {default_currency_code, display_type} is required for currency attributes."
                        .into(),
                )
            })?;
        }
        let mut inverse: Option<Attribute> = None;
        if kind == "record-reference" {
            let allowed = config
                .get("record_reference")
                .and_then(|r| r.get("allowed_objects"))
                .and_then(Value::as_array)
                .filter(|a| !a.is_empty())
                .ok_or_else(|| {
                    ApiError::Validation(
                        "config.record_reference.allowed_objects must list at least one object."
                            .into(),
                    )
                })?;
            for ident in allowed {
                let ident = ident.as_str().unwrap_or_default();
                let target = ws.object(ident).map_err(|_| {
                    ApiError::Validation(format!(
                        "Could not find an object with slug \"{ident}\" for allowed_objects."
                    ))
                })?;
                attr.allowed_object_ids.push(target.id);
            }
            if let Some(rel) = data.get("relationship").filter(|r| !r.is_null()) {
                let target_ident = rel.get("object").and_then(Value::as_str).unwrap_or_default();
                let target = ws.object(target_ident).map_err(|_| {
                    ApiError::Validation(format!(
                        "Could not find an object with slug \"{target_ident}\" for relationship."
                    ))
                })?;
                if attr.allowed_object_ids != [target.id] {
                    return Err(ApiError::Validation(
                        "allowed_objects must contain only the relationship's object.".into(),
                    ));
                }
                let (Some(r_title), Some(r_slug), Some(r_multi)) = (
                    rel.get("title").and_then(Value::as_str),
                    rel.get("api_slug").and_then(Value::as_str),
                    rel.get("is_multiselect").and_then(Value::as_bool),
                ) else {
                    return Err(ApiError::Validation(
                        "relationship needs object, title, api_slug and is_multiselect.".into(),
                    ));
                };
                if ws.attribute(target.id, r_slug).is_some() {
                    return Err(ApiError::SlugConflict(
                        "An attribute with the same API slug already exists on the related object."
                            .into(),
                    ));
                }
                let mut inv = new_attribute(target.id, r_slug, r_title, "record-reference");
                inv.is_multiselect = r_multi;
                inv.allowed_object_ids = vec![object.id];
                inv.relationship = Some(attr.id);
                attr.relationship = Some(inv.id);
                inverse = Some(inv);
            }
        } else if kind == "select" {
            attr.options = Vec::new();
        }
        let attr_id = attr.id;
        let mut events = vec![attribute_event(ws.id, &attr, &auth)];
        if attr.is_unique {
            ws.records.index_attribute(attr_id);
        }
        ws.attributes.push(attr);
        if let Some(inv) = inverse {
            events.push(attribute_event(ws.id, &inv, &auth));
            ws.attributes.push(inv);
        }
        // Rendered after the inverse exists, so that `relationship` is filled in.
        let json = ws
            .attribute_by_id(attr_id)
            .map(|a| ws.attribute_json(a))
            .unwrap_or(Value::Null);
        Ok((Json(json!({"data": json})), events))
    })
}

fn attribute_event(workspace_id: Uuid, attr: &Attribute, auth: &Auth) -> Event {
    Event {
        event_type: "object-attribute.created",
        id: json!({"workspace_id": workspace_id, "object_id": attr.object_id, "attribute_id": attr.id}),
        actor: auth.actor().json(),
        extra: None,
    }
}

fn select_attribute<'a>(
    ws: &'a crate::model::Workspace,
    object: &str,
    attribute: &str,
) -> Result<&'a Attribute, ApiError> {
    let object = ws.object(object)?;
    ws.attribute(object.id, attribute)
        .filter(|a| a.kind == "select")
        .ok_or_else(|| attribute_not_found(attribute))
}

pub(crate) async fn list_options(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((object, attribute)): ApiPath<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    state.read(&auth, |ws| {
        let attr = select_attribute(ws, &object, &attribute)?;
        let data: Vec<Value> = attr
            .options
            .iter()
            .filter(|o| !o.is_archived)
            .map(|o| ws.option_json(attr, o))
            .collect();
        Ok(Json(json!({"data": data})))
    })
}

/// `POST .../options`: body `{data: {title}}`.
pub(crate) async fn create_option(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((object, attribute)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<Value>, ApiError> {
    let data = data_of(&body)?.clone();
    state.write(&auth, |ws| {
        let attr_id = select_attribute(ws, &object, &attribute)?.id;
        let title = str_field(&data, "title")?.to_string();
        let attr = ws
            .attributes
            .iter_mut()
            .find(|a| a.id == attr_id)
            .ok_or_else(|| attribute_not_found(&attribute))?;
        if attr.options.iter().any(|o| o.title == title) {
            return Err(ApiError::SlugConflict(format!(
                "A select option with title \"{title}\" already exists on this attribute."
            )));
        }
        let option = SelectOption {
            id: Uuid::new_v4(),
            title,
            is_archived: false,
        };
        attr.options.push(option.clone());
        let attr = attr.clone();
        Ok((
            Json(json!({"data": ws.option_json(&attr, &option)})),
            Vec::new(),
        ))
    })
}

/// `PATCH /v2/objects/{object}/attributes/{attribute}`: body `{data: {title?, description?,
/// is_required?, is_unique?, is_archived?}}` (the spec's update-attribute fields the sandbox
/// models; every field optional). Unarchiving is how a client restores an archived attribute.
pub(crate) async fn update_attribute(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((object, attribute)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<Value>, ApiError> {
    let data = data_of(&body)?.clone();
    let known = [
        "title",
        "description",
        "api_slug",
        "is_required",
        "is_unique",
        "default_value",
        "config",
        "is_archived",
    ];
    if let Some(bad) = data.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(ApiError::Validation(format!(
            "Body payload validation error: \"data.{bad}\" is not allowed."
        )));
    }
    let opt_bool = |name: &str| -> Result<Option<bool>, ApiError> {
        match data.get(name) {
            None => Ok(None),
            Some(v) => v.as_bool().map(Some).ok_or_else(|| {
                ApiError::Validation(format!(
                    "Body payload validation error: \"data.{name}\" must be a boolean."
                ))
            }),
        }
    };
    let (archived, required, unique) = (
        opt_bool("is_archived")?,
        opt_bool("is_required")?,
        opt_bool("is_unique")?,
    );
    state.write(&auth, |ws| {
        let object_id = ws.object(&object)?.id;
        let attr_id = ws
            .attribute(object_id, &attribute)
            .ok_or_else(|| attribute_not_found(&attribute))?
            .id;
        let attr = ws
            .attributes
            .iter_mut()
            .find(|a| a.id == attr_id)
            .ok_or_else(|| attribute_not_found(&attribute))?;
        if attr.is_system_attribute && (archived.is_some() || unique.is_some()) {
            return Err(ApiError::SystemEdit(format!(
                "Cannot change the system attribute \"{}\".",
                attr.api_slug
            )));
        }
        if unique == Some(true) && attr.kind == "select" {
            return Err(ApiError::Validation(
                "Select attributes cannot be configured to be unique.".into(),
            ));
        }
        if let Some(title) = data.get("title").and_then(Value::as_str) {
            attr.title = title.to_string();
        }
        if let Some(d) = data.get("description") {
            attr.description = d.as_str().map(str::to_string);
        }
        if let Some(a) = archived {
            attr.is_archived = a;
        }
        if let Some(r) = required {
            attr.is_required = r;
        }
        let newly_unique = unique == Some(true) && !attr.is_unique;
        if let Some(u) = unique {
            attr.is_unique = u;
        }
        if newly_unique {
            ws.records.index_attribute(attr_id);
        }
        let json = ws
            .attribute_by_id(attr_id)
            .map(|a| ws.attribute_json(a))
            .unwrap_or(Value::Null);
        Ok((Json(json!({"data": json})), Vec::new()))
    })
}
