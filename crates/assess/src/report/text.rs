//! The terminal report: aligned columns, a bar per category, colour only when allowed.

use std::fmt::Write;

use crossterm::style::Stylize;

use super::{Report, five_points, points_label};
use crate::lang::{display_width, messages, pad};
use crate::score::{MAX_TOTAL, Points};

/// The width of a category bar, in cells.
const BAR_WIDTH: i32 = 20;

pub(super) fn render(report: &Report<'_>) -> String {
    let lang = report.lang;
    let m = messages(lang);
    let a = report.assessment;
    let width = a
        .items()
        .map(|r| display_width(r.item.title(lang)) + 2)
        .chain(
            a.categories
                .iter()
                .map(|c| display_width(c.category.title(lang))),
        )
        .max()
        .unwrap_or_default()
        + 2;
    let mut out = String::new();
    let _ = writeln!(out, "{}\n", heading(m.heading, report.color));
    for c in &a.categories {
        let title = pad(c.category.title(lang), width);
        let _ = writeln!(
            out,
            "{} {:>5} / {:<3} {} {:>3}%",
            bold(&title, report.color),
            c.points.to_string(),
            c.max.tenths() / 10,
            bar(c.points, c.max, report.color),
            c.points.percent_of(c.max),
        );
        for r in &c.items {
            let _ = writeln!(
                out,
                "  {} {}/5 {:>5} / {}",
                pad(r.item.title(lang), width - 2),
                r.score.get(),
                r.points.to_string(),
                r.max.tenths() / 10,
            );
        }
        out.push('\n');
    }
    let total = format!("{}: {} / 100", m.total, a.total);
    let _ = writeln!(
        out,
        "{} {}",
        bold(&pad(&total, width + 12), report.color),
        bar(a.total, MAX_TOTAL, report.color)
    );
    let _ = writeln!(
        out,
        "{}: {} ({})",
        m.verdict,
        a.verdict.text(lang),
        a.verdict.band()
    );
    let plan = a.plan.map_or(m.no_plan, |p| p.text(lang));
    let _ = writeln!(out, "{}: {plan}", m.plan);

    let losses = a.top_losses();
    let _ = writeln!(out, "\n{}:", m.top_losses);
    if losses.is_empty() {
        let _ = writeln!(out, "  {}", m.nothing_lost);
    }
    for (n, r) in losses.iter().enumerate() {
        let _ = writeln!(
            out,
            "  {}. {} ({}/5): {} {}",
            n + 1,
            r.item.title(lang),
            r.score.get(),
            m.lost,
            points_label(lang, r.lost()),
        );
        let _ = writeln!(
            out,
            "     {}: {}",
            m.five_points_looks_like,
            five_points(r.item, lang)
        );
    }

    if let Some(change) = report.change {
        let date = change.since.format("%Y-%m-%d %H:%M UTC");
        let _ = writeln!(
            out,
            "\n{} ({date}): {} {} ({} -> {})",
            m.since_last,
            m.total,
            change.total.signed(),
            change.previous_total,
            a.total
        );
        for (category, delta) in &change.categories {
            let _ = writeln!(
                out,
                "  {} {:>5}",
                pad(category.title(lang), width),
                delta.signed()
            );
        }
        for (item, from, to) in &change.items {
            let _ = writeln!(
                out,
                "  {} {} -> {}",
                pad(item.title(lang), width),
                from.get(),
                to.get()
            );
        }
    } else if report.with_history {
        let _ = writeln!(out, "\n{}", m.first_assessment);
    }
    out
}

/// A bar of `BAR_WIDTH` cells filled in proportion to `points / max`.
fn bar(points: Points, max: Points, color: bool) -> String {
    let filled = if max.tenths() == 0 {
        0
    } else {
        points.tenths() * BAR_WIDTH / max.tenths()
    };
    let full = "█".repeat(usize::try_from(filled).unwrap_or_default());
    let empty = "░".repeat(usize::try_from(BAR_WIDTH - filled).unwrap_or_default());
    if !color {
        return format!("{full}{empty}");
    }
    let percent = points.percent_of(max);
    let full = if percent >= 80 {
        full.green()
    } else if percent >= 60 {
        full.yellow()
    } else {
        full.red()
    };
    format!("{full}{}", empty.dark_grey())
}

fn bold(text: &str, color: bool) -> String {
    if color {
        text.bold().to_string()
    } else {
        text.to_owned()
    }
}

fn heading(text: &str, color: bool) -> String {
    if color {
        text.bold().underlined().to_string()
    } else {
        text.to_owned()
    }
}
