//! The demo's mail system: logs who gets what (never the link: it holds a token) and
//! keeps every mail for `GET /api/auth/dev/mailbox` when enabled.

use std::sync::Arc;

use attio_auth_plugin::{
    InvitationEmail, MailError, Mailer, MemoryMailer, PasswordResetEmail, SentMail,
};
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

#[derive(Default)]
pub(super) struct DemoMailer {
    kept: MemoryMailer,
}

#[async_trait::async_trait]
impl Mailer for DemoMailer {
    async fn send_password_reset(&self, email: PasswordResetEmail) -> Result<(), MailError> {
        tracing::info!(to = %email.to, "password reset email");
        self.kept.send_password_reset(email).await
    }
    async fn send_invitation(&self, email: InvitationEmail) -> Result<(), MailError> {
        tracing::info!(to = %email.to, organization = %email.organization_name, "invitation email");
        self.kept.send_invitation(email).await
    }
}

/// Every mail sent so far, reset tokens included (end-to-end tests and demos only).
pub(super) async fn dev_mailbox(State(mailer): State<Arc<DemoMailer>>) -> Json<Value> {
    let mails = mailer
        .kept
        .sent()
        .into_iter()
        .map(|m| match m {
            SentMail::PasswordReset(e) => json!({"kind": "reset-password", "to": e.to,
                "userId": e.user_id, "url": e.url, "token": e.token}),
            SentMail::Invitation(e) => json!({"kind": "invitation", "to": e.to,
                "invitationId": e.invitation_id, "organizationId": e.organization_id,
                "role": e.role, "resent": e.resent}),
        })
        .collect();
    Json(Value::Array(mails))
}
