//! The load table: one line per wrap and keep-alive mode, with throughput, latency
//! percentiles, errors, the instance's CPU per 1,000 requests, both sides' CPU use and what
//! bounded the load.

use super::{Style, new_table};
use crate::analysis::load::FULL;
use crate::results::load::{LoadRow, mode_name};

/// The table of a load run, rows in the order measured.
pub fn load_table(rows: &[LoadRow], style: Style) -> String {
    let (mut table, _) = new_table(style);
    table.set_header([
        "Wrap",
        "Keep-alive",
        "Ok",
        "Requests/s",
        "Latency p50 / p90 / p99 / max (ms)",
        "Errors",
        "Connections",
        "Instance CPU / 1000 requests (ms)",
        "CPU used (cores): instance / its busiest thread / generator",
        "Host busy (%)",
        "Limit",
    ]);
    for row in rows {
        let ms = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.2}"));
        let cores = |cpu_s: Option<f64>| match cpu_s {
            Some(s) if row.elapsed_s > 0.0 => format!("{:.2}", s / row.elapsed_s),
            _ => "missing".to_string(),
        };
        table.add_row([
            row.wrap.clone(),
            if row.keep_alive { "on" } else { "off" }.to_string(),
            if row.ok { "yes" } else { "no" }.to_string(),
            format!("{:.0}", row.requests_per_second),
            format!(
                "{} / {} / {} / {}",
                ms(row.p50_ms),
                ms(row.p90_ms),
                ms(row.p99_ms),
                ms(row.max_ms)
            ),
            row.errors.to_string(),
            row.connections_opened.to_string(),
            row.instance_cpu_ms_per_1000
                .map_or("missing".to_string(), |v| format!("{v:.1}")),
            format!(
                "{} / {} / {}",
                cores(row.instance_cpu_s),
                cores(row.busiest_instance_thread_s),
                cores(row.generator_cpu_s)
            ),
            row.host_busy_percent
                .map_or("missing".to_string(), |p| format!("{p:.0}")),
            row.limit.clone(),
        ]);
    }
    table.to_string()
}

/// What the table's columns mean, and each failed row's words.
pub fn load_notes(rows: &[LoadRow]) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(first) = rows.first() {
        notes.push(format!(
            "{} clients, each with one request in flight, for {} s after a warm-up; latency \
             from a request's start (its connect, without keep-alive) to its last byte. CPU \
             is user + system time on the host: the instance's host processes, and the \
             generator (this harness) on the same {} CPUs.",
            first.connections, first.duration_s, first.host_cpus
        ));
        notes.push(format!(
            "Limit: \"generator\" when the host's CPUs were {full:.0}% busy or more and the \
             generator used at least as much as the instance (the instance may serve more \
             than shown); \"instance\" when busy and the instance used more; \"instance \
             thread\" when the host had idle CPU but one thread of the instance ran {full:.0}% \
             of the time or more (a VM's single vCPU); \"latency\" otherwise.",
            full = FULL * 100.0
        ));
    }
    for row in rows.iter().filter(|r| !r.ok || !r.error.is_empty()) {
        let mode = mode_name(row.keep_alive);
        notes.push(format!("{} ({mode}): {}", row.wrap, row.error));
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Failure;
    use crate::results::load::tests::sample_load_row;

    #[test]
    fn one_line_per_load_and_a_note_for_each_failed_one() {
        let mut panicked = sample_load_row("hermit", false, 4.0);
        panicked.ok = false;
        panicked.failure = Some(Failure::GuestFatal);
        panicked.error = "the guest failed after its first response".into();
        let rows = [sample_load_row("native", true, 100_000.0), panicked];
        let table = load_table(&rows, Style::Markdown);
        assert_eq!(table.lines().count(), 4, "{table}");
        // 2.4 s of instance CPU over 3 s: 0.80 cores; 2.7 s of the generator's: 0.90.
        assert!(
            table.contains("| 100000 ") && table.contains("0.80 / 0.10 / 0.90"),
            "{table}"
        );
        let notes = load_notes(&rows);
        assert!(notes[0].starts_with("8 clients"), "{notes:?}");
        assert_eq!(
            notes.last().unwrap(),
            "hermit (no keep-alive): the guest failed after its first response"
        );
    }
}
