//! Where each wrap's cold start goes: a bar per wrap split at the median times of its
//! start-up events (the runtime's calls, QMP, the console's first output, its phase lines,
//! the ready line), each part the share of the median first response spent until that
//! event, with the whole first response written beside it.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::style::{self, FONT, LABEL_PX, NOTE_PX, SIZE, TICK_PX};
use super::{Provenance, slot_names};
use crate::analysis::{FIRST_200, FIXED_EVENTS, WrapSummary};
use crate::figure;

/// Room right of the 100% mark for the first response's total, in percent.
const TOTAL_ROOM: f64 = 18.0;
/// Height of the legend's band, in pixels: two rows of entries.
const LEGEND_PX: u32 = 100;
/// Colours of the parts, in legend order: distinct at a glance and in print (Tableau 10).
const COLOURS: [(u8, u8, u8); 10] = [
    (78, 121, 167),
    (242, 142, 43),
    (89, 161, 79),
    (225, 87, 89),
    (118, 183, 178),
    (237, 201, 72),
    (176, 122, 161),
    (255, 157, 167),
    (156, 117, 95),
    (186, 176, 172),
];

/// One part of a bar: the share (0–100) of the first response until `event`.
struct Part {
    event: String,
    from: f64,
    to: f64,
}

/// One wrap's bar.
struct StartUp {
    wrap: String,
    parts: Vec<Part>,
    total: String,
}

fn start_ups(summaries: &[WrapSummary]) -> Vec<StartUp> {
    summaries
        .iter()
        .filter_map(|s| {
            let total = s
                .start_up
                .last()
                .filter(|(name, _)| name == FIRST_200)?
                .1
                .median;
            let mut parts = Vec::new();
            let mut from = 0.0;
            for (event, summary) in &s.start_up {
                let to = (summary.median / total * 100.0).clamp(from, 100.0);
                parts.push(Part {
                    event: event.clone(),
                    from,
                    to,
                });
                from = to;
            }
            Some(StartUp {
                wrap: s.wrap.clone(),
                parts,
                total: format!("{} s", figure::TTFR.format(total)),
            })
        })
        .collect()
}

/// Every event in the bars, in the order the legend lists them: the fixed events in launch
/// order, the console's phase lines as they come, the first 200 last.
fn legend(start_ups: &[StartUp]) -> Vec<String> {
    let mut events: Vec<String> = Vec::new();
    let seen = |name: &str| {
        start_ups
            .iter()
            .any(|s| s.parts.iter().any(|p| p.event == name))
    };
    let phase_lines = start_ups
        .iter()
        .flat_map(|s| s.parts.iter().map(|p| p.event.as_str()))
        .filter(|e| !FIXED_EVENTS.contains(e) && *e != FIRST_200);
    // The ready line comes after the boot's phase lines, the first 200 last of all.
    let (ready, fixed): (Vec<&str>, Vec<&str>) =
        FIXED_EVENTS.iter().partition(|e| **e == "ready line");
    let in_order = fixed.into_iter().chain(phase_lines).chain(ready);
    for event in in_order.filter(|e| seen(e)) {
        if !events.iter().any(|e| e == event) {
            events.push(event.to_string());
        }
    }
    events.push(FIRST_200.to_string());
    events
}

/// Where each wrap's cold start goes, a bar each.
pub struct StartUpChart<'a> {
    start_ups: Vec<StartUp>,
    provenance: &'a Provenance,
}

