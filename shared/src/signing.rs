//! Standard Webhooks signing and verification, shaped like svix's `Webhook`.
//!
//! Every request between app-backend and the auth plugin (both directions) and every call
//! from the Attio app to app-backend carries three headers:
//!
//! - [`HEADER_ID`] (`webhook-id`): a unique message id, the idempotency key;
//! - [`HEADER_TIMESTAMP`] (`webhook-timestamp`): unix seconds when it was signed;
//! - [`HEADER_SIGNATURE`] (`webhook-signature`): `v1,<base64 HMAC-SHA256>` over
//!   `{id}.{timestamp}.{body}`, space-separated when several keys are valid (rotation).
//!
//! The key is the base64-decoded part of a `whsec_` secret, exactly as every Standard
//! Webhooks library derives it, so any of them can verify what we sign and the other way
//! round (see `shared/tests/vectors.rs` and `shared/tests/interop.rs`). A secret without
//! the `whsec_` prefix belongs to the legacy body-secret protocol and is refused here, and
//! so is a key shorter than [`MIN_KEY_LEN`] bytes.
//!
//! [`Verifier::verify`] is pure: it checks the clock window ([`TOLERANCE_SECS`] both ways)
//! and the signature (constant-time) and has no side effect. Replays are the job of a
//! [`ReplayGuard`], consulted *after* the signature is good: it tells a safe retry (same id,
//! same body: answer the stored response without acting twice) from a conflicting one
//! (same id, another body: 422).

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Header that carries the unique message id.
pub const HEADER_ID: &str = "webhook-id";
/// Header that carries the unix timestamp (seconds) of signing.
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// Header that carries the space-separated `v1,<base64>` signatures.
pub const HEADER_SIGNATURE: &str = "webhook-signature";
/// How far (seconds) a timestamp may be from the verifier's clock, in either direction.
pub const TOLERANCE_SECS: i64 = 300;
/// Prefix of a Standard Webhooks symmetric secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// Shortest accepted HMAC key, in decoded bytes. The published vectors use 24-byte keys;
/// our own secrets are 32 bytes.
pub const MIN_KEY_LEN: usize = 24;
/// Default time a [`MemoryReplayGuard`] remembers an accepted id: 15 minutes. A signed
/// message is acceptable for at most `2 * TOLERANCE_SECS` (10 minutes) of verifier clock
/// time, so remembering ids for longer than that means a replay can never slip through
/// after its id is forgotten.
pub const DEFAULT_REPLAY_TTL_SECS: i64 = 900;
/// Shortest TTL a [`MemoryReplayGuard`] accepts (10 minutes, the acceptance window).
pub const MIN_REPLAY_TTL_SECS: i64 = 2 * TOLERANCE_SECS;

/// At most this many entries of a signature header are looked at, so a huge header cannot
/// make us compute much; real senders send one per valid key (two during a rotation).
const MAX_SIGNATURE_ENTRIES: usize = 32;
/// Length of an HMAC-SHA256 output.
const MAC_LEN: usize = 32;

type HmacSha256 = Hmac<Sha256>;

/// Why a message was refused, or why a secret is unusable. No variant ever contains a
/// secret or a key: they are safe to log and to return to a caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    /// The timestamp is more than [`TOLERANCE_SECS`] in the past.
    #[error("webhook-timestamp is more than {TOLERANCE_SECS} s in the past")]
    Expired,
    /// The timestamp is more than [`TOLERANCE_SECS`] in the future.
    #[error("webhook-timestamp is more than {TOLERANCE_SECS} s in the future")]
    Future,
    /// No `v1` signature in the header matches any accepted key.
    #[error("no webhook-signature matches")]
    BadSignature,
    /// This message id was already accepted (a repeat the caller chose to refuse).
    #[error("webhook-id was already used")]
    Replayed,
    /// This message id was already accepted with another body.
    #[error("webhook-id was already used with a different body")]
    Conflict,
    /// A header is missing, empty or not in the expected format; the text says which.
    #[error("malformed header: {0}")]
    MalformedHeader(String),
    /// A secret cannot be used for signing; the text says why (never the secret).
    #[error("invalid secret: {0}")]
    InvalidSecret(String),
    /// The operating system's random number generator failed (making a message id).
    #[error("the operating system's random number generator failed")]
    Random,
}

