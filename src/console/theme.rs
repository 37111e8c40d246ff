//! Colours and marks. State is always a symbol and a word as well as a colour, and `NO_COLOR`
//! turns colour off (bold and reverse video remain).

use crate::journal::StepStatus;
use ratatui::style::{Color, Modifier, Style};

#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    /// Colour unless `NO_COLOR` is set to anything non-empty (<https://no-color.org>).
    pub fn from_env() -> Theme {
        Theme { color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) }
    }

    fn fg(&self, c: Color) -> Style {
        if self.color { Style::new().fg(c) } else { Style::new() }
    }

    pub fn ok(&self) -> Style {
        self.fg(Color::Green)
    }
    pub fn warn(&self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }
    pub fn bad(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }
    pub fn dim(&self) -> Style {
        if self.color { Style::new().fg(Color::DarkGray) } else { Style::new() }
    }
    pub fn accent(&self) -> Style {
        self.fg(Color::Cyan)
    }
    pub fn title(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }
    pub fn selected(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }
    pub fn code(&self) -> Style {
        self.fg(Color::Magenta)
    }

    /// A step's state in the steps list, where room is short: symbol and a word of at most 7.
    pub fn step_short(&self, status: StepStatus) -> (&'static str, &'static str, Style) {
        let (sym, word, style) = self.step(status);
        let short = match status {
            StepStatus::AwaitingGate => "waiting",
            StepStatus::AwaitingDecision => "decide",
            _ => word,
        };
        (sym, short, style)
    }

    /// A step's state: symbol, word, style.
    pub fn step(&self, status: StepStatus) -> (&'static str, &'static str, Style) {
        match status {
            StepStatus::Pending => ("·", "pending", self.dim()),
            StepStatus::AwaitingGate => ("?", "waiting for you", self.warn()),
            StepStatus::Running => ("▶", "running", self.accent().add_modifier(Modifier::BOLD)),
            StepStatus::AwaitingDecision => ("!", "failed, decide", self.bad()),
            StepStatus::Succeeded => ("✓", "done", self.ok()),
            StepStatus::Failed => ("✗", "failed", self.bad()),
            StepStatus::Skipped => ("↷", "skipped", self.dim()),
        }
    }
}
