//! `caravel 2fa` and `caravel app-password`: the sign-in security commands.

use caravel_config::Config;

use crate::cli::{AppPasswordCmd, TlsCmd, TwoFactorCmd};
use crate::commands::{admin, print_json, CmdResult};

pub async fn two_factor(config: &Config, cmd: TwoFactorCmd) -> CmdResult {
    let admin = admin(config).await?;
    match cmd {
        TwoFactorCmd::Enroll { address, qr } => {
            let e = admin.totp_enroll(&address).await.map_err(|e| e.to_string())?;
            let drawing = caravel_auth::qr::terminal(&e.uri)?;
            if let Some(path) = qr {
                let png = caravel_auth::qr::png(&e.uri, 8)?;
                // It holds the TOTP secret: for the owner's eyes only.
                let write = |path: &std::path::Path| -> std::io::Result<()> {
                    use std::io::Write;
                    let _ = std::fs::remove_file(path);
                    caravel_store::private::create_file(path, true)?.write_all(&png)
                };
                write(&path).map_err(|err| format!("cannot write {}: {err}", path.display()))?;
            }
            println!("Scan this code with an authenticator app (or type the key {}):", e.secret);
            println!("{drawing}");
            println!("Then turn it on with: caravel 2fa confirm {address} CODE");
            println!("{}", e.uri);
        }
        TwoFactorCmd::Confirm { address, code } => {
            let codes =
                admin.totp_confirm(&address, &code, caravel_store::now_secs()).await.map_err(|e| e.to_string())?;
            println!("Two-factor sign-in is on for {address}.");
            println!("Mail programs now need app passwords: caravel app-password add {address} NAME");
            println!("Recovery codes (each works once; keep them somewhere safe):");
            for c in codes {
                println!("{c}");
            }
        }
        TwoFactorCmd::Disable { address } => {
            admin.totp_disable(&address).await.map_err(|e| e.to_string())?;
            println!("two-factor sign-in is off for {address}");
        }
    }
    Ok(())
}

pub async fn app_password(config: &Config, cmd: AppPasswordCmd) -> CmdResult {
    let admin = admin(config).await?;
    match cmd {
        AppPasswordCmd::Add { address, name } => {
            let password = admin.app_password_add(&address, &name).await.map_err(|e| e.to_string())?;
            println!("App password for {name} ({address}); it is shown only now:");
            println!("{password}");
        }
        AppPasswordCmd::List { address, json } => {
            let list = admin.app_password_list(&address).await.map_err(|e| e.to_string())?;
            if json.json {
                return print_json(&list);
            }
            for p in list {
                let last = p.last_used.map(date).unwrap_or_else(|| "never used".into());
                println!("{}\tcreated {}\tlast used {last}", p.name, date(p.created));
            }
        }
        AppPasswordCmd::Del { address, name } => {
            admin.app_password_del(&address, &name).await.map_err(|e| e.to_string())?;
            println!("app password {name} of {address} revoked");
        }
    }
    Ok(())
}

pub fn tls(config: &Config, cmd: TlsCmd) -> CmdResult {
    let TlsCmd::Check(json) = cmd;
    let roots = caravel_admin::tls_check::system_roots();
    let reports = caravel_admin::tls_check::check(config, &roots, caravel_store::now_secs())?;
    if json.json {
        print_json(&reports)?;
    } else {
        for r in &reports {
            let verdict = if r.problems.is_empty() { "OK" } else { "PROBLEM" };
            println!(
                "{verdict}\t{} ({}, {}): {}, valid until {} ({} days)",
                r.used_for,
                r.source,
                r.file,
                r.names.join(", "),
                date(r.not_after),
                r.days_left
            );
            if let Some(renewal) = &r.renewal {
                println!("  from ACME: {renewal}");
            }
            for p in &r.problems {
                println!("  - {p}");
            }
        }
    }
    let problems: usize = reports.iter().map(|r| r.problems.len()).sum();
    if problems > 0 {
        return Err(format!("{problems} certificate problem(s) found"));
    }
    Ok(())
}

/// `2026-11-28 16:25 UTC`.
pub(crate) fn date(unix: i64) -> String {
    let (y, m, d) = caravel_store::civil_from_days(unix.div_euclid(86400));
    let secs = unix.rem_euclid(86400);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", secs / 3600, secs % 3600 / 60)
}
