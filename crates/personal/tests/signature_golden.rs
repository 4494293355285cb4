//! Golden files for signature insertion: each `golden/NAME.in.eml` with the
//! signature below gives `golden/NAME.out.eml` byte for byte, or is left
//! alone for the reason given. `UPDATE_GOLDEN=1 cargo test -p
//! caravel-personal --test signature_golden` rewrites the outputs (then
//! read every diff).

use caravel_personal::insert::{insert, Rendered, Skipped};
use caravel_store::mime::{analyze, decode_base64, decode_quoted_printable, BodyPart};

fn signature() -> Rendered {
    Rendered {
        text: "Li Na\nSales Manager, Shenzhen Export Co.\n电话 +86 755 1234 5678".into(),
        html: Some("<p><b>Li Na</b><br>Sales Manager, Shenzhen Export Co.<br>电话 +86 755 1234 5678</p>".into()),
        separator: true,
    }
}

const CHANGED: &[&str] = &[
    "alternative_qp",
    "mixed_alternative_base64",
    "plain_gbk",
    "plain_utf8",
    "plain_utf8_base64",
    "plain_ascii_no_content_type",
    "plain_latin1_qp",
    "html_without_body",
    "apple_related",
    // Replies: the signature goes above the quoted history, and the one
    // quoted from an earlier message does not count as already there.
    "reply_plain_quoted",
    "reply_outlook_html",
];

const LEFT_ALONE: &[(&str, Skipped)] = &[
    ("smime_signed", Skipped::Protected),
    ("smime_encrypted", Skipped::Protected),
    ("pgp_encrypted", Skipped::Protected),
    ("pgp_inline", Skipped::Protected),
    ("already_signed", Skipped::AlreadyThere),
];

fn path(name: &str, kind: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(format!("{name}.{kind}.eml"))
}

/// Every leaf part: (type/subtype, decoded body).
fn leaves(raw: &[u8]) -> Vec<(String, Vec<u8>)> {
    fn walk(raw: &[u8], p: &BodyPart, out: &mut Vec<(String, Vec<u8>)>) {
        if p.parts.is_empty() {
            let body = &raw[p.body_start as usize..p.end as usize];
            let decoded = match p.encoding.as_deref() {
                Some("base64") => decode_base64(body),
                Some("quoted-printable") => decode_quoted_printable(body),
                _ => body.to_vec(),
            };
            out.push((format!("{}/{}", p.media_type, p.subtype), decoded));
        }
        p.parts.iter().for_each(|c| walk(raw, c, out));
    }
    let mut out = Vec::new();
    walk(raw, &analyze(raw).1, &mut out);
    out
}

#[test]
fn signatures_go_into_the_text_parts_and_nowhere_else() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for name in CHANGED {
        let input = std::fs::read(path(name, "in")).expect("input");
        let output = insert(&input, &signature()).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        if update {
            std::fs::write(path(name, "out"), &output).expect("write");
        }
        let expected = std::fs::read(path(name, "out")).expect("golden output");
        assert!(output == expected, "{name}: differs from its golden file:\n{}", String::from_utf8_lossy(&output));
        // The same parts; text parts gained the signature, others kept
        // every byte.
        let (before, after) = (leaves(&input), leaves(&output));
        assert_eq!(before.len(), after.len(), "{name}");
        for ((t1, b1), (t2, b2)) in before.iter().zip(&after) {
            assert_eq!(t1, t2, "{name}");
            if t1.starts_with("text/") {
                assert!(b2.len() > b1.len(), "{name}: {t1} gained the signature");
            } else {
                assert_eq!(b1, b2, "{name}: {t1} untouched");
            }
        }
        // Inserting again finds it there.
        assert_eq!(insert(&output, &signature()), Err(Skipped::AlreadyThere), "{name}");
    }
}

#[test]
fn signed_encrypted_and_already_signed_messages_are_left_alone() {
    for (name, why) in LEFT_ALONE {
        let input = std::fs::read(path(name, "in")).expect("input");
        assert_eq!(insert(&input, &signature()), Err(*why), "{name}");
    }
}

#[test]
fn bare_line_ends_are_left_alone() {
    assert_eq!(insert(b"Subject: x\n\nbody\n", &signature()), Err(Skipped::Malformed));
    assert_eq!(insert(b"Subject: x\r\n\r\nbo\rdy\r\n", &signature()), Err(Skipped::Malformed));
}

#[test]
fn an_attachment_only_message_has_no_text_to_sign() {
    let m = b"From: a@export.test\r\nMIME-Version: 1.0\r\nContent-Type: application/pdf\r\n\
              Content-Disposition: attachment; filename=x.pdf\r\n\r\n%PDF\r\n";
    assert_eq!(insert(m, &signature()), Err(Skipped::NoText));
}

#[test]
fn text_the_charset_does_not_describe_is_left_alone() {
    // Latin-1 bytes in a part that says us-ascii: rewriting it would turn
    // them into replacement characters.
    let m =
        b"From: a@export.test\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGr\xfc\xdfe\r\n";
    assert_eq!(insert(m, &signature()), Err(Skipped::NoText));
    let m = b"From: a@export.test\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nbad \xff utf-8\r\n";
    assert_eq!(insert(m, &signature()), Err(Skipped::NoText));
}

#[test]
fn an_html_only_message_takes_a_signature_with_quotes_and_ampersands() {
    let m = b"From: a@export.test\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Hello</p>\r\n";
    let sig = Rendered { text: "Export Co. \"Golden Sun\" & Partners".into(), html: None, separator: true };
    let out = String::from_utf8(insert(m, &sig).expect("inserted")).expect("utf-8");
    assert!(out.contains("Export Co. &quot;Golden Sun&quot; &amp; Partners"), "{out}");
    assert_eq!(insert(out.as_bytes(), &sig), Err(Skipped::AlreadyThere));
}
