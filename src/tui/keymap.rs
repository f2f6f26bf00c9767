//! The one keymap: every key the console understands, in every context, as data. Dispatch
//! ([`lookup`]), the status bar ([`bar`]) and the help overlay ([`help_lines`]) are all read
//! from [`BINDINGS`], so they cannot disagree.

use super::action::Action;
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// Where the user is: which keys mean what depends on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// The dashboard itself.
    Main,
    /// A one-line prompt (put, get, loss, delay).
    Prompt,
    /// The partition editor.
    Editor,
    /// Picking the two ends of a one-way link.
    Pick,
    /// Choosing a message in the in-flight panel.
    Flight,
    /// The switchable bugs.
    Bugs,
    /// The log cursor: an index of the logs selected, its entry shown on every node.
    Log,
    /// The history view: the past, read-only.
    History,
    /// The dashboard during a lesson: these keys come before the dashboard's.
    Lesson,
    /// The help overlay.
    Help,
    /// Everywhere.
    Any,
}

/// Which keys trigger a binding.
#[derive(Clone, Copy, Debug)]
pub enum Keys {
    /// One character (shift is ignored, so `?` and `+` work on any layout).
    Char(char),
    /// Any of these characters.
    Chars(&'static [char]),
    /// A digit 1-9; the action receives it.
    Digits,
    /// A special key.
    Code(KeyCode),
    /// Control and a letter.
    Ctrl(char),
    /// Any printable character (prompt input).
    Printable,
    /// Any key at all.
    AnyKey,
}

/// One row of the keymap.
#[derive(Clone, Copy, Debug)]
pub struct Binding {
    /// Where it applies.
    pub context: Context,
    /// The keys.
    pub keys: Keys,
    /// How the keys are written for people.
    pub label: &'static str,
    /// What happens.
    pub action: Action,
    /// A short description for the help overlay.
    pub help: &'static str,
    /// In the status bar: the key text, a word, and a priority (0 always shown, then 1, 2, …
    /// as room allows); `None` to show it only in the help.
    pub bar: Option<(&'static str, &'static str, u8)>,
}

const fn bind(
    context: Context,
    keys: Keys,
    label: &'static str,
    action: Action,
    help: &'static str,
    bar: Option<(&'static str, &'static str, u8)>,
) -> Binding {
    Binding { context, keys, label, action, help, bar }
}

use Context::{Any, Bugs, Editor, Flight, Help, History, Lesson, Log, Main, Pick, Prompt};

/// Every binding, in the order the help and the status bar show them. One row per line, as a
/// table, which rustfmt would break up.
#[rustfmt::skip]
pub const BINDINGS: &[Binding] = &[
    bind(Main, Keys::Code(KeyCode::Left), "←", Action::Move(-1), "select the previous node", None),
    bind(Main, Keys::Code(KeyCode::Right), "→", Action::Move(1), "select the next node", None),
    bind(Main, Keys::Digits, "1-9", Action::SelectNode(0), "select node n1 … n9 (it)", Some(("1-9", "select", 1))),
    bind(Main, Keys::Code(KeyCode::Tab), "Tab", Action::SelectLeader, "select the leader", None),
    bind(Main, Keys::Char('p'), "p", Action::Put, "put key=value through it", Some(("p", "put", 1))),
    bind(Main, Keys::Char('g'), "g", Action::Get, "get a key through it", Some(("g", "get", 1))),
    bind(Main, Keys::Char('k'), "k", Action::Kill, "kill it", Some(("k", "kill", 1))),
    bind(Main, Keys::Char('r'), "r", Action::Restart, "restart it from its storage", Some(("r", "restart", 2))),
    bind(Main, Keys::Char('z'), "z", Action::TogglePause, "pause or resume it", Some(("z", "pause", 3))),
    bind(Main, Keys::Char('t'), "t", Action::Campaign, "make it time out, campaign", Some(("t", "timeout", 3))),
    bind(Main, Keys::Char('T'), "T", Action::Transfer, "the leader hands over to it", Some(("T", "transfer", 4))),
    bind(Main, Keys::Char('x'), "x", Action::PartitionEditor, "partition editor", Some(("x", "partition", 1))),
    bind(Main, Keys::Char('c'), "c", Action::Cut, "cut/restore a one-way link", Some(("c", "cut", 4))),
    bind(Main, Keys::Char('h'), "h", Action::Heal, "heal the network completely", Some(("h", "heal", 2))),
    bind(Main, Keys::Char('l'), "l", Action::Loss, "set message loss (%)", Some(("l", "loss", 4))),
    bind(Main, Keys::Char('d'), "d", Action::Delay, "set message delay (ms lo-hi)", Some(("d", "delay", 4))),
    bind(Main, Keys::Chars(&['+', '=']), "+", Action::Faster, "faster (up to 10×)", Some(("+-", "speed", 3))),
    bind(Main, Keys::Chars(&['-', '_']), "-", Action::Slower, "slower (down to 1/20×)", None),
    bind(Main, Keys::Char(' '), "space", Action::Freeze, "freeze/resume every node", Some(("space", "freeze", 3))),
    bind(Main, Keys::Char('e'), "e", Action::Export, "export events and history", Some(("e", "export", 3))),
    bind(Main, Keys::Char('m'), "m", Action::Hold, "hold messages: each waits for you (m again lets go)", Some(("m", "hold", 2))),
    bind(Main, Keys::Char('.'), ".", Action::DeliverOldest, "deliver the oldest held message", Some((".", "deliver", 2))),
    bind(Main, Keys::Char('i'), "i", Action::FlightPanel, "messages in flight: choose one to act on", Some(("i", "in flight", 3))),
    bind(Main, Keys::Char('b'), "b", Action::Bugs, "switchable bugs (simulator): hazards, PreVote, CheckQuorum", Some(("b", "bugs", 4))),
    bind(Main, Keys::Char('a'), "a", Action::Tick, "frozen: time moves one tick", Some(("a", "tick", 4))),
    bind(Main, Keys::Char('w'), "w", Action::NextTimer, "frozen: time moves to the next timer", Some(("w", "next timer", 4))),
    bind(Main, Keys::Code(KeyCode::Up), "↑", Action::Scroll(1), "scroll the feed back", None),
    bind(Main, Keys::Code(KeyCode::Down), "↓", Action::Scroll(-1), "scroll the feed forward", None),
    bind(Main, Keys::Code(KeyCode::PageUp), "PgUp", Action::Page(1), "feed: a page back", None),
    bind(Main, Keys::Code(KeyCode::PageDown), "PgDn", Action::Page(-1), "feed: a page forward", None),
    bind(Main, Keys::Code(KeyCode::End), "End", Action::Follow, "feed: follow the newest", None),
    bind(Main, Keys::Char('s'), "s", Action::FeedFreeze, "freeze/follow the feed", None),
    bind(Main, Keys::Char('['), "[", Action::ClientsScroll(1), "clients: older operations", None),
    bind(Main, Keys::Char(']'), "]", Action::ClientsScroll(-1), "clients: newer operations", None),
    bind(Main, Keys::Char('f'), "f", Action::FeedKind, "feed: next kind filter", None),
    bind(Main, Keys::Char('n'), "n", Action::FeedNode, "feed: selected node / all", None),
    bind(Main, Keys::Char('o'), "o", Action::LogCursor, "log cursor: pick an index", Some(("o", "log index", 2))),
    bind(Main, Keys::Char('L'), "L", Action::Lecture, "lecture pace on/off", Some(("L", "lecture", 2))),
    bind(Main, Keys::Char('v'), "v", Action::History, "rewind: step through the past", Some(("v", "rewind", 2))),
    bind(Main, Keys::Char('B'), "B", Action::SwitchBranch, "the next branch of the past (after a fork, F in v)", None),
    bind(Main, Keys::Char('?'), "?", Action::Help, "this help", Some(("?", "help", 0))),
    bind(Main, Keys::Char('q'), "q", Action::Quit, "quit (nodes stop cleanly)", Some(("q", "quit", 0))),
    bind(Lesson, Keys::Char('n'), "n", Action::LessonNext, "next step (playing: finish it)", Some(("n", "next step", 0))),
    bind(Lesson, Keys::Char('b'), "b", Action::LessonBack, "back a step, or to the lesson", Some(("b", "back", 0))),
    bind(Lesson, Keys::Char('N'), "N", Action::FeedNode, "feed node filter", None),
    bind(Lesson, Keys::Char('!'), "!", Action::Bugs, "bugs", None),
    bind(Prompt, Keys::Code(KeyCode::Enter), "Enter", Action::Submit, "send", Some(("Enter", "send", 0))),
    bind(Prompt, Keys::Code(KeyCode::Esc), "Esc", Action::Cancel, "cancel", Some(("Esc", "cancel", 0))),
    bind(Prompt, Keys::Code(KeyCode::Backspace), "⌫", Action::Backspace, "delete", Some(("⌫", "delete", 1))),
    bind(Prompt, Keys::Ctrl('u'), "^U", Action::ClearInput, "clear", Some(("^U", "clear", 1))),
    bind(Prompt, Keys::Printable, "text", Action::Type(' '), "is typed in", None),
    bind(Editor, Keys::Digits, "1-9", Action::CycleGroup(0), "next group for that node", Some(("1-9", "next group for that node", 0))),
    bind(Editor, Keys::Code(KeyCode::Enter), "Enter", Action::Submit, "apply", Some(("Enter", "apply", 0))),
    bind(Editor, Keys::Code(KeyCode::Esc), "Esc", Action::Cancel, "cancel", Some(("Esc", "cancel", 0))),
    bind(Flight, Keys::Code(KeyCode::Up), "↑", Action::FlightMove(-1), "an older message", Some(("↑↓", "choose", 0))),
    bind(Flight, Keys::Code(KeyCode::Down), "↓", Action::FlightMove(1), "a newer message", None),
    bind(Flight, Keys::Code(KeyCode::Enter), "Enter", Action::DeliverChosen, "deliver it", Some(("Enter", "deliver", 0))),
    bind(Flight, Keys::Char('.'), ".", Action::DeliverChosen, "deliver it", None),
    bind(Flight, Keys::Char('x'), "x", Action::DropChosen, "drop it", Some(("x", "drop", 0))),
    bind(Flight, Keys::Char('u'), "u", Action::DuplicateChosen, "duplicate it", Some(("u", "duplicate", 1))),
    bind(Flight, Keys::Char('A'), "A", Action::ReleaseAll, "deliver every held message", Some(("A", "deliver all", 1))),
    bind(Flight, Keys::Chars(&['i']), "i", Action::Cancel, "back to the dashboard", None),
    bind(Flight, Keys::Code(KeyCode::Esc), "Esc", Action::Cancel, "back to the dashboard", Some(("Esc", "back", 0))),
    bind(Bugs, Keys::Digits, "1-4", Action::Toggle(0), "flip that switch", Some(("1-4", "flip", 0))),
    bind(Bugs, Keys::Code(KeyCode::Esc), "Esc", Action::Cancel, "close", Some(("Esc", "close", 0))),
    bind(Pick, Keys::Digits, "1-9", Action::PickNode(0), "pick a node", Some(("1-9", "pick node", 0))),
    bind(Pick, Keys::Code(KeyCode::Esc), "Esc", Action::Cancel, "cancel", Some(("Esc", "cancel", 0))),
    bind(Log, Keys::Code(KeyCode::Left), "←", Action::LogStep(-1), "previous", Some(("←→", "index", 0))),
    bind(Log, Keys::Code(KeyCode::Right), "→", Action::LogStep(1), "next", None),
    bind(Log, Keys::Code(KeyCode::Home), "Home", Action::LogFirst, "first", Some(("Home End", "first/last", 1))),
    bind(Log, Keys::Code(KeyCode::End), "End", Action::LogLast, "last", None),
    bind(Log, Keys::Code(KeyCode::Esc), "Esc", Action::Cancel, "leave", Some(("Esc", "leave", 0))),
    bind(History, Keys::Code(KeyCode::Left), "←", Action::HistoryStep(-1), "one event back", Some(("←→", "step", 0))),
    bind(History, Keys::Code(KeyCode::Right), "→", Action::HistoryStep(1), "one event forward", None),
    bind(History, Keys::Code(KeyCode::PageUp), "PgUp", Action::HistoryStep(-100), "100 events back", Some(("PgUp PgDn", "100", 2))),
    bind(History, Keys::Code(KeyCode::PageDown), "PgDn", Action::HistoryStep(100), "100 events forward", None),
    bind(History, Keys::Code(KeyCode::Home), "Home", Action::HistoryStart, "the start", Some(("Home End", "start/newest", 1))),
    bind(History, Keys::Code(KeyCode::End), "End", Action::HistoryEnd, "the newest event", None),
    bind(History, Keys::Char('n'), "n", Action::HistoryMark(1), "the next event of the kind", Some(("n N", "next/prev", 0))),
    bind(History, Keys::Char('N'), "N", Action::HistoryMark(-1), "the previous one", None),
    bind(History, Keys::Code(KeyCode::Tab), "Tab", Action::HistoryKind, "the kind: election, commit, fault, client", Some(("Tab", "kind", 1))),
    bind(History, Keys::Char(' '), "space", Action::HistoryPlay, "play/pause", Some(("space", "play", 1))),
    bind(History, Keys::Chars(&['+', '=']), "+", Action::HistorySpeed(1), "play faster", Some(("+-", "play speed", 3))),
    bind(History, Keys::Chars(&['-', '_']), "-", Action::HistorySpeed(-1), "play slower", None),
    bind(History, Keys::Char('v'), "v", Action::HistoryLower, "lower panel: feed, space-time, client timeline", Some(("v", "panel", 3))),
    bind(History, Keys::Char('F'), "F", Action::HistoryFork, "fork: go on live from this event, a new branch (simulator)", Some(("F", "fork", 2))),
    bind(History, Keys::Char('B'), "B", Action::SwitchBranch, "the next branch of the past, where it was left", None),
    bind(History, Keys::Digits, "1-9", Action::SelectNode(0), "select a node", None),
    bind(History, Keys::Char('f'), "f", Action::FeedKind, "feed: next kind filter", None),
    bind(History, Keys::Char('?'), "?", Action::Help, "help", Some(("?", "help", 2))),
    bind(History, Keys::Code(KeyCode::Esc), "Esc", Action::Cancel, "back to the live view", Some(("Esc", "live", 0))),
    bind(History, Keys::Char('q'), "q", Action::Quit, "quit", Some(("q", "quit", 0))),
    bind(Help, Keys::AnyKey, "any key", Action::Cancel, "close", Some(("any key", "close help", 0))),
    bind(Any, Keys::Ctrl('c'), "^C", Action::Quit, "quit", None),
];

/// Whether binding keys `keys` match the key event; for digits, which digit.
fn matches(keys: Keys, key: &KeyEvent) -> Option<Option<u8>> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let alt = key.modifiers.contains(KeyModifiers::ALT);
    let plain = !ctrl && !alt;
    let hit = match (keys, key.code) {
        (Keys::AnyKey, _) => true,
        (Keys::Ctrl(c), KeyCode::Char(k)) => ctrl && k.eq_ignore_ascii_case(&c),
        (Keys::Char(c), KeyCode::Char(k)) => plain && k == c,
        (Keys::Chars(cs), KeyCode::Char(k)) => plain && cs.contains(&k),
        (Keys::Printable, KeyCode::Char(k)) => plain && !k.is_control(),
        (Keys::Digits, KeyCode::Char(k @ '1'..='9')) if plain => {
            return Some(Some(k as u8 - b'0'));
        }
        (Keys::Code(c), code) => !ctrl && c == code,
        _ => false,
    };
    hit.then_some(None)
}

