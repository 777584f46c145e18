//! Limits calibrated on A/A pairs: runs of one build against itself, measured the way an
//! A/B is. Each pair gives every wrap's per-launch figure a drift, the log of the ratio of
//! its two medians, which no code change caused. Taking the drift as normal around 0 with
//! the pairs' root mean square as its spread, a limit of `z * spread` (in logs) with
//! `z = z(1 - alpha / (2 M))` is passed by drift alone with a chance under alpha / M for each
//! of the night's M figures, under alpha for the whole night (Bonferroni), before any test.
//! A calibrated limit never goes below the figure's default: that is the change that
//! matters, whatever the noise.

use crate::analysis::regression::Budgets;
use crate::analysis::significance::normal_quantile;
use crate::analysis::stats::Summary;
use crate::figure::{self, Figure, Gate};
use crate::results::{ResultRow, distinct};

/// One A/A pair's rows: the two sides of one build.
pub type Pair = (Vec<ResultRow>, Vec<ResultRow>);

/// One wrap's figure over every pair.
#[derive(Debug, Clone)]
pub struct Drift {
    /// The wrap.
    pub wrap: String,
    /// Its accelerator.
    pub accel: String,
    /// The figure.
    pub figure: &'static Figure,
    /// `ln(median B / median A)` of each pair that had samples on both sides.
    pub log_ratios: Vec<f64>,
}

impl Drift {
    /// The root mean square of the log ratios: the drift's spread around no change.
    pub fn spread(&self) -> f64 {
        let n = self.log_ratios.len().max(1) as f64;
        (self.log_ratios.iter().map(|d| d * d).sum::<f64>() / n).sqrt()
    }

    /// The largest relative change of the medians seen in a pair.
    pub fn largest(&self) -> f64 {
        self.log_ratios
            .iter()
            .map(|d| d.abs().exp() - 1.0)
            .fold(0.0, f64::max)
    }

    /// The relative limit that drift alone passes with a chance under `alpha / figures`.
    pub fn limit(&self, alpha: f64, figures: usize) -> f64 {
        let z = normal_quantile(1.0 - alpha / (2.0 * figures.max(1) as f64));
        (z * self.spread()).exp() - 1.0
    }
}

/// The per-launch figures the gate judges by their median.
fn median_gated() -> impl Iterator<Item = &'static Figure> {
    figure::ALL
        .iter()
        .copied()
        .filter(|f| matches!(f.gate, Gate::Median | Gate::MedianAndTail))
}

fn median_of(rows: &[ResultRow], wrap: &str, figure: &Figure) -> Option<f64> {
    let samples: Vec<f64> = rows
        .iter()
        .filter(|r| r.ok && r.wrap == wrap)
        .filter_map(|r| (figure.value)(r))
        .collect();
    Summary::of(&samples).map(|s| s.median)
}

/// Every wrap's median-gated figures over `pairs`, those with samples in at least one pair.
pub fn drifts(pairs: &[Pair]) -> Vec<Drift> {
    let all: Vec<&ResultRow> = pairs.iter().flat_map(|(a, b)| a.iter().chain(b)).collect();
    let mut drifts = Vec::new();
    for wrap in distinct(all.iter().copied(), |r| &r.wrap) {
        let accel = all
            .iter()
            .find(|r| r.wrap == wrap)
            .map_or(String::new(), |r| r.accel.clone());
        for figure in median_gated() {
            let log_ratios: Vec<f64> = pairs
                .iter()
                .filter_map(|(a, b)| {
                    let (a, b) = (median_of(a, &wrap, figure)?, median_of(b, &wrap, figure)?);
                    (a > 0.0 && b > 0.0).then(|| (b / a).ln())
                })
                .collect();
            if !log_ratios.is_empty() {
                drifts.push(Drift {
                    wrap: wrap.clone(),
                    accel: accel.clone(),
                    figure,
                    log_ratios,
                });
            }
        }
    }
    drifts
}

/// The first line of the budgets file's calibrated section; it runs to [`SECTION_END`].
pub const SECTION_START: &str = "# --- calibrated by `shrinkwrap calibrate`";
/// The last line of the calibrated section.
pub const SECTION_END: &str = "# --- end of the calibrated section ---";

