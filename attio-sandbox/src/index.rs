//! The records of a workspace with two indexes kept in step with every change, so that a
//! write costs about the same with 20 or 20 000 records stored:
//! - the values of unique attributes, per attribute (attribute ids are unique per workspace,
//!   so an attribute id stands for its (object, attribute) pair): assert matching,
//!   uniqueness checks and record-reference lookups by a unique attribute are hash lookups;
//! - who refers to whom (record-reference values of any attribute): deleting a record only
//!   visits the records that point at it.
//!
//! Records can only be changed through [`Records::insert`], [`Records::update`] and
//! [`Records::remove`], which un-index the record before and re-index it after the change.
//!
//! Values are stored as their JSON text and decoded when a record is read: a value held as
//! a `serde_json::Value` tree costs about 1.5 KB (two B-tree nodes and a dozen small
//! strings), its text a tenth of that, so 20 000 users take tens of MiB instead of hundreds.

use std::collections::{HashMap, HashSet};

use serde_json::Value;
use uuid::Uuid;

use crate::model::Record;
use crate::values::primary;

/// The lookup key of a primary value. `Value` has no `Hash`; its JSON text does, and two
/// primaries are equal exactly when their texts are, except for `-0.0`, folded into `0.0`.
pub(crate) fn key_of(primary: &Value) -> String {
    match primary {
        Value::Number(n) if n.is_f64() && n.as_f64() == Some(0.0) => "0.0".to_string(),
        // Strings come out quoted, so "1" and 1 stay apart.
        other => other.to_string(),
    }
}

/// The record a record-reference value points at.
fn target_of(v: &Value) -> Option<Uuid> {
    v.get("target_record_id")?.as_str()?.parse().ok()
}

#[derive(Debug, Clone, Default)]
struct Index {
    /// Unique attribute id -> primary key -> records holding it as `(seq, id)`, in creation
    /// order (the order lookups answer in). Normally one record per key.
    unique: HashMap<Uuid, HashMap<String, Vec<(u64, Uuid)>>>,
    /// Record id -> the records whose values refer to it.
    referrers: HashMap<Uuid, HashSet<Uuid>>,
}

impl Index {
    fn add(&mut self, rec: &Record) {
        for (attr_id, vals) in &rec.values {
            if let Some(keys) = self.unique.get_mut(attr_id) {
                for v in vals {
                    let holders = keys.entry(key_of(&primary(v))).or_default();
                    if let Err(at) = holders.binary_search(&(rec.seq, rec.id)) {
                        holders.insert(at, (rec.seq, rec.id));
                    }
                }
            }
            for t in vals.iter().filter_map(target_of) {
                self.referrers.entry(t).or_default().insert(rec.id);
            }
        }
    }

    fn remove(&mut self, rec: &Record) {
        for (attr_id, vals) in &rec.values {
            if let Some(keys) = self.unique.get_mut(attr_id) {
                for v in vals {
                    let key = key_of(&primary(v));
                    if let Some(holders) = keys.get_mut(&key) {
                        holders.retain(|(_, id)| *id != rec.id);
                        if holders.is_empty() {
                            keys.remove(&key);
                        }
                    }
                }
            }
            for t in vals.iter().filter_map(target_of) {
                if let Some(set) = self.referrers.get_mut(&t) {
                    set.remove(&rec.id);
                    if set.is_empty() {
                        self.referrers.remove(&t);
                    }
                }
            }
        }
    }
}

/// A record as stored: each attribute's values as the JSON text of their array.
#[derive(Debug, Clone)]
struct Stored {
    object_id: Uuid,
    created_at: Box<str>,
    seq: u64,
    values: Vec<(Uuid, Box<str>)>,
}

impl Stored {
    fn encode(rec: &Record) -> Self {
        Self {
            object_id: rec.object_id,
            created_at: rec.created_at.as_str().into(),
            seq: rec.seq,
            values: rec
                .values
                .iter()
                .map(|(attr, vals)| {
                    // A `Value` always serializes.
                    let text = serde_json::to_string(vals).unwrap_or_else(|_| "[]".into());
                    (*attr, text.into_boxed_str())
                })
                .collect(),
        }
    }

    fn decode(&self, id: Uuid) -> Record {
        Record {
            id,
            object_id: self.object_id,
            created_at: self.created_at.to_string(),
            seq: self.seq,
            values: self
                .values
                .iter()
                .map(|(attr, text)| (*attr, serde_json::from_str(text).unwrap_or_default()))
                .collect(),
        }
    }
}

/// The records of one workspace, by id, with their indexes.
#[derive(Debug, Clone, Default)]
pub(crate) struct Records {
    map: HashMap<Uuid, Stored>,
    index: Index,
}

impl Records {
    /// A record, decoded.
    pub(crate) fn get(&self, id: &Uuid) -> Option<Record> {
        self.map.get(id).map(|s| s.decode(*id))
    }

