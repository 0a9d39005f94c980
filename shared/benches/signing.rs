//! Sign and verify of a 1 KiB body. Target (issue 2): verify <= 5 us on the CI machine.
//! Run: `cargo bench -p attio-auth-shared`.

use attio_auth_shared::signing::{Signer, Verifier};
use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYqr";
const ID: &str = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";
const TS: i64 = 1_700_000_000;

fn body() -> Vec<u8> {
    // A JSON-ish 1 KiB body, like an action request.
    let mut body = br#"{"action":"update-ban-status","params":{"banReason":""#.to_vec();
    body.resize(1024 - 3, b'x');
    body.extend_from_slice(b"\"}}");
    body
}

fn bench(c: &mut Criterion) {
    let body = body();
    assert_eq!(body.len(), 1024);
    let signer = Signer::new(&[SECRET]).expect("secret");
    let verifier = Verifier::new(&[SECRET]).expect("secret");
    let signature = signer.sign(ID, TS, &body);
    let ts = TS.to_string();

    let mut group = c.benchmark_group("1KiB");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("sign", |b| {
        b.iter(|| signer.sign(black_box(ID), black_box(TS), black_box(&body)))
    });
    group.bench_function("verify", |b| {
        b.iter(|| {
            verifier.verify(
                black_box(ID),
                black_box(&ts),
                black_box(&signature),
                black_box(&body),
                black_box(TS),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
