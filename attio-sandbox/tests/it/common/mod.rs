//! Shared test helpers: a sandbox per test, a small HTTP client, and a checker of answers
//! against the response schemas copied from Attio's OpenAPI document
//! (tests/fixtures/openapi-responses.json, see tests/fixtures/README.md).
#![allow(dead_code)]

use attio_sandbox::{
    Sandbox, SandboxConfig, SandboxHandle, WorkspaceCredentials, WorkspaceOptions,
};
use serde_json::Value;

/// A running sandbox with one workspace (users and workspaces enabled) and a client.
pub struct Env {
    pub sandbox: SandboxHandle,
    pub creds: WorkspaceCredentials,
    pub http: reqwest::Client,
}

pub async fn env() -> Env {
    env_with(SandboxConfig::for_tests(), &["users", "workspaces"]).await
}

pub async fn env_with(config: SandboxConfig, enable: &[&str]) -> Env {
    let sandbox = Sandbox::start(config).await.expect("start sandbox");
    let creds = sandbox.create_workspace(WorkspaceOptions {
        enable_objects: enable.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    });
    Env {
        sandbox,
        creds,
        http: reqwest::Client::new(),
    }
}

/// Status and JSON body of an answer.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Env {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.sandbox.base_url(), path)
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        self.call_as(&self.creds.token.clone(), method, path, body)
            .await
    }

    pub async fn call_as(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("send");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.call("POST", path, Some(body)).await
    }
}

const FIXTURE: &str = include_str!("../../fixtures/openapi-responses.json");
const REQUESTS: &str = include_str!("../../fixtures/openapi-requests.json");

/// Check a request `body` a client sent against the request schema of `operation` (e.g.
/// "PUT /v2/objects/{object}/records"), returning every mismatch.
pub fn request_schema_errors(operation: &str, body: &Value) -> Vec<String> {
    let fixture: Value = serde_json::from_str(REQUESTS).expect("fixture JSON");
    let schema = &fixture["operations"][operation];
    assert!(!schema.is_null(), "no request schema for {operation}");
    let mut errors = Vec::new();
    check(schema, body, "$", &mut errors);
    errors
}

/// Check `body` against the schema of `operation` (e.g. "GET /v2/objects") for `status`,
/// panicking with every mismatch.
pub fn assert_schema(operation: &str, status: u16, body: &Value) {
    let fixture: Value = serde_json::from_str(FIXTURE).expect("fixture JSON");
    let schema = &fixture["operations"][operation][status.to_string()];
    assert!(
        !schema.is_null(),
        "no schema for {operation} {status} in the fixture"
    );
    let mut errors = Vec::new();
    check(schema, body, "$", &mut errors);
    assert!(
        errors.is_empty(),
        "{operation} {status} does not match Attio's schema:\n{}\nbody: {body:#}",
        errors.join("\n")
    );
}

/// An error answer: Attio's four fields with the given status and code.
pub fn assert_error(answer: &Answer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "body: {}", answer.body);
    assert_eq!(answer.body["status_code"], status, "body: {}", answer.body);
    assert_eq!(answer.body["code"], code, "body: {}", answer.body);
    assert!(answer.body["type"].is_string(), "body: {}", answer.body);
    assert!(answer.body["message"].is_string(), "body: {}", answer.body);
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "null" => v.is_null(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        _ => true,
    }
}

/// A subset of JSON Schema: type, enum, required, properties, additionalProperties, items,
/// anyOf/oneOf (as "at least one"), format uuid. `pattern` is not checked (the sandbox
/// accepts http loopback webhook targets).
pub fn check(schema: &Value, v: &Value, path: &str, errors: &mut Vec<String>) {
    if let Some(alts) = schema
        .get("anyOf")
        .or_else(|| schema.get("oneOf"))
        .and_then(Value::as_array)
    {
        let ok = alts.iter().any(|alt| {
            let mut e = Vec::new();
            check(alt, v, path, &mut e);
            e.is_empty()
        });
        if !ok {
            errors.push(format!("{path}: matches none of the alternatives: {v}"));
        }
        return;
    }
    match schema.get("type") {
        Some(Value::String(t)) if !type_ok(t, v) => {
            errors.push(format!("{path}: expected {t}, got {v}"));
            return;
        }
        Some(Value::Array(ts)) if !ts.iter().any(|t| type_ok(t.as_str().unwrap_or(""), v)) => {
            errors.push(format!("{path}: expected one of {ts:?}, got {v}"));
            return;
        }
        _ => {}
    }
    if let Some(Value::Array(allowed)) = schema.get("enum")
        && !v.is_null()
        && !allowed.contains(v)
    {
        errors.push(format!("{path}: {v} is not one of the allowed values"));
    }
    if schema.get("format").and_then(Value::as_str) == Some("uuid")
        && let Some(s) = v.as_str()
        && uuid::Uuid::parse_str(s).is_err()
    {
        errors.push(format!("{path}: \"{s}\" is not a uuid"));
    }
    // The only pattern the request schemas use is `^https:\/\/.*` (webhook targets).
    if let (Some(pattern), Some(s)) = (schema.get("pattern").and_then(Value::as_str), v.as_str())
        && pattern.starts_with("^https:")
        && !s.starts_with("https://")
    {
        errors.push(format!("{path}: \"{s}\" does not match {pattern}"));
    }
    if let (Some(min), Some(items)) = (schema.get("minItems").and_then(Value::as_u64), v.as_array())
        && (items.len() as u64) < min
    {
        errors.push(format!("{path}: fewer than {min} items"));
    }
    if let Value::Object(map) = v {
        if let Some(Value::Array(req)) = schema.get("required") {
            for r in req {
                let r = r.as_str().unwrap_or("");
                if !map.contains_key(r) {
                    errors.push(format!("{path}: missing required field \"{r}\""));
                }
            }
        }
        let props = schema.get("properties").and_then(Value::as_object);
        if schema.get("additionalProperties") == Some(&Value::Bool(false)) {
            for k in map.keys() {
                if !props.is_some_and(|p| p.contains_key(k)) {
                    errors.push(format!("{path}: field \"{k}\" is not allowed"));
                }
            }
        }
        for (k, child) in map {
            let sub = props
                .and_then(|p| p.get(k))
                .or_else(|| schema.get("additionalProperties").filter(|a| a.is_object()));
            if let Some(sub) = sub {
                check(sub, child, &format!("{path}.{k}"), errors);
            }
        }
    }
    if let (Value::Array(items), Some(item_schema)) = (v, schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            check(item_schema, item, &format!("{path}[{i}]"), errors);
        }
    }
}
