//! The [`Mailer`] the host implements: the plugin decides when a password reset or an
//! invitation email is due, the host's mail system sends it.

use async_trait::async_trait;
use std::sync::Mutex;

/// A password reset email: the link the user follows and the single-use token in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordResetEmail {
    /// Recipient.
    pub to: String,
    /// The user.
    pub user_id: String,
    /// Their name.
    pub user_name: String,
    /// `{base_url}/reset-password/{token}?callbackURL={redirect}` (Better Auth's route).
    pub url: String,
    /// The token (stored as `verification` row `reset-password:{token}`, single-use,
    /// expiring).
    pub token: String,
}

/// An organization invitation email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationEmail {
    /// Recipient.
    pub to: String,
    /// Invitation id (what the accept link carries).
    pub invitation_id: String,
    /// Role(s).
    pub role: String,
    /// Organization id.
    pub organization_id: String,
    /// Organization name.
    pub organization_name: String,
    /// Inviter's name.
    pub inviter_name: String,
    /// Inviter's email.
    pub inviter_email: String,
    /// ISO-8601.
    pub expires_at: String,
    /// Whether this re-sends a pending invitation.
    pub resent: bool,
}

/// A mail that could not be sent; the text is logged, not returned to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MailError(pub String);

/// Sends the plugin's emails. Without one, `send-password-reset` answers 501 and
/// invitations are stored without an email.
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    /// Sends a password reset link.
    async fn send_password_reset(&self, email: PasswordResetEmail) -> Result<(), MailError>;
    /// Sends an organization invitation.
    async fn send_invitation(&self, email: InvitationEmail) -> Result<(), MailError>;
}

/// One mail a [`MemoryMailer`] kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SentMail {
    /// A reset link.
    PasswordReset(PasswordResetEmail),
    /// An invitation.
    Invitation(InvitationEmail),
}

/// A [`Mailer`] that keeps mails in memory: for tests and demos.
#[derive(Debug, Default)]
pub struct MemoryMailer {
    sent: Mutex<Vec<SentMail>>,
}

impl MemoryMailer {
    /// An empty mailbox.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every mail sent so far, oldest first.
    pub fn sent(&self) -> Vec<SentMail> {
        self.sent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn push(&self, mail: SentMail) {
        self.sent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(mail);
    }
}

#[async_trait]
impl Mailer for MemoryMailer {
    async fn send_password_reset(&self, email: PasswordResetEmail) -> Result<(), MailError> {
        self.push(SentMail::PasswordReset(email));
        Ok(())
    }

    async fn send_invitation(&self, email: InvitationEmail) -> Result<(), MailError> {
        self.push(SentMail::Invitation(email));
        Ok(())
    }
}
