//! age identities and recipients.
