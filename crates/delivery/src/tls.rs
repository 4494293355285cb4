//! The client TLS settings delivery uses, one builder for all of them:
//! opportunistic (any certificate, RFC 7435), WebPKI-verified (MTA-STS, a
//! relay that gets a password) and DANE-checked (see `dane`). TLS 1.2 and
//! 1.3 only.

use std::sync::Arc;

use tokio_rustls::rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{self, ClientConfig, ConfigBuilder, RootCertStore, WantsVerifier};

pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn builder(provider: Arc<CryptoProvider>) -> ConfigBuilder<ClientConfig, WantsVerifier> {
    ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .expect("TLS 1.2 and 1.3 are supported by ring")
}

/// TLS that trusts what `verifier` accepts.
pub(crate) fn with_verifier(provider: Arc<CryptoProvider>, verifier: Arc<dyn ServerCertVerifier>) -> Arc<ClientConfig> {
    Arc::new(builder(provider).dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth())
}

/// The handshake-signature checks every verifier needs (they differ only
/// in which certificates they accept), from the verifier's `provider`.
macro_rules! signature_checks {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &tokio_rustls::rustls::pki_types::CertificateDer<'_>,
            dss: &tokio_rustls::rustls::DigitallySignedStruct,
        ) -> Result<tokio_rustls::rustls::client::danger::HandshakeSignatureValid, tokio_rustls::rustls::Error> {
            tokio_rustls::rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &tokio_rustls::rustls::pki_types::CertificateDer<'_>,
            dss: &tokio_rustls::rustls::DigitallySignedStruct,
        ) -> Result<tokio_rustls::rustls::client::danger::HandshakeSignatureValid, tokio_rustls::rustls::Error> {
            tokio_rustls::rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<tokio_rustls::rustls::SignatureScheme> {
            self.provider.signature_verification_algorithms.supported_schemes()
        }
    };
}
pub(crate) use signature_checks;

/// Opportunistic TLS (RFC 7435): encryption against passive listening,
/// whatever certificate the server shows. MTA-STS and DANE, when they apply,
/// verify instead.
#[derive(Debug)]
struct AnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    signature_checks!();
}

/// TLS 1.2 and 1.3, any certificate (see [`AnyCertificate`]).
pub fn opportunistic_tls() -> Arc<ClientConfig> {
    let provider = provider();
    with_verifier(provider.clone(), Arc::new(AnyCertificate { provider }))
}

/// TLS that verifies the server's certificate against the system's roots
/// (Debian: /etc/ssl/certs; `SSL_CERT_FILE` overrides) and its name.
pub fn verified_tls() -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    Arc::new(builder(provider()).with_root_certificates(roots).with_no_client_auth())
}
