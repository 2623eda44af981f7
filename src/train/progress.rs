//! Progress display: an indicatif bar on a terminal (with the `cli`
//! feature), plain periodic lines otherwise.

use std::time::{Duration, Instant};

/// One optimiser step, as the loop reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct StepInfo {
    /// Epoch (0-based).
    pub epoch: usize,
    /// Epochs in the run.
    pub epochs: usize,
    /// Optimiser steps done, this one included.
    pub step: u64,
    /// Optimiser steps in the run.
    pub total_steps: u64,
    /// Loss of the last forward pass.
    pub loss: f32,
    /// Learning rate used.
    pub lr: f32,
    /// Images per second of the last forward+backward.
    pub images_per_s: f64,
}

/// Receives the loop's progress.
pub trait Reporter {
    /// The run starts with `done` of `total` steps already taken.
    fn start(&mut self, _total: u64, _done: u64) {}
    /// A step finished.
    fn step(&mut self, info: &StepInfo);
    /// An epoch finished with mean loss `loss`.
    fn epoch(&mut self, _epoch: usize, _loss: f32) {}
    /// The run finished.
    fn finish(&mut self) {}
}

/// Reports nothing (tests, embedded use).
#[derive(Default)]
pub struct Silent;

impl Reporter for Silent {
    fn step(&mut self, _info: &StepInfo) {}
}

fn eta(start: Instant, first: u64, info: &StepInfo) -> Duration {
    let done = info.step.saturating_sub(first).max(1) as f64;
    let left = info.total_steps.saturating_sub(info.step) as f64;
    Duration::from_secs_f64(start.elapsed().as_secs_f64() / done * left)
}

fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}m{:02}s", s / 60, s % 60)
}

/// Plain lines on stderr at most every `every` (for logs and pipes).
pub struct LineReporter {
    every: Duration,
    last: Option<Instant>,
    start: Instant,
    first: u64,
}

impl LineReporter {
    /// A reporter printing at most once per `every`.
    pub fn new(every: Duration) -> LineReporter {
        LineReporter {
            every,
            last: None,
            start: Instant::now(),
            first: 0,
        }
    }
}

impl Reporter for LineReporter {
    fn start(&mut self, _total: u64, done: u64) {
        self.start = Instant::now();
        self.first = done;
    }

    fn step(&mut self, info: &StepInfo) {
        let due =
            self.last.is_none_or(|t| t.elapsed() >= self.every) || info.step == info.total_steps;
        if due {
            self.last = Some(Instant::now());
            eprintln!(
                "epoch {}/{} step {}/{} loss {:.4} lr {:.2e} {:.1} img/s ETA {}",
                info.epoch + 1,
                info.epochs,
                info.step,
                info.total_steps,
                info.loss,
                info.lr,
                info.images_per_s,
                fmt_duration(eta(self.start, self.first, info))
            );
        }
    }

    fn epoch(&mut self, epoch: usize, loss: f32) {
        eprintln!("epoch {} done: mean loss {loss:.4}", epoch + 1);
    }
}

/// An indicatif progress bar with loss, images/s and ETA.
#[cfg(feature = "cli")]
pub struct BarReporter {
    bar: indicatif::ProgressBar,
}

#[cfg(feature = "cli")]
impl BarReporter {
    /// A bar on stderr.
    pub fn new() -> BarReporter {
        let bar = indicatif::ProgressBar::new(0);
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} steps {msg} ETA {eta}")
        {
            bar.set_style(style);
        }
        BarReporter { bar }
    }
}

#[cfg(feature = "cli")]
impl Default for BarReporter {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "cli")]
impl Reporter for BarReporter {
    fn start(&mut self, total: u64, done: u64) {
        self.bar.set_length(total);
        self.bar.set_position(done);
        self.bar.reset_eta();
    }

    fn step(&mut self, info: &StepInfo) {
        self.bar.set_position(info.step);
        self.bar.set_message(format!(
            "epoch {}/{} loss {:.4} {:.1} img/s",
            info.epoch + 1,
            info.epochs,
            info.loss,
            info.images_per_s
        ));
    }

    fn epoch(&mut self, epoch: usize, loss: f32) {
        self.bar
            .println(format!("epoch {} done: mean loss {loss:.4}", epoch + 1));
    }

    fn finish(&mut self) {
        self.bar.finish();
    }
}

/// A bar when stderr is a terminal and the `cli` feature is on; lines every
/// 10 s otherwise.
pub fn auto() -> Box<dyn Reporter> {
    #[cfg(feature = "cli")]
    {
        use std::io::IsTerminal;
        if std::io::stderr().is_terminal() {
            return Box::new(BarReporter::new());
        }
    }
    Box::new(LineReporter::new(Duration::from_secs(10)))
}
