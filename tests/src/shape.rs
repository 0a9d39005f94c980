//! Reducing responses to what the compatibility tests compare: the JSON shape (keys and
//! value types, element by element), and the values that are not ids, tokens or times.

use serde_json::{Map, Value};

/// The JSON type name of a value.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Keys and value types, recursively; arrays element by element (so lengths count too).
pub fn shape(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), shape(v)))
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(shape).collect()),
        other => Value::String(type_name(other).to_owned()),
    }
}

/// Whether a key holds a value that differs from server to server by nature: ids,
/// tokens, times, links.
pub fn volatile_key(key: &str) -> bool {
    key == "id"
        || key.ends_with("Id")
        || key.ends_with("Ids")
        || key.to_ascii_lowercase().contains("token")
        || key.ends_with("At")
        || key == "bannedUntil"
        || key == "banExpires"
        || key == "url"
        || key == "message"
}

/// The value with every volatile key's value replaced by its type name: what must be equal
/// between the two plugins when they answer over the same rows.
pub fn masked(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if volatile_key(k) && !v.is_object() && !v.is_array() {
                        Value::String(format!("<{}>", type_name(v)))
                    } else {
                        masked(v)
                    };
                    (k.clone(), v)
                })
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(masked).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shapes_and_masks() {
        let v = json!({"id": "abc", "banned": false, "list": [{"token": "t", "n": 1}], "bannedUntil": null});
        assert_eq!(
            shape(&v),
            json!({"id": "string", "banned": "boolean", "list": [{"token": "string", "n": "number"}], "bannedUntil": "null"})
        );
        assert_eq!(
            masked(&v),
            json!({"id": "<string>", "banned": false, "list": [{"token": "<string>", "n": 1}], "bannedUntil": "<null>"})
        );
    }
}
