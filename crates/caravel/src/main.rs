use std::process::ExitCode;

/// jemalloc, for SQLite's allocations too, with a background thread that
/// returns freed memory to the system within about a second (settings in
/// .cargo/config.toml). glibc malloc kept an arena of freed pages per thread,
/// and mimalloc kept freed pages until the thread that freed them allocated
/// again: after a 30-second run of 10 IMAP clients (bench/imap_stress.py) the
/// server stayed at 124 MB with mimalloc, 27 MB (its idle size) with this.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use caravel::cli::{Cli, Command};
use caravel::{
    av_commands, commands, dns_commands, import, personal_commands, security_commands, server::Server, spam_commands,
};
use caravel_config::Config;
use clap::Parser;
use tokio::signal::unix::{signal, SignalKind};

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

async fn serve(config: Config) -> Result<(), String> {
    // Every connection is a file descriptor: raise the soft limit to the hard one.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) if (n as usize) < config.limits.max_connections + 64 => tracing::warn!(
            limit = n,
            max_connections = config.limits.max_connections,
            "the open-files limit is below [limits] max_connections; raise it (ulimit -n, LimitNOFILE=)"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not raise the open-files limit"),
    }
    // Handlers first: a SIGTERM that arrives while the listeners come up must
    // stop the server gracefully, not kill it.
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let mut hup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
    let server = Server::start(config.clone()).await?;
    tracing::info!(hostname = %config.hostname, data_dir = %config.data_dir.display(), "caravel is running");
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM received"); break }
            _ = int.recv() => { tracing::info!("SIGINT received"); break }
            // SIGHUP: reload the TLS certificates (a renewal hook's signal).
            _ = hup.recv() => { let _ = server.reload_tls(); }
        }
    }
    server.stop().await;
    tracing::info!("stopped");
    Ok(())
}

async fn run(cli: Cli) -> Result<(), String> {
    let config = Config::load(cli.config.as_deref()).map_err(|e| e.to_string())?;
    match cli.command {
        Command::Serve => serve(config).await,
        Command::Domain(c) => commands::domain(&config, c).await,
        Command::User(c) => commands::user(&config, c).await,
        Command::Alias(c) => commands::alias(&config, c).await,
        Command::Store(c) => commands::store(&config, c).await,
        Command::Import(a) => import::run(&config, a).await,
        Command::TwoFactor(c) => security_commands::two_factor(&config, c).await,
        Command::AppPassword(c) => security_commands::app_password(&config, c).await,
        Command::Tls(c) => security_commands::tls(&config, c),
        Command::Dkim(c) => dns_commands::dkim(&config, c).await,
        Command::Queue(c) => dns_commands::queue(&config, c).await,
        Command::Filter(c) => spam_commands::filter(&config, c).await,
        Command::Spam(c) => spam_commands::spam(&config, c).await,
        Command::Av(c) => av_commands::av(&config, c).await,
        Command::Doctor { address, json } => caravel::doctor::run(&config, address, json.json).await,
        Command::Sms(caravel::cli::SmsCmd::Test { number }) => caravel::sms::test(&config, &number).await,
        Command::Trace { message_id, from, to, last, json } => {
            let which = match (message_id, from, to) {
                (Some(id), _, _) => caravel::trace::Which::MessageId(id),
                (_, Some(a), _) => caravel::trace::Which::From(a),
                (_, _, Some(a)) => caravel::trace::Which::To(a),
                _ => unreachable!("clap requires one"),
            };
            caravel::trace::run(&config, which, last, json.json).await
        }
        Command::Log { text, kind, since, last, json } => {
            let kind = match kind {
                Some(k) => Some(caravel_store::EventKind::parse(&k).ok_or(format!(
                    "--kind {k}: use received, rejected, delivered, queued, bounced, deferred, quarantined, sign-in-failed, locked or banned"
                ))?),
                None => None,
            };
            let since = match since {
                Some(d) => Some(
                    caravel_personal::autoreply::utc_seconds(&d).ok_or(format!("--since {d}: use YYYY-MM-DD"))? * 1000,
                ),
                None => None,
            };
            let q = caravel::trace::LogSearch { text, kind, since, last };
            caravel::trace::log(&config, q, json.json).await
        }
        Command::Quarantine(c) => av_commands::quarantine(&config, c).await,
        Command::Signature(c) => personal_commands::signature(&config, c).await,
        Command::Autoreply(c) => personal_commands::autoreply(&config, c).await,
        Command::Holiday(c) => personal_commands::holiday(&config, c).await,
        Command::Rule(c) => personal_commands::rule(&config, c).await,
        Command::Dns { domain, check, json } => dns_commands::dns(&config, &domain, check, json.json).await,
    }
}

/// The runtime: a worker per core, and a bounded pool for the blocking work
/// (store reads, which the store limits to 8 at once, message parsing,
/// password hashing). Tokio's default of 512 blocking threads let a busy
/// minute leave dozens of threads and their memory behind; idle ones exit
/// after a few seconds.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .thread_keep_alive(std::time::Duration::from_secs(3))
        .build()
}

const MAX_BLOCKING_THREADS: usize = 16;

fn main() -> ExitCode {
    let cli = Cli::parse(); // usage errors exit 2
    let serving = matches!(cli.command, Command::Serve);
    if serving || std::env::var_os("RUST_LOG").is_some() {
        init_logging();
    }
    let runtime = match runtime() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("caravel: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => {
            if let Some(store) = commands::USED_STORE.get() {
                eprintln!("caravel: store in {store}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            // One line for admin commands; a config report may list several keys.
            eprintln!("caravel: {e}");
            ExitCode::FAILURE
        }
    }
}
