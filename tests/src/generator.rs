//! The generator site as a person uses it, for the end-to-end tests. The Attio app's side
//! (signed record actions, reads of Attio records) is the demo's client:
//! [`attio_auth_demo::client`].

/// The generator site (its server, as deployed) on a free loopback port: its base URL.
pub async fn spawn_site() -> anyhow::Result<String> {
    let site_root = attio_auth_generator::server::Config::default_site_root();
    let site = attio_auth_generator::server::router(
        attio_auth_generator::server::AppState::new(&site_root),
        &site_root,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, site).await;
    });
    Ok(url)
}

/// A free loopback port, for an auth server whose address goes into the connection string
/// before it starts, as a customer knows their domain first.
pub async fn free_port() -> anyhow::Result<u16> {
    let probe = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    Ok(probe.local_addr()?.port())
}

/// Makes a connection string the way a person does: the generator site's form, posted
/// without JavaScript (`POST /` with `uri` and `base`), read from the answered page.
pub async fn generate_on_site(
    http: &reqwest::Client,
    site_url: &str,
    uri: &str,
    base: &str,
) -> anyhow::Result<String> {
    Ok(generate_for_plugin(http, site_url, uri, base, "rust")
        .await?
        .0)
}

/// [`generate_on_site`] with the plugin radio button set (`rust` or `typescript`):
/// `(connection string, ATTIO_SECRET value)` as the page shows them.
pub async fn generate_for_plugin(
    http: &reqwest::Client,
    site_url: &str,
    uri: &str,
    base: &str,
    plugin: &str,
) -> anyhow::Result<(String, String)> {
    let res = http
        .post(format!("{site_url}/"))
        .form(&[("plugin", plugin), ("uri", uri), ("base", base)])
        .send()
        .await?;
    let status = res.status();
    let html = res.text().await?;
    if !status.is_success() {
        anyhow::bail!("the generator answered {status}");
    }
    let connection = textarea(&html, "connection")?;
    let env = textarea(&html, "env")?;
    let secret = env
        .strip_prefix("ATTIO_SECRET=")
        .ok_or_else(|| anyhow::anyhow!("the env field does not set ATTIO_SECRET"))?
        .to_owned();
    Ok((connection, secret))
}

/// The text of the page's `<textarea id=...>`.
fn textarea(html: &str, id: &str) -> anyhow::Result<String> {
    let start = html
        .find(&format!(r#"id="{id}""#))
        .ok_or_else(|| anyhow::anyhow!("no {id} field in the generator's page"))?;
    let rest = &html[start..];
    let open = rest
        .find('>')
        .ok_or_else(|| anyhow::anyhow!("malformed {id} field"))?;
    let close = rest
        .find("</textarea>")
        .ok_or_else(|| anyhow::anyhow!("the {id} field is not a textarea"))?;
    Ok(rest[open + 1..close].trim().to_owned())
}
