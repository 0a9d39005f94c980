//! What the page shows, as data: the generator's and the inspector's state. The server fills
//! these for the no-JS path; the islands start from them (they travel as island props, so a
//! page rendered by the server hydrates into the same state in the browser).

use std::fmt;

#[cfg(not(target_arch = "wasm32"))]
use attio_auth_shared::connection::Connection;
use attio_auth_shared::connection::SECRET_BYTES;
use base64::Engine as _;
#[cfg(not(target_arch = "wasm32"))]
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::form::{FieldErrors, ValidInput};

/// Where the secret was made: in the browser (WebCrypto, the server never saw it) or by the
/// server for a browser without JavaScript (OS CSPRNG, answered once with `no-store`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MadeBy {
    /// The WASM island, with `crypto.getRandomValues`.
    Browser,
    /// The server, for the plain form POST.
    Server,
}

impl MadeBy {
    /// Value of the result's `data-made-by` attribute (read by the browser test).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Browser => "browser",
            Self::Server => "server",
        }
    }
}

/// Which plugin the auth server runs: it decides the protocol of the string.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Plugin {
    /// `attio-auth-plugin` (Rust): a `signed-v1` string with a `whsec_` secret.
    #[default]
    Rust,
    /// The original `better-auth-attio-plugin` (TypeScript, Better Auth): an
    /// original-protocol string (no `protocol`; the secret travels in request bodies),
    /// since that plugin refuses signed requests.
    TypeScript,
}

impl Plugin {
    /// The form value (`plugin=rust` / `plugin=typescript`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rust => "rust",
            Self::TypeScript => "typescript",
        }
    }

    /// Reads the form value; anything else is the default, the Rust plugin.
    pub fn from_form(value: &str) -> Self {
        match value.trim() {
            "typescript" => Self::TypeScript,
            _ => Self::Rust,
        }
    }
}

/// A freshly made connection, ready to show. `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Generated {
    /// The connection string to paste in Attio.
    pub connection: String,
    /// The `whsec_` secret, for the auth server's `ATTIO_SECRET`.
    pub secret: String,
    /// The URL Attio will call (`uri + base`).
    pub url: String,
    /// Where the secret was made.
    pub made_by: MadeBy,
    /// The plugin it was made for.
    pub plugin: Plugin,
}

impl fmt::Debug for Generated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Generated")
            .field("url", &self.url)
            .field("plugin", &self.plugin)
            .field("made_by", &self.made_by)
            .finish_non_exhaustive()
    }
}

/// Makes a connection for validated input with a fresh secret, on the server with the
/// shared codec and the OS CSPRNG: `signed-v1` for the Rust plugin, the original protocol
/// for the TypeScript plugin.
#[cfg(not(target_arch = "wasm32"))]
pub fn generate(input: &ValidInput, plugin: Plugin, made_by: MadeBy) -> Result<Generated, String> {
    use attio_auth_shared::connection::Protocol;
    let connection = match plugin {
        Plugin::Rust => Connection::generate(&input.uri, Some(&input.base)),
        Plugin::TypeScript => Connection::new(
            input.uri.clone(),
            input.base.clone(),
            Protocol::Legacy,
            secrecy::SecretString::from(crate::lite::new_legacy_secret()?),
        ),
    }
    .map_err(|e| e.to_string())?;
    Ok(Generated {
        connection: connection.encode(),
        secret: connection.secret().expose_secret().to_owned(),
        url: connection.url(),
        made_by,
        plugin,
    })
}

/// In the browser: the same string from [`crate::lite`] (held equal to the shared codec by
/// its tests) with a secret from `crypto.getRandomValues`.
#[cfg(target_arch = "wasm32")]
pub fn generate(input: &ValidInput, plugin: Plugin, made_by: MadeBy) -> Result<Generated, String> {
    let (secret, connection) = match plugin {
        Plugin::Rust => {
            let secret = crate::lite::new_secret()?;
            let connection = crate::lite::encode(&input.uri, &input.base, &secret);
            (secret, connection)
        }
        Plugin::TypeScript => {
            let secret = crate::lite::new_legacy_secret()?;
            let connection = crate::lite::encode_legacy(&input.uri, &input.base, &secret);
            (secret, connection)
        }
    };
    Ok(Generated {
        connection,
        url: input.url(),
        secret,
        made_by,
        plugin,
    })
}

/// The generator form: what was typed, the problems found, and the result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeneratorState {
    /// The URL field as typed.
    pub uri: String,
    /// The base path field as typed.
    pub base: String,
    /// The plugin chosen.
    pub plugin: Plugin,
    /// Messages next to the fields.
    pub errors: FieldErrors,
    /// A problem that is no field's fault (the random generator failed).
    pub failure: Option<String>,
    /// The connection made.
    pub result: Option<Generated>,
}

