//! `caravel av scan|update` and `caravel quarantine list|show|release|del`.

use std::path::{Path, PathBuf};

use caravel_antivirus::install::{check_sum, install, parse_sums, read_dir_files};
use caravel_antivirus::{Engine, Finding};
use caravel_config::Config;
use caravel_store::Store;

use crate::antivirus::{av_limits, av_root, release};
use crate::cli::{AvCmd, QuarantineCmd};
use crate::commands::{open_existing_store, print_json, CmdResult};
use crate::progress::Progress;

pub async fn av(config: &Config, cmd: AvCmd) -> CmdResult {
    match cmd {
        AvCmd::Scan { files } => scan(config, files).await,
        AvCmd::Update { from } => {
            let from = from.or_else(|| config.antivirus.update_from.clone()).ok_or(
                "say where the signatures come from: --from DIR or --from URL (of a SHA256SUMS file), or set [antivirus] update_from",
            )?;
            println!("{}", update(config, &from, Progress::messages("signature update", 0)).await?);
            Ok(())
        }
    }
}

/// Prints one line per file: `FILE: OK`, `FILE: NAME FOUND` (a virus, as
/// clamscan says it) or `FILE: SUSPICIOUS NAME (why)`.
async fn scan(config: &Config, files: Vec<PathBuf>) -> CmdResult {
    let engine = Engine::open(&av_root(config), config.antivirus.signatures.as_deref(), av_limits(config))?;
    let scanner = engine.scanner();
    let mut flagged = 0;
    for f in files {
        let data = std::fs::read(&f).map_err(|e| format!("{}: {e}", f.display()))?;
        let name = f.file_name().map_or(f.display().to_string(), |n| n.to_string_lossy().into_owned());
        let s = scanner.clone();
        let report = tokio::task::spawn_blocking(move || s.scan_file(&name, data)).await.map_err(|e| e.to_string())?;
        let shown = f.display();
        if report.is_clean() {
            println!("{shown}: OK");
            continue;
        }
        flagged += 1;
        match report.virus() {
            Some(Finding::Virus { name, file }) => println!("{shown}: {name} FOUND (in {file})"),
            _ => {
                for f in &report.findings {
                    println!("{shown}: SUSPICIOUS {} ({})", f.name(), f.describe());
                }
            }
        }
    }
    match flagged {
        0 => Ok(()),
        n => Err(format!("{n} file(s) infected or suspicious")),
    }
}

/// Fetches signature files from a directory or a URL, checks them and
/// installs them; the running server picks them up within seconds.
pub async fn update(config: &Config, from: &str, mut progress: Progress) -> Result<String, String> {
    let files = if from.starts_with("http://") || from.starts_with("https://") {
        progress.stage(&format!("downloading from {from}"));
        fetch(from).await?
    } else {
        progress.stage(&format!("reading {from}"));
        read_dir_files(Path::new(from))?
    };
    progress.stage(&format!("checking and installing {} file(s)", files.len()));
    let root = av_root(config);
    let done = tokio::task::spawn_blocking(move || install(&root, &files)).await.map_err(|e| e.to_string())??;
    progress.finish();
    let unsigned = if done.files.iter().any(|f| f.ends_with(".cvd") || f.ends_with(".cld")) {
        " (the digital signatures of .cvd/.cld files are not verified: fetch them from a source you trust)"
    } else {
        ""
    };
    Ok(format!(
        "installed {} signature(s) from {} ({}); {} skipped (types this scanner does not read){unsigned}",
        done.signatures,
        from,
        done.files.join(", "),
        done.skipped
    ))
}

/// Largest signature file fetched.
const MAX_FILE: usize = 512 << 20;

/// Bytes downloaded in one update, all files together.
const MAX_DOWNLOAD: usize = 2 << 30;

// Plain HTTP only from this machine: the sums come from the same server as
// the files, so on the network a plain download could be swapped whole
// (an empty set would turn the scanner's signatures off).
use crate::web_client::plain_http_allowed;

