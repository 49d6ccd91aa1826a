# Containers should set resource requests and limits, so that the scheduler can place them and
# one container cannot starve its node.
package tether.resources

import data.tether.lib.workloads

warn contains msg if {
	some [field, container] in workloads.containers
	field != "ephemeralContainers"
	not has_section(container, "requests")
	msg := sprintf("container %q has no resource requests", [container.name])
}

warn contains msg if {
	some [field, container] in workloads.containers
	field != "ephemeralContainers"
	not has_section(container, "limits")
	msg := sprintf("container %q has no resource limits", [container.name])
}

has_section(container, section) if count(container.resources[section]) > 0
