//! The pages, rendered on the server with maud (checked at compile time, escaped by
//! default). Readable with JavaScript off; the overview carries a few lines of inline script
//! that replace its table with what the event stream sends.

use super::app::{AppView, ObjectView};
use super::model::{AppRow, Environments, Filter, Overview, ago};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use std::time::SystemTime;

/// What every page needs besides its content.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// The signed-in user (`anonymous` when none).
    pub user: String,
    /// Whether a session can be ended.
    pub signed_in: bool,
    /// The CSRF token forms carry.
    pub csrf: String,
}

fn layout(title: &str, current: &str, chrome: &Chrome, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Tether" }
                link rel="stylesheet" href="/ui/style.css";
            }
            body {
                header {
                    nav aria-label="Main" {
                        a.brand href="/" { "Tether" }
                        a href="/" aria-current=[(current == "overview").then_some("page")] { "Overview" }
                        a href="/environments" aria-current=[(current == "environments").then_some("page")] { "Environments" }
                    }
                    div.user {
                        span { "Signed in as " strong { (chrome.user) } }
                        @if chrome.signed_in {
                            form method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(chrome.csrf);
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main id="main" { (body) }
            }
        }
    }
}

/// A state as a badge.
fn badge(state: &str) -> Markup {
    let class = match state {
        "Succeeded" | "Healthy" | "Synced" => "ok",
        "Failed" | "Denied" | "Degraded" | "Missing" => "bad",
        "Progressing" | "Pending" | "OutOfSync" | "Suspended" => "warn",
        _ => "neutral",
    };
    html! { span class={"badge " (class)} { (state) } }
}

fn when(rfc3339: Option<&str>, now: SystemTime) -> Markup {
    match rfc3339.filter(|t| !t.is_empty()) {
        Some(t) => html! { time datetime=(t) title=(t) { (ago(t, now)) } },
        None => html! { "never" },
    }
}

/// The overview's live part: counts and the table (also what the event stream sends).
#[must_use]
pub fn overview_live(view: &Overview, now: SystemTime) -> Markup {
    html! {
        ul.counts aria-label="Apps per state" {
            li { a href="/" { "All " strong { (view.total) } } }
            @for (state, count) in &view.counts {
                li { a href={"/?state=" (super::model::url_encode(state))} { (badge(state)) " " strong { (count) } } }
            }
        }
        @if view.apps.is_empty() {
            p { "No app matches." }
        } @else {
            table.apps {
                caption { (view.matched) " of " (view.total) " apps, problems first"
                    @if view.pages > 1 { ", page " (view.page) " of " (view.pages) } }
                thead { tr {
                    th scope="col" { "App" } th scope="col" { "Source" } th scope="col" { "Revision" }
                    th scope="col" { "Sync" } th scope="col" { "Health" } th scope="col" { "Drift" }
                    th scope="col" { "Orphans" } th scope="col" { "Last sync" } th scope="col" { "Error" }
                } }
                tbody { @for row in &view.apps { (overview_row(row, now)) } }
            }
            @if view.pages > 1 {
                nav.pages aria-label="Pages" {
                    @if view.page > 1 { a href={"/?" (view.filter.on_page(view.page - 1).query())} rel="prev" { "Previous page" } " " }
                    @if view.page < view.pages { a href={"/?" (view.filter.on_page(view.page + 1).query())} rel="next" { "Next page" } }
                }
            }
        }
    }
}

fn overview_row(row: &AppRow, now: SystemTime) -> Markup {
    html! {
        tr id={"app-" (row.name)} {
            th scope="row" {
                a href={"/apps/" (super::model::url_encode(&row.name))} { (row.name) }
                div.sub { (row.namespace) }
            }
            td { (row.source) div.sub { (row.path) } }
            td {
                code title=(row.revision) { (row.revision_short) }
                @if !row.subject.is_empty() { div.sub { (row.subject) } }
                @if !row.author.is_empty() { div.sub { (row.author) " · " (when(Some(&row.commit_time), now)) } }
            }
            td {
                (badge(&row.sync)) @if row.suspended { " " (badge("Suspended")) }
                @if row.compare == "OutOfSync" { " " (badge("OutOfSync")) }
                @if !row.reason.is_empty() && row.reason != "Succeeded" { div.sub { (row.reason) } }
            }
            td { (badge(&row.health)) }
            td.num { (row.drift) }
            td.num { (row.orphans) }
            td {
                (when(row.last_sync.as_deref(), now))
                @if let Some(ms) = row.duration_ms { div.sub { (ms) " ms · " (row.trigger) } }
            }
            td.error { (row.error) }
        }
    }
}

