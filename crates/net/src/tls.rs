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
use tokio_rustls::server::TlsStream;
use tokio_rustls::LazyConfigAcceptor;

/// The certificates in use, chosen per connection by the name the client
/// asks for (SNI), and replaced in place when their files change.
pub struct Certificates {
    sources: Vec<(Option<String>, TlsFiles)>,
    /// The directory of the certificates ACME obtained (`data_dir/acme/certs`,
    /// one PEM file each holding its key and chain): for each of their
    /// names no file covers, and the one naming the hostname as the default
    /// instead of the self-signed one.
    acme: Option<std::path::PathBuf>,
    hostname: String,
    /// Whether `[tls]` names the default certificate (files win over ACME).
    files_default: bool,
    loaded: RwLock<Loaded>,
    /// What an ACME server's validation asks for right now.
    pub challenges: Arc<AcmeChallenges>,
}

/// The answers to ACME challenges being validated: HTTP-01 key
/// authorizations by token (RFC 8555 §8.3), and TLS-ALPN-01 certificates
/// by name (RFC 8737).
#[derive(Default)]
pub struct AcmeChallenges {
    http: RwLock<HashMap<String, String>>,
    /// The TLS configuration that answers a name's validation.
    alpn: RwLock<HashMap<String, Arc<ServerConfig>>>,
}

impl AcmeChallenges {
    pub fn set_http(&self, token: &str, key_authorization: &str) {
        self.http.write().unwrap_or_else(|e| e.into_inner()).insert(token.to_string(), key_authorization.to_string());
    }

    pub fn http(&self, token: &str) -> Option<String> {
        self.http.read().unwrap_or_else(|e| e.into_inner()).get(token).cloned()
    }

    /// Answers the validation of `name` with this certificate (PEM; its
    /// critical acmeIdentifier extension is for the CA, which is why it is
    /// not checked here) and ALPN `acme-tls/1` only (RFC 8737 §3).
    pub fn set_alpn(&self, name: &str, cert: &str, key: &str) -> Result<(), String> {
        let key = Arc::new(from_pem(cert, key)?);
        let mut config = server_config(Arc::new(Challenge(key)))?;
        config.alpn_protocols = vec![ACME_TLS_ALPN.to_vec()];
        self.alpn.write().unwrap_or_else(|e| e.into_inner()).insert(name.to_ascii_lowercase(), Arc::new(config));
        Ok(())
    }

    fn alpn(&self, name: &str) -> Option<Arc<ServerConfig>> {
        self.alpn.read().unwrap_or_else(|e| e.into_inner()).get(&name.to_ascii_lowercase()).cloned()
    }