impl SigningError {
    /// HTTP status a receiver should answer with: 400 for malformed headers, 422 for a
    /// conflicting repeat (as DESIGN.md says), 409 for a refused repeat, 401 for the
    /// authentication failures, 500 for our own secret or RNG being unusable.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::MalformedHeader(_) => 400,
            Self::Expired | Self::Future | Self::BadSignature => 401,
            Self::Replayed => 409,
            Self::Conflict => 422,
            Self::InvalidSecret(_) | Self::Random => 500,
        }
    }

    /// Stable SNAKE_CASE code for JSON error bodies (`{"code": ..., "message": ...}`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Expired => "SIGNATURE_EXPIRED",
            Self::Future => "SIGNATURE_FROM_FUTURE",
            Self::BadSignature => "BAD_SIGNATURE",
            Self::Replayed => "REPLAYED",
            Self::Conflict => "IDEMPOTENCY_CONFLICT",
            Self::MalformedHeader(_) => "MALFORMED_SIGNATURE_HEADER",
            Self::InvalidSecret(_) => "INVALID_SECRET",
            Self::Random => "RANDOM_FAILED",
        }
    }
}

/// One HMAC key, derived from a `whsec_` secret. Kept as a keyed HMAC state (cloned per
/// message, which saves re-keying); `Debug` prints nothing about it.
#[derive(Clone)]
pub struct SigningKey {
    mac: HmacSha256,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

impl SigningKey {
    /// Parses a `whsec_<base64>` secret. Refuses a secret without the prefix (legacy-only),
    /// one whose rest is not standard base64, and a key shorter than [`MIN_KEY_LEN`].
    pub fn from_secret(secret: &str) -> Result<Self, SigningError> {
        let Some(encoded) = secret.strip_prefix(SECRET_PREFIX) else {
            return Err(SigningError::InvalidSecret(format!(
                "a signing secret starts with `{SECRET_PREFIX}` (a secret without it is for the legacy protocol only)"
            )));
        };
        let key = STANDARD.decode(encoded.trim()).map_err(|_| {
            SigningError::InvalidSecret(format!(
                "the part after `{SECRET_PREFIX}` is not standard base64"
            ))
        })?;
        Self::from_bytes(&key)
    }

    /// Uses raw key bytes (the decoded part of a secret). Refuses keys shorter than
    /// [`MIN_KEY_LEN`] bytes.
    pub fn from_bytes(key: &[u8]) -> Result<Self, SigningError> {
        if key.is_empty() {
            return Err(SigningError::InvalidSecret("the key is empty".into()));
        }
        if key.len() < MIN_KEY_LEN {
            return Err(SigningError::InvalidSecret(format!(
                "the key is {} bytes, at least {MIN_KEY_LEN} are required",
                key.len()
            )));
        }
        let mac = HmacSha256::new_from_slice(key)
            .map_err(|_| SigningError::InvalidSecret("the key cannot key HMAC-SHA256".into()))?;
        Ok(Self { mac })
    }

    /// The raw HMAC over `{id}.{timestamp}.{body}`.
    fn mac(&self, id: &str, timestamp: &str, body: &[u8]) -> [u8; MAC_LEN] {
        let mut mac = self.mac.clone();
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().into()
    }

    /// `v1,<base64>` for one message.
    fn sign(&self, id: &str, timestamp: &str, body: &[u8]) -> String {
        format!("v1,{}", STANDARD.encode(self.mac(id, timestamp, body)))
    }
}

/// Parses every secret of a list into keys; refuses an empty list.
fn keys_of<S: AsRef<str>>(secrets: &[S]) -> Result<Vec<SigningKey>, SigningError> {
    if secrets.is_empty() {
        return Err(SigningError::InvalidSecret("no secret given".into()));
    }
    secrets
        .iter()
        .map(|s| SigningKey::from_secret(s.as_ref()))
        .collect()
}

/// The three headers of one signed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp` (unix seconds).
    pub timestamp: i64,
    /// `webhook-signature` (space-separated `v1,<base64>` entries).
    pub signature: String,
}

