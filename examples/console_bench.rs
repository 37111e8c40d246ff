//! Benchmark (not a test): how long the console takes to draw one frame of a big run, 200 steps
//! and 500 resources, into an off-screen 200x60 terminal. Run with
//! `cargo run --example console_bench`; `scripts/console-bench` measures the real binary
//! (first frame, idle CPU, memory, AWS calls per poll round) around it.

use pilotlight::aws::resource_status::ResourceStatus;
use pilotlight::console::app::App;
use pilotlight::console::keymap::Keymap;
use pilotlight::console::render;
use pilotlight::console::theme::Theme;
use pilotlight::engine::poller::Resources;
use pilotlight::engine::run_view::RunView;
use pilotlight::journal::{CallOutcome, Entry, Event, StepStatus, SubPhase};
use pilotlight::runbook::Side;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::fmt::Write;
use std::time::{Duration, Instant, SystemTime};

fn runbook() -> String {
    let mut y = String::from(
        "version: 1\nname: big\ntitle: A big runbook\nenvironments:\n  primary: { region: us-east-1 }\n  recovery: { region: us-west-2 }\nresources:\n",
    );
    for i in 0..500 {
        let kind = ["ec2_instance", "rds_instance", "dynamodb_table", "aurora_cluster"][i % 4];
        writeln!(y, "  r{i}: {{ type: {kind}, primary: p{i}, recovery: q{i} }}").unwrap();
    }
    y.push_str("steps:\n");
    for i in 0..200 {
        writeln!(
            y,
            "  - id: s{i}\n    title: Step number {i} of the big runbook\n    instructions: |\n      Check **this** and `that`.\n      - one\n      - two\n    gate: confirm\n    action: check.resource\n    with: {{ resource: r{}, side: primary, one_of: [available, running] }}",
            i % 500
        )
        .unwrap();
    }
    y
}

fn main() {
    let text = runbook();
    let loaded = pilotlight::runbook::load_str(
        std::path::Path::new("big.yaml"),
        std::path::Path::new("."),
        &text,
        &pilotlight::actions::REGISTRY,
    )
    .expect("the generated runbook loads");
    let mut view = RunView::new("big-run", &loaded, &Default::default());
    let mut seq = 0;
    let mut entry = |event| {
        seq += 1;
        Entry { seq, ts: format!("2026-11-22T12:{:02}:{:02}.000Z", (seq / 60) % 60, seq % 60), event }
    };
    // Half the steps done, one running with sub-steps and 400 calls.
    for i in 0..100 {
        view.apply(&entry(Event::StepStatus { step: format!("s{i}"), status: StepStatus::Succeeded, reason: None }));
    }
    view.apply(&entry(Event::ActionStarted {
        step: "s100".into(),
        action: "check.resource".into(),
        attempt: 1,
        params: serde_json::Value::Null,
    }));
    for k in 0..8 {
        view.apply(&entry(Event::SubStep {
            step: "s100".into(),
            name: pilotlight::journal::SubId::step(format!("part-{k}")),
            attempt: 1,
            phase: SubPhase::Done,
            data: serde_json::Value::Null,
        }));
    }
    for k in 0..400 {
        view.apply(&entry(Event::AwsCall {
            step: "s100".into(),
            sub: None,
            service: "ec2".into(),
            operation: "DescribeInstances".into(),
            target: format!("p{k}"),
            region: "us-east-1".into(),
            mutating: false,
            outcome: CallOutcome::Ok,
            message: None,
        }));
    }
    let mut resources = Resources::new(&loaded.runbook, Duration::from_secs(5));
    for row in &mut resources.rows {
        for side in [Side::Primary, Side::Recovery] {
            if let Some(v) = row.side_mut(side) {
                let mut s = ResourceStatus::present(Some("available".into()), None);
                s.details.push(("class".into(), "db.t3.micro".into()));
                v.status = Some(s);
                v.refreshed = Some(SystemTime::now());
            }
        }
    }
    let (keys, _) = Keymap::load(None);
    let app = App::new(view, resources, keys, Theme { color: true });
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
    for _ in 0..20 {
        terminal.draw(|f| render::draw(f, &app)).unwrap();
    }
    let mut times = Vec::new();
    for _ in 0..500 {
        let t = Instant::now();
        terminal.draw(|f| render::draw(f, &app)).unwrap();
        times.push(t.elapsed());
    }
    times.sort();
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    println!(
        "one frame, 200 steps and 500 resources, 200x60 ({} build): mean {:.3} ms, median {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        if cfg!(debug_assertions) { "debug" } else { "release" },
        mean.as_secs_f64() * 1e3,
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[times.len() * 99 / 100].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3,
    );
}
