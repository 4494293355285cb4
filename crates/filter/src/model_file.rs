//! The server's trained model on disk (`data_dir/spam/`), so that a
//! process that did not train it (`caravel spam classify`, a restarted
//! server) reads it in milliseconds instead of training it again for
//! seconds. A file is named after the fingerprint of the examples it was
//! trained from, and the model is a function of those examples alone (see
//! `logistic::train`): a file whose name matches cannot be stale, whatever
//! happened to the store. It is a cache: a missing, short or foreign file
//! is trained again, never trusted.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use caravel_store::filter_data::{example_hash, fnv_bytes, pack_features};

use crate::logistic::{settings_signature, Trained, BITS};

const MAGIC: &[u8; 8] = b"CRVLSPAM";
/// The file's layout and the meaning of features: raise it when either
/// changes, so that files written before are trained again rather than
/// read. (A change of the training settings is caught by their signature.)
/// 2: the checksum counts the length.
const FORMAT: u32 = 2;
/// Magic, format, bits, the training settings' signature, fingerprint,
/// spam, ham, and the body's checksum.
const HEADER: usize = 8 + 4 + 4 + 8 + 8 + 4 + 4 + 8;

/// Temporary files of this process, each its own (two trainings of one
/// process may save at once).
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A temporary file left this long (a process that died while writing)
/// is removed by the next save.
const STALE_TEMP: Duration = Duration::from_secs(3600);

/// A checksum of the body: a file cut short or zeroed by a crash is not
/// read as a model.
fn checksum(body: &[u8]) -> u64 {
    fnv_bytes(body)
}

/// The fingerprint the store gives these examples (spam?, features)
/// ([`caravel_store::filter_data::SpamExamples::fingerprint`]), whatever
/// their order.
pub fn fingerprint(examples: &[(bool, Vec<u32>)]) -> u64 {
    examples.iter().fold(0u64, |sum, (spam, features)| sum.wrapping_add(example_hash(*spam, &pack_features(features))))
}

fn path(dir: &Path, fingerprint: u64) -> PathBuf {
    dir.join(format!("server-{fingerprint:016x}.model"))
}

/// The model trained from the examples of `fingerprint`, if a file has it.
pub fn load(dir: &Path, fingerprint: u64) -> Option<Trained> {
    let bytes = std::fs::read(path(dir, fingerprint)).ok()?;
    let n = 1usize << BITS;
    if bytes.len() != HEADER + n * 4 + n * 2 || &bytes[..8] != MAGIC {
        return None;
    }
    let u32_at = |i: usize| bytes.get(i..i + 4).and_then(|b| b.try_into().ok()).map(u32::from_le_bytes);
    let u64_at = |i: usize| bytes.get(i..i + 8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes);
    if u32_at(8)? != FORMAT || u32_at(12)? != BITS || u64_at(16)? != settings_signature() || u64_at(24)? != fingerprint
    {
        return None;
    }
    let (spam, ham) = (u32_at(32)?, u32_at(36)?);
    let sum = u64_at(40)?;
    let body = &bytes[HEADER..];
    if checksum(body) != sum {
        return None;
    }
    let (w, seen) = body.split_at(n * 4);
    let weights = w.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    let seen_in = seen.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    Trained::from_parts(weights, seen_in, spam, ham)
}

/// Writes the server's model (trained from the examples of `fingerprint`)
/// and removes the files of older ones. Written to a temporary file,
/// flushed to disk and renamed: a reader sees a whole file or none.
pub fn save(dir: &Path, fingerprint: u64, model: &Trained) -> std::io::Result<()> {
    let Some((weights, seen_in)) = model.parts() else { return Ok(()) };
    // Readable by this user only: what the model learnt is drawn from
    // the users' mail.
    caravel_store::private::create_dir(dir)?;
    let mut body = Vec::with_capacity(weights.len() * 4 + seen_in.len() * 2);
    for w in weights {
        body.extend_from_slice(&w.to_le_bytes());
    }
    for s in seen_in {
        body.extend_from_slice(&s.to_le_bytes());
    }
    let mut header = Vec::with_capacity(HEADER);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&FORMAT.to_le_bytes());
    header.extend_from_slice(&BITS.to_le_bytes());
    header.extend_from_slice(&settings_signature().to_le_bytes());
    header.extend_from_slice(&fingerprint.to_le_bytes());
    header.extend_from_slice(&model.spam.to_le_bytes());
    header.extend_from_slice(&model.ham.to_le_bytes());
    header.extend_from_slice(&checksum(&body).to_le_bytes());
    let target = path(dir, fingerprint);
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".server-{fingerprint:016x}.{}.{n}.tmp", std::process::id()));
    let written = write_new(&tmp, &header, &body).and_then(|()| std::fs::rename(&tmp, &target));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    remove_older(dir, &target);
    Ok(())
}

