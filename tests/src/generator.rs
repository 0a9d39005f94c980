//! The generator site as a person uses it, for the end-to-end tests. The Attio app's side
//! (signed record actions, reads of Attio records) is app-backend's own demo client:
//! [`attio_auth_backend::demo::client`].

/// Makes a connection string the way a person does: the generator site's form, posted
/// without JavaScript (`POST /` with `uri` and `base`), read from the answered page.
pub async fn generate_on_site(
    http: &reqwest::Client,
    site_url: &str,
    uri: &str,
    base: &str,
) -> anyhow::Result<String> {
    let res = http
        .post(format!("{site_url}/"))
        .form(&[("uri", uri), ("base", base)])
        .send()
        .await?;
    let status = res.status();
    let html = res.text().await?;
    if !status.is_success() {
        anyhow::bail!("the generator answered {status}");
    }
    let start = html
        .find(r#"id="connection""#)
        .ok_or_else(|| anyhow::anyhow!("no connection field in the generator's page"))?;
    let rest = &html[start..];
    let open = rest
        .find('>')
        .ok_or_else(|| anyhow::anyhow!("malformed connection field"))?;
    let close = rest
        .find("</textarea>")
        .ok_or_else(|| anyhow::anyhow!("the connection field is not a textarea"))?;
    Ok(rest[open + 1..close].trim().to_owned())
}
