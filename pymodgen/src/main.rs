//! `pymodgen`: see `pymodgen --help` and the book (`docs/`, "Command line").

use std::process::ExitCode;

use clap::Parser;
use pymodgen::cli::{self, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let verbose = cli::verbose(&cli);
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS; // `pymodgen inspect numpy | head`
            }
            eprintln!("pymodgen: {}", cli::report(&err));
            if verbose {
                for cause in err.chain().skip(1) {
                    eprintln!("  caused by: {cause}");
                }
                if let Some(pymodgen::Error::Import { traceback, .. }) = err.downcast_ref() {
                    eprintln!("{}", traceback.trim_end());
                }
            }
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().filter_map(|c| c.downcast_ref::<std::io::Error>()).any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}
