//! TLS configuration: the operator's certificates (a default one and others
//! chosen by SNI), or a self-signed one for the hostname generated once into
//! `data_dir/tls/`. Certificates are reloaded in place when their files
//! change (renewal) or on SIGHUP. TLS 1.2 and 1.3 only (rustls implements
//! nothing older).

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use caravel_config::{Config, TlsFiles};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// The certificates in use, chosen per connection by the name the client
/// asks for (SNI), and replaced in place when their files change.
pub struct Certificates {
    sources: Vec<(Option<String>, TlsFiles)>,
    loaded: RwLock<Loaded>,
}

#[derive(Default)]
struct Loaded {
    default: Option<Arc<CertifiedKey>>,
    by_name: HashMap<String, Arc<CertifiedKey>>,
    /// Modification times of every file, to notice a renewal.
    stamps: Vec<Option<SystemTime>>,
}

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificates").field("sources", &self.sources).finish()
    }
}

impl Certificates {
    /// From `[tls]` and `[tls.sni]`; the self-signed certificate for the
    /// hostname when `[tls]` names none.
    pub fn from_config(config: &Config) -> Result<Arc<Certificates>, String> {
        let default = match &config.tls {
            Some(files) => files.clone(),
            None => {
                let dir = config.data_dir.join("tls");
                ensure_self_signed(&dir, &config.hostname)?;
                TlsFiles { cert: dir.join("cert.pem"), key: dir.join("key.pem") }
            }
        };
        let mut sources = vec![(None, default)];
        sources.extend(config.tls_sni.iter().map(|(name, files)| (Some(name.clone()), files.clone())));
        let certs = Certificates { sources, loaded: RwLock::new(Loaded::default()) };
        let loaded = certs.load()?;
        *certs.loaded.write().unwrap_or_else(|e| e.into_inner()) = loaded;
        Ok(Arc::new(certs))
    }

    fn stamps(&self) -> Vec<Option<SystemTime>> {
        self.sources
            .iter()
            .flat_map(|(_, f)| [&f.cert, &f.key])
            .map(|p| fs::metadata(p).and_then(|m| m.modified()).ok())
            .collect()
    }

    /// Reads every certificate and key; all or nothing.
    fn load(&self) -> Result<Loaded, String> {
        let stamps = self.stamps();
        let mut loaded = Loaded { stamps, ..Loaded::default() };
        for (name, files) in &self.sources {
            let key = certified_key(files)?;
            match name {
                None => loaded.default = Some(key),
                Some(n) => {
                    loaded.by_name.insert(n.clone(), key);
                }
            }
        }
        Ok(loaded)
    }

    /// Reloads if any file changed since the last load: true if reloaded.
    /// A bad new file keeps the old certificates in use (and says why).
    pub fn reload_if_changed(&self) -> Result<bool, String> {
        let now = self.stamps();
        if self.loaded.read().unwrap_or_else(|e| e.into_inner()).stamps == now {
            return Ok(false);
        }
        self.reload().map(|_| true)
    }

    /// Reloads every certificate now (SIGHUP).
    pub fn reload(&self) -> Result<(), String> {
        // Taken before reading: a file that changes while it is read is
        // seen as a change at the next check, not lost.
        let before = self.stamps();
        match self.load() {
            Ok(fresh) => {
                *self.loaded.write().unwrap_or_else(|e| e.into_inner()) = fresh;
                tracing::info!("TLS certificates reloaded");
                Ok(())
            }
            Err(e) => {
                // Do not try the same broken files every few seconds.
                self.loaded.write().unwrap_or_else(|e| e.into_inner()).stamps = before;
                tracing::error!(error = %e, "TLS certificates not reloaded; the previous ones stay in use");
                Err(e)
            }
        }
    }

    /// The certificate for `name`: exact, then `*.parent`, then the default.
    fn for_name(&self, name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let loaded = self.loaded.read().unwrap_or_else(|e| e.into_inner());
        if let Some(name) = name.map(str::to_ascii_lowercase) {
            if let Some(k) = loaded.by_name.get(&name) {
                return Some(k.clone());
            }
            if let Some((_, parent)) = name.split_once('.') {
                if let Some(k) = loaded.by_name.get(&format!("*.{parent}")) {
                    return Some(k.clone());
                }
            }
        }
        loaded.default.clone()
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.for_name(hello.server_name())
    }
}

fn certified_key(files: &TlsFiles) -> Result<Arc<CertifiedKey>, String> {
    let certs = load_certs(&files.cert)?;
    let key = load_key(&files.key)?;
    let signer = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| format!("TLS key {} cannot be used: {e}", files.key.display()))?;
    let certified = CertifiedKey::new(certs, signer);
    certified
        .keys_match()
        .map_err(|e| format!("TLS certificate {} does not fit its key: {e}", files.cert.display()))?;
    Ok(Arc::new(certified))
}

/// The acceptor every TLS listener uses: TLS 1.3 and 1.2 only, certificates
/// from `certs`.
pub fn acceptor(certs: Arc<Certificates>) -> Result<TlsAcceptor, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_no_client_auth()
        .with_cert_resolver(certs);
    Ok(TlsAcceptor::from(Arc::new(server)))
}

/// Generates `cert.pem` and `key.pem` for `hostname` in `dir` unless present.
pub fn ensure_self_signed(dir: &Path, hostname: &str) -> Result<(), String> {
    let cert_path = dir.join("cert.pem");
    if cert_path.exists() && dir.join("key.pem").exists() {
        return Ok(());
    }
    {
        use std::os::unix::fs::DirBuilderExt;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
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
    // A file left by an earlier run would keep its mode: start anew.
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
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
