//! Key bindings are data: a default file built in (`assets/keys.conf`), overlaid by the user's
//! `keys.conf` in the config directory. The help screen and the footer are generated from them.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::path::Path;

/// What a key can ask the console to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    NextPane,
    PrevPane,
    Open,
    Back,
    Help,
    Filter,
    Quit,
    Toggle,
    Approve,
    Skip,
    Abort,
    Retry,
    Rollback,
    Handover,
}

/// Every action with its name in the file and what it does (the help screen's text).
pub const ACTIONS: &[(Action, &str, &str)] = &[
    (Action::Up, "up", "move up"),
    (Action::Down, "down", "move down"),
    (Action::PageUp, "page_up", "scroll a page up"),
    (Action::PageDown, "page_down", "scroll a page down"),
    (Action::Top, "top", "go to the top"),
    (Action::Bottom, "bottom", "go to the bottom"),
    (Action::NextPane, "next_pane", "next pane (steps, current step, resources)"),
    (Action::PrevPane, "prev_pane", "previous pane"),
    (Action::Open, "open", "answer the waiting decision, or open a step's output"),
    (Action::Back, "back", "close the dialog or popup"),
    (Action::Help, "help", "this help"),
    (Action::Filter, "filter", "filter the call log and resources"),
    (Action::Quit, "quit", "quit (asks first; the run stays resumable)"),
    (Action::Toggle, "toggle", "tick or untick a checklist item"),
    (Action::Approve, "approve", "approve a gate (watching a team run: second person)"),
    (Action::Skip, "skip", "skip the step (asks for a reason)"),
    (Action::Abort, "abort", "abort the run (asks first; resumable)"),
    (Action::Retry, "retry", "retry a failed step"),
    (Action::Rollback, "rollback", "roll a failed failback step back (asks first)"),
    (Action::Handover, "handover", "hand a team run over to another responder (by name)"),
];

/// The built-in bindings.
pub const DEFAULT: &str = include_str!("../../assets/keys.conf");

/// The file name looked for in the config directory.
pub const FILE: &str = "keys.conf";

/// Keys bound to actions, in the file's order.
#[derive(Debug, Clone)]
pub struct Keymap {
    bindings: Vec<(Action, Vec<KeyEvent>)>,
}

impl Keymap {
    /// The defaults overlaid with `user` (when there is one). Problems in the user's file are
    /// returned as messages naming the file and line; the defaults stand for those lines.
    pub fn load(user: Option<&Path>) -> (Keymap, Vec<String>) {
        let (mut map, mut problems) = Keymap::parse(DEFAULT, "built-in keys.conf");
        debug_assert!(problems.is_empty(), "the built-in key file parses: {problems:?}");
        if let Some(path) = user.filter(|p| p.is_file()) {
            match std::fs::read_to_string(path) {
                Ok(text) => {
                    let (user, found) = Keymap::parse(&text, &path.display().to_string());
                    problems.extend(found);
                    for (action, keys) in user.bindings {
                        if let Some(slot) = map.bindings.iter_mut().find(|(a, _)| *a == action) {
                            slot.1 = keys;
                        }
                    }
                }
                Err(e) => problems.push(format!("{}: cannot read: {e}", path.display())),
            }
        }
        problems.extend(map.conflicts());
        (map, problems)
    }