    /// Forgets every answer (the order is over).
    pub fn clear(&self) {
        self.http.write().unwrap_or_else(|e| e.into_inner()).clear();
        self.alpn.write().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// Where ACME keeps the certificates it obtained: one file per
/// certificate, its key and chain together, replaced by one rename (a
/// crash never leaves a key beside another certificate).
pub fn acme_dir(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("acme").join("certs")
}

/// The ACME certificate files, in name order.
fn acme_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "pem")).collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Whether `pattern` (a certificate name, maybe `*.parent`) covers `name`.
fn covers(pattern: &str, name: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(parent) => name.split_once('.').is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(parent)),
        None => pattern.eq_ignore_ascii_case(name),
    }
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
        let certs = Certificates {
            sources,
            acme: config.acme.is_some().then(|| acme_dir(&config.data_dir)),
            hostname: config.hostname.to_ascii_lowercase(),
            files_default: config.tls.is_some(),
            loaded: RwLock::new(Loaded::default()),
            challenges: Arc::default(),
        };
        let loaded = certs.load()?;
        *certs.loaded.write().unwrap_or_else(|e| e.into_inner()) = loaded;
        Ok(Arc::new(certs))
    }

    fn stamps(&self) -> Vec<Option<SystemTime>> {
        let acme = self.acme.as_deref().map(acme_files).unwrap_or_default();
        self.sources
            .iter()
            .flat_map(|(_, f)| [&f.cert, &f.key])
            .chain(&acme)
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
        // ACME's certificates: for their names no file covers (exactly or
        // by a wildcard), and the hostname's as the default instead of a
        // self-signed one. One that does not load is left out, never a
        // reason not to start.
        let mut covered: Vec<String> = self.sources.iter().filter_map(|(n, _)| n.clone()).collect();
        if self.files_default {
            covered.extend(loaded.default.as_ref().and_then(|d| d.cert.first()).map(names_of).unwrap_or_default());
        }
        covered.extend(loaded.by_name.values().filter_map(|k| k.cert.first()).flat_map(names_of));
        for file in self.acme.as_deref().map(acme_files).unwrap_or_default() {
            let key = match certified_key(&TlsFiles { cert: file.clone(), key: file.clone() }) {
                Ok(k) => k,
                Err(e) => {
                    tracing::warn!(error = %e, "an ACME certificate that does not load is left out");
                    continue;
                }
            };
            let names = key.cert.first().map(names_of).unwrap_or_default();
            for name in &names {
                if !covered.iter().any(|c| covers(c, name)) {
                    loaded.by_name.entry(name.clone()).or_insert_with(|| key.clone());
                }
            }
            if !self.files_default && names.contains(&self.hostname) {
                loaded.default = Some(key);
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

fn from_pem(cert: &str, key: &str) -> Result<CertifiedKey, String> {
    let certs: Vec<CertificateDer<'static>> =
        rustls_pemfile::certs(&mut cert.as_bytes()).collect::<Result<_, _>>().map_err(|e| e.to_string())?;
    let key = rustls_pemfile::private_key(&mut key.as_bytes()).map_err(|e| e.to_string())?.ok_or("no key")?;
    let signer = rustls::crypto::ring::sign::any_supported_type(&key).map_err(|e| e.to_string())?;
    Ok(CertifiedKey::new(certs, signer))
}

/// A certificate and its key from PEM text, checked to fit each other.
pub fn certified_from_pem(cert: &str, key: &str) -> Result<Arc<CertifiedKey>, String> {
    let certified = from_pem(cert, key)?;
    certified.keys_match().map_err(|e| format!("the certificate does not fit its key: {e}"))?;
    Ok(Arc::new(certified))
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

/// The DNS names (lowercase) a certificate is for (its subjectAltName).
pub fn names_of(cert: &CertificateDer<'_>) -> Vec<String> {
    dns_names(cert.as_ref())
}

/// The DNS names (lowercase) in the subjectAltName of a DER certificate.
pub fn dns_names(der: &[u8]) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    let Ok((_, parsed)) = x509_parser::parse_x509_certificate(der) else { return Vec::new() };
    let Ok(Some(san)) = parsed.subject_alternative_name() else { return Vec::new() };
    san.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::DNSName(d) => Some(d.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

/// The ALPN protocol of a TLS-ALPN-01 validation (RFC 8737 §6.2).
const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// The acceptor every TLS listener uses: TLS 1.3 and 1.2 only, certificates
/// from `certs`. A handshake that offers only `acme-tls/1` for a name being
/// validated gets that name's challenge certificate instead (RFC 8737
/// §3); every other is an ordinary one.
#[derive(Clone)]
pub struct TlsAcceptor {
    config: Arc<ServerConfig>,
    challenges: Arc<AcmeChallenges>,
}

fn server_config(resolver: Arc<dyn ResolvesServerCert>) -> Result<ServerConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_no_client_auth()
        .with_cert_resolver(resolver))
}

/// Always the one challenge certificate.
#[derive(Debug)]
struct Challenge(Arc<CertifiedKey>);

impl ResolvesServerCert for Challenge {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

impl std::fmt::Debug for AcmeChallenges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AcmeChallenges")
    }
}

impl TlsAcceptor {
    pub async fn accept<IO>(&self, io: IO) -> std::io::Result<TlsStream<IO>>
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let start = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), io).await?;
        let hello = start.client_hello();
        let validation = hello.alpn().is_some_and(|mut protocols| protocols.all(|p| p == ACME_TLS_ALPN));
        let challenge = match (validation, hello.server_name()) {
            (true, Some(name)) => self.challenges.alpn(name),
            _ => None,
        };
        match challenge {
            // A validation: the handshake is all it asks; no session
            // follows (RFC 8737 §3), nor a connection slot held.
            Some(config) => {
                let mut tls = start.into_stream(config).await?;
                let _ = tokio::io::AsyncWriteExt::shutdown(&mut tls).await;
                Err(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "ACME TLS-ALPN-01 validation answered"))
            }
            None => start.into_stream(self.config.clone()).await,
        }
    }
}

pub fn acceptor(certs: Arc<Certificates>) -> Result<TlsAcceptor, String> {
    let challenges = certs.challenges.clone();
    Ok(TlsAcceptor { config: Arc::new(server_config(certs)?), challenges })
}

