//! The image automation a generation runs: its controller, with Events, metrics and the
//! apps view its promotions read.

use super::super::state::Shared;
use crate::config::Config;
use crate::source::trigger::Trigger;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The image automation of a generation: a pushed commit triggers its source's round.
pub(super) fn controller(
    config: &Config,
    client: &kube::Client,
    state: &Arc<Shared>,
    triggers: &BTreeMap<String, Trigger>,
    identity: &str,
) -> Arc<crate::images::controller::Controller> {
    let triggers = triggers.clone();
    let observers = crate::images::events::Observers {
        metrics: state.metrics.images.clone(),
        events: Some(crate::images::events::ImageEvents::new(
            client.clone(),
            identity,
        )),
    };
    Arc::new(
        crate::images::controller::Controller::new(
            config.clone(),
            Some(client.clone()),
            Arc::clone(&state.images),
            Box::new(move |source: &str| {
                if let Some(trigger) = triggers.get(source) {
                    trigger.trigger();
                }
            }),
        )
        .observed(observers)
        .with_apps(crate::images::promote::auto::apps_view(Arc::clone(state))),
    )
}
