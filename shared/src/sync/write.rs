//! Attio values in the write format (what we send).

use super::*;

/// A record reference in write form, by record id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordReferenceWrite {
    /// Object slug of the target (`users`).
    pub target_object: String,
    /// Attio record id of the target.
    pub target_record_id: String,
}

/// One value in Attio's write form (`NOTES.md` §1.4 "Write shapes"). Serializes untagged:
/// plain JSON scalars, or the object forms Attio documents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum WriteValue {
    /// checkbox.
    Bool(bool),
    /// number, rating, currency.
    Number(f64),
    /// text, timestamp, date, email-address, select and status (option title) shorthand.
    Text(String),
    /// record-reference by id.
    RecordReference(RecordReferenceWrite),
    /// email-address object form.
    EmailAddress {
        /// The address.
        email_address: String,
    },
    /// phone-number.
    PhoneNumber {
        /// The number as typed; Attio normalizes it.
        original_phone_number: String,
        /// ISO country code, when the number is not international.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        country_code: Option<String>,
    },
    /// personal-name.
    PersonalName {
        /// First name.
        first_name: String,
        /// Last name.
        last_name: String,
        /// Full name.
        full_name: String,
    },
    /// Several values of a multiselect attribute (an empty list clears).
    Many(Vec<WriteValue>),
}
