//! Helpers shared by the integration tests: a server on 127.0.0.1 port 0 and tiny HTML
//! readers (the page's markup is ours, so string search is enough).
#![allow(dead_code)]

use std::path::PathBuf;

use attio_auth_generator::server::{AppState, router};

/// A running server.
pub struct TestApp {
    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub url: String,
}

/// Starts the server on a free port, serving static files from `site_root`.
pub async fn spawn_app(site_root: PathBuf) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    let app = router(AppState::new(&site_root), &site_root);
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    TestApp {
        url: format!("http://{addr}"),
    }
}

/// The text of `<textarea id="{id}" ...>TEXT</textarea>`, unescaped.
pub fn textarea(html: &str, id: &str) -> String {
    let start = html
        .find(&format!("<textarea id=\"{id}\""))
        .unwrap_or_else(|| panic!("no textarea #{id}"));
    let rest = &html[start..];
    let open_end = rest.find('>').expect("tag end") + 1;
    let close = rest.find("</textarea>").expect("close tag");
    unescape(rest[open_end..close].trim())
}

/// The text inside the element with `id`, tags stripped, unescaped.
pub fn text_of(html: &str, id: &str) -> String {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no element #{id}"));
    let rest = &html[start..];
    let open_end = rest.find('>').expect("tag end") + 1;
    let close = rest[open_end..].find("</").expect("close") + open_end;
    let mut out = String::new();
    let mut in_tag = false;
    for c in rest[open_end..close].chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    unescape(&out)
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}