impl SignedHeaders {
    /// `(header name, value)` pairs, ready to set on a request.
    pub fn pairs(&self) -> [(&'static str, String); 3] {
        [
            (HEADER_ID, self.id.clone()),
            (HEADER_TIMESTAMP, self.timestamp.to_string()),
            (HEADER_SIGNATURE, self.signature.clone()),
        ]
    }
}

/// Signs messages with one or more keys (several during a rotation: each gets its entry in
/// the signature header, so receivers that know either key accept it).
#[derive(Debug, Clone)]
pub struct Signer {
    keys: Vec<SigningKey>,
}

impl Signer {
    /// A signer for `whsec_` secrets (at least one).
    pub fn new<S: AsRef<str>>(secrets: &[S]) -> Result<Self, SigningError> {
        Ok(Self {
            keys: keys_of(secrets)?,
        })
    }

    /// A signer for one secret kept in a [`SecretString`].
    pub fn from_secret(secret: &SecretString) -> Result<Self, SigningError> {
        Self::new(&[secret.expose_secret()])
    }

    /// The `webhook-signature` value for a message: one `v1,<base64>` per key,
    /// space-separated.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let ts = timestamp.to_string();
        let mut out = String::with_capacity(self.keys.len() * 48);
        for (i, key) in self.keys.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(&key.sign(id, &ts, body));
        }
        out
    }

    /// Headers for a new message: a fresh `msg_<random>` id, `now_unix` as timestamp, and
    /// the signature. Fails only when the OS random number generator does.
    pub fn headers(&self, body: &[u8], now_unix: i64) -> Result<SignedHeaders, SigningError> {
        let id = new_message_id()?;
        let signature = self.sign(&id, now_unix, body);
        Ok(SignedHeaders {
            id,
            timestamp: now_unix,
            signature,
        })
    }
}

/// A fresh message id: `msg_` + 32 hex digits of OS randomness (128 bits, so ids of
/// different senders do not collide).
pub fn new_message_id() -> Result<String, SigningError> {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).map_err(|_| SigningError::Random)?;
    let mut id = String::with_capacity(4 + 32);
    id.push_str("msg_");
    for b in bytes {
        id.push_str(&format!("{b:02x}"));
    }
    Ok(id)
}

/// Verifies messages against one or more accepted secrets (several during a rotation).
#[derive(Debug, Clone)]
pub struct Verifier {
    keys: Vec<SigningKey>,
}

impl Verifier {
    /// A verifier that accepts messages signed with any of these `whsec_` secrets.
    pub fn new<S: AsRef<str>>(secrets: &[S]) -> Result<Self, SigningError> {
        Ok(Self {
            keys: keys_of(secrets)?,
        })
    }

    /// A verifier for one secret kept in a [`SecretString`].
    pub fn from_secret(secret: &SecretString) -> Result<Self, SigningError> {
        Self::new(&[secret.expose_secret()])
    }

