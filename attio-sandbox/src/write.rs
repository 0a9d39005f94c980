//! Record writes: create, assert, PATCH (append) and PUT (overwrite), with `is_required`,
//! `is_unique` and `is_multiselect` enforced, relationship pairs kept in step on both sides,
//! and the webhook events each change produces (shared/attio/NOTES.md §1.4, §3).

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::error::ApiError;
use crate::model::{Actor, Attribute, Record, Workspace, now_string};
use crate::values::{self, content, primary};

/// How the values of a write combine with those already stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Mode {
    /// `POST .../records`.
    Create,
    /// `PATCH .../records/{id}`: multiselect values are prepended to the existing ones.
    Append,
    /// `PUT .../records/{id}`: multiselect values replace the existing ones.
    Overwrite,
    /// `PUT .../records?matching_attribute=`: update the match or create; values of the
    /// matching attribute (if multiselect) are added, other multiselects overwritten.
    Assert(Uuid),
}

/// A record event to deliver to webhooks: `{event_type, id, actor}`.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub event_type: &'static str,
    pub id: Value,
    pub actor: Value,
    /// Fields of some event types besides `id` and `actor` (`record.merged`:
    /// `duplicate_object_id`, `duplicate_record_id`).
    pub extra: Option<Map<String, Value>>,
}

impl Event {
    pub(crate) fn json(&self) -> Value {
        let mut v = json!({"event_type": self.event_type, "id": self.id, "actor": self.actor});
        if let (Some(extra), Some(map)) = (&self.extra, v.as_object_mut()) {
            map.extend(extra.clone());
        }
        v
    }
}

fn record_event(
    ws: &Workspace,
    kind: &'static str,
    object_id: Uuid,
    record_id: Uuid,
    attribute_id: Option<Uuid>,
    actor: &Actor,
) -> Event {
    let mut id = json!({"workspace_id": ws.id, "object_id": object_id, "record_id": record_id});
    if let (Some(a), Some(map)) = (attribute_id, id.as_object_mut()) {
        map.insert("attribute_id".into(), json!(a));
    }
    Event {
        event_type: kind,
        id,
        actor: actor.json(),
        extra: None,
    }
}

/// A stored value: its content plus when and by whom it was written.
fn stamp(mut fields: Map<String, Value>, actor: &Actor, now: &str) -> Value {
    fields.insert("active_from".into(), json!(now));
    fields.insert("active_until".into(), Value::Null);
    fields.insert("created_by_actor".into(), actor.json());
    Value::Object(fields)
}

/// Values after a write, keeping the stored value (and its `active_from`) for every value
/// whose content did not change. With `keep_old`, stored values stay where they are and only
/// values not yet present are added, in front (`prepend`, PATCH) or behind (assert).
fn merge(old: &[Value], new: Vec<Value>, keep_old: bool, prepend: bool) -> Vec<Value> {
    let old_contents: Vec<Value> = old.iter().map(content).collect();
    if !keep_old {
        return new
            .into_iter()
            .map(|v| {
                let c = content(&v);
                old.iter().find(|o| content(o) == c).cloned().unwrap_or(v)
            })
            .collect();
    }
    let added: Vec<Value> = new
        .into_iter()
        .filter(|v| !old_contents.contains(&content(v)))
        .collect();
    if prepend {
        added.into_iter().chain(old.iter().cloned()).collect()
    } else {
        old.iter().cloned().chain(added).collect()
    }
}

fn same(a: &[Value], b: &[Value]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| content(x) == content(y))
}

fn targets(vals: &[Value]) -> Vec<Uuid> {
    vals.iter()
        .filter_map(|v| v.get("target_record_id")?.as_str()?.parse().ok())
        .collect()
}

