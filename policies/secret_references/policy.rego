# Secret references (ref+vault://, ref+awssecrets://) are resolved only inside Secrets; one
# anywhere else would be applied as it is, or leak a store path into a readable object.
package tether.secret_references

prefixes := ["ref+vault://", "ref+awssecrets://"]

path_text(path) := concat(".", [sprintf("%v", [p]) | some p in path])

deny contains msg if {
	not is_secret
	walk(input, [path, value])
	is_string(value)
	some prefix in prefixes
	contains(value, prefix)
	msg := sprintf("%s reference at %s: secret references are resolved only in Secrets", [trim_suffix(prefix, "://"), path_text(path)])
}

is_secret if {
	input.apiVersion == "v1"
	input.kind == "Secret"
}
