//! The terminal: raw mode, the alternate screen and mouse reports while the console runs, and
//! always restored: by the guard's `Drop`, by a chained panic hook, and on signals (the caller
//! closes the console, which drops the guard). Restoring twice is harmless.

use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::execute;
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use std::io::{IsTerminal, Stdout, stdout};
use std::sync::atomic::{AtomicBool, Ordering};

static ACTIVE: AtomicBool = AtomicBool::new(false);

/// The thread that draws (the one that entered the console). A panic elsewhere (a background
/// task, which tokio catches) must not restore the terminal under a console still drawing.
static OWNER: std::sync::OnceLock<std::sync::Mutex<Option<std::thread::ThreadId>>> = std::sync::OnceLock::new();

fn owner() -> &'static std::sync::Mutex<Option<std::thread::ThreadId>> {
    OWNER.get_or_init(|| std::sync::Mutex::new(None))
}

/// Puts the terminal back as it was. Safe to call twice and from the panic hook; never panics.
pub fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = disable_raw_mode();
        let _ = execute!(stdout(), LeaveAlternateScreen, DisableMouseCapture, crossterm::cursor::Show);
    }
}

/// Why the console cannot draw here, when it cannot.
pub fn unusable() -> Option<&'static str> {
    if !std::io::stdin().is_terminal() {
        Some("standard input is not a terminal")
    } else if !std::io::stdout().is_terminal() {
        Some("standard output is not a terminal")
    } else {
        None
    }
}

/// The console's hold on the terminal.
pub struct Guard {
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl Guard {
    pub fn enter() -> std::io::Result<Guard> {
        install_panic_hook();
        *owner().lock().unwrap_or_else(|p| p.into_inner()) = Some(std::thread::current().id());
        enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        if let Err(e) = execute!(stdout(), EnterAlternateScreen, EnableMouseCapture) {
            restore();
            return Err(e);
        }
        match Terminal::new(CrosstermBackend::new(stdout())) {
            Ok(terminal) => Ok(Guard { terminal }),
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        restore();
    }
}

/// Restores the terminal before the previous hook (color-eyre's report) prints, so a panic's
/// message is readable and the shell is usable.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let drawing = *owner().lock().unwrap_or_else(|p| p.into_inner());
            if drawing.is_none_or(|id| id == std::thread::current().id()) {
                restore();
            }
            previous(info);
        }));
    });
}
