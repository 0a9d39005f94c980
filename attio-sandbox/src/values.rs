//! Attribute values: Attio's write formats in, Attio's read format out
//! (docs.attio.com/docs/attribute-types/*, summarized in shared/attio/NOTES.md §1.4), and the
//! "primary" field of each type used for uniqueness, matching, shorthand filters and sorts.

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeDelta, Utc};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::error::ApiError;
use crate::model::{Attribute, Workspace, attio_time};

/// Fields that describe when and by whom a value was written, not what it is.
const META: [&str; 3] = ["active_from", "active_until", "created_by_actor"];

/// The content of a value (its read format minus the metadata fields), for comparisons.
pub(crate) fn content(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !META.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The field that identifies a value of each type (what `$eq` shorthand, uniqueness and
/// matching compare).
pub(crate) fn primary_field(kind: &str) -> &'static str {
    match kind {
        "email-address" => "email_address",
        "domain" => "domain",
        "phone-number" => "phone_number",
        "record-reference" => "target_record_id",
        "personal-name" => "full_name",
        "select" => "option",
        "status" => "status",
        "actor-reference" => "referenced_actor_id",
        "currency" => "currency_value",
        "location" => "line_1",
        _ => "value",
    }
}

/// The primary value of a stored value, with select/status options reduced to their title.
pub(crate) fn primary(v: &Value) -> Value {
    let kind = v
        .get("attribute_type")
        .and_then(Value::as_str)
        .unwrap_or("");
    let field = v.get(primary_field(kind)).cloned().unwrap_or(Value::Null);
    match kind {
        "select" | "status" => field.get("title").cloned().unwrap_or(Value::Null),
        _ => field,
    }
}

fn invalid(attr: &Attribute, what: &str) -> ApiError {
    ApiError::Validation(format!(
        "Invalid value for attribute with ID \"{}\" (api_slug \"{}\", type {}): {what}",
        attr.id, attr.api_slug, attr.kind
    ))
}

/// Unwrap `{"<key>": x}` to `x` (the object form of simple types).
fn unwrap_key<'a>(raw: &'a Value, key: &str) -> &'a Value {
    match raw {
        Value::Object(map) => map.get(key).unwrap_or(&Value::Null),
        other => other,
    }
}

fn as_str<'a>(attr: &Attribute, v: &'a Value) -> Result<&'a str, ApiError> {
    v.as_str()
        .ok_or_else(|| invalid(attr, &format!("expected a string, got {v}")))
}

fn typed(kind: &str, mut fields: Map<String, Value>) -> Map<String, Value> {
    fields.insert("attribute_type".into(), Value::String(kind.to_string()));
    fields
}

fn one(key: &str, v: Value) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(key.into(), v);
    m
}

