//! Enough Markdown for runbook instructions: headings, bullet and numbered lists, `code`,
//! **bold** and *emphasis*. Anything else shows as written.

use crate::console::theme::Theme;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};

/// The lines to show, before the pane wraps them. As in every Markdown renderer, the lines of one
/// paragraph or list item are joined (a soft break is a space), so the pane's own wrapping is the
/// only one: a runbook's YAML line breaks do not make ragged paragraphs. A line ending in two
/// spaces or a backslash keeps its break; a blank line separates paragraphs.
pub fn lines(text: &str, theme: &Theme) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let mut in_code = false;
    // The paragraph or list item that the next plain line continues: its bullet (if an item),
    // indent and text so far.
    let mut open: Option<(bool, usize, String)> = None;
    let flush = |open: &mut Option<(bool, usize, String)>, out: &mut Vec<Line<'static>>| {
        if let Some((item, indent, text)) = open.take() {
            let lead = if item { format!("{}• ", " ".repeat(indent)) } else { " ".repeat(indent) };
            let mut spans = vec![Span::raw(lead)];
            spans.extend(inline(&text, theme));
            out.push(Line::from(spans));
        }
    };
    for raw in text.trim_end().lines() {
        let hard_break = raw.ends_with("  ") || raw.trim_end().ends_with('\\');
        let line = raw.trim_end().trim_end_matches('\\').trim_end();
        if line.trim_start().starts_with("```") {
            flush(&mut open, &mut out);
            in_code = !in_code;
            continue;
        }
        if in_code {
            out.push(Line::from(Span::styled(format!("  {line}"), theme.code())));
            continue;
        }
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if trimmed.starts_with('|') {
            // A table row stays a line of its own, cells apart; its `|---|` rule is dropped.
            flush(&mut open, &mut out);
            let cells: Vec<&str> = trimmed.trim_matches('|').split('|').map(str::trim).collect();
            if !cells.iter().all(|c| !c.is_empty() && c.chars().all(|ch| matches!(ch, '-' | ':'))) {
                out.push(Line::from(format!("{}{}", " ".repeat(indent), cells.join(" │ "))));
            }
            continue;
        }
        if trimmed.is_empty() {
            flush(&mut open, &mut out);
            out.push(Line::from(""));
        } else if let Some(h) = trimmed.strip_prefix('#') {
            flush(&mut open, &mut out);
            let h = h.trim_start_matches('#').trim();
            out.push(Line::from(Span::styled(h.to_string(), theme.title().add_modifier(Modifier::UNDERLINED))));
        } else if let Some(item) = trimmed.strip_prefix("- ").or_else(|| trimmed.strip_prefix("* ")) {
            flush(&mut open, &mut out);
            open = Some((true, indent, item.trim().to_string()));
        } else if let Some((_, _, text)) = open.as_mut() {
            text.push(' ');
            text.push_str(trimmed);
        } else {
            open = Some((false, indent, trimmed.to_string()));
        }
        if hard_break {
            flush(&mut open, &mut out);
        }
    }
    flush(&mut open, &mut out);
    out
}

/// `code`, **bold** and *emphasis* within a line.
fn inline(text: &str, theme: &Theme) -> Vec<Span<'static>> {
    let mut spans = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let next = ["`", "**", "*"]
            .iter()
            .filter_map(|m| rest.find(m).map(|i| (i, *m)))
            .min_by_key(|(i, m)| (*i, -(m.len() as i32)));
        let Some((start, mark)) = next else {
            spans.push(Span::raw(rest.to_string()));
            break;
        };
        let after = &rest[start + mark.len()..];
        let Some(end) = after.find(mark) else {
            spans.push(Span::raw(rest.to_string()));
            break;
        };
        if start > 0 {
            spans.push(Span::raw(rest[..start].to_string()));
        }
        let inner = after[..end].to_string();
        spans.push(match mark {
            "`" => Span::styled(inner, theme.code()),
            "**" => Span::styled(inner, theme.title()),
            _ => Span::styled(inner, ratatui::style::Style::new().add_modifier(Modifier::ITALIC)),
        });
        rest = &after[end + mark.len()..];
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(lines: &[Line]) -> Vec<String> {
        lines.iter().map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect()).collect()
    }

    #[test]
    fn headings_lists_and_inline_marks_render_without_their_markup() {
        let theme = Theme { color: false };
        let md = "# Before\nAsk the **platform team** about `us-east-1`:\n- AWS Health is *clear*\n  - nested\n\nan unclosed `mark";
        assert_eq!(
            plain(&lines(md, &theme)),
            [
                "Before",
                "Ask the platform team about us-east-1:",
                "• AWS Health is clear",
                "  • nested",
                "",
                "an unclosed `mark"
            ]
        );
    }

    #[test]
    fn table_rows_stay_lines_and_their_rule_goes() {
        let theme = Theme { color: false };
        let md = "Waits:\n| Wait | Took |\n|---|:---:|\n| copy | 1h |\nafter";
        assert_eq!(plain(&lines(md, &theme)), ["Waits:", "Wait │ Took", "copy │ 1h", "after"]);
    }

    #[test]
    fn the_lines_of_a_paragraph_or_list_item_join_and_only_blank_lines_and_hard_breaks_separate() {
        let theme = Theme { color: false };
        let md = "Every later step in\nprimary acts through this role,\nonly this one.\n\n- an item that goes\n  on here\n- next\n\nfirst line  \nsecond line\\\nthird\n```\nkept\nas is\n```\n**bold across\na break**";
        assert_eq!(
            plain(&lines(md, &theme)),
            [
                "Every later step in primary acts through this role, only this one.",
                "",
                "• an item that goes on here",
                "• next",
                "",
                "first line",
                "second line",
                "third",
                "  kept",
                "  as is",
                "bold across a break",
            ]
        );
    }
}