impl GeneratorState {
    /// Validates the typed values and makes a connection when they are fine.
    pub fn submit(uri: String, base: String, plugin: Plugin, made_by: MadeBy) -> Self {
        let mut state = Self {
            uri,
            base,
            plugin,
            ..Self::default()
        };
        match crate::form::validate(&state.uri, &state.base) {
            Ok(valid) => match generate(&valid, plugin, made_by) {
                Ok(generated) => state.result = Some(generated),
                Err(e) => state.failure = Some(format!("Could not make a secret: {e}.")),
            },
            Err(errors) => state.errors = errors,
        }
        state
    }
}

/// What the inspector shows of a pasted connection string: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inspection {
    /// The URL Attio calls.
    pub url: String,
    /// `uri` as stored in the string.
    pub uri: String,
    /// `base` as stored in the string.
    pub base: String,
    /// `"signed-v1"` or `"legacy"`.
    pub protocol: String,
    /// A sentence on what the protocol means.
    pub protocol_note: String,
    /// The secret's first characters and its size, never the whole.
    pub secret_hint: String,
}

/// The inspector: what was pasted and what it holds (or why it cannot be read).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InspectorState {
    /// Whether anything was inspected yet.
    pub submitted: bool,
    /// The decoded parts.
    pub inspection: Option<Inspection>,
    /// Why the string cannot be read.
    pub error: Option<String>,
}

impl InspectorState {
    /// Decodes `pasted` with the shared codec. The pasted text itself is not kept: the page
    /// must not echo a secret back.
    pub fn inspect(pasted: &str) -> Self {
        let mut state = Self {
            submitted: true,
            ..Self::default()
        };
        if pasted.trim().is_empty() {
            state.error = Some("Paste a connection string first.".into());
            return state;
        }
        #[cfg(not(target_arch = "wasm32"))]
        let decoded = Connection::decode(pasted)
            .map(|c| Parts {
                url: c.url(),
                protocol: c.protocol.as_str(),
                secret: mask_secret(c.secret().expose_secret()),
                uri: c.uri,
                base: c.base,
            })
            .map_err(|e| e.to_string());
        #[cfg(target_arch = "wasm32")]
        let decoded = crate::lite::decode(pasted).map(|c| Parts {
            url: c.url(),
            protocol: c.protocol,
            secret: mask_secret(&c.secret),
            uri: c.uri,
            base: c.base,
        });
        match decoded {
            Ok(parts) => state.inspection = Some(describe(parts)),
            Err(e) => state.error = Some(capitalize(&e)),
        }
        state
    }
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect::<String>() + ".",
        None => String::new(),
    }
}

/// What either codec read, with the secret already masked.
struct Parts {
    url: String,
    uri: String,
    base: String,
    protocol: &'static str,
    secret: String,
}

fn describe(parts: Parts) -> Inspection {
    let protocol_note = if parts.protocol == "signed-v1" {
        "Requests are signed (Standard Webhooks); the secret never travels."
    } else {
        "The original protocol (the TypeScript Better Auth plugin's; made by the original generator, or here for that plugin): the secret travels in each request body. For the Rust plugin, make a signed string here."
    };
    Inspection {
        url: parts.url,
        uri: parts.uri,
        base: parts.base,
        protocol: parts.protocol.to_owned(),
        protocol_note: protocol_note.to_owned(),
        secret_hint: parts.secret,
    }
}

