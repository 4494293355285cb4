//! Content-addressed blob files: `blobs/<2 hex>/<62 hex>`, named by the SHA-256
//! of their content, written once (temp file, fsync, rename) and never changed.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use crate::private;

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

/// The result of writing a blob: its address, and whether this call created it.
pub struct WrittenBlob {
    pub hash: String,
    pub created: bool,
}

impl BlobStore {
    /// Opens (creating if needed) the blob directory with its 256 prefix
    /// directories, made durable once so no blob can vanish with its directory.
    pub fn open(root: PathBuf) -> std::io::Result<BlobStore> {
        if !root.join("ff").is_dir() {
            private::create_dir(&root.join("tmp"))?;
            for i in 0..=255u8 {
                private::create_dir(&root.join(format!("{i:02x}")))?;
            }
            sync_dir(&root)?;
            if let Some(parent) = root.parent() {
                sync_dir(parent)?;
            }
        }
        Ok(BlobStore { root })
    }

    /// Whether `hash` is a blob address (64 lowercase hex digits); nothing
    /// else may become a path.
    pub fn is_hash(hash: &str) -> bool {
        hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }

    pub fn hash(data: &[u8]) -> String {
        hex::encode(Sha256::digest(data))
    }

    pub fn path(&self, hash: &str) -> PathBuf {
        let (dir, file) = hash.split_at(2.min(hash.len()));
        self.root.join(dir).join(file)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Writes `data` durably unless a file with its hash already exists.
    /// Callers run this concurrently: file systems merge concurrent fsyncs
    /// into shared journal commits, so the cost per message falls with load.
    pub fn write(&self, data: &[u8]) -> std::io::Result<WrittenBlob> {
        let hash = Self::hash(data);
        let path = self.path(&hash);
        if path.exists() {
            // Another writer may have renamed it in but not yet made the
            // directory entry durable: do it before anyone relies on it.
            sync_dir(path.parent().unwrap_or(&self.root))?;
            return Ok(WrittenBlob { hash, created: false });
        }
        self.write_at(&path, data)?;
        Ok(WrittenBlob { hash, created: true })
    }

    /// Writes `data` to `path` through a temporary file, fsynced, renamed, and
    /// the directory fsynced: on return the blob survives a power loss.
    pub(crate) fn write_at(&self, path: &Path, data: &[u8]) -> std::io::Result<()> {
        let dir = path.parent().unwrap_or(&self.root);
        private::create_dir(dir)?;
        let tmp = self.root.join("tmp").join(format!(
            "{}.{}",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let mut f = private::create_file(&tmp, true)?;
        f.write_all(data)?;
        f.sync_data()?;
        drop(f);
        fs::rename(&tmp, path)?;
        sync_dir(dir)
    }

    pub fn read(&self, hash: &str) -> std::io::Result<Vec<u8>> {
        if !Self::is_hash(hash) {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a blob address"));
        }
        fs::read(self.path(hash))
    }

    /// Removes a blob file; a missing file is not an error.
    pub fn remove(&self, hash: &str) -> std::io::Result<()> {
        if !Self::is_hash(hash) {
            return Ok(());
        }
        match fs::remove_file(self.path(hash)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Every blob hash on disk (for `store check`).
    pub fn list(&self) -> std::io::Result<Vec<String>> {
        let mut out = Vec::new();
        for dir in fs::read_dir(&self.root)? {
            let dir = dir?;
            let name = dir.file_name().to_string_lossy().to_string();
            if name.len() != 2 || !dir.file_type()?.is_dir() {
                continue;
            }
            for f in fs::read_dir(dir.path())? {
                out.push(format!("{name}{}", f?.file_name().to_string_lossy()));
            }
        }
        Ok(out)
    }

    /// Clears temporary files left by processes that have died (none can be
    /// referenced); those of live processes (a running server while an admin
    /// command opens the store) are left alone.
    pub fn clean_temp(&self) -> std::io::Result<()> {
        for f in fs::read_dir(self.root.join("tmp"))? {
            let f = f?;
            let name = f.file_name().to_string_lossy().to_string();
            let pid = name.split('.').next().unwrap_or("");
            let alive = !pid.is_empty() && Path::new("/proc").join(pid).exists();
            if !alive {
                let _ = fs::remove_file(f.path());
            }
        }
        Ok(())
    }
}

/// Makes the directory entries created in `dir` durable (a rename is only on
/// disk once its directory is fsynced).
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hashes_become_paths() {
        let dir = tempfile::tempdir().expect("tempdir");
        let b = BlobStore::open(dir.path().join("blobs")).expect("open");
        for bad in ["../../etc/passwd", "/etc/passwd", "ab", "é9", &"A".repeat(64)] {
            assert!(b.read(bad).is_err(), "{bad}");
        }
        let w = b.write(b"content").expect("write");
        assert!(w.created);
        assert_eq!(b.read(&w.hash).expect("read"), b"content");
        assert!(!b.write(b"content").expect("again").created);
        assert_eq!(b.list().expect("list"), vec![w.hash]);
    }

    #[test]
    fn temp_files_of_live_processes_survive_cleaning() {
        let dir = tempfile::tempdir().expect("tempdir");
        let b = BlobStore::open(dir.path().join("blobs")).expect("open");
        let mine = dir.path().join(format!("blobs/tmp/{}.7", std::process::id()));
        let dead = dir.path().join("blobs/tmp/999999999.1");
        std::fs::write(&mine, b"in progress").expect("write");
        std::fs::write(&dead, b"left by a crash").expect("write");
        b.clean_temp().expect("clean");
        assert!(mine.exists());
        assert!(!dead.exists());
    }
}
