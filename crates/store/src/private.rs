//! Mail, password hashes and keys are for the server's user alone: the data
//! directory and everything made in it are created 0700 (directories) and
//! 0600 (files) whatever the process umask, and a data directory that other
//! users can change is refused.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

pub const DIR_MODE: u32 = 0o700;
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` and any missing parents as 0700; an existing directory is
/// left as it is (see [`audit`]).
pub fn create_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)
}

/// Opens `path` for writing, created 0600 if missing.
pub fn create_file(path: &Path, truncate: bool) -> io::Result<fs::File> {
    fs::OpenOptions::new().write(true).create(true).truncate(truncate).mode(FILE_MODE).open(path)
}

/// What [`audit`] found: refusals (other users can change the data) and
/// warnings (other users can read it).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Audit {
    pub refuse: Vec<String>,
    pub warn: Vec<String>,
}

/// Checks the data directory and its entries one level down (the database,
/// its WAL and SHM, the blob and TLS directories): writable by group or
/// others is refused, readable by them is warned about, with the fix.
pub fn audit(data_dir: &Path) -> io::Result<Audit> {
    let mut out = Audit::default();
    let mut paths = vec![data_dir.to_path_buf()];
    if let Ok(entries) = fs::read_dir(data_dir) {
        paths.extend(entries.filter_map(|e| e.ok()).map(|e| e.path()));
    }
    for path in paths {
        // The target's mode: a link's own is always 777.
        let meta = match fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let mode = meta.permissions().mode() & 0o777;
        let want = if meta.is_dir() { DIR_MODE } else { FILE_MODE };
        let fix = format!("chmod {want:o} {}", path.display());
        if mode & 0o022 != 0 {
            out.refuse.push(format!("{} (mode {mode:o}) can be changed by other users: {fix}", path.display()));
        } else if mode & 0o044 != 0 {
            out.warn.push(format!("{} (mode {mode:o}) can be read by other users: {fix}", path.display()));
        }
        if meta.uid() != current_owner(data_dir) {
            out.warn.push(format!("{} belongs to another user (uid {})", path.display(), meta.uid()));
        }
    }
    Ok(out)
}

/// The owner the data directory's entries should share: the directory's own.
fn current_owner(data_dir: &Path) -> u32 {
    fs::metadata(data_dir).map(|m| m.uid()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).expect("metadata").permissions().mode() & 0o777
    }

    #[test]
    fn created_private_and_audited() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("a/b");
        create_dir(&dir).expect("create");
        assert_eq!(mode(&dir), 0o700);
        let file = dir.join("f");
        create_file(&file, true).expect("file");
        assert_eq!(mode(&file), 0o600);
        assert_eq!(audit(&dir).expect("audit"), Audit::default());

        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).expect("chmod");
        let a = audit(&dir).expect("audit");
        assert!(a.refuse.is_empty() && a.warn.len() == 1 && a.warn[0].contains("chmod 600"), "{a:?}");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).expect("chmod");
        let a = audit(&dir).expect("audit");
        assert!(a.refuse.len() == 1 && a.refuse[0].contains("chmod 700"), "{a:?}");
    }
}
