//! A small SMTP client: EHLO, STARTTLS (rustls, no OpenSSL), AUTH PLAIN, one message in
//! plain text (base64 body). Enough to hand notifications to a relay or a mail provider.

use super::config::StartTls;
use super::delivery::Attempt;
use super::payload::Mail;
use super::provider::Provider;
use base64::Engine as _;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt as _, AsyncRead, AsyncWrite, AsyncWriteExt as _, BufReader};
use zeroize::Zeroizing;

/// One reply: code and lines.
struct Reply {
    code: u16,
    lines: Vec<String>,
}

async fn read_reply<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut BufReader<S>,
) -> Result<Reply, Attempt> {
    let mut lines = Vec::new();
    for _ in 0..100 {
        let mut line = String::new();
        let n = stream
            .read_line(&mut line)
            .await
            .map_err(|e| retry(format!("read: {e}")))?;
        if n == 0 {
            return Err(retry("the server closed the connection".into()));
        }
        let line = line.trim_end().to_owned();
        let code = line
            .get(..3)
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| Attempt::Fatal(format!("not an SMTP reply: {:.100}", line)))?;
        let more = line.as_bytes().get(3) == Some(&b'-');
        lines.push(line.get(4..).unwrap_or_default().to_owned());
        if !more {
            return Ok(Reply { code, lines });
        }
    }
    Err(Attempt::Fatal(
        "an SMTP reply of more than 100 lines".into(),
    ))
}

fn retry(why: String) -> Attempt {
    Attempt::Retry { after: None, why }
}

async fn command<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut BufReader<S>,
    line: &str,
    shown: &str,
    expect: &[u16],
) -> Result<Reply, Attempt> {
    stream
        .get_mut()
        .write_all(format!("{line}\r\n").as_bytes())
        .await
        .map_err(|e| retry(format!("write: {e}")))?;
    let reply = read_reply(stream).await?;
    check(reply, shown, expect)
}

fn check(reply: Reply, shown: &str, expect: &[u16]) -> Result<Reply, Attempt> {
    if expect.contains(&reply.code) {
        return Ok(reply);
    }
    let why = format!("{shown}: {} {:.200}", reply.code, reply.lines.join(" "));
    Err(if (400..500).contains(&reply.code) {
        retry(why)
    } else {
        Attempt::Fatal(why)
    })
}

fn clean(text: &str) -> String {
    text.chars().filter(|c| *c != '\r' && *c != '\n').collect()
}

fn encode_header(text: &str) -> String {
    let text = clean(text);
    if text.is_ascii() {
        text
    } else {
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
        )
    }
}

/// The RFC 5322 date of `t`.
fn rfc5322_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    let rfc3339 = crate::daemon::time::format_rfc3339(t);
    let (y, m, d) = (
        rfc3339.get(0..4).unwrap_or("1970"),
        rfc3339
            .get(5..7)
            .and_then(|m| m.parse::<usize>().ok())
            .unwrap_or(1),
        rfc3339.get(8..10).unwrap_or("01"),
    );
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .get(m.saturating_sub(1))
    .copied()
    .unwrap_or("Jan");
    let time = rfc3339.get(11..19).unwrap_or("00:00:00");
    format!("{weekday}, {d} {month} {y} {time} +0000")
}

/// The message: headers and a base64 body, CRLF line ends.
#[must_use]
pub fn message(from: &str, to: &[String], mail: &Mail, now: SystemTime) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(mail.body.as_bytes());
    let mut out = String::new();
    out.push_str(&format!("From: {}\r\n", clean(from)));
    out.push_str(&format!(
        "To: {}\r\n",
        to.iter().map(|t| clean(t)).collect::<Vec<_>>().join(", ")
    ));
    out.push_str(&format!("Subject: {}\r\n", encode_header(&mail.subject)));
    out.push_str(&format!("Date: {}\r\n", rfc5322_date(now)));
    let id = match &mail.message_id {
        // The event's stable id: a mail sent again after a restart is the same message.
        Some(id) => clean(id),
        None => {
            let id = crate::redact::fingerprint(format!("{:?}{}", now, mail.subject).as_bytes());
            id.get(..24).unwrap_or(&id).to_owned()
        }
    };
    out.push_str(&format!("Message-ID: <{id}@tether>\r\n"));
    out.push_str("MIME-Version: 1.0\r\n");
    out.push_str("Content-Type: text/plain; charset=utf-8\r\n");
    out.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
    for chunk in body.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push_str("\r\n");
    }
    out
}