/// Shows enough of a secret to tell two apart, never all of it: the `whsec_` prefix, four
/// characters, and the key size.
pub fn mask_secret(secret: &str) -> String {
    match secret.strip_prefix("whsec_") {
        Some(key) => {
            let shown: String = key.chars().take(4).collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(key)
                .map(|k| k.len())
                .unwrap_or(0);
            let size = if bytes == SECRET_BYTES {
                format!("{bytes}-byte key")
            } else {
                format!("{bytes}-byte key; new ones have {SECRET_BYTES}")
            };
            format!("whsec_{shown}… ({size})")
        }
        None => {
            let shown: String = secret.chars().take(2).collect();
            format!("{shown}… ({} characters)", secret.chars().count())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use attio_auth_shared::connection::Protocol;

    #[test]
    fn submit_makes_a_string_the_codec_reads_back() {
        let state = GeneratorState::submit(
            "App.Example.com/".into(),
            "api/auth/".into(),
            Plugin::Rust,
            MadeBy::Server,
        );
        assert!(state.errors.is_empty() && state.failure.is_none());
        let generated = state.result.expect("result");
        let decoded = Connection::decode(&generated.connection).expect("decodes");
        assert_eq!(decoded.uri, "https://app.example.com");
        assert_eq!(decoded.base, "/api/auth");
        assert_eq!(decoded.protocol, Protocol::SignedV1);
        assert_eq!(decoded.url(), generated.url);
        assert_eq!(decoded.secret().expose_secret(), generated.secret);
        let key = generated.secret.strip_prefix("whsec_").expect("prefix");
        let key = base64::engine::general_purpose::STANDARD
            .decode(key)
            .expect("base64");
        assert_eq!(key.len(), 32);
        assert!(!format!("{generated:?}").contains(&generated.secret));
    }

    #[test]
    fn typescript_plugin_gets_an_original_protocol_string() {
        let state = GeneratorState::submit(
            "App.Example.com/".into(),
            "api/auth/".into(),
            Plugin::TypeScript,
            MadeBy::Server,
        );
        let generated = state.result.expect("result");
        assert_eq!(generated.plugin, Plugin::TypeScript);
        let json = base64::engine::general_purpose::STANDARD
            .decode(&generated.connection)
            .expect("base64");
        let json: serde_json::Value = serde_json::from_slice(&json).expect("JSON");
        // The original generator's fields and nothing else (no `protocol`).
        let mut keys: Vec<&String> = json.as_object().expect("object").keys().collect();
        keys.sort();
        assert_eq!(keys, ["base", "secret", "uri"], "{json}");
        let decoded = Connection::decode(&generated.connection).expect("decodes");
        assert_eq!(decoded.protocol, Protocol::Legacy);
        assert_eq!(decoded.url(), "https://app.example.com/api/auth");
        assert_eq!(decoded.secret().expose_secret(), generated.secret);
        assert!(!generated.secret.starts_with("whsec_"));
        assert_eq!(generated.secret.len(), 64);
        assert!(!format!("{generated:?}").contains(&generated.secret));
        assert_eq!(Plugin::from_form("typescript"), Plugin::TypeScript);
        assert_eq!(Plugin::from_form("rust"), Plugin::Rust);
        assert_eq!(Plugin::from_form("php"), Plugin::Rust);
    }

    #[test]
    fn submit_with_errors_makes_nothing() {
        let state = GeneratorState::submit(
            "http://app.example.com".into(),
            "".into(),
            Plugin::TypeScript,
            MadeBy::Server,
        );
        assert!(state.result.is_none());
        assert!(state.errors.uri.is_some());
        assert_eq!(state.uri, "http://app.example.com");
    }

    #[test]
    fn every_accepted_input_is_stored_as_validated() {
        for (uri, base) in [
            ("https://app.example.com", ""),
            ("localhost:3000", "/auth"),
            ("http://127.0.0.1:4100/", "api/auth"),
            ("https://example.com/tenant", "//x//y/"),
            ("http://[::1]:8080", "/api/auth"),
        ] {
            let valid = crate::form::validate(uri, base).expect("valid");
            for plugin in [Plugin::Rust, Plugin::TypeScript] {
                let generated =
                    generate(&valid, plugin, MadeBy::Server).expect("shared codec accepts it");
                let decoded = Connection::decode(&generated.connection).expect("decodes");
                assert_eq!(decoded.uri, valid.uri);
                assert_eq!(decoded.base, valid.base);
                assert_eq!(decoded.url(), valid.url());
            }
        }
    }

    #[test]
    fn inspector_never_shows_the_secret() {
        let generated = GeneratorState::submit(
            "app.example.com".into(),
            "".into(),
            Plugin::Rust,
            MadeBy::Server,
        )
        .result
        .expect("result");
        let state = InspectorState::inspect(&format!("  {}\n", generated.connection));
        let inspection = state.inspection.expect("decoded");
        assert_eq!(inspection.url, "https://app.example.com/api/auth");
        assert_eq!(inspection.protocol, "signed-v1");
        assert!(
            inspection.secret_hint.ends_with("(32-byte key)"),
            "{}",
            inspection.secret_hint
        );
        let key = generated.secret.trim_start_matches("whsec_");
        let rendered = format!("{inspection:?}");
        assert!(!rendered.contains(key) && !rendered.contains(&key[..12]));
    }

    #[test]
    fn inspector_reads_legacy_strings_and_explains_errors() {
        let legacy = base64::engine::general_purpose::STANDARD.encode(
            r#"{"uri":"https://a.example.com","base":"/api/auth","secret":"attio-test-secret"}"#,
        );
        let inspection = InspectorState::inspect(&legacy)
            .inspection
            .expect("legacy decodes");
        assert_eq!(inspection.protocol, "legacy");
        assert_eq!(inspection.secret_hint, "at… (17 characters)");

        let bad = InspectorState::inspect("not base64!");
        assert!(bad.error.expect("error").contains("not base64"));
        let empty = InspectorState::inspect("  ");
        assert_eq!(
            empty.error.as_deref(),
            Some("Paste a connection string first.")
        );
    }
}