/// Choices beyond which a filter is a text field (a page must stay small).
const MAX_CHOICES: usize = 50;

fn select(name: &str, label: &str, choices: &[String], chosen: &str) -> Markup {
    if choices.len() > MAX_CHOICES {
        return html! { label { (label) " " input type="search" name=(name) value=(chosen); } };
    }
    html! {
        label { (label) " "
            select name=(name) {
                option value="" selected[chosen.is_empty()] { "any" }
                @for c in choices { option value=(c) selected[c == chosen] { (c) } }
            }
        }
    }
}

/// The overview page.
#[must_use]
pub fn overview(view: &Overview, chrome: &Chrome, now: SystemTime) -> Markup {
    let states: Vec<String> = [
        "Failed",
        "Denied",
        "Degraded",
        "Progressing",
        "Pending",
        "Succeeded",
        "Healthy",
        "Suspended",
        "OutOfSync",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let Filter {
        state,
        namespace,
        source,
        q,
        ..
    } = &view.filter;
    let stream = format!("/api/v1/events/stream?format=html&{}", view.filter.query());
    let body = html! {
        h1 { "Apps" }
        form.filter method="get" action="/" role="search" {
            (select("state", "State", &states, state))
            (select("namespace", "Namespace", &view.namespaces, namespace))
            (select("source", "Source", &view.sources, source))
            label { "Text " input type="search" name="q" value=(q); }
            button type="submit" { "Filter" }
        }
        div id="live" aria-live="polite" data-stream=(stream) { (overview_live(view, now)) }
        script { (PreEscaped(LIVE_SCRIPT)) }
    };
    layout("Apps", "overview", chrome, body)
}

/// Replaces the overview's live part with each `overview` message of the event stream.
const LIVE_SCRIPT: &str = "(function(){var l=document.getElementById('live');if(!l||!window.EventSource)return;var s=new EventSource(l.dataset.stream);s.addEventListener('overview',function(e){l.innerHTML=e.data;});})();";

/// The environments page.
#[must_use]
pub fn environments(view: &Environments, chrome: &Chrome) -> Markup {
    let body = html! {
        h1 { "Environments" }
        p { "Apps that share a base, one environment per column. "
            span.differs { "Marked" } " values differ from the environment on their left: what a promotion would change." }
        @if view.rows.is_empty() {
            p { "No app directory is an overlay of a shared base (" code { "BASE/overlays/ENV" } ")." }
        } @else {
            table.envs {
                caption { "Revisions and images per environment" }
                thead { tr {
                    th scope="col" { "Base" }
                    @for env in &view.environments { th scope="col" { (env) } }
                } }
                tbody { @for row in &view.rows { tr {
                    th scope="row" { (row.base) }
                    @for cell in &row.cells { td { @if let Some(c) = cell {
                        a href={"/apps/" (super::model::url_encode(&c.app))} { (c.app) }
                        div { code.rev class=[c.revision_differs.then_some("differs")] { (c.revision_short) }
                              @if c.revision_differs { span.visually-hidden { " (differs)" } } }
                        div { (badge(&c.sync)) " " (badge(&c.health)) }
                        ul.images { @for i in &c.images {
                            li class=[i.differs.then_some("differs")] {
                                (i.repository) ":" strong { (i.tag) }
                                @if i.differs { span.visually-hidden { " (differs)" } }
                            }
                        } }
                    } @else { span.sub { "—" } } } }
                } } }
            }
            @if view.pages > 1 {
                nav.pages aria-label="Pages" {
                    "Page " (view.page) " of " (view.pages) " "
                    @if view.page > 1 { a href={"/environments?page=" (view.page - 1)} rel="prev" { "Previous page" } " " }
                    @if view.page < view.pages { a href={"/environments?page=" (view.page + 1)} rel="next" { "Next page" } }
                }
            }
        }
    };
    layout("Environments", "environments", chrome, body)
}

fn object_row(o: &ObjectView) -> Markup {
    html! {
        tr {
            td { (o.kind) @if !o.group.is_empty() { span.sub { "." (o.group) } } }
            td { (o.namespace) } td { (o.name) }
            td { (badge(&o.sync)) div.sub { (o.action) } @if !o.reason.is_empty() { div.sub { (o.reason) } }
                 @if !o.compare.is_empty() { div { span.sub { "vs Git: " } (badge(&o.compare)) } } }
            td { (badge(&o.health)) @if !o.health_reason.is_empty() { div.sub { (o.health_reason) } } }
            td {
                @if !o.diff.is_empty() { div.sub { "Live → Git:" } }
                @for d in &o.diff { div.diff { code { (d.path) } ": "
                    del { (d.before.as_deref().unwrap_or("<none>")) } " → "
                    ins { (d.after.as_deref().unwrap_or("<none>")) } } }
                @if !o.changed.is_empty() { div.sub { "Changed by the last sync:" } }
                @for d in &o.changed { div.diff { code { (d.path) } ": "
                    del { (d.before.as_deref().unwrap_or("<none>")) } " → "
                    ins { (d.after.as_deref().unwrap_or("<none>")) } } }
                @if !o.children.is_empty() { ul.children { @for c in &o.children {
                    li style={"margin-left:" (u32::from(c.depth) * 12) "px"} {
                        (c.kind) " " (c.name) " " (badge(&c.health))
                        @if !c.reason.is_empty() { " " span.sub { (c.reason) } }
                    }
                } } }
            }
        }
    }
}

/// The actions a user allowed to `patch` sees.
fn actions(view: &AppView, chrome: &Chrome) -> Markup {
    let app = super::model::url_encode(&view.app.name);
    let list: &[(&str, &str)] = if view.app.suspended {
        &[
            ("sync", "Sync now"),
            ("refresh", "Refresh from Git"),
            ("resume", "Resume"),
        ]
    } else {
        &[
            ("sync", "Sync now"),
            ("refresh", "Refresh from Git"),
            ("suspend", "Suspend"),
        ]
    };
    html! { div.actions { @for (action, label) in list {
        form method="post" action={"/apps/" (app) "/" (action)} {
            input type="hidden" name="csrf" value=(chrome.csrf);
            button type="submit" { (label) }
        }
    } } }
}

/// The app page.
#[must_use]
pub fn app(view: &AppView, chrome: &Chrome, can_act: bool, now: SystemTime) -> Markup {
    let a = &view.app;
    let body = html! {
        h1 { (a.name) }
        dl.facts {
            dt { "Source" } dd { (a.source) " · " code { (a.path) } }
            dt { "Namespace" } dd { (a.namespace) }
            dt { "Revision" } dd { code { (a.revision) } @if !a.subject.is_empty() { " " (a.subject) } @if !a.author.is_empty() { " (" (a.author) ")" } }
            dt { "Sync" } dd { (badge(&a.sync)) " " (a.reason) @if a.suspended { " " (badge("Suspended")) } }
            dt { "Health" } dd { (badge(&a.health)) }
            dt { "Compared with Git" } dd {
                @if let Some(c) = &view.comparison {
                    (badge(if c.out_of_sync > 0 { "OutOfSync" } else { "Synced" }))
                    " revision " code { (c.revision.chars().take(7).collect::<String>()) }
                    ", " (c.out_of_sync) " objects differ"
                    @if let Some(e) = &c.error { div.error { (e) } }
                    @if !c.unresolved.is_empty() { div.sub { "Values read from a store only at sync, not compared: " (c.unresolved.join(", ")) } }
                } @else if let Some(e) = &view.compare_error { "not compared: " (e) }
            }
            dt { "Last sync" } dd { (when(a.last_sync.as_deref(), now)) @if let Some(ms) = a.duration_ms { ", " (ms) " ms, by " (a.trigger) } }
        }
        @if can_act { (actions(view, chrome)) }
        @if let Some(e) = &view.live_error { p.error role="status" { "Live data unavailable: " (e) } }
        @if !view.errors.is_empty() { section aria-labelledby="errors" { h2 id="errors" { "Errors" } ul { @for e in &view.errors { li.error { (e) } } } } }
        section aria-labelledby="objects" {
            h2 id="objects" { "Objects, in apply order" }
            table { caption.visually-hidden { "Objects" }
                thead { tr { th scope="col" { "Kind" } th scope="col" { "Namespace" } th scope="col" { "Name" } th scope="col" { "Sync" } th scope="col" { "Health" } th scope="col" { "Differences and children" } } }
                tbody { @for o in &view.objects { (object_row(o)) } }
            }
        }
        section aria-labelledby="orphans" {
            h2 id="orphans" { "Orphaned and protected objects" }
            @if view.orphans.is_empty() && view.pruned.is_empty() { p { "None." } }
            ul { @for o in &view.orphans { li { code { (o.object) } " kept: " (o.rule) } }
                 @for p in &view.pruned { li { code { (p) } " pruned" } } }
        }
        section aria-labelledby="secrets" {
            h2 id="secrets" { "Secrets and where they came from" }
            @if view.secrets.is_empty() { p { "None." } }
            ul { @for s in &view.secrets { li { code { (s.namespace) "/" (s.name) } " from " strong { (s.origin) }
                @if !s.file.is_empty() { " " code { (s.file) } }
                @if !s.store.is_empty() { " (" (s.store) ")" }
                ", read " (when(Some(&s.read_at), now)) } } }
        }
        section aria-labelledby="policy" {
            h2 id="policy" { "Policy results" }
            @if view.policy.is_empty() { p { "No findings." } }
            ul { @for p in &view.policy { li { (p) } } }
        }
        section aria-labelledby="events" {
            h2 id="events" { "Recent Events" }
            @if view.events.is_empty() { p { "None." } }
            ul.events { @for e in &view.events { li { (when(Some(&e.time), now)) " " (badge(&e.r#type)) " " strong { (e.reason) } " " code { (e.object) } " " (e.note) } } }
        }
        section aria-labelledby="history" {
            h2 id="history" { "Last syncs" }
            table { caption.visually-hidden { "Last syncs" }
                thead { tr { th scope="col" { "When" } th scope="col" { "Revision" } th scope="col" { "Result" } th scope="col" { "Duration" } th scope="col" { "By" } th scope="col" { "Created / changed / pruned / hooks" } } }
                tbody { @for h in &view.history { tr {
                    td { (when(Some(&h.at), now)) } td { code { (h.revision.chars().take(7).collect::<String>()) } }
                    td { (badge(&h.result)) " " (h.reason) } td.num { (h.duration_ms) " ms" } td { (h.trigger) }
                    td { (h.created) " / " (h.configured) " / " (h.pruned) " / " (h.hooks) }
                } } }
            }
        }
    };
    layout(&view.app.name, "app", chrome, body)
}

/// The sign-in page.
#[must_use]
pub fn login(chrome: &Chrome, error: Option<&str>, sso: bool) -> Markup {
    let body = html! {
        h1 { "Sign in" }
        @if sso { p { a.sso href="/oidc/login" { "Sign in with single sign-on" } } }
        p { "Paste a Kubernetes token (" code { "kubectl create token NAME" } "). It is checked with a TokenReview and not stored." }
        @if let Some(e) = error { p.error role="alert" { (e) } }
        form method="post" action="/login" {
            input type="hidden" name="csrf" value=(chrome.csrf);
            label { "Token " input type="password" name="token" autocomplete="off" required; }
            button type="submit" { "Sign in" }
        }
    };
    layout("Sign in", "login", chrome, body)
}

/// A page that says what went wrong.
#[must_use]
pub fn message(title: &str, text: &str, chrome: &Chrome) -> Markup {
    layout(
        title,
        "message",
        chrome,
        html! { h1 { (title) } p { (text) } p { a href="/" { "Back to the overview" } } },
    )
}