    /// Checks one message, given its three header values as received, the exact body
    /// bytes and the verifier's clock. No side effect: replay protection is a separate
    /// step ([`ReplayGuard`], or [`Verifier::verify_with_guard`]).
    ///
    /// Order: headers well-formed, timestamp within [`TOLERANCE_SECS`], then any `v1`
    /// entry matching any key (constant-time compare). Entries of other versions (`v1a`,
    /// `v2`) are skipped, as the Standard Webhooks libraries do.
    pub fn verify(
        &self,
        id: &str,
        timestamp: &str,
        signature: &str,
        body: &[u8],
        now_unix: i64,
    ) -> Result<(), SigningError> {
        if id.is_empty() {
            return Err(SigningError::MalformedHeader(format!(
                "{HEADER_ID} is missing or empty"
            )));
        }
        if id.len() > 256 || id.bytes().any(|b| b.is_ascii_control()) {
            return Err(SigningError::MalformedHeader(format!(
                "{HEADER_ID} is longer than 256 bytes or has control characters"
            )));
        }
        let ts = parse_timestamp(timestamp)?;
        if now_unix.saturating_sub(ts) > TOLERANCE_SECS {
            return Err(SigningError::Expired);
        }
        if ts.saturating_sub(now_unix) > TOLERANCE_SECS {
            return Err(SigningError::Future);
        }
        let signature = signature.trim();
        if signature.is_empty() {
            return Err(SigningError::MalformedHeader(format!(
                "{HEADER_SIGNATURE} is missing or empty"
            )));
        }
        let entries: Vec<&str> = signature.split_ascii_whitespace().collect();
        if entries.len() > MAX_SIGNATURE_ENTRIES {
            return Err(SigningError::MalformedHeader(format!(
                "{HEADER_SIGNATURE} has more than {MAX_SIGNATURE_ENTRIES} entries"
            )));
        }
        // The canonical decimal form is what was signed (the timestamp parsed strictly,
        // so it is the same text as received).
        let expected: Vec<[u8; MAC_LEN]> = self
            .keys
            .iter()
            .map(|k| k.mac(id, timestamp, body))
            .collect();
        let mut matched = subtle::Choice::from(0u8);
        for entry in entries {
            let Some((version, value)) = entry.split_once(',') else {
                continue;
            };
            if version != "v1" {
                continue;
            }
            let Ok(given) = STANDARD.decode(value) else {
                continue;
            };
            if given.len() != MAC_LEN {
                continue;
            }
            for want in &expected {
                matched |= want.as_slice().ct_eq(&given);
            }
        }
        if bool::from(matched) {
            Ok(())
        } else {
            Err(SigningError::BadSignature)
        }
    }

    /// [`Verifier::verify`], then the replay guard: `Ok(Fresh)` means act on it (and call
    /// [`ReplayGuard::store`] with the response afterwards); `Ok(Repeat(stored))` means
    /// answer the stored response (or "in progress" when `None`) without acting again;
    /// a different body under a known id is `Err(Conflict)`.
    pub fn verify_with_guard(
        &self,
        guard: &dyn ReplayGuard,
        id: &str,
        timestamp: &str,
        signature: &str,
        body: &[u8],
        now_unix: i64,
    ) -> Result<ReplayStatus, SigningError> {
        self.verify(id, timestamp, signature, body, now_unix)?;
        match guard.check(id, body, now_unix) {
            ReplayStatus::Conflict => Err(SigningError::Conflict),
            other => Ok(other),
        }
    }
}

/// Parses a `webhook-timestamp`: decimal digits only (no sign, no spaces, no trailing
/// garbage, unlike the npm library's `parseInt`), at most 12 digits.
fn parse_timestamp(timestamp: &str) -> Result<i64, SigningError> {
    let malformed = || {
        SigningError::MalformedHeader(format!(
            "{HEADER_TIMESTAMP} must be unix seconds (decimal digits)"
        ))
    };
    if timestamp.is_empty()
        || timestamp.len() > 12
        || !timestamp.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(malformed());
    }
    timestamp.parse::<i64>().map_err(|_| malformed())
}

/// What a replay guard knows about a message id: the one type for this idea, whatever the
/// guard stores as the response (`R`: the body bytes for [`ReplayGuard`], a status and body
/// for the plugin's store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayStatus<R = Vec<u8>> {
    /// Never seen (within the TTL): act on it. The id is now remembered as in progress.
    Fresh,
    /// Seen with the same body: a safe retry. Holds the stored response, or `None` while
    /// the first delivery is still being handled.
    Repeat(Option<R>),
    /// Seen with another body: refuse (422).
    Conflict,
}

impl<R> ReplayStatus<R> {
    /// For receivers that do not replay stored responses: `Fresh` is `Ok`, a repeat is
    /// [`SigningError::Replayed`], a conflict [`SigningError::Conflict`].
    pub fn reject_repeats(self) -> Result<(), SigningError> {
        match self {
            Self::Fresh => Ok(()),
            Self::Repeat(_) => Err(SigningError::Replayed),
            Self::Conflict => Err(SigningError::Conflict),
        }
    }
}