/// Parse what a client wrote for `attr` into value contents (read format without metadata).
/// `null` and `[]` mean "no value", except for checkboxes: "null is not supported"
/// (docs.attio.com/docs/attribute-types/attribute-types-checkbox), a checkbox is always
/// `true` or `false`.
pub(crate) fn parse(
    ws: &Workspace,
    attr: &Attribute,
    raw: &Value,
) -> Result<Vec<Map<String, Value>>, ApiError> {
    if attr.kind == "checkbox" && (raw.is_null() || raw.as_array().is_some_and(Vec::is_empty)) {
        return Err(ApiError::Validation(format!(
            "Invalid value for attribute with slug \"{}\": checkbox attributes do not support null; write true or false.",
            attr.api_slug
        )));
    }
    let items: Vec<&Value> = match raw {
        Value::Null => Vec::new(),
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    if attr.is_multiselect && !raw.is_array() && !raw.is_null() {
        return Err(ApiError::Validation(format!(
            "Attribute with slug \"{}\" is a multiselect attribute: values must be an array.",
            attr.api_slug
        )));
    }
    if !attr.is_multiselect && items.len() > 1 {
        return Err(ApiError::Validation(format!(
            "Attribute with slug \"{}\" is a single-select attribute, but {} values were provided.",
            attr.api_slug,
            items.len()
        )));
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let parsed = parse_one(ws, attr, item)?;
        let candidate = typed(&attr.kind, parsed);
        let c = content(&Value::Object(candidate.clone()));
        if !out
            .iter()
            .any(|o: &Map<String, Value>| content(&Value::Object(o.clone())) == c)
        {
            out.push(candidate);
        }
    }
    Ok(out)
}

fn parse_one(
    ws: &Workspace,
    attr: &Attribute,
    raw: &Value,
) -> Result<Map<String, Value>, ApiError> {
    match attr.kind.as_str() {
        "text" => {
            let s = as_str(attr, unwrap_key(raw, "value"))?;
            Ok(one("value", json!(s)))
        }
        "number" => {
            let n = unwrap_key(raw, "value")
                .as_f64()
                .ok_or_else(|| invalid(attr, "expected a number"))?;
            Ok(one("value", json!(n)))
        }
        "rating" => {
            let n = unwrap_key(raw, "value")
                .as_u64()
                .filter(|n| *n <= 5)
                .ok_or_else(|| invalid(attr, "expected an integer from 0 to 5"))?;
            Ok(one("value", json!(n)))
        }
        "checkbox" => {
            let v = unwrap_key(raw, "value");
            let b = match v {
                Value::Bool(b) => *b,
                Value::String(s) if s == "true" => true,
                Value::String(s) if s == "false" => false,
                _ => return Err(invalid(attr, "expected true or false")),
            };
            Ok(one("value", json!(b)))
        }
        "date" => {
            let s = as_str(attr, unwrap_key(raw, "value"))?;
            let d = parse_timestamp(s)
                .map(|t| t.date_naive())
                .ok_or_else(|| invalid(attr, &format!("\"{s}\" is not a date")))?;
            Ok(one(
                "value",
                json!(format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day())),
            ))
        }
        "timestamp" => {
            let s = as_str(attr, unwrap_key(raw, "value"))?;
            let t = parse_timestamp(s)
                .ok_or_else(|| invalid(attr, &format!("\"{s}\" is not a timestamp")))?;
            Ok(one("value", json!(attio_time(t))))
        }
        "currency" => {
            let (value, code) = match raw {
                Value::Object(m) => (
                    m.get("currency_value").and_then(Value::as_f64),
                    m.get("currency_code").cloned(),
                ),
                other => (other.as_f64(), None),
            };
            let value = value.ok_or_else(|| invalid(attr, "expected a number"))?;
            let code = code
                .filter(|c| !c.is_null())
                .or_else(|| attr.currency.get("default_currency_code").cloned())
                .unwrap_or(Value::Null);
            let mut m = one("currency_value", json!(value));
            m.insert("currency_code".into(), code);
            Ok(m)
        }
        "select" | "status" => {
            let key = if attr.kind == "select" {
                "option"
            } else {
                "status"
            };
            let wanted = as_str(attr, unwrap_key(raw, key))?;
            let opt = attr
                .options
                .iter()
                .find(|o| !o.is_archived && (o.title == wanted || o.id.to_string() == wanted))
                .ok_or_else(|| {
                    ApiError::ValueNotFound(format!(
                        "Cannot find select attribute with select option title \"{wanted}\"."
                    ))
                })?;
            Ok(one(key, ws.option_json(attr, opt)))
        }
        "email-address" => {
            let s = as_str(attr, unwrap_key(raw, "email_address"))?;
            email(s).ok_or_else(|| invalid(attr, &format!("\"{s}\" is not a valid email address")))
        }
        "domain" => {
            let s = as_str(attr, unwrap_key(raw, "domain"))?;
            let d = normalize_domain(s)
                .ok_or_else(|| invalid(attr, &format!("\"{s}\" is not a valid domain")))?;
            let mut m = one("root_domain", json!(root_domain(&d)));
            m.insert("domain".into(), json!(d));
            Ok(m)
        }
        "phone-number" => {
            let (original, country) = match raw {
                Value::Object(m) => (
                    m.get("original_phone_number").and_then(Value::as_str),
                    m.get("country_code").and_then(Value::as_str),
                ),
                other => (other.as_str(), None),
            };
            let original = original.ok_or_else(|| invalid(attr, "expected a phone number"))?;
            let (number, cc) = phone(original, country).ok_or_else(|| {
                invalid(attr, &format!("\"{original}\" is not a valid phone number"))
            })?;
            let mut m = one("original_phone_number", json!(original));
            m.insert("phone_number".into(), json!(number));
            m.insert("country_code".into(), json!(cc));
            Ok(m)
        }
        "location" => location(attr, raw),
        "personal-name" => personal_name(attr, raw),
        "actor-reference" => {
            let kind = raw
                .get("referenced_actor_type")
                .and_then(Value::as_str)
                .filter(|k| ["api-token", "workspace-member", "system", "app"].contains(k))
                .ok_or_else(|| {
                    invalid(
                        attr,
                        "expected {referenced_actor_type, referenced_actor_id}",
                    )
                })?;
            let mut m = one("referenced_actor_type", json!(kind));
            m.insert(
                "referenced_actor_id".into(),
                raw.get("referenced_actor_id")
                    .cloned()
                    .unwrap_or(Value::Null),
            );
            Ok(m)
        }
        "record-reference" => record_reference(ws, attr, raw),
        other => Err(ApiError::Validation(format!(
            "Attributes of type \"{other}\" cannot be written through the API."
        ))),
    }
}

