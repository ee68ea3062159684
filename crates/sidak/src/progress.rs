//! Progress of long commands for a person at a terminal: a bar (or a counter when the total is
//! unknown) on stderr, drawn only when stderr is a terminal and `--json` is off, so a pipe,
//! a file or a script gets nothing extra.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `len` steps counting `unit`, hidden unless a person is watching.
pub fn bar(len: u64, unit: &str, json: bool) -> ProgressBar {
    if json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    let template = format!("{{bar:30}} {{pos}}/{{len}} {unit} ({{per_sec}}, {{eta}} left)");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}

/// A spinner with a message that the work in progress updates, hidden unless a person is watching.
pub fn spinner(json: bool) -> ProgressBar {
    if json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let s = ProgressBar::new_spinner();
    s.enable_steady_tick(Duration::from_millis(200));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 18: scripts and pipes get nothing extra (the tests' stderr is not a terminal).
    #[test]
    fn nothing_is_drawn_for_a_script() {
        assert!(bar(10, "records", true).is_hidden());
        assert!(spinner(true).is_hidden());
        if !std::io::stderr().is_terminal() {
            assert!(bar(10, "records", false).is_hidden());
        }
    }
}