    /// Parses `ACTION = KEY, KEY` lines.
    pub fn parse(text: &str, origin: &str) -> (Keymap, Vec<String>) {
        let mut bindings: Vec<(Action, Vec<KeyEvent>)> = Vec::new();
        let mut problems = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = format!("{origin}:{}", n + 1);
            let Some((name, keys)) = line.split_once('=') else {
                problems.push(format!("{at}: expected ACTION = KEY, KEY"));
                continue;
            };
            let Some(&(action, _, _)) = ACTIONS.iter().find(|(_, n, _)| *n == name.trim()) else {
                let known: Vec<&str> = ACTIONS.iter().map(|(_, n, _)| *n).collect();
                problems.push(format!("{at}: unknown action `{}`; known: {}", name.trim(), known.join(", ")));
                continue;
            };
            let mut parsed = Vec::new();
            let mut bad = false;
            for key in keys.split(',').map(str::trim).filter(|k| !k.is_empty()) {
                match parse_key(key) {
                    Some(k) => parsed.push(k),
                    None => {
                        problems.push(format!("{at}: unknown key `{key}`; this line is ignored"));
                        bad = true;
                    }
                }
            }
            if parsed.is_empty() && !bad {
                problems.push(format!("{at}: `{}` has no key; this line is ignored", name.trim()));
            }
            // A line with any mistake leaves the action as it was: an action must never end up
            // with no key (quit least of all).
            if bad || parsed.is_empty() {
                continue;
            }
            bindings.retain(|(a, _)| *a != action);
            bindings.push((action, parsed));
        }
        (Keymap { bindings }, problems)
    }

    /// Keys bound to more than one action (the first action in the file's order wins).
    fn conflicts(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, (a, keys)) in self.bindings.iter().enumerate() {
            for k in keys {
                if let Some((b, _)) = self.bindings[..i].iter().find(|(_, ks)| ks.contains(k)) {
                    out.push(format!(
                        "key `{}` is bound to both {} and {}; {} wins",
                        key_name(*k),
                        name(*b),
                        name(*a),
                        name(*b)
                    ));
                }
            }
        }
        out
    }

    /// The action a key press asks for, if any.
    pub fn action(&self, key: &KeyEvent) -> Option<Action> {
        let pressed = normalize(*key);
        self.bindings.iter().find(|(_, keys)| keys.contains(&pressed)).map(|(a, _)| *a)
    }

    /// The keys of an action as the footer and help write them (`k/up`).
    pub fn keys(&self, action: Action) -> String {
        let keys = self.bindings.iter().find(|(a, _)| *a == action).map(|(_, k)| k.as_slice()).unwrap_or(&[]);
        keys.iter().map(|k| key_name(*k)).collect::<Vec<_>>().join("/")
    }
}

/// An action's name in the file.
fn name(action: Action) -> &'static str {
    ACTIONS.iter().find(|(a, _, _)| *a == action).map_or("?", |(_, n, _)| n)
}

/// Shift is part of the character for letters and symbols; drop it so `G` matches `G`.
fn normalize(mut key: KeyEvent) -> KeyEvent {
    if let KeyCode::Char(_) = key.code {
        key.modifiers.remove(KeyModifiers::SHIFT);
    }
    if key.code == KeyCode::BackTab {
        key.modifiers.remove(KeyModifiers::SHIFT);
    }
    KeyEvent::new(key.code, key.modifiers)
}

fn parse_key(text: &str) -> Option<KeyEvent> {
    let (mods, name) = match text.split_once('-').filter(|(m, rest)| !rest.is_empty() && m.len() > 1) {
        Some(("ctrl", rest)) => (KeyModifiers::CONTROL, rest),
        Some(("alt", rest)) => (KeyModifiers::ALT, rest),
        Some(_) => return None,
        None => (KeyModifiers::NONE, text),
    };
    let code = match name {
        "up" => KeyCode::Up,
        "down" => KeyCode::Down,
        "left" => KeyCode::Left,
        "right" => KeyCode::Right,
        "enter" => KeyCode::Enter,
        "esc" => KeyCode::Esc,
        "tab" => KeyCode::Tab,
        "backtab" => KeyCode::BackTab,
        "space" => KeyCode::Char(' '),
        "backspace" => KeyCode::Backspace,
        "home" => KeyCode::Home,
        "end" => KeyCode::End,
        "pageup" => KeyCode::PageUp,
        "pagedown" => KeyCode::PageDown,
        f if f.starts_with('f') && f.len() > 1 => KeyCode::F(f[1..].parse().ok().filter(|n| (1..=12).contains(n))?),
        c if c.chars().count() == 1 => KeyCode::Char(c.chars().next()?),
        _ => return None,
    };
    Some(KeyEvent::new(code, mods))
}

