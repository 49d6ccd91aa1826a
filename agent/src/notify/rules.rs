//! Routing: which providers an event goes to, by the rules of `notifications.rules`.

use super::config::NotificationsConfig;
use super::event::{Event, Kind, Severity};
use globset::{Glob, GlobSet, GlobSetBuilder};
use std::collections::BTreeMap;

struct Rule {
    providers: Vec<String>,
    kinds: Vec<Kind>,
    names: Option<GlobSet>,
    namespaces: Option<GlobSet>,
    labels: BTreeMap<String, String>,
    severity: Severity,
}

/// The compiled rules.
pub struct Rules {
    rules: Vec<Rule>,
}

fn globs(patterns: &[String]) -> Option<GlobSet> {
    if patterns.is_empty() {
        return None;
    }
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        // Validated at load; a bad one matches nothing.
        if let Ok(g) = Glob::new(p) {
            b.add(g);
        }
    }
    b.build().ok()
}

impl Rules {
    /// Compiles the rules of `config` (validated before).
    #[must_use]
    pub fn new(config: &NotificationsConfig) -> Self {
        Self {
            rules: config
                .rules
                .iter()
                .map(|r| Rule {
                    providers: r.providers.clone(),
                    kinds: r.events.iter().filter_map(|e| Kind::from_name(e)).collect(),
                    names: globs(&r.apps.names),
                    namespaces: globs(&r.apps.namespaces),
                    labels: r.apps.match_labels.clone(),
                    severity: r.severity,
                })
                .collect(),
        }
    }

    /// Whether a rule sending to `provider` names `kind` among its events (an explicit ask,
    /// which a rule listing no events is not).
    #[must_use]
    pub fn asks_for(&self, provider: &str, kind: Kind) -> bool {
        self.rules
            .iter()
            .any(|r| r.providers.iter().any(|p| p == provider) && r.kinds.contains(&kind))
    }

    /// Whether `event` of an app in `namespace` with `labels` goes to `provider`. Without
    /// rules every event goes everywhere. A recovery is judged by the severity of its
    /// condition, so it goes where the condition went.
    #[must_use]
    pub fn routes(
        &self,
        provider: &str,
        event: &Event,
        namespace: &str,
        labels: &BTreeMap<String, String>,
    ) -> bool {
        if self.rules.is_empty() {
            // The opt-in kinds go only where a rule names them.
            return !event.kind.is_opt_in();
        }
        let severity = if event.resolved {
            event.kind.severity()
        } else {
            event.severity
        };
        self.rules.iter().any(|r| {
            r.providers.iter().any(|p| p == provider)
                && ((r.kinds.is_empty() && !event.kind.is_opt_in())
                    || r.kinds.contains(&event.kind))
                && severity >= r.severity
                && r.names.as_ref().is_none_or(|g| g.is_match(&event.app))
                && r.namespaces.as_ref().is_none_or(|g| g.is_match(namespace))
                && r.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::event::Commit;

    fn event(app: &str, kind: Kind, resolved: bool) -> Event {
        Event {
            app: app.into(),
            namespace: "shop".into(),
            cluster: "c".into(),
            kind,
            resolved,
            reminder: false,
            severity: if resolved {
                Severity::Info
            } else {
                kind.severity()
            },
            commit: Commit::default(),
            stage: None,
            reason: String::new(),
            message: String::new(),
            link: None,
            channel: None,
            time: String::new(),
            at: std::time::SystemTime::UNIX_EPOCH,
            id: 0,
            event_id: String::new(),
        }
    }

    fn rules(yaml: &str) -> Rules {
        let c: NotificationsConfig = serde_saphyr::from_str(yaml).expect("parses");
        Rules::new(&c)
    }

    #[test]
    fn rules_select_by_kind_name_namespace_label_and_severity() {
        let r = rules(
            "rules:\n- providers: [slack]\n  events: [syncFailed, healthDegraded]\n  apps: {names: ['web-*'], namespaces: [shop], matchLabels: {team: a}}\n  severity: warning\n",
        );
        let team_a = BTreeMap::from([("team".to_owned(), "a".to_owned())]);
        let e = event("web-1", Kind::SyncFailed, false);
        assert!(r.routes("slack", &e, "shop", &team_a));
        assert!(!r.routes("mail", &e, "shop", &team_a), "other provider");
        assert!(!r.routes("slack", &e, "other", &team_a), "other namespace");
        assert!(!r.routes("slack", &e, "shop", &BTreeMap::new()), "no label");
        assert!(!r.routes(
            "slack",
            &event("api", Kind::SyncFailed, false),
            "shop",
            &team_a
        ));
        assert!(!r.routes(
            "slack",
            &event("web-1", Kind::DriftReverted, false),
            "shop",
            &team_a
        ));
        assert!(
            r.routes(
                "slack",
                &event("web-1", Kind::SyncFailed, true),
                "shop",
                &team_a
            ),
            "a recovery goes where its condition went"
        );
    }

    #[test]
    fn only_a_rule_naming_the_kind_asks_for_it() {
        let r = rules(
            "rules:\n- providers: [slack, mail]\n- providers: [slack]\n  events: [syncSucceeded]\n",
        );
        assert!(r.asks_for("slack", Kind::SyncSucceeded));
        assert!(
            !r.asks_for("mail", Kind::SyncSucceeded),
            "a rule of every kind"
        );
        assert!(!rules("{}").asks_for("slack", Kind::SyncSucceeded));
    }

    #[test]
    fn the_life_cycle_kinds_go_only_where_a_rule_names_them() {
        let r = rules(
            "rules:\n- providers: [slack]\n- providers: [hook]\n  events: [appCreated, syncRunning]\n",
        );
        let none = BTreeMap::new();
        for kind in [Kind::AppCreated, Kind::SyncRunning] {
            assert!(r.routes("hook", &event("a", kind, false), "n", &none));
            assert!(!r.routes("slack", &event("a", kind, false), "n", &none));
        }
        assert!(!r.routes("hook", &event("a", Kind::AppDeleted, false), "n", &none));
        assert!(!rules("{}").routes("x", &event("a", Kind::SyncStatusUnknown, false), "n", &none));
        assert!(rules("{}").routes("x", &event("a", Kind::SyncFailed, false), "n", &none));
    }

    #[test]
    fn without_rules_everything_goes_everywhere() {
        let r = rules("{}");
        assert!(r.routes(
            "x",
            &event("a", Kind::DriftReverted, false),
            "n",
            &BTreeMap::new()
        ));
    }
}
