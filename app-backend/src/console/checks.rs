//! The install page's checks: everything `/v1/installations` would refuse for, run one by
//! one and shown as lines (pass or fail, what was found, what to do), without changing
//! anything remote. The install itself ([`crate::installations::install`]) checks again.

use attio_auth_shared::actions::PingRequest;
use attio_auth_shared::connection::{Connection, Protocol};
use attio_auth_shared::sync::AdapterInfo;

use crate::attio::{AttioAuth, AttioError};
use crate::installations::{self, Installation, REQUIRED_OBJECTS, missing_scopes};
use crate::plugin::{self, PluginCallError};
use crate::state::AppState;

use super::view::Line;

/// What the checks found.
#[derive(Debug, Default)]
pub struct Report {
    /// One line per check, in order.
    pub lines: Vec<Line>,
    /// Every check passed: the install may go ahead.
    pub ready: bool,
    /// The installation this workspace has already, if any.
    pub installed: Option<String>,
}

fn pass(title: &str, detail: impl Into<String>) -> Line {
    Line {
        outcome: "pass",
        title: title.into(),
        detail: detail.into(),
        fix: None,
    }
}

fn fail(title: &str, detail: impl Into<String>, fix: impl Into<String>) -> Line {
    Line {
        outcome: "fail",
        title: title.into(),
        detail: detail.into(),
        fix: Some(fix.into()),
    }
}

fn note(title: &str, detail: impl Into<String>) -> Line {
    Line {
        outcome: "warn",
        title: title.into(),
        detail: detail.into(),
        fix: None,
    }
}

const STRING: &str = "Connection string";
const ATTIO: &str = "Attio access";
const OBJECTS: &str = "Attio objects users and workspaces";
const SERVER: &str = "Auth server answers ping";
const ADAPTERS: &str = "Adapters and attributes";

