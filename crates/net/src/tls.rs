//! TLS configuration: the operator's certificate, or a self-signed one for the
//! hostname generated once into `data_dir/tls/`. TLS 1.2 and 1.3 only (rustls
//! implements nothing older).

use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use caravel_config::Config;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// Builds the acceptor from `[tls]`, or from the self-signed certificate.
pub fn acceptor(config: &Config) -> Result<TlsAcceptor, String> {
    let (cert, key) = match &config.tls {
        Some(files) => (files.cert.clone(), files.key.clone()),
        None => {
            let dir = config.data_dir.join("tls");
            ensure_self_signed(&dir, &config.hostname)?;
            (dir.join("cert.pem"), dir.join("key.pem"))
        }
    };
    let certs = load_certs(&cert)?;
    let key = load_key(&key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("TLS certificate {} does not fit its key: {e}", cert.display()))?;
    Ok(TlsAcceptor::from(Arc::new(server)))
}

/// Generates `cert.pem` and `key.pem` for `hostname` in `dir` unless present.
pub fn ensure_self_signed(dir: &Path, hostname: &str) -> Result<(), String> {
    let cert_path = dir.join("cert.pem");
    if cert_path.exists() && dir.join("key.pem").exists() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let names = vec![hostname.to_string(), "localhost".to_string()];
    let fail = |e: rcgen::Error| format!("cannot generate a certificate: {e}");
    let mut params = rcgen::CertificateParams::new(names).map_err(fail)?;
    params.distinguished_name.push(rcgen::DnType::CommonName, hostname);
    let key = rcgen::KeyPair::generate().map_err(fail)?;
    let cert = params.self_signed(&key).map_err(fail)?;
    write_private(&dir.join("key.pem"), key.serialize_pem().as_bytes())?;
    write_private(&cert_path, cert.pem().as_bytes())?;
    tracing::info!(hostname, path = %cert_path.display(), "generated a self-signed certificate");
    Ok(())
}

fn write_private(path: &Path, data: &[u8]) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    f.write_all(data).and_then(|_| f.sync_all()).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    fs::rename(&tmp, path).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = fs::read(path).map_err(|e| format!("cannot read TLS certificate {}: {e}", path.display()))?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("TLS certificate {} is not valid PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no certificate", path.display()));
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let pem = fs::read(path).map_err(|e| format!("cannot read TLS key {}: {e}", path.display()))?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|e| format!("TLS key {} is not valid PEM: {e}", path.display()))?
        .ok_or_else(|| format!("{} holds no private key", path.display()))
}
