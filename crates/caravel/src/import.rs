//! `caravel import`: bring mail from an old server (mbox files, Maildir
//! folders, single message files) into an account. Messages are stored with
//! up to 16 in flight, so the store's group commit batches their fsyncs.
//! Each stored message is printed (`UID <uid> <sha256>`) only once it is
//! durable: a crash loses nothing that was printed.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use caravel_config::Config;
use caravel_store::mime::to_crlf;
use caravel_store::{Address, Delivery, Flags, MailboxTarget, Store, Target};
use tokio::sync::Semaphore;

use crate::cli::ImportArgs;
use crate::commands::{open_existing_store, CmdResult};

/// Deliveries in flight at once.
const IN_FLIGHT: usize = 8;

/// One message read from a source, with the flags its source recorded.
pub struct Imported {
    pub raw: Vec<u8>,
    pub flags: Flags,
}

/// Splits an mbox (mboxrd/mboxo: "From " separator lines, ">From " quoting).
pub fn split_mbox(data: &[u8]) -> Vec<Vec<u8>> {
    let mut reader = MboxReader::new(data, u64::MAX);
    std::iter::from_fn(|| reader.next_message().ok().flatten()).collect()
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

/// Bytes of messages being stored at once, whatever their number: memory
/// stays bounded however large the mbox or Maildir.
const IN_FLIGHT_BYTES: usize = 32 << 20;

/// Reads an mbox one message at a time (mboxrd/mboxo: "From " separator
/// lines, one level of ">From " quoting removed).
struct MboxReader<R: std::io::BufRead> {
    input: R,
    /// Messages still to pass over unread (`--skip`): not kept, not limited.
    skip: usize,
    /// The message being read, once its "From " line was seen.
    current: Option<Vec<u8>>,
    at_line_start: bool,
    line: Vec<u8>,
    max: u64,
}

impl<R: std::io::BufRead> MboxReader<R> {
    fn new(input: R, max: u64) -> Self {
        MboxReader { input, skip: 0, current: None, at_line_start: true, line: Vec::new(), max }
    }

    /// The next message, or `None` at the end. A message over `max` bytes is
    /// an error as soon as it is seen, before it is all in memory.
    fn next_message(&mut self) -> Result<Option<Vec<u8>>, String> {
        loop {
            self.line.clear();
            // Never more of a line than could still fit the message: a huge
            // line is refused without being read whole.
            // Passed-over messages are read in pieces of at most 64 KiB.
            let room = if self.skip > 0 {
                64 << 10
            } else {
                self.max.saturating_sub(self.current.as_ref().map_or(0, |m| m.len() as u64))
            };
            let n = std::io::Read::take(&mut self.input, room.saturating_add(1).max(1024))
                .read_until(b'\n', &mut self.line)
                .map_err(|e| e.to_string())?;
            if n == 0 {
                if self.current.is_some() && self.skip > 0 {
                    self.skip -= 1;
                    self.current = None;
                }
                return Ok(self.current.take());
            }
            let line = &self.line[..];
            let starts = self.at_line_start && line.starts_with(b"From ");
            self.at_line_start = line.ends_with(b"\n");
            if starts {
                if let Some(done) = self.current.replace(Vec::new()) {
                    if self.skip > 0 {
                        self.skip -= 1;
                        continue;
                    }
                    return Ok(Some(done));
                }
                continue;
            }
            if self.skip > 0 {
                continue;
            }
            if let Some(m) = self.current.as_mut() {
                // mboxrd: one level of ">" quoting is removed from ">+From " lines.
                let quoted = line.iter().take_while(|&&b| b == b'>').count();
                if quoted > 0 && line[quoted..].starts_with(b"From ") {
                    m.extend_from_slice(&line[1..]);
                } else {
                    m.extend_from_slice(line);
                }
                if m.len() as u64 > self.max {
                    return Err(format!("a message is larger than [limits] max_message_size ({} bytes)", self.max));
                }
            }
        }
    }
}

/// The messages of the sources, one at a time: mbox files read as a stream,
/// Maildir folders a file at a time, other files whole (one message each).
pub(crate) struct Sources {
    /// Messages still to pass over (`--skip`).
    skip: usize,
    paths: std::vec::IntoIter<PathBuf>,
    /// Maildir files still to read, with their flags.
    files: std::vec::IntoIter<(PathBuf, Flags)>,
    mbox: Option<MboxReader<std::io::BufReader<std::fs::File>>>,
    max: u64,
}

impl Sources {
    pub(crate) fn new(paths: Vec<PathBuf>, max: u64, skip: usize) -> Sources {
        Sources { skip, paths: paths.into_iter(), files: Vec::new().into_iter(), mbox: None, max }
    }

    fn read_whole(&self, path: &Path) -> Result<Vec<u8>, String> {
        let err = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
        let size = std::fs::metadata(path).map_err(err)?.len();
        if size > self.max {
            return Err(format!(
                "{} ({size} bytes) is larger than [limits] max_message_size ({} bytes)",
                path.display(),
                self.max
            ));
        }
        std::fs::read(path).map_err(err)
    }

    pub(crate) fn next_message(&mut self) -> Result<Option<Imported>, String> {
        loop {
            if let Some(mbox) = self.mbox.as_mut() {
                mbox.skip = self.skip;
                let next = mbox.next_message();
                self.skip = mbox.skip;
                match next? {
                    Some(m) => return Ok(Some(Imported { raw: to_crlf(m), flags: Flags::default() })),
                    None => self.mbox = None,
                }
            }
            if let Some((file, flags)) = self.files.next() {
                if self.skip > 0 {
                    self.skip -= 1;
                    continue;
                }
                return Ok(Some(Imported { raw: to_crlf(self.read_whole(&file)?), flags }));
            }
            let Some(path) = self.paths.next() else { return Ok(None) };
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
                let flagged = files
                    .into_iter()
                    .map(|f| {
                        let name = f.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
                        (f, maildir_flags(&name))
                    })
                    .collect::<Vec<_>>();
                self.files = flagged.into_iter();
                continue;
            }
            let mut input = std::io::BufReader::new(std::fs::File::open(&path).map_err(err)?);
            let is_mbox = std::io::BufRead::fill_buf(&mut input).map_err(err)?.starts_with(b"From ");
            if is_mbox {
                self.mbox = Some(MboxReader::new(input, self.max));
                continue;
            }
            if self.skip > 0 {
                self.skip -= 1;
                continue;
            }
            return Ok(Some(Imported { raw: to_crlf(self.read_whole(&path)?), flags: Flags::default() }));
        }
    }
}

