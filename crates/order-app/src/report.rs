//! Rendering results: the summary table for people, and the JSON report for machines.
//!
//! The JSON report (`--report FILE`) is written while the batch runs, so it never holds the
//! whole batch in memory:
//!
//! ```json
//! {"results": [{"line": 1, "status": "applied", "shop": "wechat-main", ...}, ...],
//!  "summary": {"total": {"applied": 1, ...}, "per_shop": {...}, ...},
//!  "exit_code": 1}
//! ```
//! `results` are in completion order (each carries its `line`).

use std::fmt::Write as _;
use std::io::{self, Write};

use crate::batch::{Counts, LineReport, Summary};

/// The summary table:
///
/// ```text
/// shop             applied  already done  rejected  failed  input errors
/// wechat-main          200             0        50       0             0
/// ...
/// total                ...
/// ```
/// followed by the rejection codes and failure kinds with their counts.
pub fn summary_table(summary: &Summary) -> String {
    let width = summary
        .per_shop
        .keys()
        .map(String::len)
        .chain([5])
        .max()
        .unwrap_or(5);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<width$}  {:>8}  {:>12}  {:>8}  {:>6}  {:>12}",
        "shop", "applied", "already done", "rejected", "failed", "input errors"
    );
    let row = |out: &mut String, name: &str, c: &Counts| {
        let _ = writeln!(
            out,
            "{:<width$}  {:>8}  {:>12}  {:>8}  {:>6}  {:>12}",
            name, c.applied, c.already_done, c.rejected, c.failed, c.input_errors
        );
    };
    for (shop, c) in &summary.per_shop {
        row(&mut out, shop, c);
    }
    row(&mut out, "total", &summary.total);
    if summary.total.in_doubt > 0 {
        let _ = writeln!(
            out,
            "held in doubt: {} (an interrupted run sent them without recording the reply; check \
             those orders, then run again with --in-doubt resend)",
            summary.total.in_doubt
        );
    }
    if !summary.violations_by_code.is_empty() {
        out.push_str("rejections by rule:");
        for (code, n) in &summary.violations_by_code {
            let _ = write!(out, " {code} {n};");
        }
        out.pop();
        out.push('\n');
    }
    if !summary.failures_by_kind.is_empty() {
        out.push_str("failures at the platform:");
        for (kind, n) in &summary.failures_by_kind {
            let _ = write!(out, " {kind} {n};");
        }
        out.pop();
        out.push('\n');
    }
    out
}

/// Writes the JSON report incrementally: [`line`](Self::line) per result, then
/// [`finish`](Self::finish) with the summary.
#[derive(Debug)]
pub struct ReportWriter<W: Write> {
    out: W,
    first: bool,
}

impl<W: Write> ReportWriter<W> {
    /// Starts the report.
    pub fn new(mut out: W) -> io::Result<Self> {
        out.write_all(b"{\"results\":[\n")?;
        Ok(ReportWriter { out, first: true })
    }

    /// Adds one result.
    pub fn line(&mut self, r: &LineReport) -> io::Result<()> {
        if !self.first {
            self.out.write_all(b",\n")?;
        }
        self.first = false;
        serde_json::to_writer(&mut self.out, r)?;
        Ok(())
    }

