//! The `richmond` binary: parses the command line and maps outcomes to exit codes.

use std::process::ExitCode;

use clap::Parser;
use richmond::cli::{Cli, Command, exit};
use richmond::config::Config;

/// Turns transparent huge pages off for this process. mimalloc asks for them on its arenas
/// (`madvise(MADV_HUGEPAGE)`), and then touching one byte makes a whole 2 MiB page resident:
/// measured on the single-binary default at full HTTP rate, 47 MiB of the 142 MiB resident were
/// huge pages, and RSS was 20–30 % lower without them (BENCHMARKS.md, "Soak"). The gateway's
/// allocations are small and short-lived; huge pages buy it nothing.
fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    if let Err(e) = nix::sys::prctl::set_thp_disable(true) {
        eprintln!("richmond: cannot turn transparent huge pages off ({e}); continuing");
    }
}

/// mimalloc instead of glibc malloc: measured in BENCHMARKS.md (HTTP rows: less CPU per
/// message, lower peak RSS; glibc's per-thread arenas kept freed memory).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    no_transparent_huge_pages();
    let cli = Cli::parse();
    richmond::telemetry::init_logging(cli.log_format, &cli.log_level);
    if let Command::Simulate { kind } = cli.command() {
        // A simulator needs no config file.
        return match richmond::simulate::run(kind) {
            Ok(()) => ExitCode::from(exit::OK),
            Err(e) => {
                eprintln!("richmond: simulator: {e:#}");
                ExitCode::from(exit::FAILURE)
            }
        };
    }
    if let Command::HashPassword = cli.command() {
        return hash_password();
    }
    if let Command::CreateToken = cli.command() {
        return create_token();
    }
    let config = match Config::load(&cli.config, std::env::vars()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("richmond: invalid configuration: {e}");
            return ExitCode::from(exit::CONFIG);
        }
    };
    match cli.command() {
        Command::CheckConfig { print } => check_config(&config, *print),
        Command::SpoolStatus => match richmond::bus::embedded::spool_status(&config.data_dir) {
            Ok(text) => {
                print!("{text}");
                ExitCode::from(exit::OK)
            }
            Err(e) => {
                eprintln!("richmond: {e:#}");
                ExitCode::from(exit::FAILURE)
            }
        },
        Command::Run => run(config, cli.config.clone()),
        Command::HashPassword | Command::CreateToken => ExitCode::from(exit::FAILURE),
        Command::Simulate { .. } => ExitCode::from(exit::FAILURE),
    }
}

/// `richmond hash-password`: the first line of stdin (without its line end) → a PHC string.
fn hash_password() -> ExitCode {
    let mut line = String::new();
    if let Err(e) = std::io::stdin().read_line(&mut line) {
        eprintln!("richmond: cannot read the password from stdin: {e}");
        return ExitCode::from(exit::FAILURE);
    }
    let password = line.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        eprintln!("richmond: empty password on stdin");
        return ExitCode::from(exit::USAGE);
    }
    match richmond::api::auth::hash_password(password) {
        Ok(phc) => {
            println!("{phc}");
            ExitCode::from(exit::OK)
        }
        Err(e) => {
            eprintln!("richmond: cannot hash: {e}");
            ExitCode::from(exit::FAILURE)
        }
    }
}

/// `richmond create-token`: a new token on the first line, its digest on the second.
fn create_token() -> ExitCode {
    use richmond::api::credentials::{new_token, token_digest};
    match new_token() {
        Ok(token) => {
            println!("token: {token}");
            println!("digest: {}", token_digest(&token));
            ExitCode::from(exit::OK)
        }
        Err(e) => {
            eprintln!("richmond: cannot make a token: {e}");
            ExitCode::from(exit::FAILURE)
        }
    }
}

fn check_config(config: &Config, print: bool) -> ExitCode {
    if let Err(e) = richmond::app::check_environment(config) {
        eprintln!("richmond: invalid configuration: {e:#}");
        return ExitCode::from(exit::CONFIG);
    }
    if print {
        print!("{}", config.to_redacted_toml());
    } else {
        println!("configuration ok");
    }
    ExitCode::from(exit::OK)
}

fn run(config: Config, path: std::path::PathBuf) -> ExitCode {
    // Blocking work (store reads and writes, file reads) queues beyond 16 threads rather than
    // growing the pool toward tokio's default of 512 under a burst: redb has one writer, and
    // every extra thread keeps its own allocator pages (64 threads held ~10 MiB more at the
    // quick start's full HTTP rate, with no more throughput; BENCHMARKS.md, "Soak").
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(16)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("richmond: cannot start the runtime: {e}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    match runtime.block_on(richmond::app::run(config, path)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            tracing::error!(message = "Gateway failed.", error = %format!("{e:#}"));
            eprintln!("richmond: {e:#}");
            ExitCode::from(exit::FAILURE)
        }
    }
}
