# Helpers shared by the default policies: where pod specs and containers live in workload
# objects. No rules of its own.
package tether.lib.workloads

# Pod templates of the built-in workload kinds: spec.template.spec.
template_kinds := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"}

# pod_specs contains every pod spec of the object, as [where, spec].
pod_specs contains ["spec", input.spec] if input.kind == "Pod"

pod_specs contains ["spec.template.spec", input.spec.template.spec] if {
	template_kinds[input.kind]
}

# Any other kind with a pod template (custom workloads such as rollouts).
pod_specs contains ["spec.template.spec", input.spec.template.spec] if {
	not template_kinds[input.kind]
	input.kind != "Pod"
	input.kind != "CronJob"
	is_array(input.spec.template.spec.containers)
}

pod_specs contains ["spec.jobTemplate.spec.template.spec", input.spec.jobTemplate.spec.template.spec] if {
	input.kind == "CronJob"
}

container_fields := ["initContainers", "containers", "ephemeralContainers"]

# containers contains every container of the object, as [field, container].
containers contains [field, container] if {
	some [_, spec] in pod_specs
	some field in container_fields
	some container in spec[field]
}