/// Coerce Attio's accepted timestamp inputs ("2023", "2023-01-02", "2023-01-02T13:00",
/// full ISO 8601 with offset), assuming UTC when no offset is given. Years are 0..=9999 and
/// offsets at most ±25:59 (the limits of the `time` crate this was first written with, kept
/// so that the same inputs are accepted).
pub(crate) fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    let (date_part, rest) = match s.find(['T', ' ']) {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    };
    let mut d = date_part.split('-');
    let year: i32 = d.next()?.parse().ok()?;
    let month: u8 = d.next().map_or(Some(1), |m| m.parse().ok())?;
    let day: u8 = d.next().map_or(Some(1), |m| m.parse().ok())?;
    if d.next().is_some() {
        return None;
    }
    if !(0..=9999).contains(&year) {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(year, u32::from(month), u32::from(day))?;
    // Split the time from its offset (seconds east of UTC).
    let (clock, offset) = if let Some(stripped) = rest.strip_suffix(['Z', 'z']) {
        (stripped, 0)
    } else if let Some(i) = rest.rfind(['+', '-']) {
        let (c, o) = rest.split_at(i);
        let sign: i8 = if o.starts_with('-') { -1 } else { 1 };
        let o = &o[1..];
        let (h, m) = match o.split_once(':') {
            Some((h, m)) => (h, m),
            None if o.len() == 4 && o.is_ascii() => o.split_at(2),
            None => (o, "0"),
        };
        let (h, m): (i8, i8) = (h.parse().ok()?, m.parse().ok()?);
        if !(-25..=25).contains(&h) || !(-59..=59).contains(&m) {
            return None;
        }
        (
            c,
            i64::from(sign) * (i64::from(h) * 3600 + i64::from(m) * 60),
        )
    } else {
        (rest, 0)
    };
    let time = if clock.is_empty() {
        NaiveTime::MIN
    } else {
        let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
        let mut parts = hms.split(':');
        let h: u8 = parts.next()?.parse().ok()?;
        let m: u8 = parts.next().map_or(Some(0), |x| x.parse().ok())?;
        let sec: u8 = parts.next().map_or(Some(0), |x| x.parse().ok())?;
        if parts.next().is_some() || !frac.chars().all(|c| c.is_ascii_digit()) || frac.len() > 9 {
            return None;
        }
        let nanos: u32 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<9}").parse().ok()?
        };
        NaiveTime::from_hms_nano_opt(u32::from(h), u32::from(m), u32::from(sec), nanos)?
    };
    date.and_time(time)
        .checked_sub_signed(TimeDelta::seconds(offset))
        .map(|t| t.and_utc())
}

/// Second-level labels under which registrable domains have three labels. A short list in
/// place of the Public Suffix List, enough for the root domains tests meet.
const TWO_PART_SUFFIXES: &[&str] = &[
    "co.uk", "org.uk", "ac.uk", "gov.uk", "com.au", "net.au", "org.au", "co.nz", "co.jp", "com.br",
    "co.in", "co.za", "com.mx", "com.sg", "com.cn", "co.il",
];

