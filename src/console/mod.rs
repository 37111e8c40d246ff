//! The full-screen console: a second front end over the engine (the line mode in `cli` is the
//! other). It renders a [`RunView`](crate::engine::run_view::RunView) brought up to date by
//! journal entries it receives over a channel, shows live resource panels from the poller, and
//! sends the operator's decisions back through the engine's [`Operator`](crate::engine::Operator)
//! interface, which journals them exactly as in line mode.

pub mod app;
pub mod debrief_view;
#[cfg(test)]
mod fence_view_tests;
pub mod keymap;
mod keys;
pub mod live;
pub mod msg;
pub mod render;
#[cfg(test)]
mod team_keys_tests;
pub mod terminal;
#[cfg(test)]
mod tests;
pub mod theme;

use app::{App, Exit};
use crossterm::event::Event as TermEvent;
use futures_util::{Stream, StreamExt};
use msg::Msg;
use ratatui::Terminal;
use ratatui::backend::Backend;
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc::UnboundedReceiver;

/// How often the clocks (elapsed times, RTO, ages) move on screen.
const TICK: Duration = Duration::from_secs(1);

/// When the process started (set first thing in `main`), for the first-frame time in the log.
pub static STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// The console's loop, generic over the backend so tests draw into a `TestBackend`: handle
/// everything pending (messages, keys, the clock), then draw once if anything changed.
pub async fn event_loop<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    rx: &mut UnboundedReceiver<Msg>,
    mut input: impl Stream<Item = std::io::Result<TermEvent>> + Unpin,
) -> std::io::Result<Exit> {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut input_open = true;
    let mut frames = 0u64;
    loop {
        if app.dirty {
            terminal.draw(|f| render::draw(f, app)).map_err(|e| std::io::Error::other(e.to_string()))?;
            app.dirty = false;
            frames += 1;
            if frames == 1
                && let Some(start) = STARTED.get()
            {
                tracing::info!(ms = start.elapsed().as_secs_f64() * 1e3, "console: first frame drawn");
            }
        }
        if let Some(exit) = app.exit {
            return Ok(exit);
        }
        tokio::select! {
            Some(msg) = rx.recv() => app.on_msg(msg),
            ev = input.next(), if input_open => match ev {
                Some(Ok(TermEvent::Key(k))) => app.on_key(k),
                Some(Ok(TermEvent::Mouse(m))) => app.on_mouse(m),
                Some(Ok(TermEvent::Resize(..))) => app.dirty = true,
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => input_open = false,
            },
            _ = tick.tick() => {
                app.now = SystemTime::now();
                app.dirty = true;
            }
        }
        while let Ok(msg) = rx.try_recv() {
            app.on_msg(msg);
        }
    }
}
