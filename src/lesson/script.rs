//! `quorum lesson --from-script FILE`: a golden script of the core (`tests/scripts/`) as a
//! lesson skeleton for a teacher to edit. Each block of commands (up to its `---`) becomes a
//! step; the comments before it become its narration; each command becomes the lesson action
//! that does the same, or, where the console has none, a comment saying what to do by hand.
//! The expected output is dropped. The skeleton always reads as a lesson (a test converts
//! every script and reads the result), but it is a draft: the conditions to wait for are the
//! teacher's to add.

use std::fmt::Write as _;

/// The skeleton of the script `text` (named `name`, for the title).
pub fn skeleton(name: &str, text: &str) -> String {
    let mut out = String::new();
    let mut narration: Vec<String> = Vec::new();
    let mut commands: Vec<String> = Vec::new();
    let mut in_output = false;
    let mut cluster: Option<Vec<String>> = None;
    let mut nodes = 3;
    let mut steps = 0;
    let mut intro = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if in_output {
            // The expected output runs to the next blank line.
            in_output = !t.is_empty();
            continue;
        }
        if t == "---" {
            in_output = true;
            if cluster.is_none() {
                // The first block sets the cluster up.
                intro = std::mem::take(&mut narration);
                let setup = std::mem::take(&mut commands);
                nodes = setup.iter().find_map(|c| cluster_size(c)).unwrap_or(nodes);
                cluster = Some(setup);
            } else {
                steps += 1;
                let (n, c) = (std::mem::take(&mut narration), std::mem::take(&mut commands));
                write_step(&mut out, steps, &n, &c, nodes);
            }
            continue;
        }
        if let Some(c) = t.strip_prefix('#') {
            narration.push(c.trim().to_string());
        } else if !t.is_empty() {
            commands.push(t.to_string());
        }
    }
    if !commands.is_empty() {
        steps += 1;
        write_step(&mut out, steps, &narration, &commands, nodes);
    }
    let mut head =
        format!("# A lesson skeleton made from the golden script {name}: edit the narration, and\n");
    head.push_str("# add `until`/`expect` lines so that `quorum lesson FILE --check` checks each step.\n");
    let _ = writeln!(head, "title {}", title(name));
    let setup = cluster.unwrap_or_default();
    let mut first = Vec::new();
    let mut cluster_line = "cluster nodes=3".to_string();
    for c in &setup {
        let bare = c.trim_start_matches('(').trim_end_matches(')');
        if let Some(rest) = bare.strip_prefix("cluster") {
            let (settings, dropped) = setting(rest);
            for d in dropped {
                let _ = writeln!(head, "# script: cluster {d} (not a lesson setting)");
            }
            cluster_line = format!("cluster{settings}");
        } else {
            first.push(c.clone());
        }
    }
    let _ = writeln!(head, "{cluster_line}");
    for line in &intro {
        let _ = writeln!(head, "> {line}");
    }
    if !first.is_empty() {
        head.push('\n');
        write_step(&mut head, 0, &[], &first, nodes);
    }
    if steps == 0 && first.is_empty() {
        head.push_str("\nstep Start\n> (no commands in the script)\nticks 1\n");
    }
    head + &out
}

/// A title from a file name: `split_vote_resolves` → `Split vote resolves`.
fn title(name: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name).replace(['_', '-'], " ");
    let mut chars = base.chars();
    chars.next().map_or_else(String::new, |c| c.to_uppercase().collect::<String>() + chars.as_str())
}

/// The script's `cluster` settings as a lesson's, and those a lesson does not have.
fn setting(rest: &str) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut dropped = Vec::new();
    for w in rest.split_whitespace() {
        let Some((k, v)) = w.split_once('=') else { continue };
        let v = match v {
            "true" => "on",
            "false" => "off",
            "local_reads" => "local-reads",
            "commit_old_term" => "commit-old-term",
            v => v,
        };
        match k {
            "nodes" | "seed" | "prevote" | "checkquorum" | "hazard" => {
                let _ = write!(out, " {k}={v}");
            }
            _ => dropped.push(format!("{k}={v}")),
        }
    }
    (out, dropped)
}

/// The `nodes=N` of a script's `cluster` command.
fn cluster_size(command: &str) -> Option<u64> {
    let rest = command.trim_start_matches('(').trim_end_matches(')').strip_prefix("cluster")?;
    rest.split_whitespace().find_map(|w| w.strip_prefix("nodes=")?.parse().ok())
}

fn write_step(out: &mut String, number: usize, narration: &[String], commands: &[String], nodes: u64) {
    let title = if number == 0 { "Set-up".to_string() } else { format!("Step {number}") };
    let _ = writeln!(out, "step {title}");
    for n in narration {
        let _ = writeln!(out, "> {n}");
    }
    for c in commands {
        let bare = c.trim_start_matches('(').trim_end_matches(')');
        for line in translate(bare, nodes) {
            let _ = writeln!(out, "{line}");
        }
    }
    out.push('\n');
}

