//! The `ordermod` binary, run for real: mixed batches on the sandbox, resume after SIGKILL
//! against a standalone sandbox, configuration errors, bad input lines, and secrets kept out of
//! every output.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use order_app::PlatformKind;
use order_app::generate::{amendments, expected_counts};
use order_app::input::{AmendmentLine, parse_line};
use order_app::sandbox::{SandboxRun, wechat_seed};
use order_domain::{Journal, ShopId};
use order_journal::SqliteJournal;

const BIN: &str = env!("CARGO_BIN_EXE_ordermod");

/// A fresh directory for one test.
fn dir(name: &str) -> PathBuf {
    let d =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn ordermod(args: &[&str], envs: &BTreeMap<String, String>) -> Output {
    Command::new(BIN)
        .args(args)
        .envs(envs)
        .env_remove("ORDERMOD_CONFIG")
        .output()
        .expect("the ordermod binary runs")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The example generator's lines, keeping only the platforms in `keep`.
fn batch(per_platform: usize, keep: &[&str]) -> Vec<String> {
    amendments(per_platform)
        .lines()
        .filter(|l| keep.iter().any(|k| l.contains(&format!("\"shop\":\"{k}"))))
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_mixed_batch_on_the_sandbox_gives_the_expected_summary_and_report() {
    let d = dir("mixed");
    let mut lines = batch(20, &["wechat-", "vvtool-", "em-", "icbu-"]);
    lines.push("{\"shop\": \"wechat-main\", \"order\": ".into()); // truncated JSON
    let file = d.join("batch.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let report = d.join("report.json");
    let out = ordermod(
        &[
            "apply",
            "--sandbox",
            file.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
        ],
        &BTreeMap::new(),
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");

    let (valid, refused) = expected_counts(20);
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let total = &r["summary"]["total"];
    assert_eq!(total["applied"], 4 * valid, "{r:#}");
    assert_eq!(total["rejected"], 4 * refused);
    assert_eq!(total["failed"], 0, "{stdout}");
    assert_eq!(total["input_errors"], 1);
    for shop in ["wechat-main", "vvtool-main", "em-main", "icbu-main"] {
        assert_eq!(r["summary"]["per_shop"][shop]["applied"], valid, "{shop}");
        assert_eq!(
            r["summary"]["per_shop"][shop]["rejected"], refused,
            "{shop}"
        );
    }
    assert_eq!(r["results"].as_array().unwrap().len(), lines.len());
    assert_eq!(r["exit_code"], 1);
    // The table, then the bad line by number.
    let total_row = stdout.lines().find(|l| l.starts_with("total")).unwrap();
    let cols: Vec<&str> = total_row.split_whitespace().collect();
    assert_eq!(
        cols,
        [
            "total",
            &(4 * valid).to_string(),
            "0",
            &(4 * refused).to_string(),
            "0",
            "0",
            "1"
        ]
    );
    assert!(
        stdout.contains(&format!("line {}", lines.len())),
        "{stdout}"
    );
}

#[test]
fn bad_lines_are_reported_by_number_and_order_and_every_other_line_runs() {
    let d = dir("badlines");
    let good = batch(1, &["wechat-"]);
    let v: serde_json::Value = serde_json::from_str(&good[0]).unwrap();
    let mut unknown_field = v.clone();
    unknown_field["order"]["id"] = "3719999999999999999".into();
    unknown_field["colour"] = "red".into();
    let mut bad_amount = v.clone();
    bad_amount["order"]["id"] = "3719999999999999998".into();
    bad_amount["order"]["lines"][0]["original_total"] = "-5".into();
    let mut no_platform = v;
    no_platform["shop"] = "main-shop".into();
    let lines = [
        good[0].clone(),
        "this is not json".to_owned(),
        unknown_field.to_string(),
        String::new(),
        bad_amount.to_string(),
        no_platform.to_string(),
    ];
    let file = d.join("bad.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let out = ordermod(
        &["apply", "--sandbox", file.to_str().unwrap()],
        &BTreeMap::new(),
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("line 2: input error"), "{stdout}");
    assert!(
        stdout.contains(
            "line 3 wechat-main order 3719999999999999999: input error: unknown field `colour`"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("line 5 wechat-main order 3719999999999999998: input error"),
        "{stdout}"
    );
    assert!(stdout.contains("line 6 main-shop"), "{stdout}");
    assert!(stdout.contains("unknown shop `main-shop`"), "{stdout}");
    let total_row = stdout.lines().find(|l| l.starts_with("total")).unwrap();
    assert_eq!(
        total_row.split_whitespace().collect::<Vec<_>>(),
        ["total", "1", "0", "0", "0", "0", "4"],
        "{stdout}"
    );
}

const INLINE_SECRET: &str = "topsecret-8f2c1d";

#[test]
fn a_config_with_an_inline_secret_is_refused_with_exit_2_naming_the_key() {
    let d = dir("inline");
    let cfg = d.join("ordermod.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[shop]]\nid = \"wx-main\"\nplatform = \"wechat-shop\"\n[shop.credentials]\nappid = \"wx1\"\nsecret = \"{INLINE_SECRET}\"\n"
        ),
    )
    .unwrap();
    let file = d.join("batch.jsonl");
    std::fs::write(&file, batch(1, &["wechat-"]).join("\n")).unwrap();
    for cmd in ["apply", "plan"] {
        let out = ordermod(
            &[
                cmd,
                file.to_str().unwrap(),
                "--config",
                cfg.to_str().unwrap(),
            ],
            &BTreeMap::new(),
        );
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{cmd}: {stdout}\n{stderr}");
        assert!(stderr.contains("shop `wx-main`"), "{stderr}");
        assert!(stderr.contains("credentials.secret"), "{stderr}");
        assert!(stderr.contains("secret_env"), "{stderr}");
        assert!(!stdout.contains(INLINE_SECRET) && !stderr.contains(INLINE_SECRET));
    }

    // A missing variable is named; an unknown key too.
    std::fs::write(
        &cfg,
        "[[shop]]\nid = \"wx-main\"\nplatform = \"wechat-shop\"\n[shop.credentials]\nappid = \"wx1\"\nsecret_env = \"ORDERMOD_TEST_UNSET_VARIABLE\"\n",
    )
    .unwrap();
    let out = ordermod(
        &[
            "apply",
            file.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
        ],
        &BTreeMap::new(),
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("`ORDERMOD_TEST_UNSET_VARIABLE`"),
        "{stderr}"
    );
    std::fs::write(
        &cfg,
        "[[shop]]\nid = \"wx-main\"\nplatform = \"wechat-shop\"\nregion = \"cn\"\n",
    )
    .unwrap();
    let out = ordermod(
        &[
            "plan",
            file.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
        ],
        &BTreeMap::new(),
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unknown field `region`"), "{stderr}");
}

#[test]
fn usage_errors_exit_2() {
    let out = ordermod(&["apply"], &BTreeMap::new());
    assert_eq!(out.status.code(), Some(2));
    let out = ordermod(
        &["apply", "--sandbox", "/nonexistent/x.jsonl"],
        &BTreeMap::new(),
    );
    assert_eq!(out.status.code(), Some(2));
    let out = ordermod(
        &["apply", "--sandbox", "--concurrency", "0", "x.jsonl"],
        &BTreeMap::new(),
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn plan_is_a_dry_run_that_lists_every_violation() {
    let d = dir("plan");
    let file = d.join("batch.jsonl");
    std::fs::write(&file, batch(8, &["wechat-", "em-"]).join("\n")).unwrap();
    let out = ordermod(
        &["plan", "--sandbox", file.to_str().unwrap()],
        &BTreeMap::new(),
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    // i = 3: a WeChat raise, an EM partial address; i = 7: a paid WeChat order.
    assert!(stdout.contains("price.raise_forbidden"), "{stdout}");
    assert!(stdout.contains("address.region_partial"), "{stdout}");
    assert!(stdout.contains("status.not_allowed"), "{stdout}");
    assert!(stdout.contains("  total: "), "{stdout}");
    assert!(
        stdout.contains("planned 12, would be refused 4, input errors 0; nothing was sent"),
        "{stdout}"
    );
}

/// Sum of changes applied across the emulators.
fn changes(run: &SandboxRun) -> BTreeMap<String, u64> {
    let sb = run.sandbox();
    let mut all = BTreeMap::new();
    let stats = [
        sb.wechat().map(|e| e.stats()),
        sb.vvtool().map(|e| e.stats()),
        sb.em().map(|e| e.stats()),
        sb.icbu().map(|e| e.stats()),
    ];
    for s in stats.into_iter().flatten() {
        all.extend(s.changes_per_order);
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_sigkill_applies_every_amendment_once_and_leaks_no_secret() {
    let d = dir("resume");
    let lines = batch(30, &["wechat-", "vvtool-", "em-", "icbu-"]);
    let file = d.join("batch.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let parsed: Vec<AmendmentLine> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| parse_line(i as u64 + 1, l).unwrap())
        .collect();
    let shops: BTreeMap<ShopId, PlatformKind> = parsed
        .iter()
        .map(|a| {
            (
                a.shop.clone(),
                PlatformKind::from_sandbox_shop(&a.shop).unwrap(),
            )
        })
        .collect();
    let run = SandboxRun::start(&shops, 7).await.unwrap();
    assert_eq!(run.seed_from_file(&file).await.unwrap(), lines.len() as u64);
    let valid: Vec<&AmendmentLine> = parsed
        .iter()
        .filter(|a| {
            let kind = PlatformKind::from_sandbox_shop(&a.shop).unwrap();
            order_domain::plan(a.snapshot().unwrap(), &a.set, &kind.policy()).is_ok()
        })
        .collect();
    let journal_path = d.join("journal.db");
    let journal_url = format!("sqlite://{}", journal_path.display());
    let cfg = d.join("ordermod.toml");
    std::fs::write(&cfg, run.config_toml(&journal_url)).unwrap();
    let env = run.env();
    let report = d.join("report.json");
    // Few in flight, so that the kill lands mid-batch and leaves a small in-doubt window.
    let args = [
        "apply",
        file.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
        "--concurrency",
        "8",
    ];

    // First run: kill it once a third of the valid amendments reached the emulators.
    let mut child = Command::new(BIN)
        .args(args)
        .envs(&env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let applied: u64 = changes(&run).values().sum();
        if applied >= valid.len() as u64 / 3 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the batch ended before the kill"
        );
        assert!(Instant::now() < deadline, "no progress: {applied} changes");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap(); // SIGKILL
    let first = child.wait_with_output().unwrap();
    assert!(first.status.code().is_none(), "killed by a signal");
    let applied_at_kill: u64 = changes(&run).values().sum();
    assert!(applied_at_kill < valid.len() as u64, "killed mid-batch");

    // In doubt at the kill: sent, no outcome recorded. Only these may reach a platform twice.
    let journal = SqliteJournal::open(&journal_url).await.unwrap();
    let records = journal.amendments(None).await.unwrap();
    let in_doubt: BTreeSet<String> = records
        .iter()
        .filter(|r| !r.state.is_final())
        .map(|r| r.intent.order.id().to_string())
        .collect();
    assert!(
        in_doubt.len() <= 8,
        "at most --concurrency in flight: {in_doubt:?}"
    );
    journal.close().await;

    // Resume to the end.
    let second = Command::new(BIN).args(args).envs(&env).output().unwrap();
    let (stdout, stderr) = text(&second);
    assert_eq!(second.status.code(), Some(1), "{stdout}\n{stderr}");
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let t = &r["summary"]["total"];
    // A resend of an amendment the killed run had already delivered is harmless, except that a
    // platform which versions orders (ICBU) refuses it as a conflict: its state already shows
    // the amendment once. Those, and only those, are refused: in doubt (the first send
    // probably landed), not failed; flagged as resent.
    assert_eq!(t["failed"], 0, "{stdout}");
    let resent_conflicts: Vec<&serde_json::Value> = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["status"] == "in_doubt")
        .collect();
    for l in &resent_conflicts {
        assert_eq!(l["resent"], true, "{l}");
        assert_eq!(l["error"]["kind"], "conflict", "{l}");

        assert!(in_doubt.contains(l["order"].as_str().unwrap()), "{l}");
    }
    let done_before = t["already_done"].as_u64().unwrap();
    // Platforms with a read (Channels, the 1688 open platform) settle the amendments left in
    // doubt by reading them back: those found applied are `confirmed_by_read`, not resent.
    let confirmed_by_read = t["confirmed_by_read"].as_u64().unwrap_or(0);
    assert_eq!(
        t["applied"].as_u64().unwrap()
            + done_before
            + resent_conflicts.len() as u64
            + confirmed_by_read,
        valid.len() as u64,
        "{stdout}"
    );
    assert!(done_before > 0, "the first run's work was kept");
    assert_eq!(
        t["rejected"].as_u64().unwrap(),
        (lines.len() - valid.len()) as u64
    );

    // The platforms' view: every valid amendment applied; twice only if it was in doubt.
    let per_order = changes(&run);
    for a in &valid {
        let id = a.order_id().to_string();
        let n = per_order.get(&id).copied().unwrap_or(0);
        if in_doubt.contains(&id) {
            assert!(
                (1..=2).contains(&n),
                "order {id} (in doubt) changed {n} times"
            );
        } else {
            assert_eq!(n, 1, "order {id} changed {n} times");
        }
    }
    assert_eq!(per_order.len(), valid.len(), "nothing else changed");
    // And the WeChat prices are exactly the targets.
    let wechat = run.sandbox().wechat().unwrap();
    for a in valid
        .iter()
        .filter(|a| a.shop.as_str().starts_with("wechat-"))
    {
        let policy = PlatformKind::WechatShop.policy();
        let plan = order_domain::plan(a.snapshot().unwrap(), &a.set, &policy).unwrap();
        let want = wechat_seed(&a.snapshot().unwrap().with_revision(&plan, None)).unwrap();
        let got = wechat.order(want.order_id).unwrap();
        assert_eq!((got.lines, got.express_fee), (want.lines, want.express_fee));
    }

    // A third run sends nothing.
    let before: u64 = changes(&run).values().sum();
    let third = Command::new(BIN).args(args).envs(&env).output().unwrap();
    assert_eq!(third.status.code(), Some(1));
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(r["summary"]["total"]["applied"], 0);
    assert_eq!(
        r["summary"]["total"]["in_doubt"].as_u64().unwrap_or(0),
        resent_conflicts.len() as u64
    );
    assert_eq!(changes(&run).values().sum::<u64>(), before);

    // The journal view, and no secret anywhere.
    let shown = Command::new(BIN)
        .args(["journal", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(shown.status.code(), Some(0));
    let (journal_text, _) = text(&shown);
    assert!(journal_text.contains("platform said:"), "{journal_text}");
    assert!(
        journal_text.contains("acknowledged but not confirmed: "),
        "{journal_text}"
    );
    let outputs = [
        text(&first),
        text(&second),
        text(&third),
        (
            journal_text,
            String::from_utf8_lossy(&std::fs::read(&report).unwrap()).into_owned(),
        ),
    ];
    for secret in env.values() {
        for (o, e) in &outputs {
            assert!(
                !o.contains(secret.as_str()) && !e.contains(secret.as_str()),
                "{secret} leaked"
            );
        }
    }
}

#[test]
fn a_wrong_secret_fails_at_the_platform_without_printing_any_secret() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let d = dir("wrongsecret");
    let lines = batch(4, &["wechat-", "icbu-"]);
    let file = d.join("batch.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let shops: BTreeMap<ShopId, PlatformKind> = [
        (
            ShopId::new("wechat-main").unwrap(),
            PlatformKind::WechatShop,
        ),
        (ShopId::new("icbu-main").unwrap(), PlatformKind::AlibabaIcbu),
    ]
    .into();
    let run = rt.block_on(SandboxRun::start(&shops, 1)).unwrap();
    rt.block_on(run.seed_from_file(&file)).unwrap();
    let cfg = d.join("ordermod.toml");
    std::fs::write(&cfg, run.config_toml("sqlite::memory:")).unwrap();
    let mut env = run.env();
    let wrong = "wrong-secret-5b7e0c";
    for (k, v) in env.iter_mut() {
        if k.ends_with("_SECRET") {
            *v = wrong.to_owned();
        }
    }
    let out = ordermod(
        &[
            "apply",
            file.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
        ],
        &env,
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("failed: unauthorised"), "{stdout}");
    for secret in env.values() {
        assert!(!stdout.contains(secret.as_str()), "{secret} in {stdout}");
        assert!(!stderr.contains(secret.as_str()), "{secret} in {stderr}");
    }
    drop(run);
}

#[test]
fn ctrl_c_finishes_the_amendments_in_flight_prints_the_summary_and_a_rerun_resumes() {
    interrupted_run_finishes_in_flight_and_resumes("INT", 130);
}

#[test]
fn sigterm_is_handled_like_ctrl_c_and_exits_143() {
    interrupted_run_finishes_in_flight_and_resumes("TERM", 143);
}

fn interrupted_run_finishes_in_flight_and_resumes(signal: &str, exit: i32) {
    use std::io::{BufRead, BufReader};
    let d = dir(&format!("sig{signal}"));
    let lines = batch(30, &["vvtool-"]);
    let file = d.join("batch.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let journal = format!("sqlite://{}", d.join("journal.db").display());
    let args = [
        "apply",
        "--sandbox",
        file.to_str().unwrap(),
        "--journal",
        journal.as_str(),
        "--concurrency",
        "2",
    ];
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Progress goes to standard error (standard output is not a terminal): wait for the first
    // progress line (10% done), then interrupt.
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut l = String::new();
        assert!(err.read_line(&mut l).unwrap() > 0, "ended early: {seen}");
        seen.push_str(&l);
        if l.starts_with("progress:") {
            break;
        }
    }
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut rest).unwrap();
    let mut err_rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut err_rest).unwrap();
    let code = child.wait().unwrap().code();
    assert_eq!(code, Some(exit), "{seen}{err_rest}\n{rest}");
    assert!(
        rest.contains("run the same command again to resume"),
        "{rest}"
    );
    assert!(
        !rest.contains("progress:"),
        "progress is not a result: {rest}"
    );
    let row = |text: &str| -> Vec<u64> {
        text.lines()
            .find(|l| l.starts_with("total"))
            .unwrap()
            .split_whitespace()
            .skip(1)
            .map(|n| n.parse().unwrap())
            .collect()
    };
    let first = row(&rest);
    assert!(
        first[0] > 0 && first[0] + first[2] < lines.len() as u64,
        "{rest}"
    );

    let again = ordermod(&args, &BTreeMap::new());
    let (stdout, _) = text(&again);
    let second = row(&stdout);
    let (valid, refused) = expected_counts(30);
    // Applied now + applied before = every valid one; rejections are all counted again.
    assert_eq!(second[0] + second[1], valid as u64, "{stdout}");
    assert_eq!(second[1], first[0], "{stdout}");
    assert_eq!(second[2], refused as u64, "{stdout}");
}

#[test]
fn alibaba_1688_shops_apply_on_the_sandbox_through_the_open_platform() {
    let d = dir("open1688");
    let lines = batch(20, &["1688-"]);
    let file = d.join("batch.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let report = d.join("report.json");
    let out = ordermod(
        &[
            "apply",
            "--sandbox",
            file.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
        ],
        &BTreeMap::new(),
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let (valid, refused) = expected_counts(20);
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let shop = &r["summary"]["per_shop"]["1688-main"];
    assert_eq!(shop["applied"], valid, "{r:#}");
    assert_eq!(shop["rejected"], refused, "{r:#}");
    assert_eq!(shop["failed"], 0, "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_ends_output_cleanly_and_leaves_nothing_in_flight() {
    let d = dir("epipe");
    let lines = batch(30, &["vvtool-", "em-"]);
    let file = d.join("batch.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let db = d.join("journal.db");
    let journal = format!("sqlite://{}", db.display());
    let mut child = Command::new(BIN)
        .args([
            "apply",
            "--sandbox",
            file.to_str().unwrap(),
            "--journal",
            journal.as_str(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Like `| head -0`: the reader is gone before anything is written.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(141), "{stderr}");
    let j = SqliteJournal::open(&journal).await.unwrap();
    let states: Vec<_> = j
        .amendments(None)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.state)
        .collect();
    assert!(!states.is_empty());
    assert!(
        states.iter().all(|s| !matches!(
            s,
            order_domain::AmendmentState::Planned | order_domain::AmendmentState::Sent
        )),
        "{states:?}"
    );
}

#[test]
fn control_characters_from_the_input_are_escaped_when_printed() {
    let d = dir("escape");
    let good = batch(1, &["wechat-"]);
    let mut v: serde_json::Value = serde_json::from_str(&good[0]).unwrap();
    // serde names an unknown field verbatim in its message.
    v["evil\u{1b}[2J\u{1b}[31m\rline 9: applied"] = 1.into();
    let file = d.join("escape.jsonl");
    std::fs::write(&file, v.to_string()).unwrap();
    let out = ordermod(
        &["apply", "--sandbox", file.to_str().unwrap()],
        &BTreeMap::new(),
    );
    let (stdout, stderr) = text(&out);
    assert!(
        !stdout.contains('\u{1b}') && !stdout.contains('\r'),
        "{stdout:?}"
    );
    assert!(stdout.contains("evil\\u{1b}[2J"), "{stdout}\n{stderr}");
}

#[cfg(unix)]
#[test]
fn the_stdin_spool_has_an_unpredictable_name_is_private_and_is_removed() {
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt;
    let d = dir("spool");
    let tmp = d.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let lines = batch(1, &["wechat-"]);
    let mut child = Command::new(BIN)
        .args(["apply", "--sandbox", "-"])
        .env("TMPDIR", &tmp)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{}", lines[0]).unwrap();
    stdin.flush().unwrap();
    // Standard input is still open, so the copy is still being written: find it.
    let deadline = Instant::now() + Duration::from_secs(20);
    let spool = loop {
        let found = std::fs::read_dir(&tmp)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("ordermod-stdin-"))
            });
        if let Some(p) = found {
            break p;
        }
        assert!(Instant::now() < deadline, "no spool file appeared");
        std::thread::yield_now();
    };
    let name = spool.file_name().unwrap().to_string_lossy().into_owned();
    assert_ne!(
        name,
        format!("ordermod-stdin-{}.jsonl", child.id()),
        "the name is predictable"
    );
    let mode = std::fs::metadata(&spool).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{name}: {mode:o}");
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!spool.exists(), "the spool is removed at the end");
}

#[test]
fn the_by_id_example_applies_on_the_sandbox_and_refuses_the_em_line_clearly() {
    let d = dir("by-id");
    let report = d.join("report.json");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/by-id.jsonl");
    let out = ordermod(
        &[
            "apply",
            "--sandbox",
            example.to_str().unwrap(),
            "--confirm",
            "--report",
            report.to_str().unwrap(),
        ],
        &BTreeMap::new(),
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the EM line: {stdout}\n{stderr}"
    );
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let by_shop = |shop: &str| {
        r["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["shop"] == shop)
            .unwrap()
            .clone()
    };
    // Read, planned, sent, read back.
    for shop in ["channels-main", "1688-main"] {
        let l = by_shop(shop);
        assert_eq!(
            (&l["status"], &l["source"]),
            (&"confirmed".into(), &"read".into()),
            "{l}"
        );
    }
    let em = by_shop("em-main");
    assert_eq!(em["status"], "input_error");
    assert_eq!(
        em["message"],
        "shop `em-main`: em-franchiser publishes no order read; give the order snapshot in the line"
    );
    assert!(
        stdout.contains("em-franchiser publishes no order read"),
        "{stdout}"
    );
    // WeChat Shop and ICBU: read once their transports publish it, named otherwise.
    for shop in ["wechat-main", "icbu-main"] {
        let l = by_shop(shop);
        let read = l["status"] == "confirmed" && l["source"] == "read";
        let not_yet = l["status"] == "input_error"
            && l["message"].as_str().unwrap().contains("does not read");
        assert!(read || not_yet, "{l}");
    }
}
