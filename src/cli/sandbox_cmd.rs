//! `pilotlight sandbox up|seed|status|down`.

use super::args::SandboxCommand;
use super::exit::{FAILED, OK};
use crate::sandbox::realism::process as realism;
use crate::sandbox::{SandboxError, seed, server};
use std::path::Path;

pub async fn sandbox(command: SandboxCommand, state_dir: &Path) -> u8 {
    match command {
        SandboxCommand::Up { pace, latency_ms, changed_percent } => {
            let dir = state_dir.to_path_buf();
            let speed = realism::ProxySettings { changed_percent, latency_ms, ..realism::ProxySettings::at(pace) };
            let result =
                tokio::task::spawn_blocking(move || server::up(&dir, speed, &mut |m| eprintln!("sandbox: {m}"))).await;
            match result {
                Ok(Ok((info, started))) => {
                    let verb = match started {
                        server::Started::Both => "started",
                        server::Started::Proxy => "running; its realism layer restarted",
                        server::Started::Neither => "already running",
                    };
                    let mut latency =
                        if latency_ms > 0 { format!(", {latency_ms} ms added to every call") } else { String::new() };
                    if changed_percent != realism::DEFAULT_CHANGED_PERCENT {
                        latency.push_str(&format!(", {changed_percent} % of the data changed between snapshots"));
                    }
                    println!(
                        "sandbox {verb}: {} at pace {pace}{latency} (moto pid {}, log {})",
                        info.endpoint_url(),
                        info.pid,
                        info.log.display()
                    );
                    OK
                }
                Ok(Err(e)) => fail(e),
                Err(e) => {
                    eprintln!("sandbox: {e}");
                    FAILED
                }
            }
        }
        SandboxCommand::Seed { endpoint_url, variant } => {
            let url = match endpoint_url {
                Some(u) => u,
                None => match crate::blocking::blocking(|| server::running(state_dir)) {
                    Some(info) => info.moto_url(),
                    None => return fail(SandboxError::NotRunning),
                },
            };
            if !url.contains("127.0.0.1") && !url.contains("localhost") {
                eprintln!("refusing to seed {url}: the seed is for a local moto server only");
                return FAILED;
            }
            match seed::seed_variant(&url, variant).await {
                Ok(report) => {
                    for c in &report.created {
                        println!("created  {c}");
                    }
                    for e in &report.existing {
                        println!("exists   {e}");
                    }
                    println!(
                        "sandbox seeded at {url}: {} created, {} already there",
                        report.created.len(),
                        report.existing.len()
                    );
                    OK
                }
                Err(e) => {
                    eprintln!("seed failed: {e}");
                    FAILED
                }
            }
        }
        SandboxCommand::Realism { upstream, port, pace, latency_ms, changed_percent, table_gib, aurora_gib } => {
            let settings = realism::ProxySettings { pace, latency_ms, changed_percent, table_gib, aurora_gib };
            let serve = move || realism::serve_until_stopped(upstream, port, settings);
            match tokio::task::spawn_blocking(serve).await {
                Ok(Ok(())) => OK,
                Ok(Err(e)) => {
                    eprintln!("realism proxy on 127.0.0.1:{port}: {e}");
                    FAILED
                }
                Err(_) => FAILED,
            }
        }
        SandboxCommand::Status => match crate::blocking::blocking(|| server::running(state_dir)) {
            Some(info) => {
                let pace = info.realism.as_ref().map_or("no realism layer", |r| r.pace.as_str());
                println!(
                    "running: {} at pace {pace} (moto pid {}, since {}, log {})",
                    info.endpoint_url(),
                    info.pid,
                    info.started_at,
                    info.log.display()
                );
                OK
            }
            None => {
                println!("not running");
                FAILED
            }
        },
        SandboxCommand::Down => match server::down(state_dir) {
            Ok(Some(info)) => {
                println!("sandbox stopped (pid {})", info.pid);
                OK
            }
            Ok(None) => {
                println!("sandbox was not running");
                OK
            }
            Err(e) => fail(e),
        },
    }
}

fn fail(e: SandboxError) -> u8 {
    eprintln!("sandbox: {e}");
    FAILED
}
