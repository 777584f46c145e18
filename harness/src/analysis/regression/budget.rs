//! What `compare` counts as a regression, per scenario, in the spirit of Kata's
//! checkmetrics: default limits by kind of figure, and entries that set a figure's limit or
//! an absolute budget for some wraps or accelerators. Read from
//! `scenarios/budgets/<scenario>.toml` when it exists, or from `compare --budgets FILE`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::figure::{self, Figure, Gate, Quantity};

/// The folder, under the repository, of the budget files named after their scenarios.
pub const BUDGETS_DIR: &str = "scenarios/budgets";

/// The default limits: a change must pass them to count.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rule {
    /// The family-wise false-alarm rate: the chance, on pure noise, of any flag among all of
    /// a comparison's rank-sum and Fisher tests (Holm's correction).
    pub alpha: f64,
    /// Smallest relative change of a median time that matters (0.15 = 15%).
    pub time_limit: f64,
    /// Relative rise of the 90th percentile of times that makes a tail regression.
    pub tail_limit: f64,
    /// Least change of a time, in milliseconds, that can count whatever its relative size:
    /// the probe's own granularity (its attempts start at most every 0.1 ms), so that a
    /// 1 ms host process is not judged on wobbles its timer cannot resolve.
    pub time_floor_ms: f64,
    /// Smallest relative change of median memory that matters.
    pub memory_limit: f64,
    /// Tolerance of one-value-per-image figures (sizes).
    pub size_limit: f64,
}

impl Default for Rule {
    fn default() -> Self {
        Rule {
            alpha: 0.01,
            time_limit: 0.15,
            tail_limit: 0.5,
            time_floor_ms: 0.25,
            memory_limit: 0.1,
            size_limit: 0.05,
        }
    }
}

impl Rule {
    /// The default limit of a figure of this kind.
    pub fn limit(&self, quantity: Quantity) -> f64 {
        match quantity {
            Quantity::Time => self.time_limit,
            Quantity::Memory => self.memory_limit,
            Quantity::Size | Quantity::Count => self.size_limit,
        }
    }
}

/// A limit or budget for one figure, for every wrap and accelerator unless it names some.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Only this wrap.
    pub wrap: Option<String>,
    /// Only runs under this accelerator (`kvm`, `tcg`, `native`).
    pub accel: Option<String>,
    /// The figure's CSV column.
    pub column: String,
    /// The figure's relative limit, instead of the default.
    pub limit: Option<f64>,
    /// An absolute budget in the column's unit: a candidate median above it regresses.
    pub max: Option<f64>,
    /// Why this entry exists (shown nowhere, kept for readers of the file).
    pub why: Option<String>,
}

impl Budget {
    fn applies(&self, wrap: &str, accel: &str, figure: &Figure) -> bool {
        self.column == figure.column
            && self.wrap.as_deref().is_none_or(|w| w == wrap)
            && self.accel.as_deref().is_none_or(|a| a == accel)
    }
}

/// The rules of one comparison.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budgets {
    /// The default limits.
    #[serde(default)]
    pub defaults: Rule,
    /// Per-figure entries; a later matching entry wins.
    #[serde(default, rename = "figure")]
    pub figures: Vec<Budget>,
}

/// A budget file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BudgetError {
    /// The file could not be read.
    #[error("cannot read the budgets {path}: {cause}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        cause: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("{path}: {cause}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the TOML layer said.
        cause: Box<toml::de::Error>,
    },
    /// A value is out of range or names an unknown figure.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, and what would be right.
        reason: String,
    },
}

impl Budgets {
    /// Reads and checks a budget file.
    pub fn load(path: &Path) -> Result<Budgets, BudgetError> {
        let text = std::fs::read_to_string(path).map_err(|cause| BudgetError::Read {
            path: path.to_path_buf(),
            cause,
        })?;
        Budgets::parse(&text, path)
    }

    /// Parses and checks the text of the budget file at `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Budgets, BudgetError> {
        let budgets: Budgets = toml::from_str(text).map_err(|cause| BudgetError::Parse {
            path: path.to_path_buf(),
            cause: Box::new(cause),
        })?;
        budgets.check().map_err(|reason| BudgetError::Invalid {
            path: path.to_path_buf(),
            reason,
        })?;
        Ok(budgets)
    }

    /// The budgets of `scenario` kept under `root`, or the defaults when it has none.
    pub fn for_scenario(root: &Path, scenario: &str) -> Result<Budgets, BudgetError> {
        let path = root.join(BUDGETS_DIR).join(format!("{scenario}.toml"));
        if path.exists() {
            Budgets::load(&path)
        } else {
            Ok(Budgets::default())
        }
    }

    fn check(&self) -> Result<(), String> {
        let rule = &self.defaults;
        if !(rule.alpha > 0.0 && rule.alpha < 1.0) {
            return Err(format!(
                "alpha must lie between 0 and 1, not {}",
                rule.alpha
            ));
        }
        let limits = [
            rule.time_limit,
            rule.tail_limit,
            rule.time_floor_ms,
            rule.memory_limit,
            rule.size_limit,
        ];
        if limits.iter().any(|l| !(l.is_finite() && *l >= 0.0)) {
            return Err("limits and the time floor must be 0 or more (0.2 = 20%)".into());
        }
        self.figures.iter().try_for_each(Budget::check)
    }
}