/// Run every check of `raw` (the pasted string) with the signed-in `attio` access.
pub async fn run(state: &AppState, raw: &str, attio: &AttioAuth) -> Report {
    let mut report = Report::default();
    let mut ok = true;

    // 1. The string.
    let connection = match Connection::decode(raw.trim()) {
        Ok(c) => {
            let protocol = match c.protocol {
                Protocol::SignedV1 => "signed-v1 (the Rust plugin: signed requests)",
                Protocol::Legacy => {
                    "legacy (the original TypeScript Better Auth plugin: the secret travels in each request body)"
                }
            };
            report.lines.push(pass(
                STRING,
                format!("Decodes: auth server {}, protocol {protocol}.", c.url()),
            ));
            Some(c)
        }
        Err(e) => {
            ok = false;
            report.lines.push(fail(
                STRING,
                format!("It does not decode: {e}."),
                "Copy the whole string from the generator page (step 1) again; it is one line \
                 of base64 without spaces.",
            ));
            None
        }
    };

    // 2. Attio access.
    let mut attio_ok = false;
    match state.attio.identify(attio).await {
        Ok(info) if info.active => {
            let missing = missing_scopes(info.scope.as_deref());
            if missing.is_empty() {
                attio_ok = true;
                report.lines.push(pass(
                    ATTIO,
                    format!(
                        "The token works for workspace {} and has the scopes needed.",
                        info.workspace_name.as_deref().unwrap_or(&attio.workspace)
                    ),
                ));
            } else {
                report.lines.push(fail(
                    ATTIO,
                    format!("The token lacks the scope(s) {}.", missing.join(", ")),
                    "In Attio, Workspace settings → Developers, give the token (or the OAuth \
                     app) these scopes, then sign in again.",
                ));
            }
        }
        Ok(_) | Err(AttioError::Unauthorized { .. }) => report.lines.push(fail(
            ATTIO,
            "Attio refused the token this session signed in with.",
            "Sign out and sign in again (the token may have been revoked).",
        )),
        Err(e) => report.lines.push(fail(
            ATTIO,
            format!("Attio could not be asked: {e}."),
            "Try again in a minute; if it persists, check ATTIO_API_URL.",
        )),
    }
    ok &= attio_ok;

    // 3. Already installed?
    match Installation::find_by_workspace(state, &attio.workspace).await {
        Ok(Some(inst)) => {
            ok = false;
            report.installed = Some(inst.id.clone());
            report.lines.push(fail(
                "Not installed yet",
                format!(
                    "This Attio workspace is installed already, with {}.",
                    inst.connection.url()
                ),
                "Open the installation's page to look after it, or uninstall it there first.",
            ));
        }
        Ok(None) => {}
        Err(e) => {
            ok = false;
            report.lines.push(fail(
                "Not installed yet",
                format!("Could not be read: {e}."),
                "Try again.",
            ));
        }
    }

    // 4. The objects.
    let mut objects_ok = false;
    if attio_ok {
        let mut disabled = Vec::new();
        let mut failed = None;
        for slug in REQUIRED_OBJECTS {
            match installations::probe_object(state, attio, slug).await {
                Ok(Some(_)) => {}
                Ok(None) => disabled.push(slug),
                Err(e) => failed = Some(e.to_string()),
            }
        }
        if let Some(e) = failed {
            report.lines.push(fail(
                OBJECTS,
                format!("Attio could not be asked: {e}."),
                "Try again in a minute.",
            ));
        } else if disabled.is_empty() {
            objects_ok = true;
            report
                .lines
                .push(pass(OBJECTS, "Both objects are enabled in this workspace."));
        } else {
            report.lines.push(fail(
                OBJECTS,
                format!("Not enabled: {}.", disabled.join(" and ")),
                "A workspace admin enables them in Attio: Workspace settings → Objects → select \
                 Users and Workspaces → Enable. Then run the checks again.",
            ));
        }
    } else {
        report.lines.push(fail(
            OBJECTS,
            "Not checked: Attio access failed.",
            "Fix the Attio access first.",
        ));
    }
    ok &= objects_ok;

    // 5. The auth server.
    match &connection {
        Some(c) => {
            let line = ping_line(state, c).await;
            ok &= line.outcome != "fail";
            report.lines.push(line);
        }
        None => {
            ok = false;
            report.lines.push(fail(
                SERVER,
                "Not checked: the string does not decode.",
                "Fix the string first.",
            ));
        }
    }

    // 6. Adapters and the attributes install would create.
    if objects_ok {
        report.lines.push(adapters_line(state, attio).await);
    }

    report.ready = ok;
    report
}

/// `ping` the auth server and say what a failure means.
pub async fn ping_line(state: &AppState, c: &Connection) -> Line {
    let url = c.url();
    if let Err(e) = state.plugin.check_url(c).await {
        let text = e.to_string();
        if text.contains("does not resolve") {
            return fail(
                SERVER,
                format!("DNS failure: {text}"),
                "Check the host name in the string (the app's live URL in the generator) and \
                 that its DNS record exists.",
            );
        }
        return fail(
            SERVER,
            text,
            "Use the auth server's public https:// address in the generator, then paste the new \
             string.",
        );
    }
    match state.plugin.call(c, &PingRequest {}).await {
        Ok(p) => pass(
            SERVER,
            format!("{url} answered: attio-auth plugin {}.", p.version),
        ),
        Err(PluginCallError::Refused { status: 404, .. }) if c.protocol == Protocol::Legacy => {
            note(
                SERVER,
                format!(
                    "{url}/attio/ping answered 404: the original TypeScript plugin has no \
                     ping, so this cannot tell it from a wrong base path. The install checks the \
                     secret when it links the plugin."
                ),
            )
        }
        Err(e) => ping_failure(&url, &e),
    }
}