/// Downloads a SHA256SUMS list and every signature file it names (from the
/// same directory), each checked against its sum.
async fn fetch(url: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    if url.starts_with("http://") && !plain_http_allowed(url) {
        return Err(format!("{url}: use https:// (plain HTTP is accepted from this machine only)"));
    }
    let list = http_get(url, 1 << 20).await?;
    let sums = parse_sums(&String::from_utf8_lossy(&list))?;
    if sums.is_empty() {
        return Err(format!("{url} lists no signature files"));
    }
    let base = &url[..url.rfind('/').map_or(url.len(), |i| i + 1)];
    let mut out = Vec::new();
    let mut total = 0usize;
    for (sum, name) in sums {
        let data = http_get(&format!("{base}{name}"), MAX_FILE.min(MAX_DOWNLOAD - total)).await?;
        total += data.len();
        check_sum(&name, &data, &sum)?;
        out.push((name, data));
    }
    Ok(out)
}

/// A download for `av update`: 200 only, at most `max` bytes.
async fn http_get(url: &str, max: usize) -> Result<Vec<u8>, String> {
    crate::web_client::get(url, max, std::time::Duration::from_secs(120)).await
}

pub async fn quarantine(config: &Config, cmd: QuarantineCmd) -> CmdResult {
    let store = open_existing_store(config).await?;
    match cmd {
        QuarantineCmd::List(json) => {
            let held = store.held().await.map_err(|e| e.to_string())?;
            if json.json {
                return print_json(&held);
            }
            if held.is_empty() {
                println!("the quarantine is empty");
            }
            for h in held {
                println!("{}", summary(&h));
            }
            Ok(())
        }
        QuarantineCmd::Show { id } => {
            let (h, raw) =
                store.held_message(id).await.map_err(|e| e.to_string())?.ok_or(format!("no held message {id}"))?;
            println!("{}", summary(&h));
            // Each recipient's verdict, when the filter judged them apart:
            // the message's text is without their X-Spam fields.
            if h.verdicts.len() > 1 {
                for (r, v) in &h.verdicts {
                    println!("why for {r}: {}", v.reason);
                }
                println!();
            }
            for (r, v) in h.verdicts.iter().filter(|(_, v)| !v.fields.is_empty()) {
                println!("fields for {r}:\n{}", v.fields.trim_end());
            }
            // The message itself, as text (a terminal gets no raw control bytes).
            let text: String = String::from_utf8_lossy(&raw)
                .chars()
                .map(|c| if c.is_control() && c != '\n' && c != '\r' && c != '\t' { '?' } else { c })
                .collect();
            print!("{text}");
            Ok(())
        }
        QuarantineCmd::Release { id, force } => {
            if !force {
                if let Some((h, _)) = store.held_message(id).await.map_err(|e| e.to_string())? {
                    if h.kind == caravel_store::HeldKind::Virus {
                        return Err(format!(
                            "held message {id} was refused for a virus ({}); add --force to deliver it anyway",
                            h.reason
                        ));
                    }
                }
            }
            let to = release(store.clone() as std::sync::Arc<dyn Store>, config, id, None).await?;
            println!("released held message {id} to {}", to.join(", "));
            Ok(())
        }
        QuarantineCmd::Del { id } => {
            if store.unhold(id).await.map_err(|e| e.to_string())? {
                println!("deleted held message {id}");
                Ok(())
            } else {
                Err(format!("no held message {id}"))
            }
        }
    }
}

/// A held message's particulars, one per line.
fn summary(h: &caravel_store::Held) -> String {
    format!(
        "id: {}\nheld: {}\nkind: {}\nwhy: {}\nfrom: {}\nto: {}\nsubject: {}\nsize: {}\n",
        h.id,
        caravel_store::rfc5322_date(h.created),
        h.kind.word(),
        h.reason_for(&h.recipients),
        h.sender,
        h.recipients
            .iter()
            .map(|r| match h.via.get(r) {
                Some(aliases) => format!("{r} (forwarded by {})", aliases.join(", ")),
                None => r.clone(),
            })
            .collect::<Vec<_>>()
            .join(", "),
        h.subject,
        h.size
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn plain_http_only_from_this_machine() {
        assert!(super::plain_http_allowed("http://127.0.0.1:8080/SHA256SUMS"));
        assert!(super::plain_http_allowed("http://localhost/x/SHA256SUMS"));
        assert!(super::plain_http_allowed("http://[::1]:80/SHA256SUMS"));
        assert!(!super::plain_http_allowed("http://mirror.example.com/SHA256SUMS"));
        assert!(!super::plain_http_allowed("http://10.0.0.1/SHA256SUMS"));
    }
}