/// Which messages are durable: the import can be resumed after the first
/// `prefix` of them (the ones after may be stored too, or not).
#[derive(Default)]
struct Done {
    prefix: usize,
    later: std::collections::BTreeSet<usize>,
}

impl Done {
    fn finished(&mut self, index: usize) {
        self.later.insert(index);
        while self.later.remove(&self.prefix) {
            self.prefix += 1;
        }
    }
}

pub async fn run(config: &Config, args: ImportArgs) -> CmdResult {
    let store = open_existing_store(config).await?;
    let address = Address::parse(&args.address)?;
    let user =
        store.get_user(&address).await.map_err(|e| e.to_string())?.ok_or_else(|| format!("no user {address}"))?;
    let boxes = store.mailboxes(user.id).await.map_err(|e| e.to_string())?;
    if !boxes.iter().any(|b| b.name == args.mailbox) {
        store.create_mailbox(user.id, &args.mailbox).await.map_err(|e| e.to_string())?;
    }
    let store: Arc<dyn Store> = store;
    let gate = Arc::new(Semaphore::new(IN_FLIGHT));
    // Permits of 1 KiB: the bytes of the messages being stored.
    let budget = IN_FLIGHT_BYTES >> 10;
    let bytes = Arc::new(Semaphore::new(budget));
    // Messages before --skip count as done: the prefix is of the sources.
    let done = Arc::new(std::sync::Mutex::new(Done { prefix: args.skip, ..Default::default() }));
    let mut tasks = tokio::task::JoinSet::new();
    // --skip: the first messages are passed over unread.
    let mut sources = Sources::new(args.paths.clone(), config.limits.max_message_size, args.skip);
    let now = caravel_store::now_secs();
    let mut index = args.skip;
    let mut failed = None;
    let mut progress = crate::progress::Progress::messages("import", crate::progress::total_size(&args.paths));
    loop {
        // Reading the next message is blocking file I/O: off the runtime.
        let (back, next) = tokio::task::spawn_blocking(move || {
            let next = sources.next_message();
            (sources, next)
        })
        .await
        .map_err(|e| e.to_string())?;
        sources = back;
        let m = match next {
            // The limit holds for what is stored: after CRLF mending.
            Ok(Some(m)) if m.raw.len() as u64 > config.limits.max_message_size => {
                failed = Some(format!(
                    "a message is larger than [limits] max_message_size ({} bytes)",
                    config.limits.max_message_size
                ));
                break;
            }
            Ok(Some(m)) => m,
            Ok(None) => break,
            Err(e) => {
                failed = Some(e);
                break;
            }
        };
        progress.advance(m.raw.len() as u64);
        let kib = (m.raw.len() >> 10).clamp(1, budget) as u32;
        let room = bytes.clone().acquire_many_owned(kib).await.map_err(|e| e.to_string())?;
        let permit = gate.clone().acquire_owned().await.map_err(|e| e.to_string())?;
        let store = store.clone();
        let task_done = done.clone();
        let flags = if args.seen { m.flags.union(Flags::SEEN) } else { m.flags };
        let delivery = Delivery {
            sign_as: None,
            raw: Arc::new(m.raw),
            internal_date: now,
            targets: vec![Target { flags, ..Target::new(user.id, MailboxTarget::Name(args.mailbox.clone())) }],
            sender: String::new(),
            session: "import".into(),
            ..Default::default()
        };
        let this = index;
        tasks.spawn(async move {
            let hash = caravel_store::blobs::BlobStore::hash(&delivery.raw);
            let out = store.deliver(delivery).await;
            drop((permit, room));
            let stored = out.map_err(|e| e.to_string())?.stored.remove(0).map_err(|e| e.to_string())?;
            task_done.lock().unwrap_or_else(|e| e.into_inner()).finished(this);
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "UID {} {hash}", stored.uid);
            let _ = stdout.flush();
            Ok::<(), String>(())
        });
        index += 1;
        while let Some(r) = tasks.try_join_next() {
            if let Err(e) = r.map_err(|e| e.to_string()).and_then(|r| r) {
                failed.get_or_insert(e);
            }
        }
        if failed.is_some() {
            break;
        }
    }
    progress.finish();
    while let Some(r) = tasks.join_next().await {
        if let Err(e) = r.map_err(|e| e.to_string()).and_then(|r| r) {
            failed.get_or_insert(e);
        }
    }
    let (durable, later) = {
        let done = done.lock().unwrap_or_else(|e| e.into_inner());
        (done.prefix, done.later.len())
    };
    // Messages after the first failure that were stored as well would be
    // stored again by --skip: say so.
    let also = if later > 0 {
        format!(" ({later} later message(s) were stored too, and --skip would store them again)")
    } else {
        String::new()
    };
    match failed {
        Some(e) => Err(format!(
            "import stopped: {e}. The first {durable} message(s) of the sources are stored{also}; \
             to go on after fixing the cause, run the same command with --skip {durable}"
        )),
        None => {
            eprintln!("imported {} message(s) into {} of {address}", index - args.skip, args.mailbox);
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
    fn an_oversized_message_stops_the_reader_before_it_is_all_read() {
        let mbox = format!("From a@b x\nSubject: small\n\nok\nFrom c@d x\nSubject: big\n\n{}", "y".repeat(5000));
        let mut r = MboxReader::new(mbox.as_bytes(), 1000);
        assert_eq!(r.next_message().expect("first").expect("a message"), b"Subject: small\n\nok\n");
        assert!(r.next_message().is_err(), "the second is over the limit");
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
