//! The webmail's composer on any input: the typed address fields parsed
//! (nothing that could break an SMTP command line gets through), and the
//! message built from any text, HTML, file and forwarded message always
//! passes what SMTP DATA demands (CRLF line ends only, no NUL, no line
//! over 998 octets): nothing can smuggle a second message past a relay.
#![no_main]
use caravel_http::compose_message::{build, parse_people, Attachment, Composed};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    // Fields separated by 0xff: to, subject, text, html, file, forwarded.
    let mut parts = input.split(|b| *b == 0xff);
    let mut next = || parts.next().unwrap_or_default();
    let to = String::from_utf8_lossy(next()).into_owned();
    let people = parse_people(&[to]).unwrap_or_default();
    for p in &people {
        let bad = |c: char| c.is_whitespace() || c.is_control() || "<>".contains(c);
        assert!(!p.address.contains(bad), "{:?}", p.address);
    }
    let subject: String = String::from_utf8_lossy(next()).chars().filter(|c| !c.is_control()).collect();
    let c = Composed {
        to: people,
        subject,
        text: String::from_utf8_lossy(next()).into_owned(),
        html: Some(String::from_utf8_lossy(next()).into_owned()),
        attachments: vec![Attachment {
            name: "f.txt".into(),
            content_type: "text/plain".into(),
            bytes: next().to_vec(),
        }],
        forwarded: vec![("m.eml".into(), next().to_vec())],
        message_id: "fuzz@example.test".into(),
        ..Composed::default()
    };
    let raw = build(&c).expect("built");
    assert!(!raw.contains(&0), "NUL");
    for (i, b) in raw.iter().enumerate() {
        match b {
            b'\r' => assert_eq!(raw.get(i + 1), Some(&b'\n'), "bare CR at {i}"),
            b'\n' => assert!(i > 0 && raw[i - 1] == b'\r', "bare LF at {i}"),
            _ => {}
        }
    }
    assert!(raw.split(|b| *b == b'\n').all(|l| l.len() <= 999), "a line over 998 octets");
});