fn key_name(key: KeyEvent) -> String {
    let base = match key.code {
        KeyCode::Up => "↑".to_string(),
        KeyCode::Down => "↓".to_string(),
        KeyCode::Left => "←".to_string(),
        KeyCode::Right => "→".to_string(),
        KeyCode::Enter => "enter".to_string(),
        KeyCode::Esc => "esc".to_string(),
        KeyCode::Tab => "tab".to_string(),
        KeyCode::BackTab => "shift-tab".to_string(),
        KeyCode::Char(' ') => "space".to_string(),
        KeyCode::Backspace => "backspace".to_string(),
        KeyCode::Home => "home".to_string(),
        KeyCode::End => "end".to_string(),
        KeyCode::PageUp => "pgup".to_string(),
        KeyCode::PageDown => "pgdn".to_string(),
        KeyCode::F(n) => format!("f{n}"),
        KeyCode::Char(c) => c.to_string(),
        other => format!("{other:?}").to_lowercase(),
    };
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        format!("ctrl-{base}")
    } else if key.modifiers.contains(KeyModifiers::ALT) {
        format!("alt-{base}")
    } else {
        base
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn the_defaults_bind_vim_and_arrow_keys() {
        let (map, problems) = Keymap::load(None);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(map.action(&press(KeyCode::Char('j'), KeyModifiers::NONE)), Some(Action::Down));
        assert_eq!(map.action(&press(KeyCode::Down, KeyModifiers::NONE)), Some(Action::Down));
        assert_eq!(map.action(&press(KeyCode::Char('G'), KeyModifiers::SHIFT)), Some(Action::Bottom));
        assert_eq!(map.action(&press(KeyCode::Char('c'), KeyModifiers::CONTROL)), Some(Action::Quit));
        assert_eq!(map.action(&press(KeyCode::BackTab, KeyModifiers::SHIFT)), Some(Action::PrevPane));
        assert_eq!(map.keys(Action::Down), "↓/j");
        for (action, _, _) in ACTIONS {
            assert!(!map.keys(*action).is_empty(), "{action:?} has a default key");
        }
    }

    #[test]
    fn a_user_file_overrides_only_what_it_names_and_reports_its_mistakes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        std::fs::write(&path, "# mine\nquit = Q\nfly = x\ndown = x, hyper-j\nhelp =\ntoggle = y\n").unwrap();
        let (map, problems) = Keymap::load(Some(&path));
        assert_eq!(map.action(&press(KeyCode::Char('Q'), KeyModifiers::SHIFT)), Some(Action::Quit));
        assert_eq!(map.action(&press(KeyCode::Char('q'), KeyModifiers::NONE)), None, "q is no longer quit");
        assert_eq!(map.action(&press(KeyCode::Char('k'), KeyModifiers::NONE)), Some(Action::Up), "defaults stay");
        assert_eq!(
            map.action(&press(KeyCode::Char('x'), KeyModifiers::NONE)),
            None,
            "a line with a bad key is ignored"
        );
        assert_eq!(map.action(&press(KeyCode::Char('j'), KeyModifiers::NONE)), Some(Action::Down));
        assert_eq!(
            map.action(&press(KeyCode::Char('?'), KeyModifiers::NONE)),
            Some(Action::Help),
            "an empty line keeps ?"
        );
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].ends_with("keys.conf:3: unknown action `fly`; known: up, down, page_up, page_down, top, bottom, next_pane, prev_pane, open, back, help, filter, quit, toggle, approve, skip, abort, retry, rollback, handover"), "{}", problems[0]);
        assert!(problems[1].ends_with("keys.conf:4: unknown key `hyper-j`; this line is ignored"), "{}", problems[1]);
        assert!(problems[2].ends_with("keys.conf:5: `help` has no key; this line is ignored"), "{}", problems[2]);
        assert_eq!(problems[3], "key `y` is bound to both toggle and approve; toggle wins");
    }
}
