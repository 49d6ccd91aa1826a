# No privileged containers, no hostPath volumes, no host namespaces: each of them gives a pod
# its node. Checked for Pods, the pod templates of workloads and CronJob job templates.
package tether.host_access

import data.tether.lib.workloads

deny contains msg if {
	some [field, container] in workloads.containers
	container.securityContext.privileged == true
	msg := sprintf("%s %q is privileged", [trim_suffix(field, "s"), container.name])
}

deny contains msg if {
	some [where, spec] in workloads.pod_specs
	some volume in spec.volumes
	volume.hostPath
	msg := sprintf("%s: volume %q mounts the host path %q", [where, volume.name, object.get(volume.hostPath, "path", "")])
}

deny contains msg if {
	some [where, spec] in workloads.pod_specs
	some field in ["hostNetwork", "hostPID", "hostIPC"]
	spec[field] == true
	msg := sprintf("%s: %s shares the node's namespace", [where, field])
}
