//! The `richmond` binary: parses the command line and maps outcomes to exit codes.

use std::process::ExitCode;

use clap::Parser;
use richmond::cli::{Cli, Command, exit};
use richmond::config::Config;

fn main() -> ExitCode {
    let cli = Cli::parse();
    richmond::telemetry::init_logging(cli.log_format, &cli.log_level);
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
        Command::Run => run(config),
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

fn run(config: Config) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("richmond: cannot start the runtime: {e}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    match runtime.block_on(richmond::app::run(config)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            tracing::error!(message = "Gateway failed.", error = %format!("{e:#}"));
            eprintln!("richmond: {e:#}");
            ExitCode::from(exit::FAILURE)
        }
    }
}