/// Remembers accepted message ids (with a hash of their body and the response given) for
/// at least 10 minutes. Consult it only after the signature verified, so unauthenticated
/// senders cannot fill it. Implementations are shared between request handlers, hence
/// `&self` and `Send + Sync`.
pub trait ReplayGuard: Send + Sync {
    /// Looks `id` up. When it is new, remembers it (with a SHA-256 of `body`) as in
    /// progress and answers [`ReplayStatus::Fresh`].
    fn check(&self, id: &str, body: &[u8], now_unix: i64) -> ReplayStatus;
    /// Records the response given to `id`, so a safe retry gets the same answer.
    fn store(&self, id: &str, response: &[u8], now_unix: i64);
    /// Forgets `id`, for a message whose handling failed before it changed anything (a
    /// 5xx): the sender's retry with the same id is then handled as fresh instead of being
    /// told "in progress" until the TTL runs out.
    fn forget(&self, id: &str);
}

/// One remembered id.
#[derive(Debug, Clone)]
struct Seen {
    body_sha256: [u8; 32],
    response: Option<Vec<u8>>,
    expires_at: i64,
}

/// In-process [`ReplayGuard`] with a TTL ([`DEFAULT_REPLAY_TTL_SECS`] unless told,
/// never below [`MIN_REPLAY_TTL_SECS`]). Enough for a single instance; several instances
/// need a shared store behind the same trait.
#[derive(Debug)]
pub struct MemoryReplayGuard {
    ttl: i64,
    inner: Mutex<GuardState>,
}

#[derive(Debug, Default)]
struct GuardState {
    seen: HashMap<String, Seen>,
    next_purge: i64,
}

impl Default for MemoryReplayGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryReplayGuard {
    /// A guard that remembers ids for [`DEFAULT_REPLAY_TTL_SECS`].
    pub fn new() -> Self {
        Self::with_ttl(DEFAULT_REPLAY_TTL_SECS)
    }

    /// A guard with its own TTL in seconds, raised to [`MIN_REPLAY_TTL_SECS`] when shorter
    /// (a shorter memory would let a replay in while its timestamp is still acceptable).
    pub fn with_ttl(ttl_secs: i64) -> Self {
        Self {
            ttl: ttl_secs.max(MIN_REPLAY_TTL_SECS),
            inner: Mutex::new(GuardState::default()),
        }
    }

    /// The TTL in effect, in seconds.
    pub fn ttl_secs(&self) -> i64 {
        self.ttl
    }

