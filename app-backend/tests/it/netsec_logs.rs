//! The plugin's event token is a credential in a URL path: it must not reach the logs,
//! even at trace level. Other tests share this binary, so the capture is this test's own
//! subscriber (`set_default`, for its thread), not a process-wide one: the test runs on a
//! current-thread runtime, so the backend it starts serves and logs on that same thread.

use std::sync::{Arc, Mutex};

use crate::common::*;
use attio_auth_shared::connection::Protocol;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_event_token_stays_out_of_the_logs() {
    // tracing caches each callsite's interest process-wide when the callsite is first hit.
    // While at most one dispatcher is registered, that interest is asked of the *hitting*
    // thread's default: another test's thread (no subscriber) reaching the request log
    // first would cache "never" for it, and this capture would miss the line (seen once
    // in CI). With two live dispatchers, every registration asks all of them, this one
    // included: the second is a do-nothing one, alive for the whole test.
    let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _capture = tracing::subscriber::set_default(subscriber);

    let w = installed(DbChoice::Sqlite, Protocol::Legacy).await;
    let url = w.plugin.calls("link")[0].body["webhookUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = url.rsplit('/').next().unwrap().to_owned();
    assert!(token.len() >= 32);
    // A raw request: an HTTP client library might log the URL on the test's side.
    let mut stream = tokio::net::TcpStream::connect(w.app.addr).await.unwrap();
    let request = format!(
        "POST /v1/events/{}/{token}?code=query-secret HTTP/1.1\r\nhost: x\r\ncontent-type: \
         application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}",
        w.installation_id
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.contains("INVALID_EVENT"),
        "the token was accepted: {answer}"
    );

    let text = logs.text();
    let logged_path = format!("/v1/events/{}/[redacted]", w.installation_id);
    assert!(text.contains(&logged_path), "the request was logged");
    assert!(!text.contains(&token), "the event token is in the logs");
    assert!(
        !text.contains("query-secret"),
        "a query string is in the logs"
    );
}
