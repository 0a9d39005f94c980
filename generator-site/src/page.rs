//! The page. Static parts (explanations, next steps) are plain components rendered once on
//! the server; the two interactive parts are islands, the only code shipped as WASM.

use leptos::prelude::*;

use crate::form::DEFAULT_BASE;
use crate::model::{Generated, GeneratorState, InspectorState, MadeBy, Plugin};

/// Name of the wasm-bindgen output under `/pkg/` (the xtask writes `<name>.js` and
/// `<name>_bg.wasm`).
pub const OUTPUT_NAME: &str = "attio_auth_generator";

/// The console's address, named in step 3. Set at build time with
/// `ATTIO_AUTH_CONSOLE_URL` (the hosted backend's `/console`); the default is a backend
/// running locally with its default `BIND_ADDR`.
pub const CONSOLE_URL: &str = match option_env!("ATTIO_AUTH_CONSOLE_URL") {
    Some(url) => url,
    None => "http://127.0.0.1:8080/console",
};

/// How the Rust plugin is mounted, shown in the next steps.
const RUST_SAMPLE: &str = r#"use attio_auth_plugin::{store::SqlxStore, AttioPlugin};

let attio = AttioPlugin::builder()
    .secret(std::env::var("ATTIO_SECRET")?) // the whsec_ secret
    .store(SqlxStore::postgres(pool.clone())) // or ::sqlite, or your AuthStore
    .build()?;

let app = axum::Router::new()
    .nest("/api/auth", attio.router()) // your base path
    .with_state(state);"#;

/// How the original TypeScript plugin is configured, shown in the next steps.
const TS_SAMPLE: &str = r#"import { betterAuth } from "better-auth";
import { admin, organization } from "better-auth/plugins";
import { attio } from "better-auth-attio-plugin";

export const auth = betterAuth({
  plugins: [
    attio({ secret: process.env.ATTIO_SECRET }),
    admin(),
    organization(),
  ],
});"#;

/// The whole document. `scripts` is false when the WASM was not built: the page then works
/// as the no-JS version.
#[component]
pub fn Page(generator: GeneratorState, inspector: InspectorState, scripts: bool) -> impl IntoView {
    view! {
        <html lang="en" class="no-js">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <title>"Connect your auth server to Attio · connection string generator"</title>
                <meta
                    name="description"
                    content="Make the connection string that links your Better Auth or Rust auth server with the Attio app. The secret is made in your browser."
                />
                <meta name="color-scheme" content="light dark" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <link rel="stylesheet" href="/style.css" />
                {scripts
                    .then(|| {
                        view! {
                            <link rel="modulepreload" href=format!("/pkg/{OUTPUT_NAME}.js") />
                            <script type="module" src="/boot.js"></script>
                        }
                    })}
            </head>
            <body>
                <a class="skip" href="#generate">
                    "Skip to the generator"
                </a>
                <header class="top">
                    <div class="wrap top-inner">
                        <span class="brand">
                            <span class="mark" aria-hidden="true">
                                "⇄"
                            </span>
                            "attio-auth"
                        </span>
                        <span class="tag">"Connection string generator"</span>
                    </div>
                </header>
                <main class="wrap">
                    <section class="hero">
                        <h1>"Connect your auth server to Attio"</h1>
                        <p class="lead">
                            "One string links the Attio app with your auth server: where the server is, and the secret both sides sign their requests with."
                        </p>
                        <ul class="facts">
                            <li>"The secret is made in your browser; it never reaches this site."</li>
                            <li>"Nothing is stored, logged, or sent to third parties."</li>
                            <li>
                                "Works with the Rust plugin and with the original TypeScript Better Auth plugin: say which one your server runs, since each speaks its own protocol."
                            </li>
                        </ul>
                    </section>
                    <section class="card" id="generate" aria-labelledby="generate-title">
                        <h2 id="generate-title">
                            <span class="step">"1"</span>
                            "Generate a connection string"
                        </h2>
                        <Generator initial=generator />
                    </section>
                    <NextSteps />
                    <section class="card" id="inspect" aria-labelledby="inspect-title">
                        <h2 id="inspect-title">"Inspect a connection string"</h2>
                        <p>
                            "Paste a string to see which server it points at and which protocol it speaks. Strings from the original generator work too."
                        </p>
                        <Inspector initial=inspector />
                    </section>
                </main>
                <footer class="wrap foot">
                    <p>
                        "No cookies, no analytics, no third-party files. The page works without JavaScript: the server then makes the secret and answers once, uncached."
                    </p>
                </footer>
            </body>
        </html>
    }
}

