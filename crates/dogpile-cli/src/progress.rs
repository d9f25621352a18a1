//! Progress of a long command: a bar redrawn in place on a terminal (indicatif), plain lines
//! on stderr otherwise (a log, CI), so that neither gets the other's output.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Work of `total` units, in named stages.
pub struct Progress {
    bar: Option<ProgressBar>,
    plain: Mutex<Plain>,
    total: u64,
    every: Duration,
    /// Whether plain lines show units done (not for a timed run, whose units are milliseconds).
    counted: bool,
}

/// The plain lines' state: the stage, the units done, when the last line went out.
struct Plain {
    stage: String,
    done: u64,
    printed: Instant,
}

/// How often plain lines report within a stage.
const EVERY: Duration = Duration::from_secs(5);

impl Progress {
    /// Progress over `total` units; a bar only when stderr is a terminal.
    pub fn new(total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template("  {bar:30} {pos}/{len} {msg} [{elapsed}, ~{eta} left]")
                .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        let plain = Plain { stage: String::new(), done: 0, printed: Instant::now() };
        Progress { bar, plain: Mutex::new(plain), total, every: EVERY, counted: true }
    }

    /// Progress over a run of fixed length, counted in milliseconds: the bar shows the time
    /// gone and the time left, plain mode a line each `every`.
    pub fn timed(length: Duration, every: Duration) -> Self {
        let total = u64::try_from(length.as_millis()).unwrap_or(u64::MAX);
        let mut progress = Progress::new(total);
        if let Some(bar) = &progress.bar {
            // The message carries the times; `wide_msg` cuts it to the terminal's width.
            let style =
                ProgressStyle::with_template("  {bar:12} {wide_msg}").unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
        }
        progress.every = every;
        progress.counted = false;
        progress
    }

    /// Moves to `done` units with `detail` beside the stage (in plain mode, a line at most
    /// each interval, the first one interval in).
    pub fn update(&self, done: u64, detail: &str) {
        let mut plain = self.plain.lock().unwrap_or_else(|p| p.into_inner());
        plain.done = done.min(self.total);
        match &self.bar {
            Some(bar) => {
                bar.set_position(plain.done);
                bar.set_message(format!("{}  {detail}", plain.stage));
            }
            None if plain.printed.elapsed() >= self.every => {
                eprintln!("  {}: {detail}", plain.stage);
                plain.printed = Instant::now();
            }
            None => {}
        }
    }

    /// Starts a stage (one line in plain mode).
    pub fn stage(&self, name: &str) {
        let mut plain = self.plain.lock().unwrap_or_else(|p| p.into_inner());
        plain.stage = name.to_owned();
        match &self.bar {
            Some(bar) => bar.set_message(name.to_owned()),
            None => {
                match self.counted {
                    true => eprintln!("  {name} ({}/{})", plain.done, self.total),
                    false => eprintln!("  {name}"),
                }
                plain.printed = Instant::now();
            }
        }
    }

    /// `n` more units done (in plain mode, a line at most every few seconds).
    pub fn advance(&self, n: u64) {
        let mut plain = self.plain.lock().unwrap_or_else(|p| p.into_inner());
        plain.done += n;
        match &self.bar {
            Some(bar) => bar.inc(n),
            None if plain.printed.elapsed() >= self.every => {
                eprintln!("  {} ({}/{})", plain.stage, plain.done, self.total);
                plain.printed = Instant::now();
            }
            None => {}
        }
    }

    /// Ends the progress: the bar goes away.
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}
