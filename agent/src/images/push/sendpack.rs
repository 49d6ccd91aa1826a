//! The send-pack protocol shared by the HTTPS and SSH pushes: the receive-pack ref
//! advertisement, one ref update (`OLD NEW REF\0report-status`), a flush packet and a pack
//! made by libgit2's packbuilder, then the server's report. The update names the old value
//! the branch had when fetched, so a branch that moved since is refused by the server
//! (`ng`), never overwritten. The transports (module `http`, module `ssh`) only move bytes.

use super::{PushError, WriteTarget};

/// The largest advertisement or report read.
pub(super) const MAX_ANSWER_BYTES: u64 = 1024 * 1024;

/// Moves the protocol's bytes to and from a receive-pack.
pub(super) trait Transport {
    /// The ref advertisement's pkt-line payloads (service lines and flushes dropped).
    fn advertisement(&mut self) -> Result<Vec<String>, PushError>;
    /// Sends the request; returns the report's pkt-line payloads.
    fn send(&mut self, request: Vec<u8>) -> Result<Vec<String>, PushError>;
}

/// One pkt-line.
pub(super) fn pkt_line(text: &str) -> Vec<u8> {
    let mut out = format!("{:04x}", text.len() + 4).into_bytes();
    out.extend_from_slice(text.as_bytes());
    out
}

/// The length of the pkt-line whose 4-byte header is `header` (0: a flush packet); `None`
/// when malformed.
pub(super) fn pkt_len(header: &[u8]) -> Option<usize> {
    let len = usize::from_str_radix(std::str::from_utf8(header).ok()?, 16).ok()?;
    (len == 0 || len >= 4).then_some(len)
}

/// The payloads of the pkt-lines of `bytes` (flush packets dropped); `None` when malformed.
pub(super) fn pkt_lines(mut bytes: &[u8]) -> Option<Vec<String>> {
    let mut out = Vec::new();
    while bytes.len() >= 4 {
        let len = pkt_len(&bytes[..4])?;
        if len == 0 {
            bytes = &bytes[4..];
            continue;
        }
        if len > bytes.len() {
            return None;
        }
        out.push(
            String::from_utf8_lossy(&bytes[4..len])
                .trim_end_matches('\n')
                .to_owned(),
        );
        bytes = &bytes[len..];
    }
    bytes.is_empty().then_some(out)
}

/// The value of `refs/heads/BRANCH` in an advertisement (zero when absent).
pub(super) fn advertised(lines: &[String], branch: &str) -> Result<git2::Oid, String> {
    let wanted = format!("refs/heads/{branch}");
    for line in lines.iter().skip_while(|l| l.starts_with('#')) {
        if let Some(message) = line.strip_prefix("ERR ") {
            return Err(format!(
                "the server refused: {}",
                crate::text::clip_message(message)
            ));
        }
        let line = line.split('\0').next().unwrap_or_default();
        if let Some((oid, name)) = line.split_once(' ')
            && name == wanted
        {
            return git2::Oid::from_str(oid)
                .map_err(|_| "an invalid object id in the advertisement".to_owned());
        }
    }
    Ok(git2::Oid::zero())
}

/// The request: the update of `refs/heads/BRANCH` from `old` to `commit`, a flush packet,
/// and a pack of the objects of `commit` the remote lacks (it has `tip`, and `old`).
pub(super) fn request(
    repo: &git2::Repository,
    tip: git2::Oid,
    old: git2::Oid,
    commit: git2::Oid,
    branch: &str,
) -> Result<Vec<u8>, git2::Error> {
    let mut walk = repo.revwalk()?;
    walk.push(commit)?;
    walk.hide(tip)?;
    if !old.is_zero() && repo.find_commit(old).is_ok() {
        walk.hide(old)?;
    }
    let mut builder = repo.packbuilder()?;
    builder.insert_walk(&mut walk)?;
    let mut pack = git2::Buf::new();
    builder.write_buf(&mut pack)?;
    let command = format!(
        "{old} {commit} refs/heads/{branch}\0report-status agent=tether/{}\n",
        env!("CARGO_PKG_VERSION")
    );
    let mut body = pkt_line(&command);
    body.extend_from_slice(b"0000");
    body.extend_from_slice(&pack);
    Ok(body)
}