/// Write `values` to a record of `object_id` and return its id and the events produced.
/// Nothing is changed when an error is returned.
pub(crate) fn write(
    ws: &mut Workspace,
    object_id: Uuid,
    record_id: Option<Uuid>,
    values: &Map<String, Value>,
    mode: Mode,
    actor: &Actor,
) -> Result<(Uuid, Vec<Event>), ApiError> {
    let now = now_string();
    // 1. Parse every value against its attribute.
    let mut parsed: Vec<(Attribute, Vec<Value>)> = Vec::new();
    for (key, raw) in values {
        let attr = ws.attribute(object_id, key).ok_or_else(|| {
            ApiError::ValueNotFound(format!("Cannot find attribute with slug/ID \"{key}\"."))
        })?;
        if attr.is_archived {
            return Err(ApiError::Validation(format!(
                "Cannot write to the archived attribute \"{}\"; unarchive it first.",
                attr.api_slug
            )));
        }
        if !attr.is_writable {
            return Err(ApiError::SystemEdit(format!(
                "Cannot write to the system attribute \"{}\".",
                attr.api_slug
            )));
        }
        let vals = values::parse(ws, attr, raw)?
            .into_iter()
            .map(|f| stamp(f, actor, &now))
            .collect();
        parsed.push((attr.clone(), vals));
    }

    // 2. Find the record to change (or decide to create one).
    let existing: Option<Uuid> = match mode {
        Mode::Create => None,
        Mode::Append | Mode::Overwrite => {
            let id = record_id.ok_or_else(|| ApiError::NotFound("Record not found.".into()))?;
            match ws.records.object_of(&id) {
                Some(o) if o == object_id => Some(id),
                _ => {
                    return Err(ApiError::NotFound(format!(
                        "Record with ID \"{id}\" not found."
                    )));
                }
            }
        }
        Mode::Assert(matching) => {
            let (attr, vals) = parsed.iter().find(|(a, _)| a.id == matching).ok_or_else(|| {
                ApiError::MissingValue(format!(
                    "A value for the matching attribute with ID \"{matching}\" was not provided."
                ))
            })?;
            if vals.is_empty() {
                return Err(ApiError::MissingValue(format!(
                    "A value for the matching attribute \"{}\" was not provided.",
                    attr.api_slug
                )));
            }
            let mut found: Vec<Uuid> = Vec::new();
            for v in vals {
                for id in values::find_by(ws, object_id, matching, &primary(v)) {
                    if !found.contains(&id) {
                        found.push(id);
                    }
                }
            }
            if found.len() > 1 {
                return Err(ApiError::MultipleMatch(format!(
                    "Multiple records match the value of matching attribute \"{}\".",
                    attr.api_slug
                )));
            }
            found.first().copied()
        }
    };
    let creating = existing.is_none();
    let id = existing.unwrap_or_else(Uuid::new_v4);
    let old_values: HashMap<Uuid, Vec<Value>> = existing
        .and_then(|id| ws.records.get(&id))
        .map(|r| r.values)
        .unwrap_or_default();

    // 3. Combine with the stored values.
    let mut new_values = old_values.clone();
    for (attr, vals) in &parsed {
        let old = old_values.get(&attr.id).map(Vec::as_slice).unwrap_or(&[]);
        let merged = match mode {
            Mode::Append if attr.is_multiselect => merge(old, vals.clone(), true, true),
            Mode::Assert(m) if m == attr.id && attr.is_multiselect && !creating => {
                merge(old, vals.clone(), true, false)
            }
            _ => merge(old, vals.clone(), false, false),
        };
        new_values.insert(attr.id, merged);
    }
    let system = |slug: &str| {
        ws.attributes_of(object_id)
            .find(|a| a.api_slug == slug && a.is_system_attribute && !a.is_writable)
            .map(|a| a.id)
    };
    if creating {
        let mut sys = |slug: &str, fields: Value| {
            if let (Some(attr_id), Value::Object(f)) = (system(slug), fields) {
                new_values.insert(attr_id, vec![stamp(f, actor, &now)]);
            }
        };
        sys(
            "record_id",
            json!({"value": id.to_string(), "attribute_type": "text"}),
        );
        sys(
            "created_at",
            json!({"value": now, "attribute_type": "timestamp"}),
        );
        sys(
            "created_by",
            json!({"referenced_actor_type": actor.kind, "referenced_actor_id": actor.id, "attribute_type": "actor-reference"}),
        );
    }

    // 4. Required and unique attributes.
    for attr in ws.attributes_of(object_id) {
        let empty = new_values.get(&attr.id).is_none_or(Vec::is_empty);
        let written = parsed.iter().any(|(a, _)| a.id == attr.id);
        if attr.is_required && empty && (creating || written) {
            return Err(ApiError::MissingValue(format!(
                "Required value for attribute with ID \"{}\" was not provided.",
                attr.id
            )));
        }
    }
    for (attr, _) in parsed.iter().filter(|(a, _)| a.is_unique) {
        for v in new_values.get(&attr.id).map(Vec::as_slice).unwrap_or(&[]) {
            let key = primary(v);
            if values::find_by(ws, object_id, attr.id, &key)
                .iter()
                .any(|other| *other != id)
            {
                let shown = key.as_str().map_or_else(|| key.to_string(), str::to_string);
                return Err(ApiError::Uniqueness(format!(
                    "The value \"{shown}\" provided for attribute with ID \"{}\" conflicts with one already in the system.",
                    attr.id
                )));
            }
        }
    }

    // 5. Commit, then keep the other side of relationships in step.
    let changed: Vec<Attribute> = parsed
        .iter()
        .filter(|(a, _)| {
            !same(
                old_values.get(&a.id).map(Vec::as_slice).unwrap_or(&[]),
                new_values.get(&a.id).map(Vec::as_slice).unwrap_or(&[]),
            )
        })
        .map(|(a, _)| a.clone())
        .collect();
    let mut events = Vec::new();
    if creating {
        let seq = ws.next_seq;
        ws.next_seq += 1;
        ws.records.insert(Record {
            id,
            object_id,
            created_at: now.clone(),
            seq,
            values: new_values.clone(),
        });
        events.push(record_event(
            ws,
            "record.created",
            object_id,
            id,
            None,
            actor,
        ));
    } else {
        ws.records.update(&id, |r| r.values = new_values.clone());
        for attr in &changed {
            events.push(record_event(
                ws,
                "record.updated",
                object_id,
                id,
                Some(attr.id),
                actor,
            ));
        }
    }
    for attr in changed.iter().filter(|a| a.relationship.is_some()) {
        let old = targets(old_values.get(&attr.id).map(Vec::as_slice).unwrap_or(&[]));
        let new = targets(new_values.get(&attr.id).map(Vec::as_slice).unwrap_or(&[]));
        sync_inverse(ws, id, attr, &old, &new, actor, &now, &mut events);
    }
    Ok((id, events))
}

