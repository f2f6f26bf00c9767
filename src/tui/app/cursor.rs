//! The log cursor (`o`): one index of the logs selected, with ← → Home End, or by a click on a
//! log cell; its entry is shown on every node (`widgets::EntryPanel`), and Esc leaves.

use super::App;
use crate::raft::LogIndex;
use crate::tui::action::Action;
use crate::tui::cells;
use crate::tui::screen::Mode;
use crate::tui::widgets;
use ratatui::layout::Rect;

impl App {
    /// Enters the log cursor at the newest index (`o`); with every log empty, says so.
    pub(super) fn open_log_cursor(&mut self) {
        match cells::range(&self.screen) {
            Some((_, last)) => self.screen.mode = Mode::Log { index: last },
            None => self.error("every log is empty: there is no entry to select yet"),
        }
    }

    /// A key in the log cursor: move the selected index, or leave.
    pub(super) fn log_action(&mut self, action: Action) {
        let Mode::Log { index } = self.screen.mode else { return };
        let Some((first, last)) = cells::range(&self.screen) else {
            // The logs emptied under the cursor (every node restarted in memory): nothing to show.
            self.screen.mode = Mode::Normal;
            return;
        };
        let index = match action {
            Action::LogStep(step) => LogIndex(index.0.saturating_add_signed(step as i64)),
            Action::LogFirst => first,
            Action::LogLast => last,
            Action::Quit => {
                self.quit = true;
                return;
            }
            Action::Cancel => {
                self.screen.mode = Mode::Normal;
                return;
            }
            _ => return,
        };
        self.screen.mode = Mode::Log { index: index.clamp(first, last) };
    }

    /// A click at screen column `x` in the logs panel drawn in `logs`: selects that index.
    pub(super) fn click_log(&mut self, logs: Rect, x: u16) {
        if let Some(index) = widgets::log_index_at(&self.screen, logs, x) {
            self.screen.mode = Mode::Log { index };
            self.dirty = true;
        }
    }
}
