//! A hand-drawn SVG bar chart: panels stacked top to bottom, each with a y axis, its
//! categories along x, one bar per series (resilience off, on) in each category, and values
//! over the bars.

use std::fmt::Write;

/// One chart of the figure.
pub(super) struct Panel {
    pub(super) title: String,
    /// The y axis' label, e.g. `% of requests`.
    pub(super) unit: &'static str,
    /// The top of the y axis; `None`: the values' maximum, rounded up. Shares are drawn to
    /// 100 %, so that a small one looks small.
    pub(super) max: Option<f64>,
    pub(super) categories: Vec<String>,
    /// `(name, colour, one value per category)`.
    pub(super) series: Vec<(&'static str, &'static str, Vec<f64>)>,
}

const WIDTH: f64 = 760.0;
const PANEL_HEIGHT: f64 = 260.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 56.0;
const BOTTOM: f64 = 50.0;

/// Colours of the two runs.
pub(super) const OFF: &str = "#d62728";
pub(super) const ON: &str = "#1f77b4";

pub(super) fn render(title: &str, panels: &[Panel]) -> String {
    let height = 30.0 + PANEL_HEIGHT * panels.len() as f64;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        out,
        r#"<rect width="100%" height="100%" fill="white"/><text x="{}" y="20" text-anchor="middle" font-size="15" font-weight="bold">{}</text>"#,
        WIDTH / 2.0,
        escape(title)
    );
    for (i, panel) in panels.iter().enumerate() {
        draw(&mut out, panel, 30.0 + PANEL_HEIGHT * i as f64);
    }
    out.push_str("</svg>\n");
    out
}

fn draw(out: &mut String, panel: &Panel, y0: f64) {
    let plot_h = PANEL_HEIGHT - TOP - BOTTOM;
    let plot_w = WIDTH - LEFT - RIGHT;
    let (top, bottom) = (y0 + TOP, y0 + TOP + plot_h);
    let max = panel
        .series
        .iter()
        .flat_map(|(_, _, v)| v.iter().copied())
        .fold(0.0_f64, f64::max);
    let scale_max = panel.max.unwrap_or_else(|| nice_ceiling(max));
    let y = |v: f64| bottom - plot_h * (v / scale_max);
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="{}" font-size="13" font-weight="bold">{}</text>"#,
        y0 + 22.0,
        escape(&panel.title)
    );
    // Legend, under the title.
    for (i, (name, colour, _)) in panel.series.iter().enumerate() {
        let x = LEFT + 120.0 * i as f64;
        let _ = writeln!(
            out,
            r#"<rect x="{x}" y="{}" width="12" height="12" fill="{colour}"/><text x="{}" y="{}">{}</text>"#,
            y0 + 30.0,
            x + 16.0,
            y0 + 40.0,
            escape(name)
        );
    }
    // Axes, grid lines and tick labels at fifths of the scale.
    for step in 0..=5 {
        let v = scale_max * f64::from(step) / 5.0;
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" x2="{}" y1="{yy}" y2="{yy}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y(v) + 4.0,
            label(v),
            yy = y(v),
        );
    }
    let _ = writeln!(
        out,
        r#"<line x1="{LEFT}" x2="{LEFT}" y1="{top}" y2="{bottom}" stroke="black"/><line x1="{LEFT}" x2="{}" y1="{bottom}" y2="{bottom}" stroke="black"/>"#,
        WIDTH - RIGHT
    );
    let _ = writeln!(
        out,
        r#"<text transform="translate(16 {}) rotate(-90)" text-anchor="middle">{}</text>"#,
        (top + bottom) / 2.0,
        escape(panel.unit)
    );
    let groups = panel.categories.len().max(1) as f64;
    let group_w = plot_w / groups;
    let bars = panel.series.len().max(1) as f64;
    let bar_w = (group_w * 0.7 / bars).min(60.0);
    for (c, category) in panel.categories.iter().enumerate() {
        let centre = LEFT + group_w * (c as f64 + 0.5);
        let _ = writeln!(
            out,
            r#"<text x="{centre}" y="{}" text-anchor="middle">{}</text>"#,
            bottom + 18.0,
            escape(category)
        );
        for (s, (_, colour, values)) in panel.series.iter().enumerate() {
            let value = values.get(c).copied().unwrap_or(0.0);
            let x = centre - bar_w * bars / 2.0 + bar_w * s as f64;
            let _ = writeln!(
                out,
                r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{colour}"/><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="10">{}</text>"#,
                y(value),
                bar_w - 2.0,
                bottom - y(value),
                x + bar_w / 2.0 - 1.0,
                y(value) - 3.0,
                label(value)
            );
        }
    }
}

/// The smallest of 1, 2, 5 × 10^n at or above `v` (100 for percentages near it).
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * magnitude)
}

fn label(v: f64) -> String {
    if v >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_has_a_bar_and_a_value_per_series_and_category() {
        let svg = render(
            "t <1>",
            &[Panel {
                title: "orders".into(),
                unit: "%",
                max: Some(100.0),
                categories: vec!["a".into(), "b".into()],
                series: vec![("off", OFF, vec![80.0, 12.5]), ("on", ON, vec![20.0, 0.0])],
            }],
        );
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(
            svg.matches(&format!(r#"fill="{OFF}""#)).count(),
            3,
            "legend and two bars"
        );
        assert!(svg.contains(">12.5<") && svg.contains(">80<"));
        assert!(svg.contains("t &lt;1&gt;"));
        assert_eq!(nice_ceiling(80.0), 100.0);
        assert_eq!(nice_ceiling(1234.0), 2000.0);
    }
}
