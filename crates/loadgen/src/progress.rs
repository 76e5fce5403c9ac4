//! The live progress bar on stderr: elapsed time, current rate, current p99 and errors.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::time::Instant;

use crate::report::format_us;

/// How often the spinner turns between figure updates.
const SPINNER_EVERY: Duration = Duration::from_millis(200);

/// What the bar measures progress against.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Bound {
    /// A known number of requests.
    Requests(u64),
    /// A time limit.
    Time(Duration),
}

/// A progress bar, drawn only when wanted and stderr is a terminal.
#[derive(Debug)]
pub(crate) struct Progress {
    bar: ProgressBar,
    bound: Bound,
    start: Instant,
}

impl Progress {
    pub(crate) fn new(quiet: bool, bound: Bound, start: Instant) -> Self {
        let visible = !quiet && std::io::stderr().is_terminal();
        let length = match bound {
            Bound::Requests(n) => n,
            Bound::Time(limit) => u64::try_from(limit.as_millis()).unwrap_or(u64::MAX),
        };
        let bar = if visible {
            let bar = ProgressBar::with_draw_target(Some(length), ProgressDrawTarget::stderr());
            bar.enable_steady_tick(SPINNER_EVERY);
            bar
        } else {
            ProgressBar::hidden()
        };
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} {elapsed_precise} [{bar:30.cyan/blue}] {percent:>3}%  {msg}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message("starting");
        Self { bar, bound, start }
    }

    /// Redraws with the latest window: `finished` answers in `window`, their p99 and total
    /// errors so far.
    pub(crate) fn update(&self, total_finished: u64, window: (u64, u64, Duration), errors: u64) {
        let (finished, p99_us, span) = window;
        let rate = finished as f64 / span.as_secs_f64().max(1e-3);
        let position = match self.bound {
            Bound::Requests(_) => total_finished,
            Bound::Time(_) => u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
        self.bar.set_position(position);
        let p99 = if finished == 0 {
            "-".to_owned()
        } else {
            format_us(p99_us)
        };
        self.bar.set_message(format!(
            "{rate:>8.0} req/s  p99 {p99:>9}  done {total_finished}  errors {errors}"
        ));
    }

    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
