//! Progress of long commands (imports, spam training, signature updates):
//! on a terminal, a bar with the rate and the time left (indicatif); in a
//! log or a script, a plain line every few seconds. Progress goes to
//! standard error: standard output keeps what scripts read (`UID ...`).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a line is written when there is no terminal.
const LINE_EVERY: Duration = Duration::from_secs(5);

pub struct Progress {
    bar: Option<ProgressBar>,
    /// Inside the server: nothing shown (its log says what happened).
    quiet: bool,
    what: &'static str,
    messages: u64,
    bytes: u64,
    last_line: Instant,
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

impl Progress {
    /// Messages read from sources of `total` bytes (0: unknown, a spinner).
    pub fn messages(what: &'static str, total: u64) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = if total > 0 {
                let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
                bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix} [{bar:30}] {bytes}/{total_bytes} {msg} ({bytes_per_sec}, {eta} left)",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                bar
            } else {
                let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {prefix} {msg} ({elapsed})")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar
            };
            bar.set_prefix(what);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress { bar, quiet: false, what, messages: 0, bytes: 0, last_line: Instant::now() }
    }

    /// Progress nobody watches (the same work done by the running server).
    pub fn quiet(what: &'static str) -> Progress {
        Progress { bar: None, quiet: true, what, messages: 0, bytes: 0, last_line: Instant::now() }
    }

    /// A step without a size (a download, an installation).
    pub fn stage(&mut self, text: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(text.to_string()),
            None if !self.quiet => eprintln!("{}: {text}", self.what),
            None => {}
        }
    }

    /// One more message of `bytes` done.
    pub fn advance(&mut self, bytes: u64) {
        self.messages += 1;
        self.bytes += bytes;
        match &self.bar {
            Some(bar) => {
                bar.inc(bytes);
                bar.set_message(format!("{} message(s)", self.messages));
            }
            None if !self.quiet && self.last_line.elapsed() >= LINE_EVERY => {
                eprintln!("{}: {} message(s), {} so far", self.what, self.messages, mib(self.bytes));
                self.last_line = Instant::now();
            }
            None => {}
        }
    }

    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The bytes of what `paths` name (files, and the messages of Maildir
/// folders): the length of an import or a training run.
pub fn total_size(paths: &[PathBuf]) -> u64 {
    let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    paths
        .iter()
        .map(|p| match p.is_dir() {
            true => ["cur", "new"]
                .iter()
                .filter_map(|sub| std::fs::read_dir(p.join(sub)).ok())
                .flatten()
                .filter_map(Result::ok)
                .map(|e| size(&e.path()))
                .sum(),
            false => size(p),
        })
        .sum()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_size_of_files_and_maildirs() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("a.eml");
        std::fs::write(&file, b"12345").expect("write");
        let maildir = dir.path().join("box");
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(maildir.join(sub)).expect("mkdir");
            std::fs::write(maildir.join(sub).join("m"), b"123").expect("write");
        }
        // tmp/ holds messages still being written: not counted.
        assert_eq!(super::total_size(&[file, maildir, dir.path().join("missing")]), 11);
    }
}
