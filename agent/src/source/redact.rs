//! Keeping credentials out of messages: a URL type whose `Display` hides the password or token
//! in its userinfo, and a scrubber for text produced by lower layers (gix, ssh, HTTP) that may
//! echo a URL or a secret back.

use std::fmt;

/// What replaces a hidden secret in messages.
pub const MASK: &str = "***";

/// A remote URL as configured, which may carry credentials in its userinfo
/// (`https://user:token@host/repo.git`). `Display` and `Debug` show it with the password (or,
/// for HTTP, a lone user name that is likely a token) replaced by `***`; the full value is only
/// reachable through [`RedactedUrl::expose`], for handing to the transport.
#[derive(Clone, PartialEq, Eq)]
pub struct RedactedUrl {
    raw: String,
}

impl RedactedUrl {
    /// Wraps a URL.
    pub fn new(raw: impl Into<String>) -> Self {
        Self { raw: raw.into() }
    }

    /// The URL with its credentials, for the transport only. Never log or format this.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.raw
    }

    /// The URL with the credentials removed entirely (no userinfo secret at all), for
    /// comparisons such as matching a webhook's repository URL.
    #[must_use]
    pub fn redacted(&self) -> String {
        redact_url(&self.raw)
    }

    /// The secret parts of the userinfo (password, or an HTTP user name standing alone),
    /// so that messages from lower layers can be scrubbed of them.
    #[must_use]
    pub fn secrets(&self) -> Vec<String> {
        match split_userinfo(&self.raw) {
            Some(parts) => {
                let mut out = Vec::new();
                if let Some(password) = parts.password
                    && !password.is_empty()
                {
                    out.push(password.to_owned());
                } else if parts.is_http && !parts.user.is_empty() {
                    out.push(parts.user.to_owned());
                }
                out
            }
            None => Vec::new(),
        }
    }
}

impl fmt::Display for RedactedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(&self.raw))
    }
}

impl fmt::Debug for RedactedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedactedUrl({:?})", redact_url(&self.raw))
    }
}

struct Userinfo<'a> {
    /// Everything up to and including `://`.
    prefix: &'a str,
    user: &'a str,
    password: Option<&'a str>,
    /// Everything after the `@`.
    rest: &'a str,
    is_http: bool,
}

fn split_userinfo(url: &str) -> Option<Userinfo<'_>> {
    let scheme_end = url.find("://")? + 3;
    let prefix = &url[..scheme_end];
    let after = &url[scheme_end..];
    // The authority ends at the first `/`, `?` or `#`; the userinfo at its last `@`.
    let authority_end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let authority = &after[..authority_end];
    let at = authority.rfind('@')?;
    let userinfo = &authority[..at];
    let (user, password) = match userinfo.split_once(':') {
        Some((user, password)) => (user, Some(password)),
        None => (userinfo, None),
    };
    let scheme = prefix.trim_end_matches("://").to_ascii_lowercase();
    Some(Userinfo {
        prefix,
        user,
        password,
        rest: &after[at + 1..],
        is_http: scheme == "http" || scheme == "https",
    })
}

/// Returns `url` with the password in its userinfo replaced by `***`. For `http`/`https`, a
/// user name without a password is masked too (tokens are often passed that way).
#[must_use]
pub fn redact_url(url: &str) -> String {
    match split_userinfo(url) {
        None => url.to_owned(),
        Some(parts) => match parts.password {
            Some(_) => format!("{}{}:{MASK}@{}", parts.prefix, parts.user, parts.rest),
            None if parts.is_http => format!("{}{MASK}@{}", parts.prefix, parts.rest),
            None => url.to_owned(),
        },
    }
}

/// Removes every occurrence of each secret from `text`, and masks the userinfo of any URL in
/// it. Used on every message that comes from a lower layer before it is stored in an error or
/// logged.
#[must_use]
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for secret in secrets {
        // Very short strings would mask unrelated text; credentials are never that short.
        if secret.len() >= 4 {
            out = out.replace(secret, MASK);
        }
    }
    // Mask userinfo of URLs the message may quote, token by token.
    out.split_inclusive(char::is_whitespace)
        .map(|word| {
            if word.contains("://") && word.contains('@') {
                // Keep surrounding quotes and punctuation; redact the URL in the middle.
                let start = word.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(0);
                let (head, url) = word.split_at(start);
                format!("{head}{}", redact_url(url))
            } else {
                word.to_owned()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_hides_password_and_http_tokens() {
        let url = RedactedUrl::new("https://ci:hunter2secret@git.example/repo.git");
        assert_eq!(url.to_string(), "https://ci:***@git.example/repo.git");
        assert!(!format!("{url:?}").contains("hunter2secret"));
        assert_eq!(url.secrets(), ["hunter2secret"]);
        let token = RedactedUrl::new("https://ghp_abcdef123456@github.example/o/r");
        assert_eq!(token.to_string(), "https://***@github.example/o/r");
        let ssh = RedactedUrl::new("ssh://git@host:22/repo.git");
        assert_eq!(ssh.to_string(), "ssh://git@host:22/repo.git");
        assert!(ssh.secrets().is_empty());
        let plain = RedactedUrl::new("git://127.0.0.1:9418/repo");
        assert_eq!(plain.to_string(), "git://127.0.0.1:9418/repo");
    }

    #[test]
    fn scrub_removes_secrets_and_url_userinfo() {
        let text = "failed to reach \"https://u:pw-secret-1@h/r\": bad token tok-secret-2";
        let out = scrub(text, &["tok-secret-2"]);
        assert!(!out.contains("pw-secret-1"), "{out}");
        assert!(!out.contains("tok-secret-2"), "{out}");
        assert!(out.contains("https://u:***@h/r"), "{out}");
    }
}
