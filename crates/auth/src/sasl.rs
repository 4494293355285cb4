//! SASL mechanisms PLAIN (RFC 4616) and LOGIN (draft-murchison-sasl-login),
//! decoded without I/O; shared by SMTP AUTH, IMAP AUTHENTICATE and POP3 AUTH.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// Credentials a client presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaslError {
    /// Not valid base64 or not the mechanism's format (501 / BAD).
    Malformed,
    /// The client sent `*` (RFC 4954 §4).
    Cancelled,
    /// Authorisation as another identity is not supported.
    AuthzidNotAllowed,
}

fn decode(b64: &str) -> Result<Vec<u8>, SaslError> {
    let t = b64.trim();
    if t == "*" {
        return Err(SaslError::Cancelled);
    }
    if t == "=" {
        return Ok(Vec::new());
    }
    STANDARD.decode(t).map_err(|_| SaslError::Malformed)
}

/// Decodes a PLAIN response: `[authzid] NUL authcid NUL passwd`.
pub fn plain(response_b64: &str) -> Result<Credentials, SaslError> {
    let raw = decode(response_b64)?;
    let mut parts = raw.split(|&b| b == 0);
    let (authzid, authcid, passwd) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(z), Some(c), Some(p), None) => (z, c, p),
        _ => return Err(SaslError::Malformed),
    };
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| SaslError::Malformed);
    let (authzid, username, password) = (text(authzid)?, text(authcid)?, text(passwd)?);
    if username.is_empty() {
        return Err(SaslError::Malformed);
    }
    if !authzid.is_empty() && !authzid.eq_ignore_ascii_case(&username) {
        return Err(SaslError::AuthzidNotAllowed);
    }
    Ok(Credentials { username, password })
}

/// Decodes one LOGIN step (the username or the password).
pub fn login_step(response_b64: &str) -> Result<String, SaslError> {
    String::from_utf8(decode(response_b64)?).map_err(|_| SaslError::Malformed)
}

/// The LOGIN challenges, base64 of "Username:" and "Password:".
pub const LOGIN_USERNAME_CHALLENGE: &str = "VXNlcm5hbWU6";
pub const LOGIN_PASSWORD_CHALLENGE: &str = "UGFzc3dvcmQ6";

/// Plain base64 decoding (for BINARY fetches of base64 parts).
pub fn decode_base64(data: &[u8]) -> Option<Vec<u8>> {
    STANDARD.decode(data).ok()
}

pub fn encode(data: &[u8]) -> String {
    STANDARD.encode(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_decodes() {
        let b = encode(b"\0ana@example.com\0s3cret pass");
        assert_eq!(plain(&b), Ok(Credentials { username: "ana@example.com".into(), password: "s3cret pass".into() }));
        let same = encode(b"ana@example.com\0ana@example.com\0pw");
        assert!(plain(&same).is_ok());
        assert_eq!(plain(&encode(b"boss@example.com\0ana@example.com\0pw")), Err(SaslError::AuthzidNotAllowed));
        assert_eq!(plain(&encode(b"no-nuls")), Err(SaslError::Malformed));
        assert_eq!(plain("***"), Err(SaslError::Malformed));
        assert_eq!(plain("*"), Err(SaslError::Cancelled));
        assert_eq!(plain(&encode(b"\0\0pw")), Err(SaslError::Malformed));
    }

    #[test]
    fn login_steps() {
        assert_eq!(login_step(&encode("ana@example.com".as_bytes())), Ok("ana@example.com".into()));
        assert_eq!(login_step("*"), Err(SaslError::Cancelled));
        assert_eq!(crate::sasl::login_step(LOGIN_USERNAME_CHALLENGE), Ok("Username:".into()));
    }
}
