//! Enough Markdown for runbook instructions: headings, bullet and numbered lists, `code`,
//! **bold** and *emphasis*. Anything else shows as written.

use crate::console::theme::Theme;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};

pub fn lines(text: &str, theme: &Theme) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let mut in_code = false;
    for raw in text.trim_end().lines() {
        let line = raw.trim_end();
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            out.push(Line::from(Span::styled(format!("  {line}"), theme.code())));
            continue;
        }
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if let Some(h) = trimmed.strip_prefix('#') {
            let h = h.trim_start_matches('#').trim();
            out.push(Line::from(Span::styled(h.to_string(), theme.title().add_modifier(Modifier::UNDERLINED))));
        } else if let Some(item) = trimmed.strip_prefix("- ").or_else(|| trimmed.strip_prefix("* ")) {
            let mut spans = vec![Span::raw(format!("{}• ", " ".repeat(indent)))];
            spans.extend(inline(item, theme));
            out.push(Line::from(spans));
        } else {
            let mut spans = vec![Span::raw(" ".repeat(indent))];
            spans.extend(inline(trimmed, theme));
            out.push(Line::from(spans));
        }
    }
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
        let md = "# Before\nAsk the **platform team** about `us-east-1`:\n- AWS Health is *clear*\n  - nested\nan unclosed `mark";
        assert_eq!(
            plain(&lines(md, &theme)),
            [
                "Before",
                "Ask the platform team about us-east-1:",
                "• AWS Health is clear",
                "  • nested",
                "an unclosed `mark"
            ]
        );
    }
}
