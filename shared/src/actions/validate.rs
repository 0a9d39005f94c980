//! Validation of request bodies with the original plugin's error messages.

use super::*;

/// The JSON type a body field must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A JSON string.
    String,
    /// A JSON string that looks like an email address.
    Email,
    /// `true` or `false`.
    Boolean,
    /// A JSON number (integer).
    Integer,
    /// An array of strings.
    StringArray,
    /// A string or an array of strings (an invitation's `role`).
    StringOrStringArray,
    /// An array of anything (Attio webhook `events`).
    Array,
    /// A JSON object.
    Object,
}

/// One body field: name, kind, and whether it may be absent or `null`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// JSON name (camelCase as the original).
    pub name: &'static str,
    /// The expected JSON type.
    pub kind: FieldKind,
    /// Whether the field must be present.
    pub required: bool,
    /// Whether `null` is accepted.
    pub nullable: bool,
}

impl Field {
    /// A required, non-null field.
    pub const fn required(name: &'static str, kind: FieldKind) -> Self {
        Self {
            name,
            kind,
            required: true,
            nullable: false,
        }
    }

    /// An optional field that may also be `null`.
    pub const fn optional(name: &'static str, kind: FieldKind) -> Self {
        Self {
            name,
            kind,
            required: false,
            nullable: true,
        }
    }
}

/// Which envelope a body is validated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Envelope {
    /// The original protocol: `secret` is a required string, checked first.
    Legacy,
    /// The signed protocol: `action` is a required string, checked first.
    Signed,
}

/// A body that does not match its action's fields: the original's message, issues joined
/// with `"; "` (`[body.webhookUrl] Invalid input: expected string, received number`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// The whole message, as the original's `VALIDATION_ERROR` body says it.
    pub message: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ValidationError {}

/// The name zod uses for the JSON type of `value` in its messages.
fn received(value: Option<&Value>) -> &'static str {
    match value {
        None => "undefined",
        Some(Value::Null) => "null",
        Some(Value::Bool(_)) => "boolean",
        Some(Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Array(_)) => "array",
        Some(Value::Object(_)) => "object",
    }
}

/// A plain syntactic email check, the strictness of the original's `z.string().email()`
/// for the addresses people type: one `@`, something before it, a dotted domain after it,
/// no whitespace.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(char::is_whitespace)
}

fn check_field(field: &Field, value: Option<&Value>) -> Option<String> {
    let path = field.name;
    match value {
        None if !field.required => return None,
        Some(Value::Null) if field.nullable => return None,
        _ => {}
    }
    let expected = match field.kind {
        FieldKind::String | FieldKind::Email => "string",
        FieldKind::Boolean => "boolean",
        FieldKind::Integer => "number",
        FieldKind::StringArray | FieldKind::Array => "array",
        FieldKind::Object => "object",
        FieldKind::StringOrStringArray => {
            return match value {
                Some(Value::String(_)) => None,
                Some(Value::Array(items)) if items.iter().all(Value::is_string) => None,
                _ => Some(format!("[body.{path}] Invalid input")),
            };
        }
    };
    let ok = match (field.kind, value) {
        (FieldKind::String, Some(Value::String(_))) => true,
        (FieldKind::Email, Some(Value::String(s))) => {
            if is_email(s) {
                true
            } else {
                return Some(format!("[body.{path}] Invalid email address"));
            }
        }
        (FieldKind::Boolean, Some(Value::Bool(_))) => true,
        (FieldKind::Integer, Some(Value::Number(n))) => n.is_i64() || n.is_u64(),
        (FieldKind::Array, Some(Value::Array(_))) => true,
        (FieldKind::StringArray, Some(Value::Array(items))) => {
            if let Some(i) = items.iter().position(|v| !v.is_string()) {
                return Some(format!(
                    "[body.{path}.{i}] Invalid input: expected string, received {}",
                    received(items.get(i))
                ));
            }
            true
        }
        (FieldKind::Object, Some(Value::Object(_))) => true,
        _ => false,
    };
    if ok {
        None
    } else {
        Some(format!(
            "[body.{path}] Invalid input: expected {expected}, received {}",
            received(value)
        ))
    }
}

/// Checks a parsed body (`None` when the body was empty) against `A`'s fields inside the
/// given envelope, in the original's order and words. Unknown fields are allowed, as the
/// original allows them.
pub fn validate<A: Action>(
    body: Option<&Value>,
    envelope: Envelope,
) -> Result<(), ValidationError> {
    validate_fields(body, envelope, A::FIELDS)
}

/// [`validate`] for a field list rather than a type.
pub fn validate_fields(
    body: Option<&Value>,
    envelope: Envelope,
    fields: &[Field],
) -> Result<(), ValidationError> {
    let Some(Value::Object(map)) = body else {
        return Err(ValidationError {
            message: format!(
                "[body] Invalid input: expected object, received {}",
                received(body)
            ),
        });
    };
    let tag = match envelope {
        Envelope::Legacy => Field::required("secret", FieldKind::String),
        Envelope::Signed => Field::required("action", FieldKind::String),
    };
    let issues: Vec<String> = std::iter::once(&tag)
        .chain(fields.iter())
        .filter_map(|f| check_field(f, map.get(f.name)))
        .collect();
    if issues.is_empty() {
        Ok(())
    } else {
        Err(ValidationError {
            message: issues.join("; "),
        })
    }
}
