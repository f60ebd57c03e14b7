//! How `sync` shows a long pass moving, wherever its stderr goes: a bar on a terminal; a
//! line at each phase's start and end and at most every [`LINE_INTERVAL`] in between
//! elsewhere (a CI job, a container log); or the same lines as NDJSON with `--progress=json`.
//! While an API is being waited on (throttled, down), each says so: the bar at its end, the
//! lines in a `waiting` part ("waiting: HubSpot throttled (429), retrying in 8 s"), written
//! every [`LINE_INTERVAL`] even when nothing else moves.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use tte_sync_core::engine::Progress;
use tte_sync_core::http::waits;

/// How often the spinner of a phase without a known length ticks.
const TICK: Duration = Duration::from_millis(120);
/// The most often a progress line is written within one phase.
pub const LINE_INTERVAL: Duration = Duration::from_secs(5);
/// How often the display looks at which APIs are being waited on.
const WAIT_POLL: Duration = Duration::from_millis(500);

/// The first API being waited on now, said as people say it.
fn current_wait() -> Option<String> {
    waits::current().first().map(ToString::to_string)
}

/// A thread that calls `show` every [`WAIT_POLL`] while the display lives.
struct WaitWatch {
    stop: Arc<AtomicBool>,
}

impl WaitWatch {
    fn start(show: impl Fn() + Send + 'static) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                std::thread::sleep(WAIT_POLL);
                show();
            }
        });
        Self { stop }
    }
}

impl Drop for WaitWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

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
    _waits: WaitWatch,
}

impl Bar {
    fn new() -> Self {
        let bar = ProgressBar::new_spinner();
        bar.enable_steady_tick(TICK);
        let shown = bar.clone();
        let waits = WaitWatch::start(move || {
            shown.set_prefix(
                current_wait()
                    .map(|wait| format!("  {wait}"))
                    .unwrap_or_default(),
            );
        });
        Self { bar, _waits: waits }
    }
}

impl Progress for Bar {
    fn phase(&self, name: &str, total: u64) {
        self.bar.reset();
        if total == 0 {
            self.bar.set_style(
                ProgressStyle::with_template("{spinner} {msg}: {pos} records{prefix}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
        } else {
            self.bar.set_length(total);
            self.bar.set_style(
                ProgressStyle::with_template("{msg:>8} [{bar:40}] {pos}/{len} ({eta}){prefix}")
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
    /// The API being waited on, and why ("waiting: HubSpot throttled (429), retrying in
    /// 8 s").
    #[serde(skip_serializing_if = "Option::is_none")]
    waiting: Option<String>,
}

/// Progress lines on stderr, throttled to one per `interval` within a phase.
struct Lines {
    inner: Arc<LinesInner>,
    _waits: WaitWatch,
}

struct LinesInner {
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
        let inner = Arc::new(LinesInner {
            format,
            interval,
            started: now,
            state: Mutex::new(LineState {
                phase: None,
                done: 0,
                last_line: now,
            }),
        });
        let watched: Weak<LinesInner> = Arc::downgrade(&inner);
        let waits = WaitWatch::start(move || {
            if let Some(inner) = watched.upgrade() {
                inner.while_waiting();
            }
        });
        Self {
            inner,
            _waits: waits,
        }
    }
}

impl LinesInner {
    /// Writes a line when an API is being waited on and none was written for an interval,
    /// so a stalled pass says why it does not move.
    fn while_waiting(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.last_line.elapsed() < self.interval {
            return;
        }
        let Some(wait) = current_wait() else {
            return;
        };
        if state.phase.is_some() {
            self.line(&mut state, false);
            return;
        }
        // Before the first phase (the pass's checks): the wait alone.
        state.last_line = Instant::now();
        let text = match self.format {
            Format::Json => serde_json::json!({ "waiting": wait }).to_string(),
            Format::Text => format!("progress: {wait}"),
        };
        let _ = writeln!(std::io::stderr().lock(), "{text}");
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
            waiting: current_wait().filter(|_| !finished),
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
    let waiting = line
        .waiting
        .as_ref()
        .map(|wait| format!("; {wait}"))
        .unwrap_or_default();
    format!(
        "progress: {} {count}{finished} after {:.1} s{waiting}",
        line.phase, line.elapsed_secs
    )
}

impl Progress for Lines {
    fn phase(&self, name: &str, total: u64) {
        let inner = &self.inner;
        let mut state = inner.state.lock().unwrap_or_else(PoisonError::into_inner);
        inner.line(&mut state, true);
        state.phase = Some((name.to_owned(), total));
        state.done = 0;
        inner.line(&mut state, false);
    }

    fn advance(&self, steps: u64) {
        let inner = &self.inner;
        let mut state = inner.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.done += steps;
        if state.last_line.elapsed() >= inner.interval {
            inner.line(&mut state, false);
        }
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        let inner = &self.inner;
        let mut state = inner.state.lock().unwrap_or_else(PoisonError::into_inner);
        inner.line(&mut state, true);
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
            waiting: None,
        };
        assert_eq!(
            render_text(&line),
            "progress: writing 30/120 (25%) after 4.2 s"
        );
        let waiting = Line {
            waiting: Some("waiting: HubSpot throttled (429), retrying in 8 s".into()),
            ..line.clone()
        };
        assert_eq!(
            render_text(&waiting),
            "progress: writing 30/120 (25%) after 4.2 s; waiting: HubSpot throttled (429), retrying in 8 s"
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
