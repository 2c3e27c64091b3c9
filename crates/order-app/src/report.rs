//! The results of a batch and how they are rendered: each line's [`LineReport`], the
//! [`Summary`] counts, the summary table for people (aligned by display width, so Chinese shop
//! names line up), the JSON report for machines, and the text of `ordermod journal`.
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

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};

use order_domain::Violation;
use serde::Serialize;
use unicode_width::UnicodeWidthStr;

use crate::input::InputError;

/// What a line refused as a stale resend adds to its error: the first send probably landed.
const STALE_RESEND_HINT: &str = "; in doubt: the interrupted run's send was probably applied, \
     and the platform refused this resend as stale: read the order to settle it";

/// What happened to one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LineStatus {
    /// Sent and acknowledged in this run.
    Applied,
    /// An earlier run recorded it as applied; nothing was sent.
    AlreadyDone,
    /// Refused by the platform's rules before sending (now or in an earlier run).
    Rejected,
    /// Refused by the platform (it said no), now or in an earlier run. Final: a re-run does
    /// not send it again.
    Failed,
    /// Not delivered: the platform was unreachable, timed out, answered 5xx, limited the rate
    /// or ran out of quota, after the transport's retries. Running the same input again sends
    /// it again.
    Undelivered,
    /// The line could not be read, names an unknown shop, or reuses another line's key for a
    /// different amendment.
    InputError,
    /// Either sent by an interrupted earlier run without a recorded outcome and held
    /// (`--in-doubt hold`: nothing sent now; check the order, then run with
    /// `--in-doubt resend`), or sent again after such a run and refused as stale (the first
    /// send probably landed: read the order).
    InDoubt,
    /// Left in doubt by an interrupted run, read back showing the plan's target: recorded
    /// applied, nothing resent (`--in-doubt verify`).
    ConfirmedByRead,
    /// Applied now and read back showing the target (`--confirm`).
    Confirmed,
    /// Applied now (the platform said success) but the order read back does not show the
    /// target (`--confirm`); `message` says what differs.
    Flagged,
}

impl LineStatus {
    /// Stable snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            LineStatus::Applied => "applied",
            LineStatus::AlreadyDone => "already_done",
            LineStatus::Rejected => "rejected",
            LineStatus::Failed => "failed",
            LineStatus::Undelivered => "undelivered",
            LineStatus::InputError => "input_error",
            LineStatus::InDoubt => "in_doubt",
            LineStatus::ConfirmedByRead => "confirmed_by_read",
            LineStatus::Confirmed => "confirmed",
            LineStatus::Flagged => "flagged",
        }
    }
}

/// A platform error as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportedError {
    /// The kind (`rejected_by_rule`, `transient`...).
    pub kind: String,
    /// The platform's code, verbatim.
    pub code: Option<String>,
    /// The platform's message, verbatim.
    pub message: String,
    /// Extra detail (an authorisation link...).
    pub detail: Option<String>,
}

/// One line's result, as printed and written to the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineReport {
    /// 1-based line number.
    pub line: u64,
    /// The status.
    pub status: LineStatus,
    /// The shop, when readable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shop: Option<String>,
    /// The platform, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The order id, when readable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// The idempotency key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// True when the outcome was recorded by an earlier run (nothing sent now).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub earlier: bool,
    /// True when an interrupted earlier run had sent it without recording the outcome, so it
    /// was sent again now.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub resent: bool,
    /// The earlier line of this run with the same key and amendment, when this line repeats
    /// it (it was not sent twice; its status is the journal's for that key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<u64>,
    /// The new order total, for applied amendments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_total: Option<String>,
    /// Every violation, for rejections made in this run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<Violation>,
    /// The platform's error, for failures in this run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ReportedError>,
    /// What is wrong with the line, for input errors; what differs, for `flagged` lines and
    /// for in-doubt ones a read could not settle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Where the snapshot planned against came from: `read` (the platform's order read),
    /// `message` (the latest stored 1688 order message), `line` (the line's own snapshot).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<&'static str>,
    /// The fields in which the line's snapshot differed from the order as read (`--refresh`):
    /// the line was planned on the read, its snapshot was stale.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stale: Vec<String>,
}

impl LineReport {
    pub(crate) fn input(e: InputError) -> Self {
        LineReport {
            line: e.line,
            status: LineStatus::InputError,
            shop: e.shop,
            platform: None,
            order: e.order,
            key: None,
            earlier: false,
            resent: false,
            duplicate_of: None,
            new_total: None,
            violations: Vec::new(),
            error: None,
            message: Some(e.message),
            source: None,
            stale: Vec::new(),
        }
    }

