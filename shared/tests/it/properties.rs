//! Property tests: connection strings round-trip, signatures verify for any message and
//! fail for any tampering.

use attio_auth_shared::connection::{Connection, Protocol, normalize_base, normalize_uri};
use attio_auth_shared::signing::{
    MemoryReplayGuard, ReplayStatus, Signer, SigningError, TOLERANCE_SECS, Verifier,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;
use secrecy::{ExposeSecret, SecretString};

/// A `whsec_` secret of 24 to 64 random bytes.
fn whsec() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<u8>(), 24..=64)
        .prop_map(|k| format!("whsec_{}", STANDARD.encode(k)))
}

fn uri() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just(""), Just("https://"), Just("http://")],
        "[a-z][a-z0-9-]{0,15}(\\.[a-z]{2,6}){0,2}",
        prop::option::of(1u16..=65535),
        prop::bool::ANY,
        prop::bool::ANY,
    )
        .prop_map(|(scheme, host, port, slash, pad)| {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            let slash = if slash { "/" } else { "" };
            let pad = if pad { "  " } else { "" };
            format!("{pad}{scheme}{host}{port}{slash}{pad}")
        })
}

fn base() -> impl Strategy<Value = String> {
    ("(/?[A-Za-z0-9_.~-]{1,10}){0,3}", prop::bool::ANY)
        .prop_map(|(b, slash)| if slash { format!("{b}/") } else { b })
}

