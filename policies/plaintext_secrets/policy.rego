# No plaintext Secret committed to Git: a Secret must come from SOPS, a SealedSecret or an
# external store. The agent tells where a Secret's values came from in
# data.tether.object.secretSource (sops | sealed | external | none).
package tether.plaintext_secrets

default secret_source := "none"

secret_source := data.tether.object.secretSource

key_count := count(object.get(input, "data", {})) + count(object.get(input, "stringData", {}))

deny contains msg if {
	input.apiVersion == "v1"
	input.kind == "Secret"
	secret_source == "none"
	key_count > 0
	msg := sprintf("Secret %s holds %d plaintext value(s) committed to Git: encrypt it with sops or tether-seal, or reference a secret store", [input.metadata.name, key_count])
}
