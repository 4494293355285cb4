//! SMTP command lines (RFC 5321 §4.1), parsed without I/O. A line arrives
//! without its CRLF; the caller enforces the line-length limit.

/// An address in MAIL FROM / RCPT TO: `<>` (null reverse-path) or `<local@domain>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    /// Empty for the null reverse-path.
    pub address: String,
}

/// ESMTP parameters after the path (`KEY=VALUE` or `KEY`), keys uppercased.
pub type Params = Vec<(String, Option<String>)>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Ehlo(String),
    Helo(String),
    Mail {
        from: Path,
        params: Params,
    },
    Rcpt {
        to: Path,
        params: Params,
    },
    Data,
    /// RFC 3030 chunking: `BDAT size [LAST]`.
    Bdat {
        size: u64,
        last: bool,
    },
    Rset,
    Noop,
    Quit,
    Vrfy(String),
    Expn(String),
    Help,
    StartTls,
    Auth {
        mechanism: String,
        initial: Option<String>,
    },
}

/// Why a command line was refused; each maps to one reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Not a command we know (500 5.5.1).
    Unknown,
    /// A known command with bad arguments (501 5.5.4 / 5.1.7), with the reason.
    Syntax(&'static str),
    /// An HTTP request on the SMTP port: close at once.
    Http,
    /// Not valid UTF-8.
    Encoding,
}

fn verb_and_rest(line: &str) -> (String, &str) {
    match line.find(' ') {
        Some(i) => (line[..i].to_ascii_uppercase(), &line[i + 1..]),
        None => (line.to_ascii_uppercase(), ""),
    }
}

/// Parses one command line (without CRLF).
pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
    let line = std::str::from_utf8(line).map_err(|_| ParseError::Encoding)?;
    let (verb, rest) = verb_and_rest(line);
    let arg = rest.trim();
    let no_args = |cmd: Command| {
        if arg.is_empty() {
            Ok(cmd)
        } else {
            Err(ParseError::Syntax("this command takes no arguments"))
        }
    };
    match verb.as_str() {
        "EHLO" | "HELO" => {
            let domain = arg.split_whitespace().next().unwrap_or("");
            if domain.is_empty() {
                return Err(ParseError::Syntax("a domain or address literal is required"));
            }
            let domain = domain.to_string();
            Ok(if verb == "EHLO" { Command::Ehlo(domain) } else { Command::Helo(domain) })
        }
        "MAIL" => {
            let rest = strip_prefix_ci(rest, "FROM:").ok_or(ParseError::Syntax("use MAIL FROM:<address>"))?;
            let (from, params) = path_and_params(rest, true)?;
            Ok(Command::Mail { from, params })
        }
        "RCPT" => {
            let rest = strip_prefix_ci(rest, "TO:").ok_or(ParseError::Syntax("use RCPT TO:<address>"))?;
            let (to, params) = path_and_params(rest, false)?;
            Ok(Command::Rcpt { to, params })
        }
        "DATA" => no_args(Command::Data),
        "BDAT" => {
            let mut it = arg.split_whitespace();
            let size = it
                .next()
                .and_then(|s| if s.bytes().all(|b| b.is_ascii_digit()) { s.parse().ok() } else { None })
                .ok_or(ParseError::Syntax("use BDAT <size> [LAST]"))?;
            let last = match it.next() {
                None => false,
                Some(s) if s.eq_ignore_ascii_case("LAST") => true,
                Some(_) => return Err(ParseError::Syntax("use BDAT <size> [LAST]")),
            };
            if it.next().is_some() {
                return Err(ParseError::Syntax("use BDAT <size> [LAST]"));
            }
            Ok(Command::Bdat { size, last })
        }
        "RSET" => no_args(Command::Rset),
        // RFC 5321 §4.1.1.9: NOOP may carry a string, which is ignored.
        "NOOP" => Ok(Command::Noop),
        "QUIT" => no_args(Command::Quit),
        "VRFY" => Ok(Command::Vrfy(arg.to_string())),
        "EXPN" => Ok(Command::Expn(arg.to_string())),
        "HELP" => Ok(Command::Help),
        "STARTTLS" => no_args(Command::StartTls),
        "AUTH" => {
            let mut it = arg.split_whitespace();
            let mechanism = it.next().ok_or(ParseError::Syntax("use AUTH <mechanism> [initial-response]"))?;
            let initial = it.next().map(str::to_string);
            if it.next().is_some() {
                return Err(ParseError::Syntax("use AUTH <mechanism> [initial-response]"));
            }
            Ok(Command::Auth { mechanism: mechanism.to_ascii_uppercase(), initial })
        }
        "GET" | "POST" | "HEAD" | "PUT" | "CONNECT" | "OPTIONS" | "DELETE" => Err(ParseError::Http),
        _ => Err(ParseError::Unknown),
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
}

/// `<path> [params]`; a space after the colon is tolerated (many clients send
/// it), source routes (`<@a,@b:user@host>`) are accepted and dropped (RFC 5321
/// §4.1.1.3 / Appendix C).
fn path_and_params(rest: &str, allow_null: bool) -> Result<(Path, Params), ParseError> {
    let rest = rest.trim_start();
    if !rest.starts_with('<') {
        return Err(ParseError::Syntax("the address must be in angle brackets: <user@example.com>"));
    }
    let close = find_path_end(rest).ok_or(ParseError::Syntax("the address has no closing '>'"))?;
    let mut inner = &rest[1..close];
    if inner.starts_with('@') {
        inner = inner.split_once(':').map(|(_, a)| a).ok_or(ParseError::Syntax("bad source route"))?;
    }
    let address = unquote_local(inner)?;
    if address.is_empty() && !allow_null {
        return Err(ParseError::Syntax("an empty recipient address is not allowed"));
    }
    if !address.is_empty() && (!address.contains('@') || address.ends_with('@') || address.starts_with('@')) {
        return Err(ParseError::Syntax("the address must be local-part@domain"));
    }
    let mut params = Vec::new();
    for p in rest[close + 1..].split_whitespace() {
        let (k, v) = match p.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (p, None),
        };
        if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(ParseError::Syntax("bad parameter"));
        }
        params.push((k.to_ascii_uppercase(), v));
    }
    Ok((Path { address }, params))
}