    /// Number of ids remembered (expired ones may linger until the next purge).
    pub fn len(&self) -> usize {
        self.lock().seen.len()
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A poisoned lock only means another thread panicked mid-update of a plain map;
    /// the map is still usable, so carry on rather than panic here too.
    fn lock(&self) -> std::sync::MutexGuard<'_, GuardState> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl ReplayGuard for MemoryReplayGuard {
    fn check(&self, id: &str, body: &[u8], now_unix: i64) -> ReplayStatus {
        let hash: [u8; 32] = Sha256::digest(body).into();
        let mut state = self.lock();
        if now_unix >= state.next_purge {
            state.seen.retain(|_, s| s.expires_at > now_unix);
            state.next_purge = now_unix.saturating_add(60);
        }
        match state.seen.get(id) {
            Some(seen) if seen.expires_at > now_unix => {
                if bool::from(seen.body_sha256.ct_eq(&hash)) {
                    ReplayStatus::Repeat(seen.response.clone())
                } else {
                    ReplayStatus::Conflict
                }
            }
            _ => {
                state.seen.insert(
                    id.to_owned(),
                    Seen {
                        body_sha256: hash,
                        response: None,
                        expires_at: now_unix.saturating_add(self.ttl),
                    },
                );
                ReplayStatus::Fresh
            }
        }
    }

    fn store(&self, id: &str, response: &[u8], now_unix: i64) {
        let mut state = self.lock();
        if let Some(seen) = state.seen.get_mut(id) {
            seen.response = Some(response.to_vec());
            seen.expires_at = seen.expires_at.max(now_unix.saturating_add(self.ttl));
        }
    }

    fn forget(&self, id: &str) {
        self.lock().seen.remove(id);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const OTHER: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1614265330;
    const BODY: &[u8] = b"{\"test\": 2432232314}";
    const SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn signs_published_vector() {
        let s = Signer::new(&[SECRET]).unwrap();
        assert_eq!(s.sign(ID, TS, BODY), SIG);
    }

    #[test]
    fn verifies_within_tolerance_both_ways() {
        let v = Verifier::new(&[SECRET]).unwrap();
        let ts = TS.to_string();
        v.verify(ID, &ts, SIG, BODY, TS).unwrap();
        v.verify(ID, &ts, SIG, BODY, TS + 300).unwrap();
        v.verify(ID, &ts, SIG, BODY, TS - 300).unwrap();
        assert_eq!(
            v.verify(ID, &ts, SIG, BODY, TS + 301),
            Err(SigningError::Expired)
        );
        assert_eq!(
            v.verify(ID, &ts, SIG, BODY, TS - 301),
            Err(SigningError::Future)
        );
    }

    #[test]
    fn refuses_tampering() {
        let v = Verifier::new(&[SECRET]).unwrap();
        let ts = TS.to_string();
        assert_eq!(
            v.verify(ID, &ts, SIG, b"{\"test\": 2432232315}", TS),
            Err(SigningError::BadSignature)
        );
        assert_eq!(
            v.verify("msg_other", &ts, SIG, BODY, TS),
            Err(SigningError::BadSignature)
        );
        assert_eq!(
            v.verify(ID, &(TS + 1).to_string(), SIG, BODY, TS),
            Err(SigningError::BadSignature)
        );
        let wrong = Verifier::new(&[OTHER]).unwrap();
        assert_eq!(
            wrong.verify(ID, &ts, SIG, BODY, TS),
            Err(SigningError::BadSignature)
        );
    }

    #[test]
    fn rotation_signs_and_accepts_several_keys() {
        let both = Signer::new(&[SECRET, OTHER]).unwrap();
        let header = both.sign(ID, TS, BODY);
        assert_eq!(header.split(' ').count(), 2);
        let ts = TS.to_string();
        for only in [SECRET, OTHER] {
            Verifier::new(&[only])
                .unwrap()
                .verify(ID, &ts, &header, BODY, TS)
                .unwrap();
        }
        // A verifier that accepts either secret takes a message signed with one of them.
        let old_sig = Signer::new(&[OTHER]).unwrap().sign(ID, TS, BODY);
        Verifier::new(&[SECRET, OTHER])
            .unwrap()
            .verify(ID, &ts, &old_sig, BODY, TS)
            .unwrap();
    }

    #[test]
    fn refuses_bad_secrets_without_echoing_them() {
        let cases = [
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_",
            "whsec_c2hvcnQ=",
            "whsec_not base64!!",
        ];
        for secret in cases {
            let err = Signer::new(&[secret]).unwrap_err();
            assert!(matches!(err, SigningError::InvalidSecret(_)), "{secret}");
            let text = format!("{err} {err:?}");
            let body = secret.trim_start_matches(SECRET_PREFIX);
            if !body.is_empty() {
                assert!(!text.contains(body), "{text}");
            }
        }
        assert!(Signer::new::<&str>(&[]).is_err());
    }

    #[test]
    fn debug_prints_no_key() {
        let s = Signer::new(&[SECRET]).unwrap();
        let text = format!("{s:?} {:?}", Verifier::new(&[SECRET]).unwrap());
        assert!(!text.contains("MfKQ9r8"), "{text}");
        assert!(text.contains("redacted"));
    }

    #[test]
    fn malformed_headers() {
        let v = Verifier::new(&[SECRET]).unwrap();
        let ts = TS.to_string();
        for (id, ts, sig) in [
            ("", ts.as_str(), SIG),
            (ID, "", SIG),
            (ID, "-5", SIG),
            (ID, "1614265330abc", SIG),
            (ID, " 1614265330", SIG),
            (ID, ts.as_str(), ""),
            (ID, ts.as_str(), "   "),
        ] {
            assert!(
                matches!(
                    v.verify(id, ts, sig, BODY, TS),
                    Err(SigningError::MalformedHeader(_))
                ),
                "{id:?} {ts:?} {sig:?}"
            );
        }
        // Entries without a comma, unknown versions or bad base64 are skipped, not fatal.
        let header = format!("garbage v2,abc v1,!!! {SIG}");
        v.verify(ID, &ts, &header, BODY, TS).unwrap();
    }

    #[test]
    fn headers_have_fresh_ids() {
        let s = Signer::new(&[SECRET]).unwrap();
        let a = s.headers(BODY, TS).unwrap();
        let b = s.headers(BODY, TS).unwrap();
        assert_ne!(a.id, b.id);
        assert!(a.id.starts_with("msg_"));
        let v = Verifier::new(&[SECRET]).unwrap();
        v.verify(&a.id, &a.timestamp.to_string(), &a.signature, BODY, TS)
            .unwrap();
        assert_eq!(a.pairs()[0].0, HEADER_ID);
    }

    #[test]
    fn replay_guard_tells_repeat_from_conflict() {
        let g = MemoryReplayGuard::new();
        assert_eq!(g.check("m1", b"a", 1000), ReplayStatus::Fresh);
        assert_eq!(g.check("m1", b"a", 1001), ReplayStatus::Repeat(None));
        g.store("m1", b"resp", 1002);
        assert_eq!(
            g.check("m1", b"a", 1003),
            ReplayStatus::Repeat(Some(b"resp".to_vec()))
        );
        assert_eq!(g.check("m1", b"b", 1004), ReplayStatus::Conflict);
        assert_eq!(g.check("m2", b"b", 1004), ReplayStatus::Fresh);
        // Still remembered at the edge of the acceptance window, forgotten after the TTL.
        assert!(matches!(
            g.check("m1", b"a", 1000 + MIN_REPLAY_TTL_SECS),
            ReplayStatus::Repeat(_)
        ));
        let later = 1002 + DEFAULT_REPLAY_TTL_SECS + 1;
        assert_eq!(g.check("m1", b"b", later), ReplayStatus::Fresh);
        assert!(g.len() <= 2);
        g.forget("m1");
        assert_eq!(g.check("m1", b"c", later), ReplayStatus::Fresh);
    }

    #[test]
    fn replay_guard_ttl_has_a_floor() {
        assert_eq!(
            MemoryReplayGuard::with_ttl(5).ttl_secs(),
            MIN_REPLAY_TTL_SECS
        );
        assert_eq!(MemoryReplayGuard::with_ttl(3600).ttl_secs(), 3600);
    }

    #[test]
    fn verify_with_guard_flow() {
        let v = Verifier::new(&[SECRET]).unwrap();
        let g = MemoryReplayGuard::new();
        let ts = TS.to_string();
        assert_eq!(
            v.verify_with_guard(&g, ID, &ts, SIG, BODY, TS),
            Ok(ReplayStatus::Fresh)
        );
        let again = v.verify_with_guard(&g, ID, &ts, SIG, BODY, TS).unwrap();
        assert_eq!(again.clone().reject_repeats(), Err(SigningError::Replayed));
        assert_eq!(again, ReplayStatus::Repeat(None));
        // A bad signature never reaches the guard.
        assert_eq!(
            v.verify_with_guard(&g, "msg_x", &ts, SIG, BODY, TS),
            Err(SigningError::BadSignature)
        );
        assert_eq!(g.len(), 1);
    }

    #[test]
    fn error_codes_and_statuses() {
        assert_eq!(SigningError::Conflict.http_status(), 422);
        assert_eq!(SigningError::BadSignature.http_status(), 401);
        assert_eq!(SigningError::Expired.code(), "SIGNATURE_EXPIRED");
    }
}