fn connection() -> impl Strategy<Value = Connection> {
    (
        uri(),
        base(),
        prop_oneof![
            whsec().prop_map(|s| (Protocol::SignedV1, s)),
            // Legacy secrets are any string the original generator might have held.
            "\\PC{1,60}".prop_map(|s| (Protocol::Legacy, s)),
        ],
    )
        .prop_map(|(uri, base, (protocol, secret))| {
            Connection::new(uri, base, protocol, SecretString::from(secret))
                .expect("generated parts are valid")
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn connection_round_trips(c in connection()) {
        let encoded = c.encode();
        // Standard alphabet with padding.
        prop_assert_eq!(encoded.len() % 4, 0);
        prop_assert!(encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b)));
        let back = Connection::decode(&encoded).expect("decodes");
        prop_assert_eq!(&back, &c);
        prop_assert_eq!(back.url(), c.url());
        // The JSON inside is ASCII (the original app's decoder is Latin-1).
        prop_assert!(STANDARD.decode(&encoded).expect("b64").is_ascii());
        // What the original app computes.
        prop_assert_eq!(c.url(), normalize_uri(&c.uri) + &normalize_base(&c.base));
        prop_assert!(url::Url::parse(&c.url()).is_ok());
        prop_assert!(!c.url().ends_with('/'));
    }

    #[test]
    fn generated_connections_round_trip(uri in uri(), base in prop::option::of(base())) {
        let c = Connection::generate(&uri, base.as_deref()).expect("generate");
        prop_assert_eq!(c.protocol, Protocol::SignedV1);
        let back = Connection::decode(&c.encode()).expect("decodes");
        prop_assert_eq!(&back, &c);
        prop_assert!(Signer::from_secret(back.secret()).is_ok());
    }

    #[test]
    fn decode_never_panics_nor_echoes_secrets(input in "\\PC{0,300}") {
        if let Err(e) = Connection::decode(&input) {
            prop_assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn decode_errors_never_contain_the_secret(
        secret in "[A-Za-z0-9]{16,40}",
        shape in 0usize..6,
    ) {
        let json = match shape {
            0 => format!(r#"{{"base":"/a","secret":"{secret}"}}"#),
            1 => format!(r#"{{"uri":"ftp://x","base":"/a","secret":"{secret}"}}"#),
            2 => format!(r#"{{"uri":"x.io","base":"/a","secret":"{secret}","protocol":"signed-v1"}}"#),
            3 => format!(r#"{{"uri":"x.io","base":"/a","secret":"whsec_{secret}","protocol":"signed-v1"}}"#),
            4 => format!(r#"{{"uri":"x.io","base":"/a","secret":["{secret}"]}}"#),
            _ => format!(r#"{{"uri":"x.io","base":"/a","secret":"{secret}","protocol":7}}"#),
        };
        match Connection::decode(&STANDARD.encode(json)) {
            Ok(c) => prop_assert_eq!(c.secret().expose_secret().trim_start_matches("whsec_"), secret.as_str()),
            Err(e) => {
                prop_assert!(!e.to_string().contains(&secret));
                let debug = format!("{:?}", e);
                prop_assert!(!debug.contains(&secret));
            }
        }
    }

    #[test]
    fn sign_then_verify(
        secret in whsec(),
        id in "[A-Za-z0-9_-]{1,64}",
        ts in 0i64..100_000_000_000,
        skew in -TOLERANCE_SECS..=TOLERANCE_SECS,
        body in prop::collection::vec(any::<u8>(), 0..2048),
    ) {
        let signature = Signer::new(&[&secret]).expect("signer").sign(&id, ts, &body);
        let verifier = Verifier::new(&[&secret]).expect("verifier");
        prop_assert_eq!(verifier.verify(&id, &ts.to_string(), &signature, &body, ts + skew), Ok(()));
    }

    #[test]
    fn tampering_fails(
        secret in whsec(),
        other in whsec(),
        id in "[A-Za-z0-9_-]{1,64}",
        ts in 1i64..100_000_000_000,
        body in prop::collection::vec(any::<u8>(), 1..2048),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        prop_assume!(secret != other);
        let signature = Signer::new(&[&secret]).expect("signer").sign(&id, ts, &body);
        let verifier = Verifier::new(&[&secret]).expect("verifier");
        let t = ts.to_string();

        let mut tampered = body.clone();
        let i = flip.index(tampered.len());
        tampered[i] ^= 1 << bit;
        prop_assert_eq!(verifier.verify(&id, &t, &signature, &tampered, ts), Err(SigningError::BadSignature));

        let mut longer = body.clone();
        longer.push(b' ');
        prop_assert_eq!(verifier.verify(&id, &t, &signature, &longer, ts), Err(SigningError::BadSignature));

        let other_id = format!("{id}x");
        prop_assert_eq!(verifier.verify(&other_id, &t, &signature, &body, ts), Err(SigningError::BadSignature));

        let other_ts = (ts - 1).to_string();
        prop_assert_eq!(verifier.verify(&id, &other_ts, &signature, &body, ts), Err(SigningError::BadSignature));

        let wrong = Verifier::new(&[&other]).expect("verifier");
        prop_assert_eq!(wrong.verify(&id, &t, &signature, &body, ts), Err(SigningError::BadSignature));

        // Flipping a bit of the signature itself.
        let (_, b64) = signature.split_once(',').expect("v1,");
        let mut mac = STANDARD.decode(b64).expect("b64");
        let j = flip.index(mac.len());
        mac[j] ^= 1 << bit;
        let forged = format!("v1,{}", STANDARD.encode(mac));
        prop_assert_eq!(verifier.verify(&id, &t, &forged, &body, ts), Err(SigningError::BadSignature));
    }

    #[test]
    fn rotation_works_both_ways(
        old in whsec(),
        new in whsec(),
        body in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let header = Signer::new(&[&new, &old]).expect("signer").sign("msg_1", 1_700_000_000, &body);
        for key in [&old, &new] {
            let v = Verifier::new(&[key]).expect("verifier");
            prop_assert_eq!(v.verify("msg_1", "1700000000", &header, &body, 1_700_000_000), Ok(()));
        }
        let only_old = Signer::new(&[&old]).expect("signer").sign("msg_1", 1_700_000_000, &body);
        let both = Verifier::new(&[&new, &old]).expect("verifier");
        prop_assert_eq!(both.verify("msg_1", "1700000000", &only_old, &body, 1_700_000_000), Ok(()));
    }

    #[test]
    fn replay_guard_repeat_and_conflict(
        id in "[a-z0-9]{1,20}",
        body in prop::collection::vec(any::<u8>(), 0..256),
        other in prop::collection::vec(any::<u8>(), 0..256),
        response in prop::collection::vec(any::<u8>(), 0..64),
        now in 0i64..1_000_000_000,
    ) {
        use attio_auth_shared::signing::ReplayGuard as _;
        let guard = MemoryReplayGuard::new();
        prop_assert_eq!(guard.check(&id, &body, now), ReplayStatus::Fresh);
        guard.store(&id, &response, now);
        prop_assert_eq!(guard.check(&id, &body, now + 2 * TOLERANCE_SECS), ReplayStatus::Repeat(Some(response.clone())));
        if other != body {
            prop_assert_eq!(guard.check(&id, &other, now + 1), ReplayStatus::Conflict);
        }
    }
}