impl Budget {
    fn check(&self) -> Result<(), String> {
        let gated: Vec<&str> = figure::ALL
            .iter()
            .filter(|f| f.gate != Gate::None)
            .map(|f| f.column)
            .collect();
        if !gated.contains(&self.column.as_str()) {
            return Err(format!(
                "column '{}' is not a gated figure; use one of {}",
                self.column,
                gated.join(", ")
            ));
        }
        if self.limit.is_none() && self.max.is_none() {
            return Err(format!(
                "the entry for '{}' sets neither limit nor max",
                self.column
            ));
        }
        if self.limit.is_some_and(|l| !(l.is_finite() && l >= 0.0)) {
            return Err(format!("the limit of '{}' must be 0 or more", self.column));
        }
        if self.max.is_some_and(|m| !(m.is_finite() && m > 0.0)) {
            return Err(format!("the max of '{}' must be above 0", self.column));
        }
        Ok(())
    }
}

impl Budgets {
    /// The relative limit of `figure` for runs of `wrap` under `accel`.
    pub fn limit(&self, wrap: &str, accel: &str, figure: &Figure) -> f64 {
        self.matching(wrap, accel, figure)
            .find_map(|b| b.limit)
            .unwrap_or_else(|| self.defaults.limit(figure.quantity))
    }

    /// The absolute budget of `figure` for runs of `wrap` under `accel`, if any.
    pub fn max(&self, wrap: &str, accel: &str, figure: &Figure) -> Option<f64> {
        self.matching(wrap, accel, figure).find_map(|b| b.max)
    }

    /// Entries for this wrap and figure, the last in the file first.
    fn matching<'a>(
        &'a self,
        wrap: &'a str,
        accel: &'a str,
        figure: &'a Figure,
    ) -> impl Iterator<Item = &'a Budget> {
        self.figures
            .iter()
            .rev()
            .filter(move |b| b.applies(wrap, accel, figure))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figure::{IMAGE, STOP, TTFR};

    fn parse(text: &str) -> Result<Budgets, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.toml");
        std::fs::write(&path, text).unwrap();
        Budgets::load(&path).map_err(|e| e.to_string())
    }

    #[test]
    fn entries_override_defaults_for_the_wraps_they_name() {
        let budgets = parse(
            r#"
            [defaults]
            time_limit = 0.3

            [[figure]]
            accel = "tcg"
            column = "ttfr_ms"
            limit = 0.5

            [[figure]]
            wrap = "container"
            column = "image_bytes"
            max = 2e6
            "#,
        )
        .unwrap();
        assert_eq!(budgets.limit("hermit", "tcg", &TTFR), 0.5);
        assert_eq!(budgets.limit("hermit", "kvm", &TTFR), 0.3);
        assert_eq!(budgets.limit("hermit", "tcg", &STOP), 0.3);
        assert_eq!(budgets.limit("container", "native", &IMAGE), 0.05);
        assert_eq!(budgets.max("container", "native", &IMAGE), Some(2e6));
        assert_eq!(budgets.max("hermit", "tcg", &IMAGE), None);
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let unknown = parse("[[figure]]\ncolumn = \"rss_bytes\"\nlimit = 0.1\n").unwrap_err();
        assert!(unknown.contains("not a gated figure"), "{unknown}");
        let empty = parse("[[figure]]\ncolumn = \"ttfr_ms\"\n").unwrap_err();
        assert!(empty.contains("neither limit nor max"), "{empty}");
        let typo = parse("[defaults]\ntime_limt = 0.1\n").unwrap_err();
        assert!(typo.contains("time_limt"), "{typo}");
        let alpha = parse("[defaults]\nalpha = 2.0\n").unwrap_err();
        assert!(alpha.contains("alpha"), "{alpha}");
    }

    #[test]
    fn a_scenario_without_a_file_gets_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let budgets = Budgets::for_scenario(dir.path(), "nothing-here").unwrap();
        assert_eq!(budgets, Budgets::default());
    }
}
