//! Objects, attributes and select options: what the installation checks and creates.

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use attio_auth_shared::sync::{AttioObject, AttributeType};

use super::client::{Budget, seg};
use super::{AttioAuth, AttioClient, AttioError};

/// An attribute as `GET .../attributes` lists it (the fields we use).
#[derive(Debug, Clone, Deserialize)]
pub struct AttributeInfo {
    /// Slug.
    pub api_slug: String,
    /// Type.
    #[serde(rename = "type")]
    pub attribute_type: AttributeType,
    /// Unique?
    #[serde(default)]
    pub is_unique: bool,
    /// Archived?
    #[serde(default)]
    pub is_archived: bool,
    /// Several values? (`users.workspace`: Attio's docs leave its cardinality open.)
    #[serde(default)]
    pub is_multiselect: bool,
}

impl AttioClient {
    /// `GET /v2/objects`.
    pub async fn list_objects(&self, auth: &AttioAuth) -> Result<Vec<AttioObject>, AttioError> {
        let v = self
            .call(auth, Method::GET, "/objects", None, Budget::Read, true)
            .await?;
        Self::data(v)
    }

    /// `GET /v2/objects/{slug}`; `None` when it does not exist or is disabled.
    pub async fn get_object(
        &self,
        auth: &AttioAuth,
        slug: &str,
    ) -> Result<Option<AttioObject>, AttioError> {
        self.get_optional(auth, &format!("/objects/{}", seg(slug)))
            .await
    }

    /// `GET /v2/objects/{slug}/attributes` (archived ones too, so we do not try to create a
    /// slug that exists archived).
    pub async fn list_attributes(
        &self,
        auth: &AttioAuth,
        object: &str,
    ) -> Result<Vec<AttributeInfo>, AttioError> {
        let v = self
            .call(
                auth,
                Method::GET,
                &format!("/objects/{}/attributes?show_archived=true", seg(object)),
                None,
                Budget::Read,
                true,
            )
            .await?;
        Self::data(v)
    }

    /// `POST /v2/objects/{slug}/attributes` with a body from
    /// [`FieldSchema::create_attribute_body`](attio_auth_shared::sync::FieldSchema::create_attribute_body).
    /// `Ok(false)` when the slug exists already (409 `slug_conflict`).
    pub async fn create_attribute(
        &self,
        auth: &AttioAuth,
        object: &str,
        body: &Value,
    ) -> Result<bool, AttioError> {
        match self
            .call(
                auth,
                Method::POST,
                &format!("/objects/{}/attributes", seg(object)),
                Some(body),
                Budget::Write,
                false,
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(AttioError::Api { status: 409, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `PATCH /v2/objects/{object}/attributes/{attribute}` with `{is_archived}`: archive an
    /// attribute (Attio has no attribute delete) or restore an archived one.
    pub async fn set_attribute_archived(
        &self,
        auth: &AttioAuth,
        object: &str,
        attribute: &str,
        archived: bool,
    ) -> Result<(), AttioError> {
        let body = json!({"data": {"is_archived": archived}});
        self.call(
            auth,
            Method::PATCH,
            &format!("/objects/{}/attributes/{}", seg(object), seg(attribute)),
            Some(&body),
            Budget::Write,
            true,
        )
        .await
        .map(|_| ())
    }

    /// `POST /v2/objects/{object}/attributes/{attribute}/options` with `{title}`;
    /// `Ok(false)` when the option exists already (409).
    pub async fn create_select_option(
        &self,
        auth: &AttioAuth,
        object: &str,
        attribute: &str,
        title: &str,
    ) -> Result<bool, AttioError> {
        let body = json!({"data": {"title": title}});
        match self
            .call(
                auth,
                Method::POST,
                &format!(
                    "/objects/{}/attributes/{}/options",
                    seg(object),
                    seg(attribute)
                ),
                Some(&body),
                Budget::Write,
                false,
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(AttioError::Api { status: 409, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