pub(crate) fn root_domain(domain: &str) -> String {
    let labels: Vec<&str> = domain.split('.').collect();
    let n = labels.len();
    if n >= 3
        && TWO_PART_SUFFIXES.contains(&format!("{}.{}", labels[n - 2], labels[n - 1]).as_str())
    {
        labels[n - 3..].join(".")
    } else if n >= 2 {
        labels[n - 2..].join(".")
    } else {
        domain.to_string()
    }
}

fn valid_domain(d: &str) -> bool {
    let labels: Vec<&str> = d.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.chars().all(char::is_alphabetic) && tld.len() >= 2)
}

/// Lower-case, without scheme, path or port.
pub(crate) fn normalize_domain(s: &str) -> Option<String> {
    let s = s.trim().to_lowercase();
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(&s);
    let host = s.split(['/', '?', '#']).next()?;
    let host = host.split(':').next()?.trim_end_matches('.');
    valid_domain(host).then(|| host.to_string())
}

/// Attio's five email fields; `None` if the address is not valid.
pub(crate) fn email(original: &str) -> Option<Map<String, Value>> {
    let trimmed = original.trim();
    let (local, domain) = trimmed.rsplit_once('@')?;
    let local = local.to_lowercase();
    let domain = domain.to_lowercase();
    let local_ok = !local.is_empty()
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    if !local_ok || !valid_domain(&domain) {
        return None;
    }
    let mut m = Map::new();
    m.insert("original_email_address".into(), json!(original));
    m.insert("email_address".into(), json!(format!("{local}@{domain}")));
    m.insert("email_root_domain".into(), json!(root_domain(&domain)));
    m.insert("email_domain".into(), json!(domain));
    m.insert("email_local_specifier".into(), json!(local));
    Some(m)
}

/// Country calling codes for the countries tests meet (longest prefix wins).
const CALLING_CODES: &[(&str, &str)] = &[
    ("1", "US"),
    ("7", "RU"),
    ("27", "ZA"),
    ("31", "NL"),
    ("32", "BE"),
    ("33", "FR"),
    ("34", "ES"),
    ("39", "IT"),
    ("41", "CH"),
    ("43", "AT"),
    ("44", "GB"),
    ("45", "DK"),
    ("46", "SE"),
    ("47", "NO"),
    ("48", "PL"),
    ("49", "DE"),
    ("52", "MX"),
    ("55", "BR"),
    ("61", "AU"),
    ("64", "NZ"),
    ("65", "SG"),
    ("81", "JP"),
    ("86", "CN"),
    ("91", "IN"),
    ("351", "PT"),
    ("353", "IE"),
    ("972", "IL"),
];

/// E.164 number and country code.
fn phone(original: &str, country: Option<&str>) -> Option<(String, String)> {
    let digits: String = original.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 6 || digits.len() > 15 {
        return None;
    }
    if original.trim_start().starts_with('+') {
        let cc = country.map(str::to_string).or_else(|| {
            (1..=3).rev().find_map(|n| {
                let prefix = digits.get(..n)?;
                CALLING_CODES
                    .iter()
                    .find(|(code, _)| *code == prefix)
                    .map(|(_, c)| c.to_string())
            })
        })?;
        Some((format!("+{digits}"), cc))
    } else {
        let cc = country?.to_uppercase();
        let code = CALLING_CODES.iter().find(|(_, c)| *c == cc)?.0;
        Some((
            format!("+{code}{}", digits.trim_start_matches('0')),
            cc.clone(),
        ))
    }
}

const LOCATION_FIELDS: [&str; 10] = [
    "line_1",
    "line_2",
    "line_3",
    "line_4",
    "locality",
    "region",
    "postcode",
    "country_code",
    "latitude",
    "longitude",
];