/// Steps 2 and 3: the auth server's side and Attio's side.
#[component]
fn NextSteps() -> impl IntoView {
    view! {
        <section class="card" id="server" aria-labelledby="server-title">
            <h2 id="server-title">
                <span class="step">"2"</span>
                "Give the secret to your auth server"
            </h2>
            <p>
                "Set " <code>"ATTIO_SECRET"</code>
                " in the server's environment (your host's secret settings or " <code>".env"</code>
                "), then mount the plugin under the base path you entered."
            </p>
            <div class="columns">
                <div class="column">
                    <h3>"Rust, in axum"</h3>
                    <p class="small">
                        "Add " <code>"attio-auth-plugin"</code>
                        " to Cargo.toml and nest its router:"
                    </p>
                    <pre tabindex="0" aria-label="Rust example">
                        <code>{RUST_SAMPLE}</code>
                    </pre>
                </div>
                <div class="column">
                    <h3>"TypeScript, Better Auth"</h3>
                    <p class="small">
                        "Needs a string made for " <strong>"the TypeScript Better Auth plugin"</strong>
                        " in step 1: it refuses signed requests, and the secret then travels in the body of each request (its original protocol), so serve it over https. "
                        <code>"npm install better-auth-attio-plugin"</code>
                        ", then add it to your auth config:"
                    </p>
                    <pre tabindex="0" aria-label="TypeScript example">
                        <code>{TS_SAMPLE}</code>
                    </pre>
                </div>
            </div>
            <p class="small">
                "Deploy, then check that the server answers at your URL plus " <code>{DEFAULT_BASE}</code>
                " (or your base path)."
            </p>
        </section>
        <section class="card" id="attio" aria-labelledby="attio-title">
            <h2 id="attio-title">
                <span class="step">"3"</span>
                "Paste the connection string in Attio"
            </h2>
            <ol class="steps">
                <li>
                    // Named, not linked: the page links nothing off its own origin.
                    "Open the console at " <code>{CONSOLE_URL}</code>
                    ", sign in with Attio and paste the connection string: it checks your server, shows what it will create, and installs when you confirm."
                </li>
                <li>"In Attio, open " <strong>"Workspace settings → Apps"</strong> "."</li>
                <li>"Install the Better Auth app (or open it if it is installed)."</li>
                <li>
                    "Under " <strong>"Connection"</strong>
                    ", paste the connection string and save. The app checks that your server answers before it accepts it."
                </li>
            </ol>
        </section>
    }
}

