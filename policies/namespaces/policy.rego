# Objects only in the app's target namespace, unless the namespace is allowed by the
# parameter allowedNamespaces (for every app, or per app in the configuration). Apps without a
# target namespace are not checked.
package tether.namespaces

target := data.tether.app.namespace

allowed contains ns if some ns in data.tether.parameters.allowedNamespaces

allowed contains target if is_string(target)

deny contains msg if {
	is_string(target)
	ns := input.metadata.namespace
	not allowed[ns]
	msg := sprintf("namespace %q is outside the app's target namespace %q (allowedNamespaces: %v)", [ns, target, sort([n | some n in allowed; n != target])])
}

deny contains msg if {
	is_string(target)
	input.apiVersion == "v1"
	input.kind == "Namespace"
	not allowed[input.metadata.name]
	msg := sprintf("Namespace %q is not the app's target namespace %q", [input.metadata.name, target])
}