/// Reads the report: `Ok(None)` when the branch was updated, `Ok(Some(reason))` when the
/// server refused the update, `Err` when the report is unsound.
pub(super) fn report(lines: &[String], branch: &str) -> Result<Option<String>, String> {
    match lines.first().map(String::as_str) {
        Some("unpack ok") => {}
        Some(other) => {
            return Err(format!(
                "the server could not unpack: {}",
                crate::text::clip_message(other)
            ));
        }
        None => return Err("the server sent no report".to_owned()),
    }
    let wanted = format!("refs/heads/{branch}");
    for line in &lines[1..] {
        if line == &format!("ok {wanted}") {
            return Ok(None);
        }
        if let Some(reason) = line.strip_prefix(&format!("ng {wanted} ")) {
            return Ok(Some(crate::text::clip_message(reason).into_owned()));
        }
    }
    Err("the report does not name the branch".to_owned())
}

impl WriteTarget {
    pub(super) fn push_failed(&self, message: impl Into<String>) -> PushError {
        PushError::PushFailed {
            url: self.url_text(),
            branch: self.push_branch.clone(),
            message: message.into(),
        }
    }

    /// Pushes `commit` (based on `tip`) through `transport`; `Ok(Some(reason))` when the
    /// branch moved since it was fetched.
    pub(super) fn send_pack(
        &self,
        transport: &mut dyn Transport,
        repo: &git2::Repository,
        tip: git2::Oid,
        commit: git2::Oid,
    ) -> Result<Option<String>, PushError> {
        let lines = transport.advertisement()?;
        let old = advertised(&lines, &self.push_branch).map_err(|m| self.push_failed(m))?;
        if self.push_branch == self.branch && old != tip {
            return Ok(Some(format!(
                "the branch moved to {old} since it was fetched"
            )));
        }
        let body = request(repo, tip, old, commit, &self.push_branch)
            .map_err(|e| self.push_failed(e.message().to_owned()))?;
        let answer = transport.send(body)?;
        report(&answer, &self.push_branch).map_err(|m| self.push_failed(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn pkt_lines_round_trip_and_malformed_streams_are_refused() {
        let mut stream = pkt_line("# service=git-receive-pack\n");
        stream.extend_from_slice(b"0000");
        stream.extend(pkt_line("ok refs/heads/main\n"));
        assert_eq!(
            pkt_lines(&stream).unwrap(),
            ["# service=git-receive-pack", "ok refs/heads/main"]
        );
        assert!(pkt_lines(b"00zzabc").is_none());
        assert!(pkt_lines(b"0010abc").is_none());
        assert!(pkt_lines(b"0002").is_none());
    }

    #[test]
    fn the_advertisement_names_the_branch_or_nothing_or_an_error() {
        let oid = "1111111111111111111111111111111111111111";
        let ad = lines(&[
            &format!("{oid} refs/heads/main\0report-status delete-refs"),
            "2222222222222222222222222222222222222222 refs/heads/other",
        ]);
        assert_eq!(advertised(&ad, "main").unwrap().to_string(), oid);
        assert!(advertised(&ad, "review").unwrap().is_zero());
        let empty =
            lines(&["0000000000000000000000000000000000000000 capabilities^{}\0report-status"]);
        assert!(advertised(&empty, "main").unwrap().is_zero());
        let err = advertised(&lines(&["ERR access denied"]), "main").unwrap_err();
        assert!(err.contains("access denied"), "{err}");
        assert!(advertised(&lines(&["nothex refs/heads/main"]), "main").is_err());
    }

    #[test]
    fn the_report_says_ok_refused_or_unsound() {
        assert_eq!(
            report(&lines(&["unpack ok", "ok refs/heads/main"]), "main"),
            Ok(None)
        );
        assert_eq!(
            report(
                &lines(&["unpack ok", "ng refs/heads/main fetch first"]),
                "main"
            ),
            Ok(Some("fetch first".to_owned()))
        );
        assert!(report(&lines(&["unpack index-pack abnormal exit"]), "main").is_err());
        assert!(report(&[], "main").is_err());
        assert!(report(&lines(&["unpack ok", "ok refs/heads/x"]), "main").is_err());
    }
}
