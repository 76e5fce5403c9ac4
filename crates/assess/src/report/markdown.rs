//! The markdown report: tables a team can commit beside its answers file or paste into a review.

use std::fmt::Write;

use super::{Report, five_points, points_label};
use crate::lang::messages;

pub(super) fn render(report: &Report<'_>) -> String {
    let lang = report.lang;
    let m = messages(lang);
    let a = report.assessment;
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", m.heading);
    let _ = writeln!(
        out,
        "**{}: {} / 100** — {} ({})\n",
        m.total,
        a.total,
        a.verdict.text(lang),
        a.verdict.band()
    );
    let plan = a.plan.map_or(m.no_plan, |p| p.text(lang));
    let _ = writeln!(out, "**{}:** {plan}\n", m.plan);

    let _ = writeln!(out, "| {} | {} | % |", m.category, m.points);
    let _ = writeln!(out, "|---|---:|---:|");
    for c in &a.categories {
        let _ = writeln!(
            out,
            "| {} | {} / {} | {}% |",
            c.category.title(lang),
            c.points,
            c.max.tenths() / 10,
            c.points.percent_of(c.max)
        );
    }
    let _ = writeln!(out, "| **{}** | **{} / 100** | |", m.total, a.total);

    for c in &a.categories {
        let _ = writeln!(
            out,
            "\n## {} ({} / {})\n",
            c.category.title(lang),
            c.points,
            c.max.tenths() / 10
        );
        let _ = writeln!(out, "| {} | {} | {} |", m.item, m.score, m.points);
        let _ = writeln!(out, "|---|---:|---:|");
        for r in &c.items {
            let _ = writeln!(
                out,
                "| {} (`{}`) | {} / 5 | {} / {} |",
                r.item.title(lang),
                r.item.id,
                r.score.get(),
                r.points,
                r.max.tenths() / 10
            );
        }
    }

    let _ = writeln!(out, "\n## {}\n", m.top_losses);
    let losses = a.top_losses();
    if losses.is_empty() {
        let _ = writeln!(out, "{}", m.nothing_lost);
    }
    for (n, r) in losses.iter().enumerate() {
        let _ = writeln!(
            out,
            "{}. **{}** ({}/5): {} {}. {}: {}",
            n + 1,
            r.item.title(lang),
            r.score.get(),
            m.lost,
            points_label(lang, r.lost()),
            m.five_points_looks_like,
            five_points(r.item, lang)
        );
    }

    if let Some(change) = report.change {
        let _ = writeln!(
            out,
            "\n## {} ({})\n",
            m.since_last,
            change.since.format("%Y-%m-%d %H:%M UTC")
        );
        let _ = writeln!(out, "| | {} |", m.points);
        let _ = writeln!(out, "|---|---:|");
        let _ = writeln!(
            out,
            "| **{}** ({} -> {}) | **{}** |",
            m.total,
            change.previous_total,
            a.total,
            change.total.signed()
        );
        for (category, delta) in &change.categories {
            let _ = writeln!(out, "| {} | {} |", category.title(lang), delta.signed());
        }
        for (item, from, to) in &change.items {
            let _ = writeln!(
                out,
                "| {} | {} -> {} |",
                item.title(lang),
                from.get(),
                to.get()
            );
        }
    } else if report.with_history {
        let _ = writeln!(out, "\n_{}_", m.first_assessment);
    }
    out
}