fn tls_config(provider: &Provider) -> Result<rustls::ClientConfig, Attempt> {
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        let _ = roots.add(cert);
    }
    if let Some(pem) = &provider.ca_pem {
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| Attempt::Fatal(format!("caFile: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| Attempt::Fatal(format!("caFile: {e}")))?;
        }
    }
    let provider_crypto = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider_crypto)
        .with_safe_default_protocol_versions()
        .map_err(|e| Attempt::Fatal(format!("tls: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

async fn transaction<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut BufReader<S>,
    provider: &Provider,
    mail: &Mail,
    after_tls: bool,
) -> Result<(), Attempt> {
    let Some(smtp) = &provider.smtp else {
        return Err(Attempt::Fatal("no smtp settings".into()));
    };
    if after_tls {
        command(stream, "EHLO tether-agent", "EHLO", &[250]).await?;
    }
    if let (Some(user), Some(password)) = (&smtp.username, provider.password()) {
        let plain = Zeroizing::new(format!("\0{user}\0{password}"));
        let encoded =
            Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(plain.as_bytes()));
        let line = Zeroizing::new(format!("AUTH PLAIN {}", encoded.as_str()));
        command(stream, &line, "AUTH", &[235]).await?;
    }
    command(
        stream,
        &format!("MAIL FROM:<{}>", clean(&smtp.from)),
        "MAIL FROM",
        &[250],
    )
    .await?;
    for to in &smtp.to {
        command(
            stream,
            &format!("RCPT TO:<{}>", clean(to)),
            "RCPT TO",
            &[250, 251],
        )
        .await?;
    }
    command(stream, "DATA", "DATA", &[354]).await?;
    let text = message(&smtp.from, &smtp.to, mail, SystemTime::now());
    // Dot-stuffing: the body is base64 and headers never start with a dot, but be safe.
    let stuffed = text.replace("\r\n.", "\r\n..");
    stream
        .get_mut()
        .write_all(stuffed.as_bytes())
        .await
        .map_err(|e| retry(format!("write: {e}")))?;
    command(stream, ".", "end of DATA", &[250]).await?;
    let _ = command(stream, "QUIT", "QUIT", &[221]).await;
    Ok(())
}

/// Sends `mail` with `provider`'s SMTP settings.
pub async fn send(provider: &Provider, mail: &Mail) -> Result<(), Attempt> {
    let Some(smtp) = &provider.smtp else {
        return Err(Attempt::Fatal("no smtp settings".into()));
    };
    let tcp = tokio::net::TcpStream::connect(&smtp.server)
        .await
        .map_err(|e| retry(format!("connect {}: {e}", smtp.server)))?;
    let mut stream = BufReader::new(tcp);
    check(read_reply(&mut stream).await?, "greeting", &[220])?;
    let ehlo = command(&mut stream, "EHLO tether-agent", "EHLO", &[250]).await?;
    if smtp.start_tls == StartTls::Never {
        return transaction(&mut stream, provider, mail, false).await;
    }
    if !ehlo
        .lines
        .iter()
        .any(|l| l.to_ascii_uppercase().starts_with("STARTTLS"))
    {
        return Err(Attempt::Fatal(
            "the server does not offer STARTTLS (startTls: required)".into(),
        ));
    }
    command(&mut stream, "STARTTLS", "STARTTLS", &[220]).await?;
    let host = smtp
        .server
        .rsplit_once(':')
        .map_or(smtp.server.as_str(), |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']');
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| Attempt::Fatal(format!("server name {host}: {e}")))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls_config(provider)?));
    let tls = connector
        .connect(name, stream.into_inner())
        .await
        .map_err(|e| Attempt::Fatal(format!("TLS handshake: {e}")))?;
    let mut stream = BufReader::new(tls);
    transaction(&mut stream, provider, mail, true).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_cannot_be_injected_and_dates_are_rfc5322() {
        let mail = Mail {
            subject: "a\r\nBcc: x@y".into(),
            body: "hello".into(),
            message_id: None,
        };
        let m = message("t@x", &["a@b".into()], &mail, UNIX_EPOCH);
        assert!(m.contains("Subject: aBcc: x@y\r\n"), "{m}");
        assert!(
            m.contains("Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n"),
            "{m}"
        );
        assert!(m.ends_with("aGVsbG8=\r\n"), "{m}");
    }

    #[test]
    fn the_message_id_is_the_event_id_so_a_repeated_send_is_the_same_mail() {
        let mail = Mail {
            subject: "s".into(),
            body: "b".into(),
            message_id: Some("0123abcd".into()),
        };
        let first = message("t@x", &["a@b".into()], &mail, UNIX_EPOCH);
        let later = message(
            "t@x",
            &["a@b".into()],
            &mail,
            UNIX_EPOCH + std::time::Duration::from_secs(60),
        );
        assert!(
            first.contains("Message-ID: <0123abcd@tether>\r\n"),
            "{first}"
        );
        assert!(
            later.contains("Message-ID: <0123abcd@tether>\r\n"),
            "{later}"
        );
    }
}