    /// One human line: `line 12 wechat-main order 1001: rejected: lines[L1]: ... (code); ...`.
    pub fn human(&self) -> String {
        let mut s = format!("line {}", self.line);
        if let Some(shop) = &self.shop {
            s.push(' ');
            s.push_str(shop);
        }
        if let Some(o) = &self.order {
            s.push_str(" order ");
            s.push_str(o);
        }
        s.push_str(": ");
        s.push_str(&self.status.as_str().replace('_', " "));
        if self.earlier {
            s.push_str(" (recorded by an earlier run)");
        }
        if self.resent {
            s.push_str(" (sent again after an interrupted run)");
        }
        if let Some(first) = self.duplicate_of {
            let _ = write!(s, " (repeats line {first}; sent once)");
        }
        if !self.stale.is_empty() {
            let _ = write!(
                s,
                " (the line's snapshot was stale: {}; planned on the order as read)",
                self.stale.join(", ")
            );
        }
        if self.status == LineStatus::InDoubt && self.error.is_none() && self.message.is_none() {
            s.push_str(
                ": an interrupted run sent it without recording the reply; held, not sent again \
                 (check the order, then run with --in-doubt resend)",
            );
        }
        if let Some(t) = &self.new_total {
            s.push_str(", new total ");
            s.push_str(t);
        }
        if !self.violations.is_empty() {
            s.push_str(": ");
            let v: Vec<String> = self.violations.iter().map(ToString::to_string).collect();
            s.push_str(&v.join("; "));
        }
        if let Some(e) = &self.error {
            s.push_str(": ");
            s.push_str(&e.kind);
            if let Some(c) = &e.code {
                s.push_str(" [");
                s.push_str(c);
                s.push(']');
            }
            s.push_str(": ");
            s.push_str(&e.message);
            if let Some(d) = &e.detail {
                s.push_str(" (");
                s.push_str(d);
                s.push(')');
            }
            if self.status == LineStatus::InDoubt {
                s.push_str(STALE_RESEND_HINT);
            }
            if self.status == LineStatus::Undelivered {
                s.push_str("; not delivered: running the same input again sends it again");
            }
        }
        if let Some(m) = &self.message {
            s.push_str(": ");
            s.push_str(m);
        }
        s
    }
}

/// Counts of one shop, or of the whole batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Sent and acknowledged now.
    pub applied: u64,
    /// Applied by an earlier run, skipped.
    pub already_done: u64,
    /// Refused by the platform's rules before sending.
    pub rejected: u64,
    /// Refused by the platform (final).
    pub failed: u64,
    /// Not delivered (unreachable, timed out, 5xx, rate or quota) after retries; a re-run
    /// sends them again.
    pub undelivered: u64,
    /// Unreadable lines and unknown shops.
    pub input_errors: u64,
    /// Held because an interrupted run sent them without recording the outcome, or resent
    /// and refused as stale.
    #[serde(skip_serializing_if = "is_zero")]
    pub in_doubt: u64,
    /// Left in doubt and found applied by a read (nothing resent).
    #[serde(skip_serializing_if = "is_zero")]
    pub confirmed_by_read: u64,
    /// Applied now and confirmed by a read (`--confirm`).
    #[serde(skip_serializing_if = "is_zero")]
    pub confirmed: u64,
    /// Applied now but the read shows otherwise (`--confirm`).
    #[serde(skip_serializing_if = "is_zero")]
    pub flagged: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Counts {
    fn add(&mut self, s: LineStatus) {
        match s {
            LineStatus::Applied => self.applied += 1,
            LineStatus::AlreadyDone => self.already_done += 1,
            LineStatus::Rejected => self.rejected += 1,
            LineStatus::Failed => self.failed += 1,
            LineStatus::Undelivered => self.undelivered += 1,
            LineStatus::InputError => self.input_errors += 1,
            LineStatus::InDoubt => self.in_doubt += 1,
            LineStatus::ConfirmedByRead => self.confirmed_by_read += 1,
            LineStatus::Confirmed => self.confirmed += 1,
            LineStatus::Flagged => self.flagged += 1,
        }
    }

    /// Every line counted.
    pub fn total(&self) -> u64 {
        self.applied
            + self.already_done
            + self.rejected
            + self.failed
            + self.undelivered
            + self.input_errors
            + self.in_doubt
            + self.confirmed_by_read
            + self.confirmed
            + self.flagged
    }
}

/// The batch's counts: totals, per shop, and rejections per violation code.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Every line.
    pub total: Counts,
    /// Per shop (lines whose shop could not be read count under `(unknown)`).
    pub per_shop: BTreeMap<String, Counts>,
    /// How often each violation code appeared among this run's rejections.
    pub violations_by_code: BTreeMap<String, u64>,
    /// How often each platform error kind appeared among this run's failures (refused,
    /// undelivered or in doubt).
    pub failures_by_kind: BTreeMap<String, u64>,
    /// True when the batch was stopped before the end of its input.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
}