/// Generates `cert.pem` and `key.pem` for `hostname` in `dir` unless present.
pub fn ensure_self_signed(dir: &Path, hostname: &str) -> Result<(), String> {
    let cert_path = dir.join("cert.pem");
    if cert_path.exists() && dir.join("key.pem").exists() {
        return Ok(());
    }
    // (write_private makes the directory, 0700.)
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

/// Writes a file only its owner reads (0600), whole or not at all: a temp
/// file, fsync, rename, fsync of the directory (made 0700 when missing).
pub fn write_private(path: &Path, data: &[u8]) -> Result<(), String> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = path.parent() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
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
    fs::rename(&tmp, path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    // The rename itself on disk, before anyone is told it is done.
    if let Some(dir) = path.parent() {
        fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate for `names`: (certificate PEM, key PEM).
    fn pem(names: &[&str]) -> (String, String) {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        (cert.pem(), key.serialize_pem())
    }

    fn files(dir: &Path, stem: &str, names: &[&str]) -> TlsFiles {
        let (cert, key) = pem(names);
        let files = TlsFiles { cert: dir.join(format!("{stem}.pem")), key: dir.join(format!("{stem}-key.pem")) };
        fs::write(&files.cert, cert).expect("write");
        fs::write(&files.key, key).expect("write");
        files
    }

    /// An ACME certificate as the manager writes it: key and chain in one file.
    fn acme(data_dir: &Path, stem: &str, names: &[&str]) {
        let (cert, key) = pem(names);
        fs::create_dir_all(acme_dir(data_dir)).expect("dir");
        fs::write(acme_dir(data_dir).join(format!("{stem}.pem")), key + &cert).expect("write");
    }

    fn names_served(certs: &Certificates, name: &str) -> Vec<String> {
        let key = certs.for_name(Some(name)).expect("a certificate");
        names_of(&key.cert[0])
    }

    fn config(dir: &Path) -> Config {
        Config {
            hostname: "mail.export.test".into(),
            data_dir: dir.to_path_buf(),
            acme: Some(caravel_config::Acme::default()),
            ..Config::default()
        }
    }

    #[test]
    fn acme_certificates_replace_the_self_signed_one_once_they_exist() {
        let dir = tempfile::tempdir().expect("dir");
        let certs = Certificates::from_config(&config(dir.path())).expect("certs");
        assert!(names_served(&certs, "mail.export.test").contains(&"localhost".to_string()), "self-signed first");
        acme(dir.path(), "mail.export.test", &["mail.export.test"]);
        acme(dir.path(), "export.test", &["mta-sts.export.test", "autoconfig.export.test"]);
        assert!(certs.reload_if_changed().expect("reload"), "noticed like a renewed file");
        assert_eq!(names_served(&certs, "mail.export.test"), ["mail.export.test"]);
        assert_eq!(names_served(&certs, "autoconfig.export.test"), ["mta-sts.export.test", "autoconfig.export.test"]);
        assert_eq!(names_served(&certs, "anything.else"), ["mail.export.test"], "the hostname's is the default");
    }

    #[test]
    fn a_broken_acme_certificate_is_left_out_not_fatal() {
        let dir = tempfile::tempdir().expect("dir");
        fs::create_dir_all(acme_dir(dir.path())).expect("dir");
        let (cert, _) = pem(&["mail.export.test"]);
        let (_, other_key) = pem(&["x.test"]);
        fs::write(acme_dir(dir.path()).join("mail.export.test.pem"), other_key + &cert).expect("write");
        let certs = Certificates::from_config(&config(dir.path())).expect("starts anyway");
        assert!(names_served(&certs, "mail.export.test").contains(&"localhost".to_string()), "self-signed serves");
    }

    #[test]
    fn files_win_over_acme_for_the_names_they_cover_wildcards_and_sni_included() {
        let dir = tempfile::tempdir().expect("dir");
        let mut c = config(dir.path());
        c.tls = Some(files(dir.path(), "bought", &["*.export.test"]));
        c.tls_sni = vec![("*.buyer.test".into(), files(dir.path(), "buyer", &["*.buyer.test"]))];
        acme(dir.path(), "all", &["mail.export.test", "autoconfig.buyer.test", "mail.other.test"]);
        let certs = Certificates::from_config(&c).expect("certs");
        assert_eq!(names_served(&certs, "mail.export.test"), ["*.export.test"], "the default file's wildcard");
        assert_eq!(names_served(&certs, "autoconfig.buyer.test"), ["*.buyer.test"], "the SNI file's wildcard");
        assert_eq!(names_served(&certs, "mail.other.test")[2], "mail.other.test", "ACME's for the rest");
        assert_eq!(names_served(&certs, "unknown.test"), ["*.export.test"], "the default stays the file's");
        assert!(covers("*.export.test", "MAIL.export.test") && !covers("*.export.test", "a.b.export.test"));
    }
}