impl<'a> StartUpChart<'a> {
    /// The chart of the wraps in `summaries` that have a first 200.
    pub fn new(summaries: &[WrapSummary], provenance: &'a Provenance) -> StartUpChart<'a> {
        StartUpChart {
            start_ups: start_ups(summaries),
            provenance,
        }
    }
}

impl style::Slide for StartUpChart<'_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: DrawingArea<DB, plotters::coord::Shift>,
    ) -> Result<(), String> {
        draw(root, &self.start_ups, self.provenance)
    }
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    start_ups: &[StartUp],
    provenance: &Provenance,
) -> Result<(), String> {
    let text = |e: &dyn std::fmt::Display| e.to_string();
    let note = format!(
        "{} · each part: the median time until that event, as a share of the median first response",
        provenance.footnote()
    );
    let page = style::with_footnote(&root, &note)?;
    let (chart_area, legend_area) = page.split_vertically(SIZE.1 - NOTE_PX * 3 - LEGEND_PX);
    let events = legend(start_ups);
    let color = |event: &str| {
        let index = events.iter().position(|e| e == event).unwrap_or(0);
        let (r, g, b) = COLOURS[index % COLOURS.len()];
        RGBColor(r, g, b).to_rgba()
    };
    draw_legend(&legend_area, &events, &color)?;
    let label_width = style::row_label_width(start_ups.iter().map(|s| s.wrap.as_str()));
    let slots = start_ups.len();
    let mut chart = style::chart_on(&chart_area, "Where each cold start goes", label_width)
        .build_cartesian_2d(0f64..100.0 + TOTAL_ROOM, 0f64..slots as f64)
        .map_err(|e| text(&e))?;
    let names: Vec<&str> = start_ups.iter().map(|s| s.wrap.as_str()).collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .light_line_style(TRANSPARENT)
        .y_labels(slots * 2 + 1)
        .y_label_formatter(&|y| slot_names(&names, *y))
        .x_labels(6)
        .x_label_formatter(&|x| {
            if *x <= 100.0 {
                format!("{x:.0}")
            } else {
                String::new()
            }
        })
        .x_desc("Share of the median first response (%)")
        .label_style((FONT, LABEL_PX))
        .axis_desc_style((FONT, LABEL_PX))
        .x_label_style((FONT, TICK_PX))
        .draw()
        .map_err(|e| text(&e))?;
    for (i, start_up) in start_ups.iter().enumerate() {
        let bottom = (slots - 1 - i) as f64 + 0.2;
        let top = bottom + 0.6;
        chart
            .draw_series(
                start_up.parts.iter().filter(|p| p.to > p.from).map(|p| {
                    Rectangle::new([(p.from, bottom), (p.to, top)], color(&p.event).filled())
                }),
            )
            .map_err(|e| text(&e))?;
        let style = (FONT, TICK_PX)
            .into_text_style(chart.plotting_area())
            .pos(Pos::new(HPos::Left, VPos::Center));
        chart
            .draw_series(std::iter::once(Text::new(
                start_up.total.clone(),
                (101.0, (bottom + top) / 2.0),
                style,
            )))
            .map_err(|e| text(&e))?;
    }
    root.present().map_err(|e| text(&e))
}

/// Coloured squares, each with the event its parts end at, in rows as wide as the figure.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    events: &[String],
    color: &dyn Fn(&str) -> RGBAColor,
) -> Result<(), String> {
    let text = |e: &dyn std::fmt::Display| e.to_string();
    let font = (FONT, TICK_PX).into_text_style(area);
    let square = TICK_PX as i32;
    let row_height = (LEGEND_PX / 2) as i32;
    let (mut x, mut y) = (40i32, 8i32);
    for event in events {
        let label = format!("until {event}");
        let (width, _) = area
            .estimate_text_size(&label, &font)
            .map_err(|e| text(&e))?;
        let entry = square + 8 + width as i32 + 36;
        if x + entry > SIZE.0 as i32 - 20 {
            (x, y) = (40, y + row_height);
        }
        area.draw(&Rectangle::new(
            [(x, y), (x + square, y + square)],
            color(event).filled(),
        ))
        .map_err(|e| text(&e))?;
        area.draw(&Text::new(label, (x + square + 8, y), font.clone()))
            .map_err(|e| text(&e))?;
        x += entry;
    }
    Ok(())
}
