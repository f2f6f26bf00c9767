//! The lecture pace (`L`, see `tui::lecture`): on, it slows time to 1/20 and delays every
//! message by 50 ms (a second each, in real time); off, it gives back the pace from before.
//! Healing the network (`h`) keeps the lecture's delay while the pace is on.

use super::App;
use crate::tui::action::Command;
use crate::tui::lecture;
use crate::tui::widgets;

/// The pace outside the lecture: normal speed, no delay.
const NORMAL: (f64, (u64, u64)) = (1.0, (0, 0));

impl App {
    /// True while the cluster runs at the lecture pace (as last polled, or just asked for).
    pub(super) fn lecture_on(&self) -> bool {
        lecture::is_on(self.screen.speed, &self.screen.network)
    }

    /// Turns the lecture pace on, remembering the pace it replaces, or off, back to that pace.
    pub(super) fn toggle_lecture(&mut self) {
        let (speed, (lo, hi)) = if self.lecture_on() {
            self.before_lecture.take().unwrap_or(NORMAL)
        } else {
            let (lo, hi) = self.screen.network.default_rule().delay;
            self.before_lecture = Some((self.screen.speed, (lo / 1_000_000, hi / 1_000_000)));
            (lecture::SPEED, (lecture::DELAY_MS, lecture::DELAY_MS))
        };
        self.send(Command::SetSpeed(speed));
        self.send(Command::SetDelay(lo, hi));
        // Shown at once; the next poll confirms it.
        self.screen.speed = speed;
        let mut rule = self.screen.network.default_rule();
        rule.delay = (lo * 1_000_000, hi * 1_000_000);
        self.screen.network.set_default_rule(rule);
        if self.lecture_on() {
            self.info(format!(
                "lecture pace: speed {}, every message {} ms (a second each): L again goes back",
                widgets::speed_label(speed),
                lecture::DELAY_MS
            ));
        } else {
            self.info(format!("lecture pace off: speed {}, delay {lo}-{hi} ms", widgets::speed_label(speed)));
        }
    }

    /// Heals the network (`h`); at the lecture pace, its delay stays.
    pub(super) fn heal(&mut self) {
        self.send(Command::Heal);
        if self.lecture_on() {
            self.send(Command::SetDelay(lecture::DELAY_MS, lecture::DELAY_MS));
            self.info("healing the network: no partition, no cuts, no loss (the lecture pace's delay stays)");
        } else {
            self.info("healing the network: no partition, no cuts, no loss, no delay");
        }
    }
}