/// The action a key press means in `context`, if any. Key releases and repeats of modifier keys
/// mean nothing.
pub fn lookup(context: Context, key: &KeyEvent) -> Option<Action> {
    lookup_in(&[context], key)
}

/// The action a key press means in the first of `contexts` that binds it (after the global
/// bindings): a lesson's keys come before the dashboard's.
pub fn lookup_in(contexts: &[Context], key: &KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    if let KeyCode::Modifier(_) = key.code {
        return None;
    }
    // Global bindings first (Ctrl-C must quit from anywhere, even the help overlay).
    for &pass in std::iter::once(&Any).chain(contexts) {
        for b in BINDINGS.iter().filter(|b| b.context == pass) {
            if let Some(digit) = matches(b.keys, key) {
                return Some(match (b.action, digit, key.code) {
                    (_, Some(d), _) => b.action.with_digit(d),
                    (Action::Type(_), _, KeyCode::Char(c)) => Action::Type(c),
                    (action, _, _) => action,
                });
            }
        }
    }
    None
}

/// The status bar's entries for `context`: (keys, word, priority), in table order.
pub fn bar(context: Context) -> Vec<(&'static str, &'static str, u8)> {
    bar_without(context, &[])
}

/// The status bar's entries for `context`, leaving out the keys of `actions` (a replay has no
/// live view for Esc to go back to, nor a simulator to fork).
pub fn bar_without(context: Context, actions: &[Action]) -> Vec<(&'static str, &'static str, u8)> {
    BINDINGS
        .iter()
        .filter(|b| b.context == context && !actions.contains(&b.action))
        .filter_map(|b| b.bar)
        .collect()
}

