//! Two-factor sign-in and app passwords, for the CLI and the web API.

use caravel_auth::totp;
use caravel_store::{AppPassword, User};

use crate::{address, Admin, AdminError, Result};

/// Recovery codes given at confirmation (each works once).
pub const RECOVERY_CODES: usize = 10;

/// What an authenticator app needs to start making codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrollment {
    /// otpauth://totp/... for the QR code.
    pub uri: String,
    /// The same secret in base32, for typing into the app by hand.
    pub secret: String,
}

/// The Key URI, with the mail domain as the issuer apps show above the code.
fn uri(user: &User, key: &[u8]) -> String {
    let issuer = user.address.rsplit('@').next().unwrap_or("Caravel");
    totp::otpauth_uri(issuer, &user.address, key)
}

impl Admin {
    async fn existing_user(&self, addr: &str) -> Result<User> {
        let address = address(addr)?;
        self.store.get_user(&address).await?.ok_or_else(|| AdminError(format!("no user {address}")))
    }

    /// Starts enrollment: a new secret, not enforced until confirmed.
    pub async fn totp_enroll(&self, addr: &str) -> Result<Enrollment> {
        let user = self.existing_user(addr).await?;
        if user.totp_enabled {
            return Err(AdminError(format!(
                "two-factor sign-in is already on for {}; turn it off first (caravel 2fa disable)",
                user.address
            )));
        }
        let key = totp::new_secret();
        let secret = totp::base32_encode(&key);
        self.store.set_totp_secret(user.id, Some(secret.clone())).await?;
        Ok(Enrollment { uri: uri(&user, &key), secret })
    }

    /// The otpauth:// URI of an enrollment not confirmed yet (for its QR code).
    pub async fn pending_enrollment_uri(&self, addr: &str) -> Result<String> {
        let user = self.existing_user(addr).await?;
        let state = self.store.totp(user.id).await?;
        match state.secret.as_deref().and_then(totp::base32_decode) {
            Some(key) if !state.enabled => Ok(uri(&user, &key)),
            _ => Err(AdminError("no two-factor enrollment is waiting for confirmation".into())),
        }
    }

    /// Turns the second factor on with a first code from the app (at `now`),
    /// and returns the recovery codes, shown once.
    pub async fn totp_confirm(&self, addr: &str, code: &str, now: i64) -> Result<Vec<String>> {
        let user = self.existing_user(addr).await?;
        let state = self.store.totp(user.id).await?;
        if state.enabled {
            return Err(AdminError(format!("two-factor sign-in is already on for {}", user.address)));
        }
        let Some(key) = state.secret.as_deref().and_then(totp::base32_decode) else {
            return Err(AdminError(format!("no enrollment for {}: run caravel 2fa enroll first", user.address)));
        };
        let step = totp::matching_step(&key, code, now, state.last_step).ok_or_else(|| {
            AdminError(
                "that code is not right: type the 6 digits the app shows now (and check the phone's clock)".into(),
            )
        })?;
        if !self.store.use_totp_step(user.id, step).await? {
            return Err(AdminError("that code was already used; wait for the next one".into()));
        }
        let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| caravel_auth::generate_recovery_code()).collect();
        let hashes = codes.iter().map(|c| caravel_auth::secret_hash(c)).collect();
        self.store.enable_totp(user.id, hashes).await?;
        Ok(codes)
    }

    /// Turns the second factor off (and forgets its recovery codes).
    pub async fn totp_disable(&self, addr: &str) -> Result<()> {
        let user = self.existing_user(addr).await?;
        Ok(self.store.set_totp_secret(user.id, None).await?)
    }

    /// A new app password for the device `name`; returned once, kept hashed.
    pub async fn app_password_add(&self, addr: &str, name: &str) -> Result<String> {
        let user = self.existing_user(addr).await?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err(AdminError("an app password needs a name of 1 to 64 characters, e.g. \"iPhone\"".into()));
        }
        let password = caravel_auth::generate_app_password();
        self.store.add_app_password(user.id, name, &caravel_auth::secret_hash(&password)).await?;
        Ok(password)
    }

    pub async fn app_password_list(&self, addr: &str) -> Result<Vec<AppPassword>> {
        let user = self.existing_user(addr).await?;
        Ok(self.store.app_passwords(user.id).await?)
    }

    pub async fn app_password_del(&self, addr: &str, name: &str) -> Result<()> {
        let user = self.existing_user(addr).await?;
        Ok(self.store.del_app_password(user.id, name).await?)
    }
}
