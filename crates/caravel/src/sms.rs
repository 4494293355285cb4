//! Text-message codes through `[sms] webhook_url` (see
//! `caravel_config::Sms`): the web sign-in's second factor, and `caravel
//! sms test NUMBER`.

use std::time::Duration;

use caravel_config::Sms;

/// Bytes of the provider's answer read (only its status matters).
const MAX_ANSWER: usize = 16 * 1024;

pub struct Webhook {
    pub url: String,
    pub token: Option<String>,
    pub timeout: Duration,
}

impl Webhook {
    /// The configured webhook, if any.
    pub fn from_config(sms: &Sms) -> Option<Webhook> {
        Some(Webhook { url: sms.webhook_url.clone()?, token: sms.token.clone(), timeout: sms.timeout })
    }

    /// POSTs one message; Ok on any 2xx answer.
    pub async fn send(&self, to: &str, code: &str, text: &str, purpose: &str) -> Result<(), String> {
        let body = serde_json::json!({ "to": to, "code": code, "text": text, "purpose": purpose }).to_string();
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(a) = auth.as_deref() {
            headers.push(("Authorization", a));
        }
        let (status, answer) =
            crate::web_client::request("POST", &self.url, &headers, body.as_bytes(), MAX_ANSWER, self.timeout).await?;
        if (200..300).contains(&status) {
            return Ok(());
        }
        let said: String = String::from_utf8_lossy(&answer).chars().take(200).collect();
        Err(format!("the SMS webhook answered {status}: {said}"))
    }
}

/// The sign-in code's text message.
pub fn code_text(code: &str) -> String {
    format!("Your Caravel sign-in code is {code}. It works once, for 10 minutes. If you did not ask for it, change your password.")
}

#[async_trait::async_trait]
impl caravel_http::SmsSender for Webhook {
    async fn send_code(&self, to: &str, code: &str) -> Result<(), String> {
        self.send(to, code, &code_text(code), "sign-in").await
    }

    async fn send_test(&self, to: &str) -> Result<String, String> {
        let code = format!("{:06}", rand::random_range(0..1_000_000u32));
        self.send(to, &code, &format!("Caravel test message: your test code is {code}."), "test").await?;
        Ok(code)
    }
}

/// `caravel sms test NUMBER`.
pub async fn test(config: &caravel_config::Config, number: &str) -> crate::commands::CmdResult {
    use caravel_http::SmsSender;
    let hook = Webhook::from_config(&config.sms)
        .ok_or("no [sms] webhook_url in the configuration: text-message codes are off")?;
    let to = caravel_admin::e164(number).map_err(|e| e.to_string())?;
    let code = hook.send_test(&to).await?;
    println!("the webhook took a test message for {to} (code {code}); check that it arrived");
    Ok(())
}