/// Mirror a change of relationship attribute `attr` on record `id` onto the inverse
/// attribute of the records it now points at (and no longer points at).
#[allow(clippy::too_many_arguments)]
fn sync_inverse(
    ws: &mut Workspace,
    id: Uuid,
    attr: &Attribute,
    old: &[Uuid],
    new: &[Uuid],
    actor: &Actor,
    now: &str,
    events: &mut Vec<Event>,
) {
    let Some(inverse) = attr
        .relationship
        .and_then(|i| ws.attribute_by_id(i))
        .cloned()
    else {
        return;
    };
    let Some(slug) = ws.object_by_id(attr.object_id).map(|o| o.api_slug.clone()) else {
        return;
    };
    let reference = |target_slug: &str, target: Uuid| {
        stamp(
            json!({"target_object": target_slug, "target_record_id": target, "attribute_type": "record-reference"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            actor,
            now,
        )
    };
    let old_set: HashSet<Uuid> = old.iter().copied().collect();
    let new_set: HashSet<Uuid> = new.iter().copied().collect();
    let mut touched: Vec<(Uuid, Uuid, Uuid)> = Vec::new(); // (object, record, attribute)
    for t in new.iter().filter(|t| !old_set.contains(t)) {
        let mut displaced = Vec::new();
        let target_object = ws.records.update(t, |rec| {
            let vals = rec.values.entry(inverse.id).or_default();
            if inverse.is_multiselect {
                if !targets(vals).contains(&id) {
                    vals.push(reference(&slug, id));
                }
            } else {
                displaced = targets(vals).into_iter().filter(|d| *d != id).collect();
                *vals = vec![reference(&slug, id)];
            }
            rec.object_id
        });
        if let Some(object_id) = target_object {
            touched.push((object_id, *t, inverse.id));
        }
        // The record that lost `t` on a single-select inverse loses it on its side too.
        for d in displaced {
            let lost = ws.records.update(&d, |rec| {
                let vals = rec.values.get_mut(&attr.id)?;
                vals.retain(|v| targets(std::slice::from_ref(v)) != [*t]);
                Some(rec.object_id)
            });
            if let Some(Some(object_id)) = lost {
                touched.push((object_id, d, attr.id));
            }
        }
    }
    for t in old.iter().filter(|t| !new_set.contains(t)) {
        let lost = ws.records.update(t, |rec| {
            let vals = rec.values.get_mut(&inverse.id)?;
            vals.retain(|v| targets(std::slice::from_ref(v)) != [id]);
            Some(rec.object_id)
        });
        if let Some(Some(object_id)) = lost {
            touched.push((object_id, *t, inverse.id));
        }
    }
    for (object_id, record_id, attribute_id) in touched {
        events.push(record_event(
            ws,
            "record.updated",
            object_id,
            record_id,
            Some(attribute_id),
            actor,
        ));
    }
}

/// Delete a record and every reference to it; events: `record.deleted`, then
/// `record.updated` for each record that lost a reference.
pub(crate) fn delete(
    ws: &mut Workspace,
    object_id: Uuid,
    record_id: Uuid,
    actor: &Actor,
) -> Result<Vec<Event>, ApiError> {
    match ws.records.object_of(&record_id) {
        Some(o) if o == object_id => {}
        _ => {
            return Err(ApiError::NotFound(format!(
                "Record with ID \"{record_id}\" not found."
            )));
        }
    }
    ws.records.remove(&record_id);
    let mut events = vec![record_event(
        ws,
        "record.deleted",
        object_id,
        record_id,
        None,
        actor,
    )];
    // Only the records that refer to it (the reference index) can lose a value.
    let mut touched = Vec::new();
    for referrer in ws.records.referrers(record_id) {
        ws.records.update(&referrer, |rec| {
            for (attr_id, vals) in rec.values.iter_mut() {
                let before = vals.len();
                vals.retain(|v| targets(std::slice::from_ref(v)) != [record_id]);
                if vals.len() != before {
                    touched.push((rec.object_id, rec.id, *attr_id));
                }
            }
        });
    }
    touched.sort();
    for (o, r, a) in touched {
        events.push(record_event(ws, "record.updated", o, r, Some(a), actor));
    }
    Ok(events)
}

/// Merge record `duplicate` into `survivor` as Attio's UI does (the older record-merged docs:
/// "Merging copies properties from the duplicate record into the original record ... and the
/// duplicate record is deleted"): multiselect values are united, a single-select value of the
/// duplicate is kept only where the survivor has none, references to the duplicate now point
/// at the survivor (through the relationship pairs). Events: one `record.merged` carrying the
/// survivor's id and `duplicate_object_id`/`duplicate_record_id`, then `record.updated` of the
/// records whose relationship values changed.
pub(crate) fn merge_records(
    ws: &mut Workspace,
    object_id: Uuid,
    survivor: Uuid,
    duplicate: Uuid,
    actor: &Actor,
) -> Result<Vec<Event>, ApiError> {
    let not_found = |id: Uuid| ApiError::NotFound(format!("Record with ID \"{id}\" not found."));
    for id in [survivor, duplicate] {
        if ws.records.object_of(&id) != Some(object_id) {
            return Err(not_found(id));
        }
    }
    if survivor == duplicate {
        return Err(ApiError::Validation(
            "A record cannot be merged with itself.".into(),
        ));
    }
    let dup = ws
        .records
        .get(&duplicate)
        .ok_or_else(|| not_found(duplicate))?;
    let old = ws
        .records
        .get(&survivor)
        .ok_or_else(|| not_found(survivor))?
        .values;
    // The duplicate goes first, with every reference to it, so that its unique values and
    // its side of relationships are free for the survivor.
    delete(ws, object_id, duplicate, actor)?;
    let attrs: Vec<Attribute> = ws
        .attributes_of(object_id)
        .filter(|a| a.is_writable)
        .cloned()
        .collect();
    let mut new_values = old.clone();
    let mut changed = Vec::new();
    for attr in &attrs {
        let theirs = dup.values.get(&attr.id).cloned().unwrap_or_default();
        if theirs.is_empty() {
            continue;
        }
        let mine = old.get(&attr.id).cloned().unwrap_or_default();
        let merged = if attr.is_multiselect {
            merge(&mine, theirs, true, false)
        } else if mine.is_empty() {
            theirs
        } else {
            mine.clone()
        };
        if !same(&mine, &merged) {
            new_values.insert(attr.id, merged);
            changed.push(attr.clone());
        }
    }
    ws.records
        .update(&survivor, |r| r.values = new_values.clone());
    let mut extra = Map::new();
    extra.insert("duplicate_object_id".into(), json!(object_id));
    extra.insert("duplicate_record_id".into(), json!(duplicate));
    let mut events = vec![Event {
        extra: Some(extra),
        ..record_event(ws, "record.merged", object_id, survivor, None, actor)
    }];
    let now = now_string();
    for attr in changed.iter().filter(|a| a.relationship.is_some()) {
        let before = targets(old.get(&attr.id).map(Vec::as_slice).unwrap_or(&[]));
        let after = targets(new_values.get(&attr.id).map(Vec::as_slice).unwrap_or(&[]));
        sync_inverse(
            ws,
            survivor,
            attr,
            &before,
            &after,
            actor,
            &now,
            &mut events,
        );
    }
    Ok(events)
}
