//! `ordermod journal` and the journal's one-process rule, run for real: the view pages in SQL
//! and reads a journal another process holds; a second `apply` on a held journal exits 2
//! naming the journal and its holder; on PostgreSQL, `apply` and `journal` share one journal
//! with no such rule.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use order_app::input::parse_line;
use order_domain::{Intent, Journal, Outcome, Receipt, Timestamp};
use order_journal::SqliteJournal;

const BIN: &str = env!("CARGO_BIN_EXE_ordermod");

/// A fresh directory for one test.
fn dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("journal-view-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn ordermod(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("ORDERMOD_CONFIG")
        .output()
        .expect("the ordermod binary runs")
}

fn line(order: u64) -> String {
    format!(
        r#"{{"shop":"wechat-a","order":{{"id":"{order}","status":"awaiting_payment","currency":"CNY","lines":[{{"id":"L1","product":"1","sku":"2","original_total":"10.00"}}],"freight":{{"original":"2.00"}}}},"set":{{"lines":{{"L1":"8.00"}}}}}}"#
    )
}

/// A journal holding `n` acknowledged amendments, one per millisecond, still open.
async fn journal_with(url: &str, n: u64) -> SqliteJournal {
    let j = SqliteJournal::open(url).await.unwrap();
    for k in 0..n {
        let a = parse_line(k + 1, &line(9000 + k)).unwrap();
        let intent = Intent {
            key: a.key(),
            shop: a.shop.clone(),
            order: a.snapshot().unwrap().clone(),
            amendment: a.set.clone(),
            plan: order_domain::plan(
                a.snapshot().unwrap(),
                &a.set,
                &transport_wechat_shop::policy(),
            ),
        };
        let t = Timestamp::from_millis(1_700_000_000_000 + i64::try_from(k).unwrap());
        j.begin(&intent, t).await.unwrap();
        j.mark_sent(&intent.key, t).await.unwrap();
        let ack = Outcome::Acknowledged(Receipt::new(format!("{{\"n\":{k}}}")));
        j.record_outcome(&intent.key, &ack, t).await.unwrap();
    }
    j
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journal_view_pages_and_streams_a_journal_another_process_holds() {
    let d = dir("pages");
    let url = format!("sqlite://{}", d.join("j.db").display());
    // Held by this process for the whole test, as a running `apply` would.
    // More than one page of the view (500 rows).
    let held = journal_with(&url, 620).await;

    let shown = ordermod(&["journal", "--journal", &url, "--limit", "3"]);
    let stdout = String::from_utf8_lossy(&shown.stdout);
    assert_eq!(
        shown.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    assert!(
        stdout.starts_with("620 amendments: acknowledged 620"),
        "{stdout}"
    );
    assert_eq!(stdout.matches("platform said:").count(), 3, "{stdout}");
    // Newest first.
    assert!(stdout.contains("order 9619 shop wechat-a"), "{stdout}");
    assert!(
        stdout.contains("617 older amendments not shown"),
        "{stdout}"
    );
    assert!(
        stdout.contains("acknowledged but not confirmed: 620"),
        "{stdout}"
    );
    assert!(stdout.contains("... 617 more"), "{stdout}");

    // --json: every amendment (more than one page), one per line, newest first.
    let json = ordermod(&["journal", "--journal", &url, "--json"]);
    assert_eq!(json.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let amendments = v["amendments"].as_array().unwrap();
    assert_eq!(amendments.len(), 620);
    assert_eq!(amendments[0]["intent"]["order"]["id"], "9619");
    assert_eq!(amendments[619]["intent"]["order"]["id"], "9000");
    assert_eq!(v["acknowledged_unconfirmed"].as_array().unwrap().len(), 620);
    let lines = String::from_utf8_lossy(&json.stdout).lines().count();
    assert!(
        lines > 620,
        "streamed one amendment per line: {lines} lines"
    );

    // One order.
    let one = ordermod(&["journal", "--journal", &url, "9005"]);
    let stdout = String::from_utf8_lossy(&one.stdout);
    assert!(
        stdout.starts_with("1 amendments: acknowledged 1"),
        "{stdout}"
    );
    held.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_apply_on_a_held_journal_exits_2_naming_the_journal_and_the_holder() {
    let d = dir("held");
    let db = d.join("j.db");
    let url = format!("sqlite://{}", db.display());
    let held = journal_with(&url, 1).await;
    let input = d.join("in.jsonl");
    std::fs::write(&input, line(1)).unwrap();
    let out = ordermod(&[
        "apply",
        "--sandbox",
        "--journal",
        &url,
        input.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&db.display().to_string()), "{stderr}");
    assert!(
        stderr.contains(&format!("pid {}", std::process::id())),
        "{stderr}"
    );
    held.close().await;
    // Released: the same run now goes through.
    let out = ordermod(&[
        "apply",
        "--sandbox",
        "--journal",
        &url,
        input.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journal_json_into_a_closed_pipe_exits_141_without_a_panic() {
    use std::io::BufRead as _;
    let d = dir("epipe");
    let url = format!("sqlite://{}", d.join("j.db").display());
    // More than a pipe buffer of JSON, so the writer meets the closed pipe mid-stream.
    let held = journal_with(&url, 620).await;
    let mut child = Command::new(BIN)
        .args(["journal", "--journal", &url, "--json"])
        .env_remove("ORDERMOD_CONFIG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Like `| head -1`: read one line, then close the pipe.
    let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    assert_eq!(first, "{\"amendments\":[\n");
    drop(reader);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
    assert_eq!(out.status.code(), Some(141), "{stderr}");
    held.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_and_journal_work_on_a_postgres_journal_held_open_by_another_process() {
    let url = pg_throwaway::shared().fresh_database();
    // Held open by this process, as another `ordermod` on another machine would hold it.
    let held = order_app::open_journal(&url).await.unwrap();
    assert!(held.as_postgres().is_some());
    let d = dir("postgres");
    let input = d.join("in.jsonl");
    std::fs::write(&input, format!("{}\n{}\n", line(7001), line(7002))).unwrap();
    let apply = || {
        ordermod(&[
            "apply",
            "--sandbox",
            "--journal",
            &url,
            input.to_str().unwrap(),
        ])
    };
    let out = apply();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // What the run recorded is in the shared journal, for every process.
    let counts = held.counts_by_state().await.unwrap();
    let acknowledged = counts
        .iter()
        .find(|(s, _)| *s == order_domain::AmendmentState::Acknowledged)
        .unwrap()
        .1;
    assert_eq!(acknowledged, 2);
    // A rerun resumes from the journal: nothing is sent twice.
    let again = apply();
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(held.amendments(None).await.unwrap().len(), 2);
    let view = ordermod(&["journal", "--journal", &url, "--json"]);
    assert_eq!(
        view.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&view.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&view.stdout).unwrap();
    let amendments = v["amendments"].as_array().unwrap();
    assert_eq!(amendments.len(), 2);
    assert_eq!(amendments[0]["state"], "acknowledged");
    held.close().await;
}

#[tokio::test]
async fn a_journal_url_of_another_scheme_is_refused_naming_the_accepted_forms() {
    let out = ordermod(&["journal", "--journal", "mysql://app:hunter2@db/ordermod"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("sqlite://"), "{stderr}");
    assert!(stderr.contains("postgres://"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}
