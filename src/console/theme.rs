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
        Theme::from_no_color(std::env::var_os("NO_COLOR"))
    }

    /// The theme for a value of `NO_COLOR` (unset or empty: colour).
    pub fn from_no_color(value: Option<std::ffi::OsString>) -> Theme {
        Theme { color: value.is_none_or(|v| v.is_empty()) }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_turns_colour_off_and_keeps_symbols_and_words() {
        assert!(Theme::from_no_color(None).color);
        assert!(Theme::from_no_color(Some("".into())).color, "an empty NO_COLOR is unset");
        let plain = Theme::from_no_color(Some("1".into()));
        assert!(!plain.color);
        assert_eq!(plain.ok().fg, None, "no colour");
        assert!(plain.bad().add_modifier.contains(Modifier::BOLD), "emphasis stays");
        for status in [StepStatus::Pending, StepStatus::AwaitingGate, StepStatus::Running, StepStatus::Failed] {
            let (symbol, word, _) = plain.step(status);
            assert!(!symbol.is_empty() && !word.is_empty(), "{status:?} keeps a symbol and a word");
        }
    }
}