    /// Ends the report with the summary and the exit code; returns the writer.
    pub fn finish(mut self, summary: &Summary, exit_code: i32) -> io::Result<W> {
        self.out.write_all(b"\n],\n\"summary\":")?;
        serde_json::to_writer(&mut self.out, summary)?;
        write!(self.out, ",\n\"exit_code\":{exit_code}}}\n")?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// UTC text of a journal timestamp: `2026-11-23 10:44:11.123Z`.
pub fn utc(ts: order_domain::Timestamp) -> String {
    let ms = ts.as_millis();
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

/// The text of `ordermod journal`: per amendment what was asked, what was sent, what the
/// platform said (verbatim) and whether a message confirmed it; then the acknowledged
/// amendments no message confirmed yet, and the dead letters.
///
/// At most `limit` amendments are shown in full (0 = all); the counts by state, the list of
/// acknowledged-but-unconfirmed ones and the dead letters always cover everything.
pub fn journal_text(
    records: &[order_domain::AmendmentRecord],
    dead_letters: &[order_domain::MessageRecord],
    limit: usize,
) -> String {
    use order_domain::{AmendmentState, Outcome};
    let mut out = String::new();
    if records.is_empty() {
        out.push_str("no amendments recorded\n");
    } else {
        let mut by_state: std::collections::BTreeMap<&str, usize> =
            std::collections::BTreeMap::new();
        for r in records {
            *by_state.entry(r.state.as_str()).or_default() += 1;
        }
        let counts: Vec<String> = by_state.iter().map(|(s, n)| format!("{s} {n}")).collect();
        let _ = writeln!(out, "{} amendments: {}\n", records.len(), counts.join(", "));
    }
    let shown = if limit == 0 {
        records.len()
    } else {
        limit.min(records.len())
    };
    for r in &records[..shown] {
        let i = &r.intent;
        let _ = writeln!(
            out,
            "order {} shop {}: {} (key {})",
            i.order.id(),
            i.shop,
            r.state,
            i.key
        );
        let _ = writeln!(
            out,
            "  recorded {}, updated {}",
            utc(r.recorded_at),
            utc(r.updated_at)
        );
        let asked = serde_json::to_string(&i.amendment).unwrap_or_default();
        let _ = writeln!(out, "  asked: {asked}");
        match &i.plan {
            Ok(p) => {
                let mut parts = Vec::new();
                for l in p.named_lines() {
                    parts.push(format!(
                        "line {} {} -> {}",
                        l.line(),
                        l.current(),
                        l.target()
                    ));
                }
                if let Some(f) = p.freight() {
                    parts.push(format!("freight {} -> {}", f.current(), f.target()));
                }
                for part in p.parts() {
                    if !matches!(
                        part,
                        order_domain::Part::LinePrices | order_domain::Part::Freight
                    ) {
                        parts.push(part.field().to_owned());
                    }
                }
                let sent = if matches!(r.state, AmendmentState::Planned) {
                    "planned (not sent)"
                } else {
                    "sent"
                };
                let _ = writeln!(
                    out,
                    "  {sent}: {}; total {} -> {}, revision {}",
                    parts.join(", "),
                    p.previous_total(),
                    p.new_total(),
                    p.next_revision()
                );
            }
            Err(rej) => {
                let _ = writeln!(out, "  not sent, refused by {}:", rej.policy);
                for v in &rej.violations {
                    let _ = writeln!(out, "    {}: {} ({})", v.field, v.message, v.code);
                }
            }
        }
        match &r.outcome {
            Some(Outcome::Acknowledged(receipt)) => {
                let _ = writeln!(out, "  platform said: {}", receipt.raw_reply);
            }
            Some(Outcome::Failed(e)) => {
                let _ = writeln!(out, "  platform said: {e}");
            }
            Some(Outcome::Rejected(_)) | None => {}
        }
        match r.state {
            AmendmentState::Confirmed => {
                let _ = writeln!(out, "  confirmed by a platform message");
            }
            AmendmentState::Flagged => {
                let _ = writeln!(
                    out,
                    "  FLAGGED: a platform message contradicts it: {}",
                    r.note.as_deref().unwrap_or("(no note)")
                );
            }
            AmendmentState::Acknowledged => {
                let _ = writeln!(out, "  not yet confirmed by a platform message");
            }
            _ => {}
        }
    }
    if shown < records.len() {
        let _ = writeln!(
            out,
            "... {} older amendments not shown (--limit 0 shows all)",
            records.len() - shown
        );
    }
    let unconfirmed: Vec<_> = records
        .iter()
        .filter(|r| r.state == AmendmentState::Acknowledged)
        .collect();
    let _ = writeln!(
        out,
        "\nacknowledged but not confirmed: {}",
        unconfirmed.len()
    );
    for r in unconfirmed {
        let _ = writeln!(
            out,
            "  order {} shop {} key {}",
            r.intent.order.id(),
            r.intent.shop,
            r.intent.key
        );
    }
    let _ = writeln!(out, "dead letters: {}", dead_letters.len());
    for m in dead_letters {
        let _ = writeln!(
            out,
            "  #{} from {} at {}: {}\n    {}",
            m.id,
            m.record.source,
            utc(m.record.received_at),
            m.dead_letter_reason.as_deref().unwrap_or("(no reason)"),
            m.record.raw_text()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::LineStatus;

    fn rep(line: u64, shop: &str, status: LineStatus) -> LineReport {
        LineReport {
            line,
            status,
            shop: Some(shop.into()),
            platform: None,
            order: Some(format!("o{line}")),
            key: None,
            earlier: false,
            resent: false,
            new_total: None,
            violations: Vec::new(),
            error: None,
            message: None,
        }
    }

    #[test]
    fn timestamps_print_as_utc() {
        let t = order_domain::Timestamp::from_millis(1_727_251_200_123);
        assert_eq!(utc(t), "2024-09-25 08:00:00.123Z");
        assert_eq!(
            utc(order_domain::Timestamp::from_millis(0)),
            "1970-01-01 00:00:00.000Z"
        );
    }

    #[test]
    fn the_report_is_valid_json_with_every_line_and_the_summary() {
        let mut s = Summary::default();
        let mut w = ReportWriter::new(Vec::new()).unwrap();
        for r in [
            rep(1, "wechat-a", LineStatus::Applied),
            rep(2, "em-b", LineStatus::Rejected),
        ] {
            s.add(&r);
            w.line(&r).unwrap();
        }
        let bytes = w.finish(&s, s.exit_code()).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["results"].as_array().unwrap().len(), 2);
        assert_eq!(v["summary"]["total"]["applied"], 1);
        assert_eq!(v["summary"]["per_shop"]["em-b"]["rejected"], 1);
        assert_eq!(v["exit_code"], 1);
        let table = summary_table(&s);
        assert!(table.contains("wechat-a"), "{table}");
        assert!(
            table.lines().last().unwrap().starts_with("total"),
            "{table}"
        );
    }
}
