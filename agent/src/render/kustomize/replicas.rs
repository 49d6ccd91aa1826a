//! `replicas`: sets `spec/replicas` of the named Deployments, ReplicationControllers,
//! ReplicaSets and StatefulSets (matching current or previous names).

use super::fieldspec::{self, CreateKind, FieldSpec};
use super::kustomization::Replica;
use super::{KustomizeError, Resource, transform_error};
use crate::tree::RelPath;
use serde_json::Value;

/// Applies one `replicas` entry; naming no object of those kinds is an error.
pub(crate) fn apply(
    replica: &Replica,
    specs: &[FieldSpec],
    resources: &mut [Resource],
    file: &RelPath,
) -> Result<(), KustomizeError> {
    let mut found = false;
    for spec in specs {
        for res in resources.iter_mut() {
            let hit = res
                .all_ids()
                .iter()
                .any(|id| id.name == replica.name && id.gvk.is_selected_by(&spec.gvk));
            if !hit {
                continue;
            }
            found = true;
            let gvk = res.gvk();
            fieldspec::apply(&mut res.obj, &gvk, spec, CreateKind::Scalar, &mut |node| {
                *node = Value::from(replica.count);
                Ok(())
            })
            .map_err(|reason| {
                transform_error(file, "replicas", format!("{}: {reason}", res.cur_id()))
            })?;
        }
    }
    if !found {
        return Err(transform_error(
            file,
            "replicas",
            format!(
                "no Deployment, ReplicationController, ReplicaSet or StatefulSet is named {:?}",
                replica.name
            ),
        ));
    }
    Ok(())
}
