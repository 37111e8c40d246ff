//! The `pilotlight` binary: parses arguments, sets up logging to a file (never the screen) and
//! panic reports, and hands over to the command.

use clap::Parser;
use pilotlight::cli::{self, Cli};
use std::process::ExitCode;

fn main() -> ExitCode {
    let _ = pilotlight::console::STARTED.set(std::time::Instant::now());
    let _ = color_eyre::install();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { cli::exit::INVALID } else { cli::exit::OK });
        }
    };
    let state_dir = cli.state_dir.clone().unwrap_or_else(cli::default_state_dir);
    init_logging(&state_dir);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::from(cli::exit::FAILED);
        }
    };
    let code = runtime.block_on(cli::commands::dispatch(cli.command, &state_dir));
    // A gate prompt's read of standard input sits on a blocking thread that cannot be
    // cancelled; after Ctrl-C, do not wait for it (that would wait for Enter).
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    ExitCode::from(code)
}

/// Crates whose verbose logs carry request contents.
const SDK_TARGETS: &[&str] = &[
    "aws_config",
    "aws_runtime",
    "aws_sigv4",
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http",
    "aws_smithy_http_client",
    "aws_smithy_types",
    "aws_smithy_xml",
    "aws_smithy_json",
    "aws_smithy_query",
    "aws_sdk_cloudformation",
    "aws_sdk_dynamodb",
    "aws_sdk_ec2",
    "aws_sdk_rds",
    "aws_sdk_route53",
    "aws_sdk_sts",
    "aws_sdk_sso",
    "aws_sdk_ssooidc",
    "hyper",
    "hyper_util",
    "h2",
    "rustls",
    "tower",
];

/// Logs go to `<state dir>/logs/pilotlight.log` (level from `PILOTLIGHT_LOG`, default info),
/// never to the terminal, which the console will own.
fn init_logging(state_dir: &std::path::Path) {
    let dir = state_dir.join("logs");
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let Ok(file) = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("pilotlight.log")) else {
        return;
    };
    let wanted = std::env::var("PILOTLIGHT_LOG").unwrap_or_else(|_| "info".into());
    // The SDK's and HTTP stack's debug and trace output holds whole requests, secret parameter
    // values included: those crates never log below info, whatever PILOTLIGHT_LOG says.
    let capped = SDK_TARGETS.iter().map(|t| format!("{t}=info")).collect::<Vec<_>>().join(",");
    let filter = tracing_subscriber::EnvFilter::try_new(format!("{wanted},{capped}"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("info,{capped}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init();
}
