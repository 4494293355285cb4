//! HTML mail made safe to show: a strict allow-list sanitiser (ammonia)
//! removes scripts, event handlers, `javascript:` and `data:` URLs, forms,
//! frames, `<base>`, `<meta>` and styles; links open in a new tab with
//! `rel="noopener noreferrer"`; remote images are dropped until the reader
//! allows them (they tell the sender the mail was opened, and from where),
//! and `cid:` images point at the message's own parts. The page shows the
//! result in a sandboxed frame without scripts, under a restrictive CSP:
//! defence in depth.

use std::collections::HashSet;

/// The cleaned HTML, and whether remote images were held back.
pub struct Cleaned {
    pub html: String,
    pub remote_blocked: bool,
}

/// `cid_url`: the URL a `cid:` reference becomes (the content ID is
/// appended, percent-encoded); None drops such images.
pub fn clean(html: &str, allow_remote: bool, cid_url: Option<&str>) -> Cleaned {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let blocked = Arc::new(AtomicBool::new(false));
    let seen = blocked.clone();
    let cid_url = cid_url.map(str::to_string);
    let schemes: HashSet<&str> = ["http", "https", "mailto", "cid"].into_iter().collect();
    let cleaned = ammonia::Builder::default()
        .url_schemes(schemes)
        .link_rel(Some("noopener noreferrer"))
        .set_tag_attribute_value("a", "target", "_blank")
        .attribute_filter(move |element, attribute, value| {
            if element == "img" && attribute == "src" {
                if let Some(cid) = value.strip_prefix("cid:") {
                    return cid_url.as_ref().map(|u| format!("{u}{}", percent(cid)).into());
                }
                if !allow_remote {
                    seen.store(true, Ordering::Relaxed);
                    return None;
                }
            }
            if element == "a" && attribute == "href" && value.starts_with("cid:") {
                return None;
            }
            Some(value.into())
        })
        .clean(html)
        .to_string();
    Cleaned { html: cleaned, remote_blocked: blocked.load(Ordering::Relaxed) }
}

/// A URL component: unreserved characters as they are, every other byte
/// %XX (RFC 3986 §2.3).
pub fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cleaned(html: &str) -> String {
        clean(html, false, Some("/part/")).html
    }

    /// Payloads from the usual XSS lists: none survives as something a
    /// browser would run or fetch.
    #[test]
    fn scripts_handlers_and_dangerous_urls_are_removed() {
        let payloads = [
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(1)>",
            "<a href=\"javascript:alert(1)\">x</a>",
            "<a href=\"JaVaScRiPt:alert(1)\">x</a>",
            "<a href=\"java&#x09;script:alert(1)\">x</a>",
            "<svg onload=alert(1)><circle r=1/></svg>",
            "<svg><script>alert(1)</script></svg>",
            "<iframe src=\"https://evil.test\"></iframe>",
            "<object data=\"x.swf\"></object>",
            "<embed src=\"x.swf\">",
            "<base href=\"https://evil.test/\">",
            "<meta http-equiv=\"refresh\" content=\"0;url=https://evil.test\">",
            "<form action=\"https://evil.test\"><input name=p></form>",
            "<div style=\"background:url(javascript:alert(1))\">x</div>",
            "<div style=\"width:expression(alert(1))\">x</div>",
            "<style>@import 'https://evil.test/x.css';</style>",
            "<link rel=stylesheet href=\"https://evil.test/x.css\">",
            "<body onload=alert(1)>",
            "<img src=\"data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+\">",
            "<a href=\"data:text/html,<script>alert(1)</script>\">x</a>",
            "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
            "<details open ontoggle=alert(1)>",
            "<video><source onerror=alert(1)></video>",
            "<isindex action=javascript:alert(1) type=image>",
            "<table background=\"javascript:alert(1)\">",
            "<img srcset=\"https://evil.test/1x.png 1x\">",
            "<a href=\"vbscript:msgbox(1)\">x</a>",
            "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">",
            "<xss onafterscriptexecute=alert(1)><script>1</script>",
            "<img src=\"https://tracker.test/open.gif\">",
        ];
        for p in payloads {
            let out = cleaned(p).to_ascii_lowercase();
            for bad in [
                "<script",
                "onerror",
                "onload",
                "ontoggle",
                "javascript:",
                "vbscript:",
                "expression(",
                "<iframe",
                "<object",
                "<embed",
                "<base",
                "<meta",
                "<form",
                "<style",
                "<link",
                "data:",
                "srcset",
                "tracker.test",
                "evil.test",
                "onafterscriptexecute",
            ] {
                assert!(!out.contains(bad), "{p:?} left {bad:?} in {out:?}");
            }
        }
    }

    #[test]
    fn remote_images_wait_for_consent_and_cid_images_are_the_message_parts() {
        let html = "<p>Hi</p><img src=\"https://cdn.buyer.test/logo.png\"><img src=\"cid:logo@x\">";
        let held = clean(html, false, Some("/part/"));
        assert!(held.remote_blocked && !held.html.contains("cdn.buyer.test") && held.html.contains("/part/logo%40x"));
        let allowed = clean(html, true, None);
        assert!(!allowed.remote_blocked && allowed.html.contains("https://cdn.buyer.test/logo.png"));
        let link = cleaned("<a href=\"https://buyer.test/order\">order</a>");
        assert!(link.contains("rel=\"noopener noreferrer\"") && link.contains("target=\"_blank\""), "{link}");
    }
}
