//! The report as the table printed at the end of a run.

use std::fmt::Write as _;

use super::{Report, format_us};
use crate::trace_join::ServerSide;

/// The report as the human-readable table printed at the end of a run.
pub fn render_table(r: &Report) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail; the results are ignored for that reason.
    let pace = match (r.rate, r.connections) {
        (Some(rate), _) => format!("open loop at {rate} req/s"),
        (None, Some(c)) => format!("closed loop with {c} connections"),
        (None, None) => String::new(),
    };
    let _ = writeln!(
        out,
        "tracemart load: {pace}, scenario {} -> {}",
        r.scenario, r.target
    );
    if r.interrupted {
        let _ = writeln!(
            out,
            "  interrupted: ended early by Ctrl-C; the figures cover the requests sent until then"
        );
    }
    let q = &r.requests;
    let _ = writeln!(
        out,
        "  {:.2}s  {} sent ({} dropped, {} late)  {} answered  {:.1} req/s",
        r.elapsed_s, q.sent, q.dropped, q.late, q.completed, r.throughput_rps
    );
    let l = &r.latency_us;
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "  latency  {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "p50", "p90", "p99", "p99.9", "max", "mean"
    );
    let _ = writeln!(
        out,
        "           {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
        format_us(l.p50),
        format_us(l.p90),
        format_us(l.p99),
        format_us(l.p999),
        format_us(l.max),
        format_us(l.mean.round() as u64)
    );
    if !r.by_request.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "  {:<20} {:>8} {:>10} {:>10}",
            "request", "count", "p50", "p99"
        );
        for (kind, route) in &r.by_request {
            let _ = writeln!(
                out,
                "  {:<20} {:>8} {:>10} {:>10}",
                kind.label(),
                route.count,
                format_us(route.p50_us),
                format_us(route.p99_us)
            );
        }
    }
    if !r.status_counts.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "  {:<8} {:>8}", "status", "count");
        for (status, count) in &r.status_counts {
            let _ = writeln!(out, "  {status:<8} {count:>8}");
        }
    }
    let e = &r.errors;
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "  errors {} ({:.2}%): status {}  connect {}  timeout {}  other {}  dropped {}",
        e.total,
        r.error_rate * 100.0,
        e.by_status.values().sum::<u64>(),
        e.connect,
        e.timeout,
        e.other,
        e.dropped
    );
    match &r.server_side {
        Some(ServerSide::Joined {
            console,
            requested,
            found,
            server,
            client,
            difference,
        }) => {
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "  server side ({found} of {requested} sampled traces from {console})"
            );
            let _ = writeln!(out, "  {:<20} {:>10} {:>10}", "", "p50", "p99");
            for (name, p50, p99) in [
                ("client", format_us(client.p50_us), format_us(client.p99_us)),
                (
                    "server (root span)",
                    format_us(server.p50_us),
                    format_us(server.p99_us),
                ),
                (
                    "before the server",
                    format_signed_us(difference.p50_us),
                    format_signed_us(difference.p99_us),
                ),
            ] {
                let _ = writeln!(out, "  {name:<20} {p50:>10} {p99:>10}");
            }
        }
        Some(ServerSide::Skipped { console, reason }) => {
            let _ = writeln!(out);
            let _ = writeln!(out, "  server side: skipped ({console}: {reason})");
        }
        None => {}
    }
    if !r.slo.is_empty() {
        let _ = writeln!(out);
        for result in &r.slo {
            let actual = match result.unit {
                "us" => format_us(result.actual.round() as u64),
                _ => format!("{:.2}%", result.actual),
            };
            let verdict = if result.met { "met" } else { "MISSED" };
            let _ = writeln!(
                out,
                "  SLO {:<22} {actual:>10}  {verdict}",
                result.objective
            );
        }
    }
    out
}

fn format_signed_us(us: i64) -> String {
    let sign = if us < 0 { "-" } else { "+" };
    format!("{sign}{}", format_us(us.unsigned_abs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_carry_their_sign() {
        assert_eq!(format_signed_us(-2_000), "-2.00ms");
        assert_eq!(format_signed_us(850), "+850µs");
    }
}
