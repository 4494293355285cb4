//! `caravel import`: bring mail from an old server (mbox files, Maildir
//! folders, single message files) into an account. Messages are stored with
//! up to 16 in flight, so the store's group commit batches their fsyncs.
//! Each stored message is printed (`UID <uid> <sha256>`) only once it is
//! durable: a crash loses nothing that was printed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use caravel_config::Config;
use caravel_store::mime::to_crlf;
use caravel_store::{Address, Delivery, Directory, Flags, MailStore, MailboxTarget, Store, Target};
use tokio::sync::Semaphore;

use crate::cli::ImportArgs;
use crate::commands::{open_existing_store, CmdResult};

/// Deliveries in flight at once.
const IN_FLIGHT: usize = 16;

/// One message read from a source, with the flags its source recorded.
pub struct Imported {
    pub raw: Vec<u8>,
    pub flags: Flags,
}

/// Splits an mbox (mboxrd/mboxo: "From " separator lines, ">From " quoting).
pub fn split_mbox(data: &[u8]) -> Vec<Vec<u8>> {
    let mut messages = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    let mut at_line_start = true;
    let mut i = 0;
    while i < data.len() {
        let end = data[i..].iter().position(|&b| b == b'\n').map(|p| i + p + 1).unwrap_or(data.len());
        let line = &data[i..end];
        if at_line_start && line.starts_with(b"From ") {
            if let Some(m) = current.take() {
                messages.push(m);
            }
            current = Some(Vec::new());
        } else if let Some(m) = current.as_mut() {
            // mboxrd: one level of ">" quoting is removed from ">+From " lines.
            let quoted = line.iter().take_while(|&&b| b == b'>').count();
            if quoted > 0 && line[quoted..].starts_with(b"From ") {
                m.extend_from_slice(&line[1..]);
            } else {
                m.extend_from_slice(line);
            }
        }
        at_line_start = line.ends_with(b"\n");
        i = end;
    }
    if let Some(m) = current {
        messages.push(m);
    }
    messages
}

/// Maildir flags from a file name's ":2," info (Seen, Replied, Flagged, Trashed, Draft).
fn maildir_flags(name: &str) -> Flags {
    let mut flags = Flags::default();
    if let Some((_, info)) = name.rsplit_once(":2,") {
        for c in info.chars() {
            flags = flags.union(match c {
                'S' => Flags::SEEN,
                'R' => Flags::ANSWERED,
                'F' => Flags::FLAGGED,
                'T' => Flags::DELETED,
                'D' => Flags::DRAFT,
                _ => Flags::default(),
            });
        }
    }
    flags
}

fn read_source(path: &Path, out: &mut Vec<Imported>) -> Result<(), String> {
    let err = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
    if path.is_dir() {
        let mut files: Vec<PathBuf> = Vec::new();
        for sub in ["cur", "new"] {
            let dir = path.join(sub);
            if dir.is_dir() {
                for f in std::fs::read_dir(&dir).map_err(err)? {
                    files.push(f.map_err(err)?.path());
                }
            }
        }
        if files.is_empty() {
            return Err(format!("{} is not a Maildir (no cur/ or new/ with messages)", path.display()));
        }
        files.sort();
        for f in files {
            let name = f.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            let raw = std::fs::read(&f).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
            out.push(Imported { raw: to_crlf(raw), flags: maildir_flags(&name) });
        }
        return Ok(());
    }
    let data = std::fs::read(path).map_err(err)?;
    if data.starts_with(b"From ") {
        out.extend(split_mbox(&data).into_iter().map(|m| Imported { raw: to_crlf(m), flags: Flags::default() }));
    } else {
        out.push(Imported { raw: to_crlf(data), flags: Flags::default() });
    }
    Ok(())
}

pub async fn run(config: &Config, args: ImportArgs) -> CmdResult {
    let store = open_existing_store(config)?;
    let address = Address::parse(&args.address)?;
    let user =
        store.get_user(&address).await.map_err(|e| e.to_string())?.ok_or_else(|| format!("no user {address}"))?;
    let mut messages = Vec::new();
    for p in &args.paths {
        read_source(p, &mut messages)?;
    }
    if let Some(big) = messages.iter().find(|m| m.raw.len() as u64 > config.limits.max_message_size) {
        return Err(format!(
            "a message of {} bytes is larger than [limits] max_message_size ({} bytes)",
            big.raw.len(),
            config.limits.max_message_size
        ));
    }
    let boxes = store.mailboxes(user.id).await.map_err(|e| e.to_string())?;
    if !boxes.iter().any(|b| b.name == args.mailbox) {
        store.create_mailbox(user.id, &args.mailbox).await.map_err(|e| e.to_string())?;
    }
    let store: Arc<dyn Store> = store;
    let gate = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut tasks = tokio::task::JoinSet::new();
    let total = messages.len();
    let now = caravel_store::now_secs();
    for m in messages {
        let permit = gate.clone().acquire_owned().await.map_err(|e| e.to_string())?;
        let store = store.clone();
        let flags = if args.seen { m.flags.union(Flags::SEEN) } else { m.flags };
        let delivery = Delivery {
            raw: Arc::new(m.raw),
            internal_date: now,
            targets: vec![Target { flags, ..Target::new(user.id, MailboxTarget::Name(args.mailbox.clone())) }],
            sender: String::new(),
            session: "import".into(),
            ..Default::default()
        };
        tasks.spawn(async move {
            let hash = caravel_store::blobs::BlobStore::hash(&delivery.raw);
            let out = store.deliver(delivery).await;
            drop(permit);
            let stored = out.map_err(|e| e.to_string())?.stored.remove(0).map_err(|e| e.to_string())?;
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "UID {} {hash}", stored.uid);
            let _ = stdout.flush();
            Ok::<(), String>(())
        });
    }
    let mut failed = None;
    while let Some(r) = tasks.join_next().await {
        if let Err(e) = r.map_err(|e| e.to_string()).and_then(|r| r) {
            failed.get_or_insert(e);
        }
    }
    match failed {
        Some(e) => Err(format!("import stopped: {e}")),
        None => {
            eprintln!("imported {total} message(s) into {} of {address}", args.mailbox);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbox_splits_and_unquotes() {
        let mbox = b"From a@b Mon Jan  1 00:00:00 2024\nSubject: one\n\n>From here\n>>From there\n\nFrom c@d Mon Jan  1 00:00:00 2024\nSubject: two\n\nbody\n";
        let m = split_mbox(mbox);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0], b"Subject: one\n\nFrom here\n>From there\n\n");
        assert_eq!(to_crlf(m[1].clone()), b"Subject: two\r\n\r\nbody\r\n");
    }

    #[test]
    fn crlf_is_not_doubled() {
        assert_eq!(to_crlf(b"a\r\nb\nc".to_vec()), b"a\r\nb\r\nc");
    }

    #[test]
    fn maildir_info_flags() {
        let f = maildir_flags("1700000000.M1P2.host:2,FRS");
        assert!(f.contains(Flags::SEEN) && f.contains(Flags::FLAGGED) && f.contains(Flags::ANSWERED));
        assert!(!f.contains(Flags::DRAFT));
        assert_eq!(maildir_flags("1700000000.M1P2.host"), Flags::default());
    }
}