impl Summary {
    /// Counts one line.
    pub fn add(&mut self, r: &LineReport) {
        self.total.add(r.status);
        self.per_shop
            .entry(r.shop.clone().unwrap_or_else(|| "(unknown)".into()))
            .or_default()
            .add(r.status);
        for v in &r.violations {
            *self
                .violations_by_code
                .entry(v.code.to_string())
                .or_default() += 1;
        }
        if let Some(e) = &r.error {
            *self.failures_by_kind.entry(e.kind.clone()).or_default() += 1;
        }
    }

    /// The exit code the counts call for: 0 when everything is applied (now or earlier), 1 when
    /// anything was rejected, failed, was not delivered, could not be read, is in doubt or was
    /// flagged by a read.
    pub fn exit_code(&self) -> i32 {
        let t = &self.total;
        if t.rejected + t.failed + t.undelivered + t.input_errors + t.in_doubt + t.flagged == 0 {
            0
        } else {
            1
        }
    }
}

/// `text` followed by spaces up to `width` columns of display width (a CJK character takes
/// two columns, as terminals draw it).
fn pad(text: &str, width: usize) -> String {
    let w = UnicodeWidthStr::width(text);
    let mut s = String::with_capacity(text.len() + width.saturating_sub(w));
    s.push_str(text);
    s.extend(std::iter::repeat_n(' ', width.saturating_sub(w)));
    s
}

/// The summary table:
///
/// ```text
/// shop         applied  already done  rejected  failed  undelivered  input errors
/// wechat-main      200             0        50       0            0             0
/// 旗舰店             3             0         0       0            0             0
/// total            ...
/// ```
/// Shop names are padded by display width, so the columns line up whatever the script.
/// `failed` are final refusals by the platform; `undelivered` never got an answer and are
/// sent again by the next run. Then the amendments in doubt, the rejection codes and the
/// failure kinds with their counts.
pub fn summary_table(summary: &Summary) -> String {
    let width = summary
        .per_shop
        .keys()
        .map(|k| UnicodeWidthStr::width(k.as_str()))
        .chain([5])
        .max()
        .unwrap_or(5);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}  {:>8}  {:>12}  {:>8}  {:>6}  {:>11}  {:>12}",
        pad("shop", width),
        "applied",
        "already done",
        "rejected",
        "failed",
        "undelivered",
        "input errors"
    );
    let row = |out: &mut String, name: &str, c: &Counts| {
        let _ = writeln!(
            out,
            "{}  {:>8}  {:>12}  {:>8}  {:>6}  {:>11}  {:>12}",
            pad(name, width),
            // Confirmed lines were applied now and read back: they count as applied here,
            // and the "read back" line below breaks them out.
            c.applied + c.confirmed + c.confirmed_by_read,
            c.already_done,
            c.rejected,
            c.failed,
            c.undelivered,
            c.input_errors
        );
    };
    for (shop, c) in &summary.per_shop {
        row(&mut out, shop, c);
    }
    row(&mut out, "total", &summary.total);
    let t = &summary.total;
    if t.confirmed_by_read + t.confirmed + t.flagged > 0 {
        let _ = writeln!(
            out,
            "read back: {} confirmed, {} flagged (acknowledged but the order does not show the \
             target), {} left in doubt by an interrupted run and found applied (not resent)",
            t.confirmed, t.flagged, t.confirmed_by_read
        );
    }
    if summary.total.in_doubt > 0 {
        let _ = writeln!(
            out,
            "in doubt: {} (an interrupted run sent them without recording the reply: held, or \
             sent again and refused as stale because the first send probably landed; check \
             those orders)",
            summary.total.in_doubt
        );
    }
    if summary.total.undelivered > 0 {
        let _ = writeln!(
            out,
            "undelivered: {} (never answered by the platform; run the same input again to \
             send them again)",
            summary.total.undelivered
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

/// The head of `ordermod journal`: how many amendments are in each state (from the journal's
/// counts, so it covers every row whatever is shown).
pub fn journal_counts(counts: &[(order_domain::AmendmentState, u64)]) -> String {
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return "no amendments recorded\n".to_owned();
    }
    let mut nonzero: Vec<(&str, u64)> = counts
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(s, n)| (s.as_str(), *n))
        .collect();
    nonzero.sort_unstable();
    let parts: Vec<String> = nonzero.iter().map(|(s, n)| format!("{s} {n}")).collect();
    format!("{total} amendments: {}\n\n", parts.join(", "))
}

