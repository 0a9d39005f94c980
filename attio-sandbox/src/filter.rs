//! Record query filters and sorts (docs.attio.com/rest-api/how-to/filtering-and-sorting,
//! shared/attio/NOTES.md §1.5): shorthand equality, `$and`/`$or`/`$not`, and the comparison
//! operators on an attribute or on one of its value fields.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::model::{Attribute, Record, Workspace};
use crate::values::{self, primary, primary_field};

fn filter_err(msg: impl Into<String>) -> ApiError {
    ApiError::Filter(msg.into())
}

/// Does `record` match `filter`? Unknown attributes and operators are `filter_error`s.
pub(crate) fn matches(ws: &Workspace, record: &Record, filter: &Value) -> Result<bool, ApiError> {
    let Value::Object(map) = filter else {
        return Err(filter_err("A filter must be an object."));
    };
    for (key, cond) in map {
        let ok = match key.as_str() {
            "$and" => all(ws, record, cond, true)?,
            "$or" => all(ws, record, cond, false)?,
            "$not" => !matches(ws, record, cond)?,
            "path" | "constraints" => {
                return Err(filter_err("Path filters are not supported by the sandbox."));
            }
            k if k.starts_with('$') => {
                return Err(filter_err(format!("Unknown logical operator \"{k}\".")));
            }
            slug => {
                let attr = ws.attribute(record.object_id, slug).ok_or_else(|| {
                    filter_err(format!("Unknown attribute slug/ID \"{slug}\" in filter."))
                })?;
                attribute_matches(record, attr, cond)?
            }
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

fn all(ws: &Workspace, record: &Record, list: &Value, and: bool) -> Result<bool, ApiError> {
    let Value::Array(items) = list else {
        return Err(filter_err("$and and $or take an array of filters."));
    };
    for f in items {
        let m = matches(ws, record, f)?;
        if and && !m {
            return Ok(false);
        }
        if !and && m {
            return Ok(true);
        }
    }
    Ok(and)
}

fn is_operator_object(v: &Value) -> bool {
    v.as_object()
        .is_some_and(|m| !m.is_empty() && m.keys().all(|k| k.starts_with('$')))
}

fn attribute_matches(record: &Record, attr: &Attribute, cond: &Value) -> Result<bool, ApiError> {
    let vals = record
        .values
        .get(&attr.id)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if let Some(ops) = cond.as_object()
        && let Some(want) = ops.get("$not_empty")
    {
        let want = want.as_bool().unwrap_or(true);
        if ops.len() == 1 {
            return Ok(vals.is_empty() != want);
        }
    }
    // Operators on the primary field, or conditions on named fields of one value.
    for v in vals {
        let hit = if is_operator_object(cond) || !cond.is_object() {
            field_matches(&attr.kind, primary_field(&attr.kind), &primary(v), cond)?
        } else {
            let mut ok = true;
            for (field, c) in cond.as_object().map(Map::iter).into_iter().flatten() {
                let actual = match v.get(field) {
                    Some(Value::Object(o)) if o.contains_key("title") => {
                        o.get("title").cloned().unwrap_or(Value::Null)
                    }
                    Some(x) => x.clone(),
                    None => {
                        return Err(filter_err(format!(
                            "Attribute \"{}\" of type {} has no field \"{field}\".",
                            attr.api_slug, attr.kind
                        )));
                    }
                };
                if !field_matches(&attr.kind, field, &actual, c)? {
                    ok = false;
                    break;
                }
            }
            ok
        };
        if hit {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Normalize a filter operand the way values of the field are normalized.
fn normalize(kind: &str, field: &str, v: &Value) -> Value {
    match (kind, field, v) {
        ("email-address", "email_address", Value::String(s)) => values::email(s)
            .and_then(|m| m.get("email_address").cloned())
            .unwrap_or_else(|| v.clone()),
        ("domain", "domain", Value::String(s)) => values::normalize_domain(s)
            .map(Value::String)
            .unwrap_or_else(|| v.clone()),
        ("timestamp", "value", Value::String(s)) => values::parse_timestamp(s)
            .map(|t| Value::String(crate::model::attio_time(t)))
            .unwrap_or_else(|| v.clone()),
        _ => v.clone(),
    }
}

fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn field_matches(kind: &str, field: &str, actual: &Value, cond: &Value) -> Result<bool, ApiError> {
    if !is_operator_object(cond) {
        if cond.is_object() || cond.is_array() {
            return Err(filter_err(format!(
                "Invalid condition for field \"{field}\": {cond}"
            )));
        }
        return Ok(actual == &normalize(kind, field, cond));
    }
    let text = |v: &Value| v.as_str().map(str::to_lowercase);
    for (op, operand) in cond.as_object().map(Map::iter).into_iter().flatten() {
        let operand = normalize(kind, field, operand);
        let ok = match op.as_str() {
            "$eq" => actual == &operand,
            "$in" => operand
                .as_array()
                .ok_or_else(|| filter_err("$in takes an array."))?
                .iter()
                .any(|o| actual == &normalize(kind, field, o)),
            "$not_empty" => !actual.is_null() && actual != &Value::String(String::new()),
            "$contains" => {
                matches!((text(actual), text(&operand)), (Some(a), Some(o)) if a.contains(&o))
            }
            "$starts_with" => {
                matches!((text(actual), text(&operand)), (Some(a), Some(o)) if a.starts_with(&o))
            }
            "$ends_with" => {
                matches!((text(actual), text(&operand)), (Some(a), Some(o)) if a.ends_with(&o))
            }
            "$lt" => compare(actual, &operand) == Some(Ordering::Less),
            "$lte" => matches!(
                compare(actual, &operand),
                Some(Ordering::Less | Ordering::Equal)
            ),
            "$gt" => compare(actual, &operand) == Some(Ordering::Greater),
            "$gte" => matches!(
                compare(actual, &operand),
                Some(Ordering::Greater | Ordering::Equal)
            ),
            other => return Err(filter_err(format!("Unknown operator \"{other}\"."))),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// One parsed sort: attribute and optional field, ascending or not.
pub(crate) struct Sort {
    attr: Attribute,
    field: Option<String>,
    ascending: bool,
}

/// Parse `sorts` (`[{direction, attribute, field?}]`) against the object's attributes.
pub(crate) fn parse_sorts(
    ws: &Workspace,
    object_id: uuid::Uuid,
    sorts: &[Value],
) -> Result<Vec<Sort>, ApiError> {
    sorts
        .iter()
        .map(|s| {
            if s.get("path").is_some() {
                return Err(filter_err("Path sorts are not supported by the sandbox."));
            }
            let ascending = match s.get("direction").and_then(Value::as_str) {
                Some("asc") => true,
                Some("desc") => false,
                _ => return Err(filter_err("Sort direction must be \"asc\" or \"desc\".")),
            };
            let ident = s
                .get("attribute")
                .and_then(Value::as_str)
                .ok_or_else(|| filter_err("A sort needs an attribute."))?;
            let attr = ws
                .attribute(object_id, ident)
                .ok_or_else(|| {
                    filter_err(format!("Unknown attribute slug/ID \"{ident}\" in sort."))
                })?
                .clone();
            let field = s.get("field").and_then(Value::as_str).map(str::to_string);
            Ok(Sort {
                attr,
                field,
                ascending,
            })
        })
        .collect()
}

fn sort_key(record: &Record, sort: &Sort) -> Value {
    let Some(v) = record.values.get(&sort.attr.id).and_then(|v| v.first()) else {
        return Value::Null;
    };
    match &sort.field {
        Some(f) => v.get(f).cloned().unwrap_or(Value::Null),
        None => primary(v),
    }
}

/// Sort records in place: by each sort in turn, records without a value last, then by
/// creation order.
pub(crate) fn sort(records: &mut [&Record], sorts: &[Sort]) {
    records.sort_by(|a, b| {
        for s in sorts {
            let (ka, kb) = (sort_key(a, s), sort_key(b, s));
            let ord = match (ka.is_null(), kb.is_null()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                _ => {
                    let o = compare(&ka, &kb).unwrap_or(Ordering::Equal);
                    if s.ascending { o } else { o.reverse() }
                }
            };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        a.seq.cmp(&b.seq)
    });
}
