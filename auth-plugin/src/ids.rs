//! Random ids and tokens: 32 alphanumerics from the OS CSPRNG, as Better Auth makes them.

use rand::Rng;
use rand::distributions::Alphanumeric;
use rand::rngs::OsRng;

/// A new row id (32 alphanumerics).
pub(crate) fn new_id() -> String {
    token(32)
}

/// A new secret token of `len` alphanumerics (about 5.95 bits each).
pub(crate) fn token(len: usize) -> String {
    OsRng
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}
