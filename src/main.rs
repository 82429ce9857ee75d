//! The `tfevents` command-line tool: a thin layer of argument parsing and printing over the
//! `tfevents` library.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if e.is_broken_pipe() {
                return ExitCode::SUCCESS;
            }
            eprintln!("tfevents: error: {e}");
            ExitCode::from(2)
        }
    }
}
