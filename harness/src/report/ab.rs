//! The A/B report: the first pass (a screen), the retry of what it flagged on launches,
//! and the verdict: regressions of fact (an image's size, a wrap gone) and what both passes
//! flagged.

use super::{Style, comparison_report};
use crate::results::{ResultRow, distinct};
use crate::runner::ab::{AbOutcome, Pass};

/// Both passes and the verdict, in the style asked for.
pub fn ab_report(outcome: &AbOutcome, style: Style) -> String {
    let heading = match style {
        Style::Markdown => "### ",
        Style::Terminal => "",
    };
    let runs = |pass: &Pass| {
        let sides = [&pass.baseline, &pass.candidate];
        let per_wrap = |rows: &Vec<ResultRow>| {
            distinct(rows, |r| &r.wrap)
                .iter()
                .map(|w| rows.iter().filter(|r| r.wrap == *w).count())
                .max()
                .unwrap_or(0)
        };
        sides.into_iter().map(per_wrap).max().unwrap_or(0)
    };
    let mut blocks = vec![
        format!(
            "{heading}First pass: {} runs a side per wrap, interleaved; each test at alpha on its \
             own, a screen whose flags are measured again",
            runs(&outcome.first)
        ),
        comparison_report(&outcome.first_verdicts, style),
    ];
    match &outcome.retry {
        None => blocks.push(format!(
            "{heading}Retry: nothing flagged on launches, nothing retried"
        )),
        Some((pass, verdicts)) => {
            let wraps = AbOutcome::flagged_wraps(&outcome.first_verdicts);
            blocks.push(format!(
                "{heading}Retry of {}: {} runs a side, interleaved, new launches",
                wraps.join(", "),
                runs(pass)
            ));
            blocks.push(comparison_report(verdicts, style));
        }
    }
    let confirmed = outcome.confirmed();
    let verdict = if confirmed.is_empty() {
        "no regression".to_string()
    } else {
        let named: Vec<String> = confirmed
            .iter()
            .map(|f| {
                let figure = f.figure.map_or("runs ok", |f| f.title);
                format!("{} {} ({})", f.wrap, figure.to_lowercase(), f.check)
            })
            .collect();
        format!(
            "{} regression(s), each of fact or flagged in both passes: {}",
            confirmed.len(),
            named.join("; ")
        )
    };
    blocks.push(format!("{heading}Verdict: {verdict}"));
    blocks.join("\n\n")
}
