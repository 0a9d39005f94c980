//! Sync between the auth server and Attio: the event envelope the plugin sends to the
//! backend, the adapter schema that says how a model maps to an Attio object, Attio values in
//! both the write format (what we send) and the read format (what Attio returns), and the
//! extraction of plain values from the read format.
//!
//! Wire compatibility: the envelope is the original plugin's
//! (`better-auth-attio-plugin` 0.3.4, `src/adapters/send-event.ts`):
//! `{event, data, timestamp, adapter: {betterAuthModel, attioObject, attioSchema}}`, to which we
//! add `id` (the idempotency key) and `origin`. Both are optional on input so that events of the
//! original plugin (recorded in `shared/peer/transcripts/_sink-events.json`) still parse.
//! The read format follows Attio's record shape (`shared/attio/NOTES.md` §1.4) and the
//! extraction mirrors the original's `extractAttioValue` (`src/adapters/utils.ts` of
//! tobimori/better-auth-attio-plugin).

use std::collections::BTreeMap;
use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Errors of this module: a sync event that cannot be turned into an Attio write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// A field's value does not fit the attribute type its schema declares.
    #[error("field `{field}` expects {expected} for Attio type `{attribute_type}`")]
    TypeMismatch {
        /// The Attio attribute slug.
        field: String,
        /// The declared attribute type.
        attribute_type: String,
        /// What was expected, in words.
        expected: &'static str,
    },
    /// The adapter has no unique attribute to assert (upsert) records by.
    #[error("adapter for `{0}` has no unique attribute to match records by")]
    NoMatchingAttribute(String),
    /// The event has no value for the attribute records are matched by.
    #[error("event has no value for the matching attribute `{0}`")]
    MissingMatchingValue(String),
}

mod envelope;
mod read;
mod schema;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
mod webhooks;
mod write;

pub use envelope::*;
pub use read::*;
pub use schema::*;
pub use webhooks::*;
pub use write::*;