/// The index of the `>` closing the path, skipping quoted strings.
fn find_path_end(s: &str) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '>' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

/// Removes quoting from a quoted local part (`"john doe"@x` → `john doe@x`
/// is refused: such an address cannot be a Caravel account); a plain one is
/// returned as it is.
fn unquote_local(addr: &str) -> Result<String, ParseError> {
    if addr.contains(|c: char| c.is_control() || c == ' ') && !addr.starts_with('"') {
        return Err(ParseError::Syntax("the address contains spaces or control characters"));
    }
    if let Some(rest) = addr.strip_prefix('"') {
        let end = rest.rfind("\"@").ok_or(ParseError::Syntax("bad quoted local part"))?;
        let local: String = rest[..end].replace("\\\"", "\"").replace("\\\\", "\\");
        return Ok(format!("\"{local}\"{}", &rest[end + 1..]));
    }
    Ok(addr.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Command, ParseError> {
        parse(s.as_bytes())
    }

    #[test]
    fn greetings() {
        assert_eq!(p("EHLO client.example.org"), Ok(Command::Ehlo("client.example.org".into())));
        assert_eq!(p("helo [192.0.2.1]"), Ok(Command::Helo("[192.0.2.1]".into())));
        assert!(matches!(p("EHLO"), Err(ParseError::Syntax(_))));
    }

    #[test]
    fn mail_and_rcpt() {
        assert_eq!(
            p("MAIL FROM:<ana@example.com> SIZE=1000 BODY=8BITMIME"),
            Ok(Command::Mail {
                from: Path { address: "ana@example.com".into() },
                params: vec![("SIZE".into(), Some("1000".into())), ("BODY".into(), Some("8BITMIME".into()))]
            })
        );
        assert_eq!(p("mail from: <>"), Ok(Command::Mail { from: Path { address: String::new() }, params: vec![] }));
        assert_eq!(
            p("RCPT TO:<张伟@example.test>"),
            Ok(Command::Rcpt { to: Path { address: "张伟@example.test".into() }, params: vec![] })
        );
        assert_eq!(
            p("RCPT TO:<@relay.example:bob@example.com> NOTIFY=SUCCESS,FAILURE"),
            Ok(Command::Rcpt {
                to: Path { address: "bob@example.com".into() },
                params: vec![("NOTIFY".into(), Some("SUCCESS,FAILURE".into()))]
            })
        );
        assert!(matches!(p("RCPT TO:<>"), Err(ParseError::Syntax(_))));
        assert!(matches!(p("MAIL FROM:ana@example.com"), Err(ParseError::Syntax(_))));
        assert!(matches!(p("MAIL FROM:<ana@example.com"), Err(ParseError::Syntax(_))));
        assert!(matches!(p("RCPT TO:<nobody>"), Err(ParseError::Syntax(_))));
        assert!(matches!(p("MAIL TO:<a@b.c>"), Err(ParseError::Syntax(_))));
    }

    #[test]
    fn arbitrary_lines_never_panic() {
        let mut next = caravel_testkit::xorshift(0x2545_f491_4f6c_dd1d);
        let seeds: &[&[u8]] =
            &[b"MAIL FROM:<a@b.c> SIZE=1", b"RCPT TO:<\"q\\\"x\"@b.c>", b"BDAT 9 LAST", b"AUTH PLAIN =", b"EHLO x"];
        for _ in 0..5000 {
            let mut line = seeds[(next() % seeds.len() as u64) as usize].to_vec();
            for _ in 0..(next() % 6) {
                let at = (next() as usize) % (line.len() + 1);
                match next() % 3 {
                    0 => line.insert(at, next() as u8),
                    1 if at < line.len() => {
                        line.remove(at);
                    }
                    _ => line.insert(at, b"<>:\"@ =\\"[(next() % 8) as usize]),
                }
            }
            let _ = parse(&line);
        }
    }

    #[test]
    fn others() {
        assert_eq!(p("BDAT 1000 LAST"), Ok(Command::Bdat { size: 1000, last: true }));
        assert_eq!(p("bdat 5"), Ok(Command::Bdat { size: 5, last: false }));
        assert!(matches!(p("BDAT -1"), Err(ParseError::Syntax(_))));
        assert_eq!(
            p("AUTH plain AGFuYQBzZWNyZXQ="),
            Ok(Command::Auth { mechanism: "PLAIN".into(), initial: Some("AGFuYQBzZWNyZXQ=".into()) })
        );
        assert_eq!(p("STARTTLS"), Ok(Command::StartTls));
        assert!(matches!(p("STARTTLS now"), Err(ParseError::Syntax(_))));
        assert_eq!(p("NOOP whatever"), Ok(Command::Noop));
        assert_eq!(p("GET / HTTP/1.1"), Err(ParseError::Http));
        assert_eq!(p("FROB"), Err(ParseError::Unknown));
        assert_eq!(parse(b"EHLO \xff"), Err(ParseError::Encoding));
    }
}