    /// Ids and objects of every record, without decoding them (for sampling).
    pub(crate) fn ids(&self) -> impl Iterator<Item = (Uuid, Uuid)> + '_ {
        self.map.iter().map(|(id, s)| (*id, s.object_id))
    }

    /// The object of a record, without decoding it.
    pub(crate) fn object_of(&self, id: &Uuid) -> Option<Uuid> {
        self.map.get(id).map(|s| s.object_id)
    }

    /// The records of one object, decoded.
    pub(crate) fn of_object(&self, object_id: Uuid) -> impl Iterator<Item = Record> + '_ {
        self.map
            .iter()
            .filter(move |(_, s)| s.object_id == object_id)
            .map(|(id, s)| s.decode(*id))
    }

    /// Store a record (replacing one with the same id).
    pub(crate) fn insert(&mut self, record: Record) {
        if let Some(old) = self.map.remove(&record.id) {
            self.index.remove(&old.decode(record.id));
        }
        self.index.add(&record);
        self.map.insert(record.id, Stored::encode(&record));
    }

    /// Change a record; `None` if there is no such record.
    pub(crate) fn update<R>(&mut self, id: &Uuid, f: impl FnOnce(&mut Record) -> R) -> Option<R> {
        let stored = self.map.get_mut(id)?;
        let mut rec = stored.decode(*id);
        self.index.remove(&rec);
        let out = f(&mut rec);
        self.index.add(&rec);
        *stored = Stored::encode(&rec);
        Some(out)
    }

    pub(crate) fn remove(&mut self, id: &Uuid) -> Option<Record> {
        let rec = self.map.remove(id)?.decode(*id);
        self.index.remove(&rec);
        Some(rec)
    }

    /// Index the values of a unique attribute (at its creation; values already stored are
    /// picked up too).
    pub(crate) fn index_attribute(&mut self, attr_id: Uuid) {
        if self.index.unique.contains_key(&attr_id) {
            return;
        }
        let mut keys: HashMap<String, Vec<(u64, Uuid)>> = HashMap::new();
        for rec in self.map.iter().map(|(id, s)| s.decode(*id)) {
            for v in rec.values.get(&attr_id).into_iter().flatten() {
                let holders = keys.entry(key_of(&primary(v))).or_default();
                if let Err(at) = holders.binary_search(&(rec.seq, rec.id)) {
                    holders.insert(at, (rec.seq, rec.id));
                }
            }
        }
        self.index.unique.insert(attr_id, keys);
    }

    /// Records whose attribute `attr_id` has a value with primary `key`, in creation order;
    /// `None` when the attribute is not indexed (not unique).
    pub(crate) fn find_unique(&self, attr_id: Uuid, key: &Value) -> Option<Vec<Uuid>> {
        let keys = self.index.unique.get(&attr_id)?;
        Some(
            keys.get(&key_of(key))
                .map(|holders| holders.iter().map(|(_, id)| *id).collect())
                .unwrap_or_default(),
        )
    }

    /// Records with a record-reference value pointing at `target`, sorted by id.
    pub(crate) fn referrers(&self, target: Uuid) -> Vec<Uuid> {
        let mut ids: Vec<Uuid> = self
            .index
            .referrers
            .get(&target)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        ids.sort();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(seq: u64, attr: Uuid, vals: Vec<Value>) -> Record {
        Record {
            id: Uuid::new_v4(),
            object_id: Uuid::nil(),
            created_at: String::new(),
            seq,
            values: HashMap::from([(attr, vals)]),
        }
    }

    fn text(s: &str) -> Value {
        json!({"value": s, "attribute_type": "text"})
    }

    #[test]
    fn keys_keep_types_apart_and_fold_negative_zero() {
        assert_ne!(key_of(&json!("1")), key_of(&json!(1)));
        assert_ne!(key_of(&json!(1)), key_of(&json!(1.0)));
        assert_eq!(key_of(&json!(-0.0)), key_of(&json!(0.0)));
        assert_eq!(key_of(&json!("a\"b")), key_of(&json!("a\"b")));
    }

    #[test]
    fn index_follows_insert_update_remove() {
        let attr = Uuid::new_v4();
        let mut records = Records::default();
        records.index_attribute(attr);
        let a = record(0, attr, vec![text("x")]);
        let a_id = a.id;
        records.insert(a);
        assert_eq!(records.find_unique(attr, &json!("x")), Some(vec![a_id]));
        records.update(&a_id, |r| {
            r.values.insert(attr, vec![text("y")]);
        });
        assert_eq!(records.find_unique(attr, &json!("x")), Some(vec![]));
        assert_eq!(records.find_unique(attr, &json!("y")), Some(vec![a_id]));
        records.remove(&a_id);
        assert_eq!(records.find_unique(attr, &json!("y")), Some(vec![]));
        assert_eq!(records.find_unique(Uuid::new_v4(), &json!("y")), None);
    }

    #[test]
    fn attribute_indexed_late_sees_stored_values_in_creation_order() {
        let attr = Uuid::new_v4();
        let mut records = Records::default();
        let later = record(5, attr, vec![text("k")]);
        let earlier = record(2, attr, vec![text("k")]);
        let (later_id, earlier_id) = (later.id, earlier.id);
        records.insert(later);
        records.insert(earlier);
        records.index_attribute(attr);
        assert_eq!(
            records.find_unique(attr, &json!("k")),
            Some(vec![earlier_id, later_id])
        );
    }

    #[test]
    fn referrers_follow_reference_values() {
        let attr = Uuid::new_v4();
        let target = Uuid::new_v4();
        let reference = json!({"target_object": "people", "target_record_id": target,
            "attribute_type": "record-reference"});
        let mut records = Records::default();
        let r = record(0, attr, vec![reference]);
        let r_id = r.id;
        records.insert(r);
        assert_eq!(records.referrers(target), vec![r_id]);
        records.update(&r_id, |r| r.values.clear());
        assert!(records.referrers(target).is_empty());
    }
}