/// The line for a failed `ping`, one message per cause.
pub fn ping_failure(url: &str, e: &PluginCallError) -> Line {
    match e {
        PluginCallError::Unreachable { reason, .. } => {
            let (what, fix) = match reason.as_str() {
                plugin::REASON_DNS => (
                    format!("DNS failure: the host of {url} does not resolve."),
                    "Check the host name in the string (the app's live URL in the generator) \
                     and that its DNS record exists.",
                ),
                plugin::REASON_TLS => (
                    format!(
                        "TLS failure: no secure connection to {url} (certificate, or not https on that port)."
                    ),
                    "Check that the server has a valid certificate for this host name, and that \
                     the URL's port serves https.",
                ),
                plugin::REASON_REFUSED => (
                    format!("Connection refused: nothing listens at {url}."),
                    "Start the auth server, or check the host and port in the string.",
                ),
                plugin::REASON_TIMEOUT => (
                    format!("Timeout: {url} did not answer in time."),
                    "Check that the server is up and reachable from the internet (firewall, \
                     private network).",
                ),
                other => (
                    format!("{url} could not be reached ({other})."),
                    "Check that the server is up and reachable.",
                ),
            };
            fail(SERVER, what, fix)
        }
        PluginCallError::Refused { status: 404, .. } => fail(
            SERVER,
            format!("404: nothing answers at {url}/attio/ping — wrong base path."),
            "Make the string's base path the one the plugin is mounted under (Better Auth's \
             default is /api/auth): generate the string again with the right base path, or \
             mount the plugin there.",
        ),
        PluginCallError::Refused { status: 401, .. } => fail(
            SERVER,
            "401: the auth server refused the signature — wrong secret.".to_owned(),
            "Set ATTIO_SECRET on the auth server to this string's secret (the whsec_ value the \
             generator showed), redeploy, and check again.",
        ),
        PluginCallError::Refused {
            status: 501,
            message,
            ..
        } => fail(
            SERVER,
            format!("501: a Better Auth plugin is missing ({message})."),
            "Add the admin() and organization() plugins to your Better Auth config (the \
             generator's step 2 shows how), redeploy, and check again.",
        ),
        PluginCallError::Refused {
            status, message, ..
        } => fail(
            SERVER,
            format!("{url} answered {status}: {message}."),
            "Look at the auth server's logs for this request.",
        ),
        PluginCallError::Redirect { status } => fail(
            SERVER,
            format!("{url} answered a redirect ({status}), which is not followed."),
            "Use the final address (https, with or without www) in the generator.",
        ),
        other => fail(
            SERVER,
            other.to_string(),
            "Check the auth server and its logs.",
        ),
    }
}

async fn adapters_line(state: &AppState, attio: &AttioAuth) -> Line {
    let mut parts = Vec::new();
    for adapter in [
        AdapterInfo::default_user(),
        AdapterInfo::default_organization(),
    ] {
        let object = adapter.attio_object.clone();
        let existing = match state.attio.list_attributes(attio, &object).await {
            Ok(list) => list,
            Err(e) => {
                return fail(
                    ADAPTERS,
                    format!("The attributes of {object} could not be read: {e}."),
                    "Try again in a minute.",
                );
            }
        };
        let mut create = Vec::new();
        let mut keep = Vec::new();
        for slug in adapter.attio_schema.keys() {
            match existing.iter().find(|a| &a.api_slug == slug) {
                Some(a) if a.is_archived => create.push(format!("{slug} (unarchived)")),
                Some(_) => keep.push(slug.clone()),
                None => create.push(slug.clone()),
            }
        }
        parts.push(format!(
            "{object}: will create {}; present already: {}",
            if create.is_empty() {
                "nothing".to_owned()
            } else {
                create.join(", ")
            },
            if keep.is_empty() {
                "none".to_owned()
            } else {
                keep.join(", ")
            }
        ));
    }
    pass(
        ADAPTERS,
        format!(
            "The users adapter writes Attio users, the workspaces adapter Attio workspaces. {}.",
            parts.join(". ")
        ),
    )
}