/// The generator form. An island: in the browser it validates, makes the secret with
/// WebCrypto and shows the result without a request; without JavaScript the same form
/// posts to the server.
#[island]
pub fn Generator(initial: GeneratorState) -> impl IntoView {
    let state = RwSignal::new(initial.clone());
    let uri_ref = NodeRef::<leptos::html::Input>::new();
    let base_ref = NodeRef::<leptos::html::Input>::new();
    let typescript_ref = NodeRef::<leptos::html::Input>::new();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let uri = uri_ref.get().map(|i| i.value()).unwrap_or_default();
        let base = base_ref.get().map(|i| i.value()).unwrap_or_default();
        let plugin = if typescript_ref.get().is_some_and(|i| i.checked()) {
            Plugin::TypeScript
        } else {
            Plugin::Rust
        };
        let valid = crate::form::validate(&uri, &base).ok();
        let next = GeneratorState::submit(uri, base, plugin, MadeBy::Browser);
        let done = next.result.is_some();
        state.set(next);
        if let (true, Some(valid)) = (done, valid) {
            // Show what the string holds: the fields take their normalized values.
            if let Some(input) = uri_ref.get() {
                input.set_value(&valid.uri);
            }
            if let Some(input) = base_ref.get() {
                input.set_value(&valid.base);
            }
            request_animation_frame(show_result);
        }
    };
    let uri_error = move || state.with(|s| s.errors.uri.clone());
    let base_error = move || state.with(|s| s.errors.base.clone());
    let invalid = |e: Option<String>| if e.is_some() { "true" } else { "false" };
    view! {
        <form method="post" action="/" class="generator" novalidate on:submit=on_submit>
            <fieldset class="plugin-choice">
                <legend>"Which plugin does your auth server run?"</legend>
                <label class="choice">
                    <input
                        type="radio"
                        name="plugin"
                        value="rust"
                        id="plugin-rust"
                        checked=initial.plugin == Plugin::Rust
                    />
                    " Rust plugin " <code>"attio-auth-plugin"</code> " (signed requests)"
                </label>
                <label class="choice">
                    <input
                        type="radio"
                        name="plugin"
                        value="typescript"
                        id="plugin-typescript"
                        checked=initial.plugin == Plugin::TypeScript
                        node_ref=typescript_ref
                    />
                    " TypeScript Better Auth plugin " <code>"better-auth-attio-plugin"</code>
                    " (its original protocol)"
                </label>
            </fieldset>
            <div class="fields">
                <div class="field">
                    <label for="uri">"Your app's live URL"</label>
                    <input
                        id="uri"
                        name="uri"
                        type="text"
                        inputmode="url"
                        autocomplete="url"
                        autocapitalize="off"
                        spellcheck="false"
                        placeholder="https://app.example.com"
                        required
                        value=initial.uri
                        node_ref=uri_ref
                        aria-describedby="uri-hint uri-error"
                        aria-invalid=move || invalid(uri_error())
                    />
                    <p class="hint" id="uri-hint">
                        "Where your auth server runs. " <code>"https://"</code> ", or "
                        <code>"http://"</code> " for localhost."
                    </p>
                    <p class="error" id="uri-error" aria-live="polite">
                        {uri_error}
                    </p>
                </div>
                <div class="field">
                    <label for="base">"Auth base path"</label>
                    <input
                        id="base"
                        name="base"
                        type="text"
                        autocapitalize="off"
                        spellcheck="false"
                        placeholder=DEFAULT_BASE
                        value=if initial.base.is_empty() { DEFAULT_BASE.to_owned() } else { initial.base }
                        node_ref=base_ref
                        aria-describedby="base-hint base-error"
                        aria-invalid=move || invalid(base_error())
                    />
                    <p class="hint" id="base-hint">
                        "Where the auth routes are mounted. Better Auth's default is "
                        <code>{DEFAULT_BASE}</code> "."
                    </p>
                    <p class="error" id="base-error" aria-live="polite">
                        {base_error}
                    </p>
                </div>
            </div>
            <div class="actions">
                <button type="submit" class="primary" id="generate-button">
                    "Generate connection string"
                </button>
                <p class="error" role="alert">
                    {move || state.with(|s| s.failure.clone())}
                </p>
            </div>
        </form>
        {move || state.with(|s| s.result.clone()).map(|generated| view! { <ResultView generated /> })}
    }
}

/// Brings the result into view (it is below the fold on phones) and moves the keyboard and
/// screen reader focus to its heading.
fn show_result() {
    use leptos::wasm_bindgen::JsCast as _;
    if let Some(el) = document().get_element_by_id("result") {
        el.scroll_into_view();
    }
    if let Some(heading) = document()
        .get_element_by_id("result-title")
        .and_then(|el| el.dyn_into::<leptos::web_sys::HtmlElement>().ok())
    {
        // Focus can only fail on a detached element; the heading was just rendered.
        let _focused = heading.focus();
    }
}