/// One amendment in `ordermod journal`: what was asked, what was sent, what the platform said
/// (verbatim) and whether a message confirmed it.
pub fn amendment_text(r: &order_domain::AmendmentRecord) -> String {
    use order_domain::{AmendmentState, Outcome};
    let mut out = String::new();
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
        Some(Outcome::StaleResend(e)) => {
            let _ = writeln!(
                out,
                "  platform said: {e}\n  IN DOUBT: a resend refused as stale; the first \
                 send probably landed (read the order)"
            );
        }
        Some(Outcome::ConfirmedByRead(_)) => {
            let _ = writeln!(
                out,
                "  left in doubt by an interrupted run; the order as read shows the target \
                 (confirmed_by_read, not resent)"
            );
        }
        Some(Outcome::Rejected(_)) | None => {}
    }
    match r.state {
        AmendmentState::Confirmed => {
            let _ = writeln!(
                out,
                "  confirmed by a platform message or a read of the order"
            );
        }
        AmendmentState::Flagged => {
            let _ = writeln!(
                out,
                "  FLAGGED: a platform message or a read contradicts it: {}",
                r.note.as_deref().unwrap_or("(no note)")
            );
        }
        AmendmentState::Acknowledged => {
            let _ = writeln!(out, "  not yet confirmed by a platform message");
        }
        _ => {}
    }
    out
}

/// The tail of `ordermod journal`: the acknowledged amendments no message confirmed yet
/// (`total` of them, `shown` listed) and the dead letters.
pub fn journal_tail(
    unconfirmed_total: u64,
    shown: &[order_domain::AmendmentRecord],
    dead_letters: &[order_domain::MessageRecord],
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\nacknowledged but not confirmed: {unconfirmed_total}");
    for r in shown {
        let _ = writeln!(
            out,
            "  order {} shop {} key {}",
            r.intent.order.id(),
            r.intent.shop,
            r.intent.key
        );
    }
    let listed = u64::try_from(shown.len()).unwrap_or(u64::MAX);
    if listed < unconfirmed_total {
        let _ = writeln!(
            out,
            "  ... {} more (--limit 0 lists all)",
            unconfirmed_total - listed
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
            duplicate_of: None,
            new_total: None,
            violations: Vec::new(),
            error: None,
            message: None,
            source: None,
            stale: Vec::new(),
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

    #[test]
    fn orders_read_back_are_counted_and_a_flagged_one_fails_the_run() {
        let mut s = Summary::default();
        s.add(&rep(1, "channels-main", LineStatus::Confirmed));
        s.add(&rep(2, "channels-main", LineStatus::ConfirmedByRead));
        assert_eq!(s.exit_code(), 0, "confirmed lines are applied lines");
        s.add(&rep(3, "channels-main", LineStatus::Flagged));
        assert_eq!(
            (
                s.total.confirmed,
                s.total.confirmed_by_read,
                s.total.flagged
            ),
            (1, 1, 1)
        );
        assert_eq!(s.total.total(), 3);
        assert_eq!(s.exit_code(), 1, "a flagged order needs a look");
        let table = summary_table(&s);
        let total_row: Vec<&str> = table
            .lines()
            .find(|l| l.starts_with("total"))
            .unwrap()
            .split_whitespace()
            .collect();
        assert_eq!(
            total_row[1], "2",
            "confirmed lines show as applied: {table}"
        );
        assert!(
            table.contains("read back: 1 confirmed, 1 flagged")
                && table.contains("1 left in doubt"),
            "{table}"
        );
        let v = serde_json::to_value(&s.total).unwrap();
        assert_eq!(v["flagged"], 1);
        assert_eq!(v["confirmed_by_read"], 1);
    }

    #[test]
    fn the_summary_table_lines_up_chinese_shop_names() {
        let mut s = Summary::default();
        for r in [
            rep(1, "旗舰店", LineStatus::Applied),
            rep(2, "wechat-main", LineStatus::Failed),
            rep(3, "义乌小商品批发", LineStatus::Undelivered),
        ] {
            s.add(&r);
        }
        let table = summary_table(&s);
        // Every row ends at the same display column, and the counts sit under their headers.
        let widths: Vec<usize> = table
            .lines()
            .take(4 + 1)
            .map(UnicodeWidthStr::width)
            .collect();
        assert!(
            widths.windows(2).all(|w| w[0] == w[1]),
            "{widths:?}\n{table}"
        );
        let header = table.lines().next().unwrap();
        let col = |line: &str, what: &str| {
            UnicodeWidthStr::width(&line[..line.find(what).unwrap() + what.len()])
        };
        let row = table.lines().find(|l| l.starts_with("义乌")).unwrap();
        assert_eq!(col(row, "1"), col(header, "undelivered"), "{table}");
    }
}
