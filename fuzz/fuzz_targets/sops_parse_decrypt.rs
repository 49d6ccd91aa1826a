//! SOPS files from untrusted bytes: every store (YAML, JSON, dotenv, binary) parses the input as
//! plaintext and as an encrypted file, writes back what it read, and decrypts with the fixed
//! fuzz identity. Seeds are encrypted to that identity, so mutations reach the value ciphers and
//! the MAC, not just the data key.
//!
//! Properties: nothing panics; a file that decrypts still decrypts, to the same plaintext, after
//! `reencrypt` (what `tether-seal edit` does when nothing changed).

#![no_main]

use libfuzzer_sys::fuzz_target;
use tether_seal::sops::{self, Format};

const FORMATS: [Format; 4] = [Format::Yaml, Format::Json, Format::Dotenv, Format::Binary];

fuzz_target!(|data: &[u8]| {
    let ids = tether_fuzz::sops_identities();
    for format in FORMATS {
        if let Ok(tree) = sops::parse_plain(data, format) {
            for out in FORMATS {
                let _ = sops::emit_plain(&tree, out);
            }
        }
        let Ok(file) = sops::parse_encrypted(data, format) else {
            continue;
        };
        let _ = file.to_bytes(format);
        let Ok(plain) = file.decrypt(ids) else {
            continue;
        };
        let Ok(first) = plain.to_bytes(format) else {
            continue;
        };
        let again = plain
            .reencrypt()
            .expect("a decrypted file re-encrypts with its own key")
            .to_bytes(format)
            .expect("a re-encrypted file can be written");
        let second = sops::decrypt_bytes(&again, format, ids)
            .expect("a re-encrypted file decrypts with the same identity");
        assert!(
            first.as_slice() == second.as_slice(),
            "{format:?}: decrypt(reencrypt(decrypt(x))) differs from decrypt(x)"
        );
    }
    // The agent's path: a rendered object decrypted through sops's JSON store.
    if let Ok(object) = serde_json::from_slice::<serde_json::Value>(data)
        && sops::object_is_encrypted(&object)
    {
        let _ = sops::decrypt_object(&object, ids);
    }
});