/// The calibrated section of a budgets file: how it was obtained, every figure's drift, and
/// a `[[figure]]` limit where the calibrated limit is above the one `budgets` (the file
/// without its old section) gives.
pub fn section(drifts: &[Drift], budgets: &Budgets, how: &str) -> String {
    let alpha = budgets.defaults.alpha;
    let figures = drifts.len();
    let mut lines = vec![
        format!("{SECTION_START}: replaced by the next calibration ---"),
        format!("# {how}"),
        format!(
            "# Drift of each median between the two sides of a pair (rms of the log ratio, and \
             the largest change); a limit is written where z({:.5}) x rms, drift alone passing \
             it with a chance under {alpha} over the night's {figures} figures, is above the \
             default.",
            1.0 - alpha / (2.0 * figures.max(1) as f64)
        ),
    ];
    let mut entries = Vec::new();
    for drift in drifts {
        let current = budgets.limit(&drift.wrap, &drift.accel, drift.figure);
        let calibrated = drift.limit(alpha, figures);
        lines.push(format!(
            "#   {:<18} {:<22} rms {:>5.1}%  largest {:>5.1}%  limit {:>5.1}% ({} pairs)",
            drift.wrap,
            drift.figure.column,
            (drift.spread().exp() - 1.0) * 100.0,
            drift.largest() * 100.0,
            calibrated.max(current) * 100.0,
            drift.log_ratios.len()
        ));
        if calibrated > current {
            entries.push(format!(
                "\n[[figure]]\nwrap = \"{}\"\naccel = \"{}\"\ncolumn = \"{}\"\nlimit = {:.3}\nwhy = \
                 \"A/A drift rms {:.1}%, largest {:.1}% in {} pairs\"",
                drift.wrap,
                drift.accel,
                drift.figure.column,
                calibrated,
                (drift.spread().exp() - 1.0) * 100.0,
                drift.largest() * 100.0,
                drift.log_ratios.len()
            ));
        }
    }
    lines.extend(entries);
    lines.push(SECTION_END.to_string());
    lines.join("\n") + "\n"
}

/// `text` of a budgets file without its calibrated section, if it has one.
pub fn without_section(text: &str) -> String {
    match (text.find(SECTION_START), text.find(SECTION_END)) {
        (Some(start), Some(end)) if end > start => {
            let after = &text[end + SECTION_END.len()..];
            format!("{}{}", &text[..start], after.trim_start_matches('\n'))
        }
        _ => text.to_string(),
    }
}

/// `text` with `section` in place of its calibrated section, or at its end.
pub fn with_section(text: &str, section: &str) -> String {
    let rest = without_section(text);
    let rest = rest.trim_end();
    if rest.is_empty() {
        section.to_string()
    } else {
        format!("{rest}\n\n{section}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figure::TTFR;

    fn rows(wrap: &str, ttfr: &[f64]) -> Vec<ResultRow> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/hello-rust-results.csv"
        );
        let template = crate::results::read_results(std::path::Path::new(path)).unwrap()[0].clone();
        ttfr.iter()
            .map(|&t| ResultRow {
                wrap: wrap.into(),
                accel: "tcg".into(),
                ttfr_ms: Some(t),
                ..template.clone()
            })
            .collect()
    }

    #[test]
    fn drift_is_the_rms_of_the_medians_log_ratios() {
        let pairs = vec![
            (
                rows("w", &[100.0, 100.0, 100.0]),
                rows("w", &[110.0, 110.0, 110.0]),
            ),
            (
                rows("w", &[100.0, 100.0, 100.0]),
                rows("w", &[100.0 / 1.1, 90.0, 95.0]),
            ),
        ];
        let drifts = drifts(&pairs);
        let ttfr = drifts
            .iter()
            .find(|d| d.figure.column == TTFR.column)
            .unwrap();
        assert!((ttfr.spread() - 1.1_f64.ln()).abs() < 1e-9);
        assert!((ttfr.largest() - 0.1).abs() < 1e-9);
        // z(1 - 0.01 / 2) = 2.576 for one figure: exp(2.576 x ln 1.1) - 1.
        assert!(
            (ttfr.limit(0.01, 1) - 0.278).abs() < 0.001,
            "{}",
            ttfr.limit(0.01, 1)
        );
        assert!(
            ttfr.limit(0.01, 60) > ttfr.limit(0.01, 1),
            "more figures, wider limits"
        );
    }

    #[test]
    fn the_section_sets_limits_above_the_defaults_only_and_replaces_itself() {
        let pairs = vec![
            (rows("noisy", &[100.0; 3]), rows("noisy", &[130.0; 3])),
            (rows("steady", &[100.0; 3]), rows("steady", &[101.0; 3])),
        ];
        let budgets = Budgets::default();
        let section = section(&drifts(&pairs), &budgets, "2 pairs by hand");
        assert!(section.contains("wrap = \"noisy\""), "{section}");
        assert!(!section.contains("wrap = \"steady\""), "{section}");
        assert!(
            section.contains("#   steady"),
            "every figure's drift is listed"
        );
        let file = "[defaults]\nalpha = 0.01\n";
        let once = with_section(file, &section);
        let parsed: Budgets = toml::from_str(&once).unwrap();
        assert!(parsed.limit("noisy", "tcg", &TTFR) > 0.5);
        assert_eq!(parsed.limit("steady", "tcg", &TTFR), 0.15);
        let twice = with_section(&once, &section);
        assert_eq!(once, twice, "a new calibration replaces the old section");
        assert_eq!(without_section(&once).trim_end(), file.trim_end());
    }
}
