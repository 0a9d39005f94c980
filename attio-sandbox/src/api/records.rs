//! Records (`/v2/objects/{object}/records...`): create, assert, PATCH (append), PUT
//! (overwrite), get, delete and query.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{ApiJson, ApiPath, ApiQuery, Auth, data_of};
use crate::error::ApiError;
use crate::filter;
use crate::state::AppState;
use crate::write::{self, Mode};

/// `data.values` of a write body.
fn values_of(body: &Value) -> Result<Map<String, Value>, ApiError> {
    data_of(body)?
        .get("values")
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| {
            ApiError::Validation(
                "Body payload validation error: \"data.values\" must be an object.".into(),
            )
        })
}

fn record_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw)
        .map_err(|_| ApiError::NotFound(format!("Record with ID \"{raw}\" not found.")))
}

async fn write_record(
    state: &AppState,
    auth: &Auth,
    object: &str,
    id: Option<Uuid>,
    values: Map<String, Value>,
    mode: impl FnOnce(&crate::model::Workspace, Uuid) -> Result<Mode, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let actor = auth.actor();
    state.write(auth, |ws| {
        let object_id = ws.object(object)?.id;
        let mode = mode(ws, object_id)?;
        let (id, events) = write::write(ws, object_id, id, &values, mode, &actor)?;
        let record = ws
            .records
            .get(&id)
            .map(|r| ws.record_json(&r))
            .unwrap_or(Value::Null);
        Ok((Json(json!({"data": record})), events))
    })
}

pub(crate) async fn create(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(object): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<Value>, ApiError> {
    let values = values_of(&body)?;
    write_record(&state, &auth, &object, None, values, |_, _| {
        Ok(Mode::Create)
    })
    .await
}

#[derive(Deserialize)]
pub(crate) struct Matching {
    matching_attribute: Option<String>,
}

/// `PUT /v2/objects/{object}/records?matching_attribute=`: the matching attribute must exist
/// and be unique.
pub(crate) async fn assert(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(object): ApiPath<String>,
    ApiQuery(query): ApiQuery<Matching>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<Value>, ApiError> {
    let values = values_of(&body)?;
    let matching = query.matching_attribute.ok_or_else(|| {
        ApiError::Validation("The query parameter \"matching_attribute\" is required.".into())
    })?;
    write_record(&state, &auth, &object, None, values, |ws, object_id| {
        let attr = ws.attribute(object_id, &matching).ok_or_else(|| {
            ApiError::ValueNotFound(format!(
                "No attribute was found for matching_attribute slug/ID \"{matching}\"."
            ))
        })?;
        if !attr.is_unique {
            return Err(ApiError::Validation(format!(
                "The matching_attribute \"{matching}\" must be a unique attribute."
            )));
        }
        Ok(Mode::Assert(attr.id))
    })
    .await
}

pub(crate) async fn append(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((object, id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<Value>, ApiError> {
    let values = values_of(&body)?;
    let id = record_id(&id)?;
    write_record(&state, &auth, &object, Some(id), values, |_, _| {
        Ok(Mode::Append)
    })
    .await
}

pub(crate) async fn overwrite(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((object, id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<Value>, ApiError> {
    let values = values_of(&body)?;
    let id = record_id(&id)?;
    write_record(&state, &auth, &object, Some(id), values, |_, _| {
        Ok(Mode::Overwrite)
    })
    .await
}

pub(crate) async fn get(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((object, id)): ApiPath<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    state.read(&auth, |ws| {
        let object_id = ws.object(&object)?.id;
        let rid = record_id(&id)?;
        match ws.records.get(&rid) {
            Some(r) if r.object_id == object_id => Ok(Json(json!({"data": ws.record_json(&r)}))),
            _ => Err(ApiError::NotFound(format!(
                "Record with ID \"{id}\" not found."
            ))),
        }
    })
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((object, id)): ApiPath<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let actor = auth.actor();
    state.write(&auth, |ws| {
        let object_id = ws.object(&object)?.id;
        let rid = record_id(&id)?;
        let events = write::delete(ws, object_id, rid, &actor)?;
        Ok((Json(json!({})), events))
    })
}

/// `POST .../records/query`: body `{filter?, sorts?, limit? (500), offset? (0)}`.
pub(crate) async fn query(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(object): ApiPath<String>,
    super::ApiBytes(body): super::ApiBytes,
) -> Result<Json<Value>, ApiError> {
    // The body is optional: an empty one lists everything.
    let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::Validation(format!("Body payload validation error: {e}")))?
    };
    let body = match body {
        Value::Null => Map::new(),
        Value::Object(m) => m,
        _ => {
            return Err(ApiError::Validation(
                "Body payload validation error: the body must be an object.".into(),
            ));
        }
    };
    let number = |key: &str, default: usize| -> Result<usize, ApiError> {
        match body.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v.as_u64().map(|n| n as usize).ok_or_else(|| {
                ApiError::Validation(format!(
                    "Body payload validation error: \"{key}\" must be a non-negative integer."
                ))
            }),
        }
    };
    let limit = number("limit", 500)?;
    let offset = number("offset", 0)?;
    state.read(&auth, |ws| {
        let object_id = ws.object(&object)?.id;
        let sorts = match body.get("sorts") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(s)) => filter::parse_sorts(ws, object_id, s)?,
            Some(_) => return Err(ApiError::Filter("\"sorts\" must be an array.".into())),
        };
        let filter = body.get("filter").cloned().unwrap_or(Value::Null);
        let mut found = Vec::new();
        // `{unique_slug: "value"}` (a lookup, e.g. a person by email): the unique index
        // gives the candidates instead of a scan of the object; the filter still decides.
        let candidates = unique_lookup(ws, object_id, &filter).map(|ids| {
            ids.into_iter()
                .filter_map(|id| ws.records.get(&id))
                .collect::<Vec<_>>()
        });
        let scanned: Box<dyn Iterator<Item = crate::model::Record>> = match candidates {
            Some(c) => Box::new(c.into_iter()),
            None => Box::new(ws.records.of_object(object_id)),
        };
        for r in scanned {
            if filter.is_null() || filter::matches(ws, &r, &filter)? {
                found.push(r);
            }
        }
        let mut hits: Vec<&crate::model::Record> = found.iter().collect();
        filter::sort(&mut hits, &sorts);
        let data: Vec<Value> = hits
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|r| ws.record_json(r))
            .collect();
        Ok(Json(json!({"data": data})))
    })
}

/// The records a `{slug: "string"}` filter on a unique attribute can match, from the unique
/// index; `None` for any other filter (scanned).
fn unique_lookup(
    ws: &crate::model::Workspace,
    object_id: Uuid,
    filter: &Value,
) -> Option<Vec<Uuid>> {
    let map = filter.as_object().filter(|m| m.len() == 1)?;
    let (slug, value) = map.iter().next()?;
    if slug.starts_with('$') || !value.is_string() {
        return None;
    }
    let attr = ws.attribute(object_id, slug).filter(|a| a.is_unique)?;
    let key = crate::values::lookup_key(&attr.kind, value)?;
    Some(crate::values::find_by(ws, object_id, attr.id, &key))
}