fn location(attr: &Attribute, raw: &Value) -> Result<Map<String, Value>, ApiError> {
    let mut m = Map::new();
    match raw {
        Value::Object(obj) => {
            for f in LOCATION_FIELDS {
                let v = match obj.get(f) {
                    None | Some(Value::Null) => Value::Null,
                    Some(Value::String(s)) => Value::String(s.clone()),
                    // Attio reads latitude/longitude as strings.
                    Some(Value::Number(n)) if f == "latitude" || f == "longitude" => {
                        Value::String(n.to_string())
                    }
                    Some(other) => {
                        return Err(invalid(attr, &format!("{f} must be a string, got {other}")));
                    }
                };
                m.insert(f.into(), v);
            }
        }
        // The documented string form: "line_1, locality, region, postcode, country_code".
        Value::String(s) => {
            let parts: Vec<&str> = s.split(',').map(str::trim).collect();
            if parts.len() != 5 {
                return Err(invalid(
                    attr,
                    "a location string must be \"line_1, locality, region, postcode, country_code\"",
                ));
            }
            for f in LOCATION_FIELDS {
                m.insert(f.into(), Value::Null);
            }
            for (f, p) in ["line_1", "locality", "region", "postcode", "country_code"]
                .iter()
                .zip(parts)
            {
                m.insert((*f).into(), json!(p));
            }
        }
        _ => return Err(invalid(attr, "expected a location object")),
    }
    Ok(m)
}

/// Object syntax needs all three properties; the string syntax is "Last name(s), First
/// name(s)", text without a comma being the first name only (docs: attribute-types-personal-name).
fn personal_name(attr: &Attribute, raw: &Value) -> Result<Map<String, Value>, ApiError> {
    let (first, last, full) = match raw {
        Value::Object(obj) => {
            let get = |k: &str| {
                obj.get(k)
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| {
                        invalid(attr, "first_name, last_name and full_name must all be set")
                    })
            };
            (get("first_name")?, get("last_name")?, get("full_name")?)
        }
        Value::String(s) => {
            let s = s.trim();
            match s.split_once(',') {
                Some((last, first)) => {
                    let (first, last) = (first.trim().to_string(), last.trim().to_string());
                    let full = format!("{first} {last}").trim().to_string();
                    (first, last, full)
                }
                None => (s.to_string(), String::new(), s.to_string()),
            }
        }
        _ => return Err(invalid(attr, "expected a name object or string")),
    };
    let mut m = one("first_name", json!(first));
    m.insert("last_name".into(), json!(last));
    m.insert("full_name".into(), json!(full));
    Ok(m)
}

/// The attribute a string shorthand of a record-reference matches on, per target object
/// (Attio docs: companies -> domain, people -> email, users -> user_id,
/// workspaces -> workspace_id).
fn shorthand_attribute(object_slug: &str) -> Option<&'static str> {
    match object_slug {
        "companies" => Some("domains"),
        "people" => Some("email_addresses"),
        "users" => Some("user_id"),
        "workspaces" => Some("workspace_id"),
        _ => None,
    }
}

/// Normalize a lookup value for an attribute type (so "A@B.com" finds "a@b.com").
pub(crate) fn lookup_key(kind: &str, raw: &Value) -> Option<Value> {
    match kind {
        "email-address" => {
            let s = unwrap_key(raw, "email_address").as_str()?;
            email(s).and_then(|m| m.get("email_address").cloned())
        }
        "domain" => normalize_domain(unwrap_key(raw, "domain").as_str()?).map(Value::String),
        _ => Some(unwrap_key(raw, "value").clone()),
    }
}

/// Records of `object_id` whose attribute `attr_id` has a value with primary `key`, in
/// creation order: a hash lookup for unique attributes (every caller but a few string
/// shorthands), a scan otherwise.
pub(crate) fn find_by(ws: &Workspace, object_id: Uuid, attr_id: Uuid, key: &Value) -> Vec<Uuid> {
    if let Some(found) = ws.records.find_unique(attr_id, key) {
        return found
            .into_iter()
            .filter(|id| ws.records.object_of(id) == Some(object_id))
            .collect();
    }
    let mut found: Vec<(u64, Uuid)> = ws
        .records
        .of_object(object_id)
        .filter(|r| {
            r.values
                .get(&attr_id)
                .is_some_and(|vals| vals.iter().any(|v| &primary(v) == key))
        })
        .map(|r| (r.seq, r.id))
        .collect();
    found.sort();
    found.into_iter().map(|(_, id)| id).collect()
}

