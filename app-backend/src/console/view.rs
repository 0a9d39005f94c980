//! The console's page frame and shared pieces, rendered with maud's `html!` on the server.
//! Text and attribute values are escaped by maud (`&`, `<`, `>`, `"`); only [`Markup`] made
//! by `html!` is inserted as it is.

use axum::http::StatusCode;
use maud::{DOCTYPE, Markup, html};

use super::session::SignedIn;

/// What the page frame shows besides the content.
#[derive(Debug, Default)]
pub(super) struct Frame<'a> {
    /// The `<title>` and the `<h1>`.
    pub title: &'a str,
    /// Who is signed in (the header then has a sign-out form).
    pub user: Option<&'a SignedIn>,
    /// The session's CSRF token (for the sign-out form).
    pub csrf: Option<&'a str>,
    /// Reload the page after this many seconds (progress without JavaScript).
    pub refresh: Option<u32>,
}

/// A whole HTML document around `content`.
pub(super) fn document(frame: Frame<'_>, content: Markup) -> String {
    let title = frame.title;
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                @if let Some(s) = frame.refresh {
                    meta http-equiv="refresh" content=(s);
                }
                title { (title) " · attio-auth console" }
                link rel="stylesheet" href="/console/style.css";
                link rel="icon" href="/console/favicon.svg" type="image/svg+xml";
            }
            body {
                header.top {
                    div class="wrap top-inner" {
                        a.brand href="/console" {
                            span.mark aria-hidden="true" { "⇄" }
                            "attio-auth"
                        }
                        span.tag { "Console" }
                        @if let (Some(user), Some(csrf)) = (frame.user, frame.csrf) {
                            span class="tag who" {
                                (user.who()) " · " strong { (user.workspace_label()) }
                            }
                            form method="post" action="/console/logout" class="inline" {
                                (csrf_field(csrf))
                                button type="submit" class="link" { "Sign out" }
                            }
                        }
                    }
                }
                main.wrap {
                    h1 { (title) }
                    (content)
                }
            }
        }
    }
    .into_string()
}

/// The page of a refused or failed request.
pub(super) fn error_page(status: StatusCode, code: &str, message: &str) -> String {
    let title = match status.as_u16() {
        403 => "Not allowed",
        404 => "Not found",
        s if s >= 500 => "Something went wrong",
        _ => "That did not work",
    };
    document(
        Frame {
            title,
            ..Frame::default()
        },
        html! {
            section.card {
                p.error role="alert" { (message) }
                p.small { "Code: " code { (code) } }
                p { a href="/console" { "Back to the console" } }
            }
        },
    )
}

/// One line of a check list: pass, fail or note, what was found and, on failure, what to do.
#[derive(Debug, Clone)]
pub struct Line {
    /// `pass`, `fail`, `warn` or `wait`.
    pub outcome: &'static str,
    /// What was checked.
    pub title: String,
    /// What was found.
    pub detail: String,
    /// What to do about a failure.
    pub fix: Option<String>,
}

/// A list of [`Line`]s.
pub(super) fn lines(items: Vec<Line>) -> Markup {
    html! {
        ul.checks {
            @for l in items {
                li class={ "check " (l.outcome) } {
                    span.mark-outcome {
                        (match l.outcome {
                            "pass" => "✔ pass",
                            "fail" => "✘ fail",
                            "warn" => "! note",
                            _ => "… running",
                        })
                    }
                    div {
                        strong { (l.title) }
                        p.detail { (l.detail) }
                        @if let Some(f) = l.fix {
                            p.fix { "What to do: " (f) }
                        }
                    }
                }
            }
        }
    }
}

/// A hidden CSRF field.
pub(super) fn csrf_field(csrf: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf); }
}

/// A unix-ms time as `YYYY-MM-DD HH:MM:SS UTC`, or "never" (no date crate: the civil date
/// from the day number, H. Hinnant's algorithm).
pub(super) fn when(ms: Option<i64>) -> String {
    let Some(ms) = ms else {
        return "never".into();
    };
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::when;

    #[test]
    fn times_read_as_utc_dates() {
        assert_eq!(when(None), "never");
        assert_eq!(when(Some(0)), "1970-01-01 00:00:00 UTC");
        assert_eq!(when(Some(1_700_000_000_000)), "2023-11-14 22:13:20 UTC");
        assert_eq!(when(Some(951_782_400_000)), "2000-02-29 00:00:00 UTC");
    }
}
