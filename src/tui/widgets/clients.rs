//! Client results: the recent puts and gets with the node contacted, the answer or the error,
//! and the latency; pending ones show as waiting. The title carries the checker's verdict on the
//! whole session's history, and a failing verdict's reason is shown first.

use super::super::screen::{ClientLine, ScreenState, VerdictView};
use super::super::theme;
use super::{fit, panel, verdict_span};
use crate::kv::Op;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

/// The clients panel.
pub struct Clients<'a> {
    /// What to show.
    pub screen: &'a ScreenState,
}

/// `3.1 ms`, `1.20 s`.
pub use crate::control::client::latency;

/// One client operation as a line: `c7#3 put color=blue via n2 → ok · 3.1 ms`, or an external
/// client's in its protocol's words ([`external_line`]).
pub fn client_line(line: &ClientLine) -> Line<'static> {
    if let Some(conn) = &line.conn {
        return external_line(line, conn);
    }
    let who = match line.outcome.as_ref().and_then(|o| o.id) {
        Some(id) => format!("{id} "),
        None => String::new(),
    };
    let mut spans =
        vec![Span::styled(who, theme::dim()), Span::raw(format!("{} via {} → ", line.request, line.via))];
    match &line.outcome {
        None => spans.push(Span::styled("… waiting", theme::warn())),
        Some(o) => {
            match (&o.result, &line.request) {
                // The console never sends a register; were one shown, its answer is just "ok".
                (Ok(_), Op::Put { .. } | Op::Register) => spans.push(Span::styled("ok", theme::good())),
                (Ok(Some(v)), Op::Get { .. }) => spans.push(Span::styled(v.clone(), theme::good())),
                (Ok(None), Op::Get { .. }) => spans.push(Span::styled("not found", theme::good())),
                (Err(e), _) => {
                    spans.push(Span::styled(format!("error: {e}"), theme::bad()));
                    // A get has no effect to take: its outcome is only unknown.
                    if !o.definite && matches!(line.request, Op::Put { .. }) {
                        spans.push(Span::styled(" (may still take effect)", theme::warn()));
                    }
                }
            }
            spans.push(Span::styled(format!(" · {}", latency(o.latency)), theme::dim()));
        }
    }
    Line::from(spans)
}

/// An external client's operation: its connection, the command as the client wrote it, the
/// node it reached and the answer as `redis-cli` prints it:
/// `tcp 127.0.0.1:53412 SET color red via n2 → OK · 3.1 ms`.
pub fn external_line(line: &ClientLine, conn: &str) -> Line<'static> {
    let command = crate::resp::command_words(&line.request);
    let mut spans = vec![
        Span::styled(format!("{conn} "), theme::dim()),
        Span::raw(format!("{command} via {} → ", line.via)),
    ];
    let Some(o) = &line.outcome else {
        spans.push(Span::styled("… waiting", theme::warn()));
        return Line::from(spans);
    };
    // What the client was told, when the console heard it; else (a line rebuilt from the event
    // log) the same words from the outcome, with the error the cluster gave.
    let said = o.reply.clone().unwrap_or_else(|| match (&o.result, &line.request) {
        (Ok(Some(v)), Op::Get { .. }) => quoted(v),
        (Ok(None), Op::Get { .. }) => "(nil)".into(),
        (Ok(_), _) => "OK".into(),
        (Err(e), _) => format!("(error) {e}"),
    });
    spans.push(Span::styled(said, if o.result.is_ok() { theme::good() } else { theme::bad() }));
    if o.reply.is_none() && o.result.is_err() && !o.definite && matches!(line.request, Op::Put { .. }) {
        spans.push(Span::styled(" (may still take effect)", theme::warn()));
    }
    spans.push(Span::styled(format!(" · {}", latency(o.latency)), theme::dim()));
    Line::from(spans)
}

/// A protocol answer as `redis-cli` prints it: `OK`, `"red"`, `(nil)`, `(integer) 3`,
/// `(error) TRYAGAIN no leader reachable from n2`.
pub fn redis_cli(reply: &crate::resp::Reply) -> String {
    use crate::resp::Reply;
    match reply {
        Reply::Simple(s) => s.clone(),
        Reply::Error(e) => format!("(error) {e}"),
        Reply::Int(n) => format!("(integer) {n}"),
        Reply::Bulk(None) => "(nil)".into(),
        Reply::Bulk(Some(bytes)) => quoted(&String::from_utf8_lossy(bytes)),
        Reply::Array(items) => {
            format!("[{}]", items.iter().map(redis_cli).collect::<Vec<_>>().join(", "))
        }
    }
}

/// How many attempts an external client's operation gets.
fn external_attempts() -> u32 {
    crate::resp::session_options().attempts
}

/// `"red"`, quotes and backslashes escaped.
fn quoted(v: &str) -> String {
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

impl Widget for Clients<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let s = self.screen;
        let scroll = s.clients_scroll.min(s.clients.len().saturating_sub(1));
        let mut title = if s.rebuilt() {
            // The checker's verdict is on the session's history, not rebuilt at an event.
            vec![
                Span::styled(" clients ", theme::title()),
                Span::styled("(the operations returned so far, as their events tell) ", theme::dim()),
            ]
        } else {
            // An external client's session is pinned to the node it connected to, and tries
            // again (`crate::resp::session_options`).
            let how = if s.clients.iter().any(|l| l.conn.is_some()) {
                format!("(pinned to their node; one attempt, over tcp up to {}) · ", external_attempts())
            } else {
                "(pinned to the node chosen, one attempt) · ".to_string()
            };
            vec![
                Span::styled(" clients ", theme::title()),
                Span::styled(how, theme::dim()),
                verdict_span(&s.verdict, false),
                Span::raw(" "),
            ]
        };
        if scroll > 0 {
            title.push(Span::styled(format!("↑{scroll} "), theme::warn()));
        }
        let block =
            panel(Line::from(title)).title_bottom(Line::styled(" [ ] scroll ", theme::dim()).right_aligned());
        let inner = block.inner(area);
        block.render(area, buf);
        let inner = Rect { x: inner.x + 1, width: inner.width.saturating_sub(1), ..inner };
        let w = inner.width as usize;
        let mut lines: Vec<Line> = Vec::new();
        match &s.verdict {
            VerdictView::NotLinearizable { key, reason } => {
                lines.push(Line::styled(fit(&format!("key {key}: {reason}"), w), theme::bad()));
            }
            VerdictView::Unknown { .. } if s.rebuilt() => {}
            VerdictView::Unknown { reason } => lines.push(Line::styled(fit(reason, w), theme::warn())),
            _ => {}
        }
        let room = (inner.height as usize).saturating_sub(lines.len());
        if s.clients.is_empty() && room > 0 {
            let none = if s.rebuilt() {
                "none returned yet"
            } else {
                "none yet: p puts, g gets through the selected node"
            };
            lines.push(Line::styled(none, theme::dim()));
        }
        let end = s.clients.len() - scroll;
        let skip = end.saturating_sub(room);
        lines.extend(s.clients.iter().take(end).skip(skip).map(client_line));
        for (i, line) in lines.iter().take(inner.height as usize).enumerate() {
            buf.set_line(inner.x, inner.y + i as u16, line, inner.width);
        }
    }
}
