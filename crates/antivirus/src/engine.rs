//! The running server's scanner: the signatures `caravel av update`
//! installed (plus an optional extra directory, such as freshclam's), loaded
//! once, and loaded again when the files change, then swapped in whole. A
//! scan in progress keeps the database it started with.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use crate::install::active_dir;
use crate::load::{load_dirs, signature_files};
use crate::{Limits, Scanner};

/// What the loaded database is, for `caravel doctor` and the log.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DbInfo {
    /// Signatures in use (hashes and body patterns, the built-in ones too).
    pub signatures: usize,
    /// Lines of the files that this scanner cannot use.
    pub skipped: usize,
    pub files: Vec<String>,
    /// The highest ClamAV container version, if any.
    pub version: Option<u64>,
    /// When the newest file was made (seconds since the epoch; 0: only the
    /// built-in signatures).
    pub newest: u64,
}

/// (file, size, modification time) of every file in use, plus the active
/// installation: a change means a reload.
type Fingerprint = Vec<(PathBuf, u64, u128)>;

struct Loaded {
    scanner: Scanner,
    info: DbInfo,
    fingerprint: Fingerprint,
}

pub struct Engine {
    root: PathBuf,
    extra: Option<PathBuf>,
    limits: Limits,
    current: RwLock<Arc<Loaded>>,
}

impl Engine {
    /// `root` is where updates are installed (data_dir/antivirus); `extra`
    /// another directory of signature files.
    pub fn open(root: &Path, extra: Option<&Path>, limits: Limits) -> Result<Engine, String> {
        let e = Engine {
            root: root.to_path_buf(),
            extra: extra.map(Path::to_path_buf),
            limits,
            current: RwLock::new(Arc::new(Self::empty())),
        };
        let loaded = e.load()?;
        *e.current.write().map_err(|_| "poisoned")? = Arc::new(loaded);
        Ok(e)
    }

    fn empty() -> Loaded {
        Loaded {
            scanner: Scanner::new(Arc::new(crate::Builder::new().build()), Limits::default()),
            info: DbInfo::default(),
            fingerprint: Vec::new(),
        }
    }

    fn dirs(&self) -> Vec<PathBuf> {
        active_dir(&self.root).into_iter().chain(self.extra.clone()).collect()
    }

    /// A `current` file naming a set that is not there is an error (the
    /// old database stays in use), not "no signatures".
    fn check_current(&self) -> Result<(), String> {
        let pointer = self.root.join("current");
        if pointer.exists() && active_dir(&self.root).is_none() {
            return Err(format!(
                "{} names a signature set that is missing: run caravel av update again",
                pointer.display()
            ));
        }
        Ok(())
    }

    fn fingerprint(&self) -> Fingerprint {
        let mut out = Vec::new();
        for dir in self.dirs() {
            for name in signature_files(&dir).unwrap_or_default() {
                let path = dir.join(&name);
                if let Ok(m) = std::fs::metadata(&path) {
                    let t = m.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
                    out.push((path, m.len(), t.map_or(0, |d| d.as_nanos())));
                }
            }
        }
        out
    }

    fn load(&self) -> Result<Loaded, String> {
        self.check_current()?;
        let fingerprint = self.fingerprint();
        let dirs = self.dirs();
        let refs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
        let l = load_dirs(&refs)?;
        let c = l.db.counts().clone();
        let info = DbInfo {
            signatures: c.hashes + c.patterns,
            skipped: c.skipped + l.skipped_lines,
            files: l.files,
            version: l.version,
            newest: l.newest,
        };
        Ok(Loaded { scanner: Scanner::new(Arc::new(l.db), self.limits.clone()), info, fingerprint })
    }

    pub fn scanner(&self) -> Scanner {
        self.current.read().map(|c| c.scanner.clone()).unwrap_or_else(|p| p.into_inner().scanner.clone())
    }

    pub fn info(&self) -> DbInfo {
        self.current.read().map(|c| c.info.clone()).unwrap_or_default()
    }

    /// Loads the files again if they changed (blocking: call it off the
    /// async runtime). `Ok(true)`: a new database is in use. A broken file
    /// keeps the old database in use.
    pub fn reload_if_changed(&self) -> Result<bool, String> {
        let now = self.fingerprint();
        let same = self.current.read().map(|c| c.fingerprint == now).unwrap_or(false);
        if same {
            return Ok(false);
        }
        let loaded = self.load()?;
        *self.current.write().map_err(|_| "poisoned")? = Arc::new(loaded);
        Ok(true)
    }
}