fn record_reference(
    ws: &Workspace,
    attr: &Attribute,
    raw: &Value,
) -> Result<Map<String, Value>, ApiError> {
    let allowed: Vec<_> = attr
        .allowed_object_ids
        .iter()
        .filter_map(|id| ws.object_by_id(*id))
        .collect();
    let (target, record_id) = match raw {
        Value::String(s) => {
            let [target] = allowed.as_slice() else {
                return Err(invalid(
                    attr,
                    "string shorthand is only accepted when the attribute allows exactly one object",
                ));
            };
            let slug = shorthand_attribute(&target.api_slug).ok_or_else(|| {
                invalid(
                    attr,
                    "string shorthand is only accepted for standard objects",
                )
            })?;
            let match_attr = ws
                .attribute(target.id, slug)
                .ok_or_else(|| invalid(attr, "target object has no matching attribute"))?;
            let key = lookup_key(&match_attr.kind, raw).ok_or_else(|| {
                invalid(attr, &format!("\"{s}\" is not a valid {}", match_attr.kind))
            })?;
            let found = find_by(ws, target.id, match_attr.id, &key);
            let id = found.first().copied().ok_or_else(|| {
                ApiError::ValueNotFound(format!(
                    "Could not find a {} record with {slug} \"{s}\".",
                    target.api_slug
                ))
            })?;
            (*target, id)
        }
        Value::Object(obj) => {
            let target_ident = obj
                .get("target_object")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(attr, "target_object is required"))?;
            let target = allowed
                .iter()
                .find(|o| o.api_slug == target_ident || o.id.to_string() == target_ident)
                .copied()
                .ok_or_else(|| {
                    invalid(
                        attr,
                        &format!("object \"{target_ident}\" is not allowed by this attribute"),
                    )
                })?;
            if let Some(id) = obj.get("target_record_id") {
                let id = id
                    .as_str()
                    .and_then(|s| Uuid::parse_str(s).ok())
                    .ok_or_else(|| invalid(attr, "target_record_id must be a UUID"))?;
                match ws.records.object_of(&id) {
                    Some(object_id) if object_id == target.id => (target, id),
                    _ => {
                        return Err(ApiError::ValueNotFound(format!(
                            "Record with ID \"{id}\" not found in object \"{}\".",
                            target.api_slug
                        )));
                    }
                }
            } else {
                // Matching by a unique attribute: {"target_object", "<slug>": [values]}.
                let (slug, values) = obj
                    .iter()
                    .find(|(k, _)| k.as_str() != "target_object")
                    .ok_or_else(|| {
                        invalid(attr, "target_record_id or a matching attribute is required")
                    })?;
                let match_attr = ws.attribute(target.id, slug).ok_or_else(|| {
                    ApiError::ValueNotFound(format!(
                        "Cannot find attribute with slug/ID \"{slug}\"."
                    ))
                })?;
                if !match_attr.is_unique {
                    return Err(invalid(
                        attr,
                        &format!("attribute \"{slug}\" is not unique"),
                    ));
                }
                let first = match values {
                    Value::Array(a) => a.first().cloned().unwrap_or(Value::Null),
                    other => other.clone(),
                };
                let key = lookup_key(&match_attr.kind, &first)
                    .ok_or_else(|| invalid(attr, &format!("invalid value for \"{slug}\"")))?;
                let id = find_by(ws, target.id, match_attr.id, &key)
                    .first()
                    .copied()
                    .ok_or_else(|| {
                        ApiError::ValueNotFound(format!(
                            "Could not find a {} record matching {slug} {key}.",
                            target.api_slug
                        ))
                    })?;
                (target, id)
            }
        }
        _ => return Err(invalid(attr, "expected a record reference")),
    };
    let mut m = one("target_object", json!(target.api_slug));
    m.insert("target_record_id".into(), json!(record_id));
    Ok(m)
}

#[cfg(test)]
mod tests;