fn write_new(path: &Path, header: &[u8], body: &[u8]) -> std::io::Result<()> {
    let mut file = caravel_store::private::create_file(path, true)?;
    file.write_all(header)?;
    file.write_all(body)?;
    file.sync_data()
}

/// Removes the model files older than `kept` (another process may have
/// written a newer one meanwhile: that one stays) and temporary files
/// left by processes that died while writing.
fn remove_older(dir: &Path, kept: &Path) {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let Some(ours) = modified(kept) else { return };
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(when) = modified(&path) else { continue };
        let old_model = name.starts_with("server-") && name.ends_with(".model") && path != kept && when <= ours;
        let stale_temp =
            name.starts_with(".server-") && name.ends_with(".tmp") && when.elapsed().is_ok_and(|age| age > STALE_TEMP);
        if old_model || stale_temp {
            let _ = std::fs::remove_file(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logistic::{classify, Trained};

    fn examples() -> Vec<(bool, Vec<u32>)> {
        (0..40u32).map(|i| (i % 2 == 0, vec![i % 2, 10 + i, 100 + i % 7])).collect()
    }

    #[test]
    fn a_saved_model_reads_back_the_same() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = examples();
        let fp = fingerprint(&e);
        let model = Trained::new(&e);
        save(dir.path(), fp, &model).expect("save");
        let read = load(dir.path(), fp).expect("load");
        assert_eq!((read.spam, read.ham), (model.spam, model.ham));
        for probe in [vec![0, 12], vec![1, 13, 103], vec![5_000]] {
            assert_eq!(classify(&[&read], &probe, 1), classify(&[&model], &probe, 1));
        }
        assert!(load(dir.path(), fp ^ 1).is_none(), "another set of examples");
        // A newer model replaces the file of the older one.
        let mut more = e.clone();
        more.push((true, vec![7, 8]));
        save(dir.path(), fingerprint(&more), &Trained::new(&more)).expect("save");
        assert!(load(dir.path(), fp).is_none());
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1);
        // A torn file is not read, nor one whose body changed.
        let file = path(dir.path(), fingerprint(&more));
        let bytes = std::fs::read(&file).expect("read");
        assert!(load(dir.path(), fingerprint(&more)).is_some());
        std::fs::write(&file, &bytes[..bytes.len() - 1]).expect("write");
        assert!(load(dir.path(), fingerprint(&more)).is_none());
        let mut zeroed = bytes.clone();
        zeroed[HEADER + 1000..HEADER + 5000].fill(0);
        zeroed[HEADER + 4] ^= 1;
        std::fs::write(&file, &zeroed).expect("write");
        assert!(load(dir.path(), fingerprint(&more)).is_none());
        std::fs::write(&file, &bytes).expect("write");
        assert!(load(dir.path(), fingerprint(&more)).is_some());
        // Only this user may read it.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    #[test]
    fn the_fingerprint_is_of_the_set() {
        let e = examples();
        let reversed: Vec<_> = e.iter().rev().cloned().collect();
        assert_eq!(fingerprint(&e), fingerprint(&reversed));
        let mut relabelled = e.clone();
        relabelled[3].0 = !relabelled[3].0;
        assert_ne!(fingerprint(&e), fingerprint(&relabelled));
        assert_ne!(fingerprint(&e), fingerprint(&e[1..]));
        // The label is not one more bit of the first feature.
        assert_ne!(fingerprint(&[(true, vec![4, 9])]), fingerprint(&[(false, vec![5, 9])]));
    }
}