/// The lesson lines that do what the script command does, in a cluster of `nodes`.
fn translate(command: &str, nodes: u64) -> Vec<String> {
    let member = |n: &str| {
        n.strip_prefix('n').and_then(|i| i.parse::<u64>().ok()).is_some_and(|i| (1..=nodes).contains(&i))
    };
    let w: Vec<&str> = command.split_whitespace().collect();
    let by_hand = |what: &str| vec![format!("# script: {command} ({what})")];
    let option = |key: &str| w.iter().find_map(|a| a.strip_prefix(key).and_then(|v| v.strip_prefix('=')));
    match w.as_slice() {
        ["tick", ..] => {
            let count = option("count").unwrap_or("1");
            let mut lines = Vec::new();
            if w.iter().any(|a| a.starts_with('n')) {
                lines.push(format!("# script: {command} (a lesson's time moves on every node)"));
            }
            if option("deliver") == Some("true") {
                lines.push("release".into());
            }
            lines.push(format!("ticks {count}"));
            lines
        }
        ["campaign", n] => vec!["hold".into(), format!("campaign {n}")],
        // The lesson asks whoever leads; the script names the leader it asks.
        ["transfer", _, target] if !member(target) => by_hand("a transfer to a node outside the cluster"),
        ["transfer", _, target] => vec!["hold".into(), format!("transfer {target}")],
        ["deliver"] => vec!["deliver".into()],
        ["deliver", nodes @ ..] => nodes.iter().map(|n| format!("deliver to={n}")).collect(),
        ["stabilize", ..] => vec!["stabilize".into()],
        ["drop", filter @ ..] => vec![format!("drop {}", filter.join(" ")).trim_end().to_string()],
        ["partition", nodes @ ..] => vec![format!("partition {}", nodes.join(" "))],
        ["cut", a, b] => vec![format!("cut {a} {b}")],
        ["heal"] => vec!["heal".into()],
        ["wait", ms] => {
            let ticks = ms.parse::<u64>().map_or(1, |ms| ms.div_ceil(10).max(1));
            vec![format!("ticks {ticks}")]
        }
        ["crash", n] => vec![format!("kill {n}")],
        ["restart", n] | ["pause", n] | ["resume", n] => vec![format!("{} {n}", w[0])],
        ["put", n, kv, ..] => {
            let mut lines = vec![format!("put {n} {kv}")];
            if w.len() > 3 {
                lines.insert(0, format!("# script: {command} (the lesson's one client sends it)"));
            }
            lines.push("until returned within 300 ticks".into());
            lines
        }
        ["get", n, key, ..] => vec![format!("get {n} {key}"), "until returned within 300 ticks".into()],
        ["register", ..] => by_hand("the lesson's client registers on its first operation"),
        ["link", ..] => by_hand("a delay on one link: the lesson has `delay` for every link"),
        ["setlog", ..] => by_hand("a hand-made log: build it with partitions and puts"),
        ["status", ..] | ["log", ..] | ["kv", ..] | ["sessions", ..] => {
            by_hand("the console shows it: add `expect` lines to check it")
        }
        _ => by_hand("no lesson action does this"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_become_steps_and_comments_narration() {
        let script = "# Intro.\ncluster nodes=4 prevote=false\n---\nstart: …\n\n# First.\ncampaign n1\ndrop from=n1 to=n4\nstabilize\nstatus\n---\nn1@0 election timeout\n\n# Later.\ntick count=20 deliver=true\n---\nx\n";
        let lesson = skeleton("split_vote_resolves", script);
        let parsed = crate::lesson::parse("s", "s", &lesson).expect(&lesson);
        assert_eq!(parsed.title, "Split vote resolves");
        assert_eq!(parsed.setup.nodes, 4);
        assert!(!parsed.setup.switches.pre_vote);
        assert_eq!(parsed.intro, vec!["Intro."]);
        assert_eq!(parsed.steps.len(), 2);
        assert_eq!(parsed.steps[0].narration, vec!["First."]);
        let texts: Vec<&str> = parsed.steps[0].instructions.iter().map(|i| i.text.as_str()).collect();
        assert_eq!(texts, vec!["hold", "campaign n1", "drop from=n1 to=n4", "stabilize"]);
        assert!(lesson.contains("# script: status"), "{lesson}");
        let later: Vec<&str> = parsed.steps[1].instructions.iter().map(|i| i.text.as_str()).collect();
        assert_eq!(later, vec!["release", "ticks 20"]);
    }

    #[test]
    fn a_transfer_asks_whoever_leads_with_messages_held() {
        let script =
            "cluster nodes=3\n(campaign n1)\n---\nstart: …\n\n# Hand over.\ntransfer n1 n3\n---\nx\n";
        let lesson = skeleton("leadership_transfer", script);
        let parsed = crate::lesson::parse("s", "s", &lesson).expect(&lesson);
        // Step 1 is the set-up's campaign; the transfer is the script's first block.
        let step = parsed.steps.last().expect("a step");
        assert_eq!(step.narration, vec!["Hand over."]);
        let texts: Vec<&str> = step.instructions.iter().map(|i| i.text.as_str()).collect();
        assert_eq!(texts, vec!["hold", "transfer n3"]);
    }
}
