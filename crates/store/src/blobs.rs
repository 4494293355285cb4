//! Content-addressed blob files: `blobs/<2 hex>/<62 hex>`, named by the SHA-256
//! of their content, written once (temp file, fsync, rename) and never changed.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

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
    pub fn open(root: PathBuf) -> std::io::Result<BlobStore> {
        fs::create_dir_all(root.join("tmp"))?;
        Ok(BlobStore { root })
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
            return Ok(WrittenBlob { hash, created: false });
        }
        self.write_at(&path, data)?;
        Ok(WrittenBlob { hash, created: true })
    }

    /// Writes `data` to `path` through a temporary file, fsynced, renamed, and
    /// the directory fsynced: on return the blob survives a power loss.
    pub(crate) fn write_at(&self, path: &Path, data: &[u8]) -> std::io::Result<()> {
        let dir = path.parent().unwrap_or(&self.root);
        fs::create_dir_all(dir)?;
        let tmp = self.root.join("tmp").join(format!(
            "{}.{}",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_data()?;
        drop(f);
        fs::rename(&tmp, path)?;
        sync_dir(dir)
    }

    pub fn read(&self, hash: &str) -> std::io::Result<Vec<u8>> {
        fs::read(self.path(hash))
    }

    /// Removes a blob file; a missing file is not an error.
    pub fn remove(&self, hash: &str) -> std::io::Result<()> {
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

    /// Clears temporary files left by a crash (none can be referenced).
    pub fn clean_temp(&self) -> std::io::Result<()> {
        for f in fs::read_dir(self.root.join("tmp"))? {
            let _ = fs::remove_file(f?.path());
        }
        Ok(())
    }
}

/// Makes the directory entries created in `dir` durable (a rename is only on
/// disk once its directory is fsynced).
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}
