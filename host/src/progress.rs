//! How `sync` shows a long pass moving, wherever its stderr goes: a bar on a terminal; a
//! line at each phase's start and end and at most every [`LINE_INTERVAL`] in between
//! elsewhere (a CI job, a container log); or the same lines as NDJSON with `--progress=json`.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use tte_sync_core::engine::Progress;

/// How often the spinner of a phase without a known length ticks.
const TICK: Duration = Duration::from_millis(120);
/// The most often a progress line is written within one phase.
pub const LINE_INTERVAL: Duration = Duration::from_secs(5);

/// `--progress`: where progress goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// A bar when stderr is a terminal, text lines otherwise.
    #[default]
    Auto,
    /// A bar on stderr.
    Bar,
    /// Text lines on stderr.
    Text,
    /// One JSON object per line on stderr.
    Json,
    /// Nothing.
    Off,
}

impl ProgressMode {
    /// The reporter for this mode, or `None` for `off`.
    pub fn reporter(self) -> Option<Arc<dyn Progress>> {
        match self {
            ProgressMode::Auto if std::io::stderr().is_terminal() => Some(Arc::new(Bar::new())),
            ProgressMode::Bar => Some(Arc::new(Bar::new())),
            ProgressMode::Auto | ProgressMode::Text => {
                Some(Arc::new(Lines::new(Format::Text, LINE_INTERVAL)))
            }
            ProgressMode::Json => Some(Arc::new(Lines::new(Format::Json, LINE_INTERVAL))),
            ProgressMode::Off => None,
        }
    }
}

/// A progress bar on stderr, one phase at a time.
struct Bar {
    bar: ProgressBar,
}

impl Bar {
    fn new() -> Self {
        let bar = ProgressBar::new_spinner();
        bar.enable_steady_tick(TICK);
        Self { bar }
    }
}

impl Progress for Bar {
    fn phase(&self, name: &str, total: u64) {
        self.bar.reset();
        if total == 0 {
            self.bar.set_style(
                ProgressStyle::with_template("{spinner} {msg}: {pos} records")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
        } else {
            self.bar.set_length(total);
            self.bar.set_style(
                ProgressStyle::with_template("{msg:>8} [{bar:40}] {pos}/{len} ({eta})")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
        }
        self.bar.set_message(name.to_owned());
    }

    fn advance(&self, steps: u64) {
        self.bar.inc(steps);
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

/// One progress line.
#[derive(Debug, Clone, Serialize)]
struct Line {
    phase: String,
    /// Steps done in this phase.
    done: u64,
    /// Steps in this phase; 0 when not known ahead (reading pages).
    total: u64,
    /// Whether the phase is over.
    finished: bool,
    /// Since the pass started.
    elapsed_secs: f64,
}

/// Progress lines on stderr, throttled to one per `interval` within a phase.
struct Lines {
    format: Format,
    interval: Duration,
    started: Instant,
    state: Mutex<LineState>,
}

struct LineState {
    phase: Option<(String, u64)>,
    done: u64,
    last_line: Instant,
}

impl Lines {
    fn new(format: Format, interval: Duration) -> Self {
        let now = Instant::now();
        Self {
            format,
            interval,
            started: now,
            state: Mutex::new(LineState {
                phase: None,
                done: 0,
                last_line: now,
            }),
        }
    }

    fn line(&self, state: &mut LineState, finished: bool) {
        let Some((phase, total)) = &state.phase else {
            return;
        };
        let line = Line {
            phase: phase.clone(),
            done: state.done,
            total: *total,
            finished,
            elapsed_secs: (self.started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        };
        state.last_line = Instant::now();
        let text = match self.format {
            Format::Json => serde_json::to_string(&line).unwrap_or_default(),
            Format::Text => render_text(&line),
        };
        let _ = writeln!(std::io::stderr().lock(), "{text}");
    }
}

fn render_text(line: &Line) -> String {
    let count = if line.total > 0 {
        format!(
            "{}/{} ({}%)",
            line.done,
            line.total,
            line.done * 100 / line.total
        )
    } else {
        format!("{} records", line.done)
    };
    let finished = if line.finished { " done," } else { "" };
    format!(
        "progress: {} {count}{finished} after {:.1} s",
        line.phase, line.elapsed_secs
    )
}

impl Progress for Lines {
    fn phase(&self, name: &str, total: u64) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        self.line(&mut state, true);
        state.phase = Some((name.to_owned(), total));
        state.done = 0;
        self.line(&mut state, false);
    }

    fn advance(&self, steps: u64) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.done += steps;
        if state.last_line.elapsed() >= self.interval {
            self.line(&mut state, false);
        }
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        self.line(&mut state, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_lines_read_well() {
        let line = Line {
            phase: "writing".into(),
            done: 30,
            total: 120,
            finished: false,
            elapsed_secs: 4.2,
        };
        assert_eq!(
            render_text(&line),
            "progress: writing 30/120 (25%) after 4.2 s"
        );
        let done = Line {
            phase: "reading".into(),
            done: 300,
            total: 0,
            finished: true,
            ..line
        };
        assert_eq!(
            render_text(&done),
            "progress: reading 300 records done, after 4.2 s"
        );
    }
}
