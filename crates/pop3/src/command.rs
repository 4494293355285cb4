//! POP3 command lines (RFC 1939 §3, RFC 2449, RFC 2595, RFC 5034, RFC 6856),
//! parsed without I/O. Keywords are case-insensitive; a line arrives without CRLF.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    User(String),
    Pass(String),
    Auth { mechanism: String, initial: Option<String> },
    Stat,
    List(Option<u32>),
    Retr(u32),
    Dele(u32),
    Noop,
    Rset,
    Quit,
    Top(u32, u32),
    Uidl(Option<u32>),
    Capa,
    Stls,
    Utf8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    Unknown,
    Syntax(&'static str),
}

fn number(s: Option<&str>) -> Result<u32, ParseError> {
    let s = s.ok_or(ParseError::Syntax("a message number is required"))?;
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::Syntax("not a message number"));
    }
    s.parse().map_err(|_| ParseError::Syntax("not a message number"))
}

pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
    let line = std::str::from_utf8(line).map_err(|_| ParseError::Syntax("invalid UTF-8"))?;
    let (verb, rest) = match line.find(' ') {
        Some(i) => (line[..i].to_ascii_uppercase(), &line[i + 1..]),
        None => (line.to_ascii_uppercase(), ""),
    };
    let args: Vec<&str> = rest.split(' ').filter(|a| !a.is_empty()).collect();
    let arity = |n: usize, c: Command| {
        if args.len() == n {
            Ok(c)
        } else {
            Err(ParseError::Syntax("wrong number of arguments"))
        }
    };
    let num = |i: usize| number(args.get(i).copied());
    match verb.as_str() {
        // RFC 1939 §7: USER name, PASS string (which may contain spaces).
        "USER" if !rest.is_empty() => Ok(Command::User(rest.to_string())),
        "USER" => Err(ParseError::Syntax("USER needs a name")),
        "PASS" => Ok(Command::Pass(rest.to_string())),
        "AUTH" => {
            let mechanism = args.first().ok_or(ParseError::Syntax("AUTH needs a mechanism"))?.to_ascii_uppercase();
            let initial = args.get(1).map(|s| s.to_string());
            if args.len() > 2 {
                return Err(ParseError::Syntax("wrong number of arguments"));
            }
            Ok(Command::Auth { mechanism, initial })
        }
        "STAT" => arity(0, Command::Stat),
        "LIST" if args.is_empty() => Ok(Command::List(None)),
        "LIST" => arity(1, Command::List(Some(num(0)?))),
        "UIDL" if args.is_empty() => Ok(Command::Uidl(None)),
        "UIDL" => arity(1, Command::Uidl(Some(num(0)?))),
        "RETR" => arity(1, Command::Retr(num(0)?)),
        "DELE" => arity(1, Command::Dele(num(0)?)),
        "TOP" => arity(2, Command::Top(num(0)?, num(1)?)),
        "NOOP" => arity(0, Command::Noop),
        "RSET" => arity(0, Command::Rset),
        "QUIT" => arity(0, Command::Quit),
        "CAPA" => arity(0, Command::Capa),
        "STLS" => arity(0, Command::Stls),
        "UTF8" => arity(0, Command::Utf8),
        _ => Err(ParseError::Unknown),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arbitrary_lines_never_panic() {
        let mut next = caravel_testkit::xorshift(0x2545_f491_4f6c_dd1d);
        let seeds: &[&[u8]] = &[b"TOP 1 10", b"USER a@b.c", b"AUTH PLAIN AGEAYg==", b"UIDL 3", b"PASS x y"];
        for _ in 0..20_000 {
            let mut line = seeds[(next() % seeds.len() as u64) as usize].to_vec();
            for _ in 0..(1 + next() % 6) {
                let at = (next() as usize) % (line.len() + 1);
                if next().is_multiple_of(2) {
                    line.insert(at, next() as u8);
                } else if at < line.len() {
                    line.remove(at);
                }
            }
            let _ = parse(&line);
        }
    }

    #[test]
    fn commands() {
        assert_eq!(parse(b"user alice@example.test"), Ok(Command::User("alice@example.test".into())));
        assert_eq!(parse(b"PASS with spaces inside"), Ok(Command::Pass("with spaces inside".into())));
        assert_eq!(parse(b"LIST"), Ok(Command::List(None)));
        assert_eq!(parse(b"list 3"), Ok(Command::List(Some(3))));
        assert_eq!(parse(b"TOP 1 10"), Ok(Command::Top(1, 10)));
        assert_eq!(
            parse(b"AUTH PLAIN AGEAYg=="),
            Ok(Command::Auth { mechanism: "PLAIN".into(), initial: Some("AGEAYg==".into()) })
        );
        assert_eq!(parse(b"STLS"), Ok(Command::Stls));
        assert!(matches!(parse(b"RETR"), Err(ParseError::Syntax(_))));
        assert!(matches!(parse(b"RETR -1"), Err(ParseError::Syntax(_))));
        assert!(matches!(parse(b"RETR 99999999999"), Err(ParseError::Syntax(_))));
        assert!(matches!(parse(b"STAT now"), Err(ParseError::Syntax(_))));
        assert_eq!(parse(b"APOP a b"), Err(ParseError::Unknown));
        assert_eq!(parse(b"GET / HTTP/1.1"), Err(ParseError::Unknown));
    }
}
