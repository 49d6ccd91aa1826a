//! The texts of events: a message redacted and cut, a commit's subject and author.

use super::event::Commit;

/// A message as notifications show it: URL credentials masked (values in errors are already
/// redaction marks, [`crate::redact`]), at most 2000 bytes.
#[must_use]
pub fn redact_text(text: &str) -> String {
    let mut out = crate::source::redact::scrub(text, &[]);
    if out.len() > 2000 {
        let mut cut = 2000;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}

/// The subject and author of `revision` in the Git cache `repo` (a bare repository), when
/// it can be read.
#[must_use]
pub fn commit_of(repo: &std::path::Path, revision: &str) -> Commit {
    let mut commit = Commit {
        revision: revision.to_owned(),
        ..Commit::default()
    };
    let Ok(repo) = gix::open_opts(repo, gix::open::Options::isolated().strict_config(false)) else {
        return commit;
    };
    let Ok(id) = gix::ObjectId::from_hex(revision.as_bytes()) else {
        return commit;
    };
    let Ok(object) = repo.find_commit(id) else {
        return commit;
    };
    if let Ok(message) = object.message() {
        commit.subject = Some(redact_text(&message.summary().to_string()));
    }
    if let Ok(author) = object.author() {
        commit.author = Some(format!("{} <{}>", author.name, author.email));
    }
    commit
}
