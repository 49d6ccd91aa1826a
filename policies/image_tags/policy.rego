# Images should be pinned: no :latest tag and no untagged image (which means latest).
# A digest (@sha256:...) pins the image whatever the tag.
package tether.image_tags

import data.tether.lib.workloads

# The last path component of an image reference: the tag's colon is there, a registry port's
# colon is not.
last_component(image) := parts[count(parts) - 1] if parts := split(image, "/")

warn contains msg if {
	some [_, container] in workloads.containers
	not contains(container.image, "@")
	not contains(last_component(container.image), ":")
	msg := sprintf("container %q uses image %q without a tag (latest): pin a tag or a digest", [container.name, container.image])
}

warn contains msg if {
	some [_, container] in workloads.containers
	not contains(container.image, "@")
	endswith(last_component(container.image), ":latest")
	msg := sprintf("container %q uses image %q: pin a tag other than latest, or a digest", [container.name, container.image])
}
