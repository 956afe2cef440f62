//! The `stride` binary: parses the command line and hands it to the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = stride::cli::Cli::parse();
    stride::cli::init_logging(cli.verbose);
    report_panics_on_one_line();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(stride::cli::execute(cli)) {
        Ok(stride::cli::Exit::Success) => ExitCode::SUCCESS,
        Ok(stride::cli::Exit::Failure(why)) => {
            eprintln!("error: {why}");
            ExitCode::from(1)
        }
        Err(error) => {
            eprintln!("error: {}", stride::error::one_line(error.as_ref()));
            ExitCode::from(1)
        }
    }
}

/// A library task that panics (delta-rs aborts an upload a second time when the
/// store went away mid-write) is reported as one log line, not a dump; the command
/// still fails with its own `error:` line. `RUST_BACKTRACE` keeps the full report.
fn report_panics_on_one_line() {
    if std::env::var_os("RUST_BACKTRACE").is_some() {
        return;
    }
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(
            "internal panic at {location}: {}",
            message.replace('\n', " ")
        );
    }));
}
