//! The live progress display: a few lines redrawn in place on a terminal, one line now and
//! then otherwise (so that a piped run stays readable).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// What one frame shows.
#[derive(Debug, Clone, Default)]
pub(super) struct Frame {
    pub placed: usize,
    pub target: usize,
    pub cancellations: usize,
    pub sold_out: usize,
    pub booked: u64,
    pub phase: &'static str,
    pub markets: Vec<MarketLine>,
}

/// One marketplace's line.
#[derive(Debug, Clone, Default)]
pub(super) struct MarketLine {
    pub channel: String,
    pub push_requests: usize,
    pub pushed_listings: usize,
    /// SKUs whose shown quantity differs from the ledger.
    pub skus_behind: usize,
}

pub(super) struct Display {
    terminal: bool,
    lines_drawn: usize,
    last_plain: Option<Instant>,
}

/// How often a non-terminal output gets a progress line.
const PLAIN_EVERY: Duration = Duration::from_secs(2);

impl Display {
    pub(super) fn new() -> Self {
        Self {
            terminal: std::io::stdout().is_terminal(),
            lines_drawn: 0,
            last_plain: None,
        }
    }

    pub(super) fn draw(&mut self, frame: &Frame) {
        let lines = render(frame);
        let mut out = std::io::stdout().lock();
        if self.terminal {
            if self.lines_drawn > 0 {
                // Back to the first line of the previous frame.
                let _ = write!(out, "\x1b[{}F", self.lines_drawn);
            }
            for line in &lines {
                let _ = writeln!(out, "\x1b[2K{line}");
            }
            self.lines_drawn = lines.len();
        } else {
            let due = self
                .last_plain
                .is_none_or(|last| last.elapsed() >= PLAIN_EVERY);
            if due {
                let _ = writeln!(out, "{}", lines.join(" | "));
                self.last_plain = Some(Instant::now());
            }
        }
        let _ = out.flush();
    }
}

impl Default for Display {
    fn default() -> Self {
        Self::new()
    }
}

fn render(frame: &Frame) -> Vec<String> {
    let mut lines = vec![format!(
        "{:<12} orders placed {}/{} (cancelled {}, sold out {}), order events booked {}",
        frame.phase, frame.placed, frame.target, frame.cancellations, frame.sold_out, frame.booked
    )];
    for market in &frame.markets {
        let state = if market.skus_behind == 0 {
            "in step with the ledger".to_string()
        } else {
            let plural = if market.skus_behind == 1 { "" } else { "s" };
            format!("{} SKU{plural} behind", market.skus_behind)
        };
        lines.push(format!(
            "  {:<10} {:>5} pushes ({:>5} listing updates)  {state}",
            market.channel, market.push_requests, market.pushed_listings
        ));
    }
    lines
}
