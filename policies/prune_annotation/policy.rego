# Stateful objects are never pruned unless they say so; the annotation tether.dev/prune
# (enabled or disabled) makes that choice visible in Git.
package tether.prune_annotation

stateful_kinds := {"PersistentVolumeClaim", "PersistentVolume", "StatefulSet", "Namespace", "CustomResourceDefinition"}

warn contains msg if {
	stateful_kinds[input.kind]
	not input.metadata.annotations["tether.dev/prune"]
	msg := sprintf("%s %s has no tether.dev/prune annotation: it is kept when it leaves Git; set it to \"disabled\" or \"enabled\" to make that explicit", [input.kind, input.metadata.name])
}