/// The help overlay's content.
pub struct HelpText {
    /// The dashboard's keys, one per entry: (keys, description).
    pub main: Vec<(&'static str, &'static str)>,
    /// One line per other context: (its name, its keys summarised).
    pub others: Vec<(&'static str, String)>,
}

/// The help overlay's content, from the table.
pub fn help_lines() -> HelpText {
    let main = BINDINGS.iter().filter(|b| b.context == Main).map(|b| (b.label, b.help)).collect();
    let contexts = [
        (Prompt, "in a prompt"),
        (Editor, "partition editor"),
        (Pick, "cut (c)"),
        (Flight, "in flight (i)"),
        (Bugs, "bugs (b)"),
        (Log, "log cursor (o)"),
        (History, "rewind (v)"),
        (Lesson, "in a lesson"),
        (Any, "anywhere"),
    ];
    let others = contexts
        .iter()
        .map(|&(ctx, name)| {
            let keys: Vec<String> = BINDINGS
                .iter()
                .filter(|b| b.context == ctx && !matches!(b.keys, Keys::Printable))
                .map(|b| format!("{} {}", b.label, b.help))
                .collect();
            (name, keys.join(" · "))
        })
        .collect();
    HelpText { main, others }
}

/// How the key of `action` in `context` is written, for hints.
pub fn label_of(context: Context, action: Action) -> Option<&'static str> {
    BINDINGS.iter().find(|b| b.context == context && b.action == action).map(|b| b.label)
}

/// How a key press is written in an error message ("no action on 'w'").
pub fn describe(key: &KeyEvent) -> String {
    let base = match key.code {
        KeyCode::Char(' ') => "space".to_string(),
        KeyCode::Char(c) => format!("'{c}'"),
        KeyCode::F(n) => format!("F{n}"),
        other => format!("{other:?}"),
    };
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        format!("Ctrl-{base}")
    } else if key.modifiers.contains(KeyModifiers::ALT) {
        format!("Alt-{base}")
    } else {
        base
    }
}