/// The made connection: the string for Attio and the line for the auth server.
#[component]
fn ResultView(generated: Generated) -> impl IntoView {
    let made_by = match generated.made_by {
        MadeBy::Browser => "Made in your browser: this site's server never saw the secret.",
        MadeBy::Server => {
            "Made by this site's server because JavaScript is off. It was sent only to you, not stored and not logged."
        }
    };
    let plugin_note = match generated.plugin {
        Plugin::Rust => {
            "For the Rust plugin (attio-auth-plugin): requests are signed and the secret never travels. The TypeScript plugin cannot use this string: choose it above to make one for it."
        }
        Plugin::TypeScript => {
            "For the TypeScript Better Auth plugin (better-auth-attio-plugin), in its original protocol: the secret travels in the body of each request, so serve your auth server over https. Pass it as attio({ secret: process.env.ATTIO_SECRET }). The Attio app's create-user and create-workspace actions need the Rust plugin (the original has no such endpoints); every other action works."
        }
    };
    view! {
        <section
            class="result"
            id="result"
            aria-labelledby="result-title"
            data-made-by=generated.made_by.as_str()
            data-plugin=generated.plugin.as_str()
        >
            <h3 id="result-title" tabindex="-1">
                "Your connection string"
            </h3>
            <p class="made-by">{made_by}</p>
            <p class="plugin-note" id="plugin-note">{plugin_note}</p>
            <p>"Attio will call " <code class="url">{generated.url}</code></p>
            <CopyField
                id="connection"
                label="Connection string, for Attio (step 3)"
                value=generated.connection
                rows=4
            />
            <CopyField
                id="env"
                label="Secret, for your auth server's environment (step 2)"
                value=format!("ATTIO_SECRET={}", generated.secret)
                rows=2
            />
            <p class="warn">
                "Copy both now: they are not stored anywhere and this page cannot show them again. Generating again makes a new secret."
            </p>
        </section>
    }
}

/// A read-only text with a copy button (the button needs JavaScript and is hidden without).
#[component]
fn CopyField(id: &'static str, label: &'static str, value: String, rows: u32) -> impl IntoView {
    let copied = RwSignal::new(false);
    let text = value.clone();
    let copy = move |_| {
        let clipboard = window().navigator().clipboard();
        // Fire and forget: the promise only fails without permission, and the text stays
        // selectable in the field.
        let _promise = clipboard.write_text(&text);
        copied.set(true);
        set_timeout(move || copied.set(false), std::time::Duration::from_secs(2));
    };
    let button_id = format!("{id}-copy");
    view! {
        <div class="copy-field">
            <label for=id>{label}</label>
            <div class="copy-row">
                <textarea id=id readonly rows=rows spellcheck="false" autocomplete="off">
                    {value}
                </textarea>
                <button type="button" class="copy js-only" class:copied=move || copied.get() id=button_id on:click=copy>
                    {move || if copied.get() { "Copied" } else { "Copy" }}
                </button>
            </div>
        </div>
    }
}

/// Decodes a pasted connection string in the browser (or on the server without JavaScript)
/// and shows everything but the secret.
#[island]
pub fn Inspector(initial: InspectorState) -> impl IntoView {
    let state = RwSignal::new(initial);
    let input = NodeRef::<leptos::html::Textarea>::new();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let pasted = input.get().map(|t| t.value()).unwrap_or_default();
        state.set(InspectorState::inspect(&pasted));
    };
    view! {
        <form method="post" action="/inspect" class="inspector" novalidate on:submit=on_submit>
            <div class="field">
                <label for="inspect-input">"Connection string"</label>
                <textarea
                    id="inspect-input"
                    name="connection"
                    rows=3
                    spellcheck="false"
                    autocomplete="off"
                    placeholder="eyJ1cmkiOiJodHRwczovL..."
                    node_ref=input
                    aria-describedby="inspect-hint inspect-error"
                ></textarea>
                <p class="hint" id="inspect-hint">
                    "Read in your browser (without JavaScript, by this server, which keeps nothing). The secret is never shown in full."
                </p>
                <p class="error" id="inspect-error" aria-live="polite">
                    {move || state.with(|s| s.error.clone())}
                </p>
            </div>
            <button type="submit" class="secondary" id="inspect-button">
                "Inspect"
            </button>
        </form>
        {move || {
            state
                .with(|s| s.inspection.clone())
                .map(|i| {
                    let protocol = i.protocol.clone();
                    view! {
                        <dl class="inspection" id="inspection">
                            <dt>"Auth server URL"</dt>
                            <dd>
                                <code>{i.url}</code>
                            </dd>
                            <dt>"uri"</dt>
                            <dd>
                                <code>{i.uri}</code>
                            </dd>
                            <dt>"base"</dt>
                            <dd>
                                <code>{i.base}</code>
                            </dd>
                            <dt>"Protocol"</dt>
                            <dd>
                                <strong data-protocol=protocol>{i.protocol}</strong>
                                " · "
                                {i.protocol_note}
                            </dd>
                            <dt>"Secret"</dt>
                            <dd>
                                <code>{i.secret_hint}</code>
                            </dd>
                        </dl>
                    }
                })
        }}
    }
}
