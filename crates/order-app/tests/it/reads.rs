//! Orders read through the shops' `OrderSource` (over real HTTP, against the emulators):
//! amendments by order id, `--refresh`, `--in-doubt verify` and `--confirm`.

use std::collections::BTreeMap;
use std::sync::Arc;

use order_app::input::{AmendmentLine, parse_line};
use order_app::registry::PlatformFactory;
use order_app::sandbox::{SandboxRun, channels_seed, order_for_id};
use order_app::{
    App, BatchOptions, Config, InDoubt, LineReport, LineStatus, PlatformKind, Summary, http_client,
};
use order_domain::{
    AmendmentState, InboundRecord, Intent, Journal, Order, Plan, ShopId, Timestamp,
};
use order_journal::SqliteJournal;

const CHANNELS: &str = "channels-main";
const OPEN1688: &str = "1688-main";
const EM: &str = "em-main";
const VVTOOL: &str = "vvtool-main";

fn shops() -> BTreeMap<ShopId, PlatformKind> {
    [
        (CHANNELS, PlatformKind::WechatChannels),
        (OPEN1688, PlatformKind::Alibaba1688),
        (EM, PlatformKind::EmFranchiser),
        (VVTOOL, PlatformKind::Vvtool1688),
    ]
    .into_iter()
    .map(|(s, k)| (ShopId::new(s).unwrap(), k))
    .collect()
}

/// The emulators, and an app over them built from their config through the registry (each
/// shop's real transport and, where its platform has one, its read).
async fn setup() -> (SandboxRun, App, Arc<SqliteJournal>) {
    let run = SandboxRun::start(&shops(), 3).await.unwrap();
    let journal = Arc::new(SqliteJournal::in_memory().await.unwrap());
    let app = app_over(&run, journal.clone());
    (run, app, journal)
}

/// The app over `run`; with `ack_only`, Channels acknowledges without applying.
fn app_over(run: &SandboxRun, journal: Arc<SqliteJournal>) -> App {
    let config = Config::parse(&run.config_toml("sqlite::memory:")).unwrap();
    let env = run.env();
    let mut factory = PlatformFactory::new(http_client().unwrap());
    let mut b = App::builder().journal(journal);
    for shop in &config.shops {
        let credentials = shop.resolve_secrets(&env).unwrap();
        let (platform, source) = factory.build_with_source(shop, &credentials).unwrap();
        b = b.shop(shop.id.clone(), platform);
        if let Some(s) = source {
            b = b.source(shop.id.clone(), s);
        }
    }
    b.build().unwrap()
}

fn seed(run: &SandboxRun, shop: &str, line: &AmendmentLine) -> Order {
    let kind = shops()[&ShopId::new(shop).unwrap()];
    let order = order_for_id(kind, line.order_id(), &line.set).unwrap();
    order_app::sandbox::seed_order(run.sandbox(), kind, &line.shop, &order).unwrap();
    order
}

async fn run_with(app: &App, text: &str, options: BatchOptions) -> (Summary, Vec<LineReport>) {
    let mut lines = Vec::new();
    let s = app
        .run_batch(text.as_bytes(), options, |r| lines.push(r.clone()))
        .await
        .unwrap();
    lines.sort_by_key(|r| r.line);
    (s, lines)
}

async fn batch(app: &App, text: &str) -> (Summary, Vec<LineReport>) {
    run_with(app, text, BatchOptions::default()).await
}

const BY_ID_CHANNELS: &str = r#"{"shop":"channels-main","order":"3720000000000000101","set":{"lines":{"10000000001:20000000001":"80.00"},"freight":"0"}}"#;
const BY_ID_1688: &str = r#"{"shop":"1688-main","order":"2198111437768740101","set":{"lines":{"2198111437768740102":"90.00"}}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_given_by_id_is_read_planned_and_its_snapshot_journaled() {
    let (run, app, journal) = setup().await;
    let mut seeded = Vec::new();
    for (shop, text) in [(CHANNELS, BY_ID_CHANNELS), (OPEN1688, BY_ID_1688)] {
        seeded.push(seed(&run, shop, &parse_line(1, text).unwrap()));
    }
    let (s, lines) = batch(&app, &[BY_ID_CHANNELS, BY_ID_1688].join("\n")).await;
    assert_eq!(s.total.applied, 2, "{lines:?}");
    for l in &lines {
        assert_eq!(l.source, Some("read"), "{l:?}");
    }
    // The emulators hold the targets.
    let ch = run
        .sandbox()
        .channels()
        .unwrap()
        .order(3720000000000000101)
        .unwrap();
    assert_eq!((ch.lines[0].current_total, ch.freight), (8000, 0));
    let o = run
        .sandbox()
        .open1688()
        .unwrap()
        .order(2198111437768740101)
        .unwrap();
    assert_eq!(o.entries[0].discount, -1000);
    // The journal holds the snapshot as read (ids beyond 2^53 exact), not the line's id only.
    for order in &seeded {
        let rec = journal.amendments(Some(order.id())).await.unwrap();
        let read = &rec[0].intent.order;
        assert_eq!(read.id(), order.id());
        assert_eq!(read.lines().len(), order.lines().len());
        assert_eq!(read.lines()[0].id(), order.lines()[0].id());
        assert_eq!(
            read.lines()[0].original_total(),
            order.lines()[0].original_total()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_em_line_without_a_snapshot_is_an_input_error_naming_the_shop_and_why() {
    let (_run, app, journal) = setup().await;
    let text = r#"{"shop":"em-main","order":"DD2026112309001","set":{"remarks":{"order":"x"}}}"#;
    let (s, lines) = batch(&app, text).await;
    assert_eq!(s.total.input_errors, 1);
    let m = lines[0].message.as_deref().unwrap();
    assert!(
        m.contains("shop `em-main`")
            && m.contains(
                "em-franchiser publishes no order read; give the order snapshot in the line"
            ),
        "{m}"
    );
    assert!(journal.amendments(None).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_that_fails_fails_its_line_and_the_batch_runs_on() {
    let (run, app, journal) = setup().await;
    seed(&run, CHANNELS, &parse_line(1, BY_ID_CHANNELS).unwrap());
    // Never seeded: the platform says the order does not exist.
    let missing = BY_ID_1688.replace("2198111437768740101", "2198111437768740999");
    let (s, lines) = batch(&app, &[missing.as_str(), BY_ID_CHANNELS].join("\n")).await;
    assert_eq!((s.total.failed, s.total.applied), (1, 1), "{lines:?}");
    assert_eq!(lines[0].status, LineStatus::Failed);
    assert_eq!(lines[0].error.as_ref().unwrap().kind, "not_found");
    assert!(lines[0].human().contains("could not be read"));
    // Nothing recorded for it: the next run reads again.
    assert_eq!(journal.amendments(None).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_plans_on_the_read_and_names_the_fields_the_line_had_stale() {
    let (run, app, _) = setup().await;
    let by_id = parse_line(1, BY_ID_CHANNELS).unwrap();
    let on_platform = seed(&run, CHANNELS, &by_id);
    // The line's snapshot says freight 12.00; the platform holds 10.00.
    let mut given = serde_json::to_value(&on_platform).unwrap();
    given["freight"] = serde_json::json!({"original": "12.00"});
    let line = serde_json::json!({"shop": CHANNELS, "order": given, "set": by_id.set}).to_string();
    let (s, lines) = batch(&app, &line).await;
    assert_eq!(
        lines[0].source,
        Some("line"),
        "without --refresh: the line's"
    );
    assert!(lines[0].stale.is_empty());
    assert_eq!(s.total.applied, 1);

    // Another key, so the journal does not answer for the first.
    let other = line.replacen('{', r#"{"key":"refresh-2","#, 1);
    let (s, lines) = run_with(
        &app,
        &other,
        BatchOptions {
            refresh: true,
            ..BatchOptions::default()
        },
    )
    .await;
    assert_eq!(s.total.applied, 1, "{lines:?}");
    assert_eq!(lines[0].source, Some("read"));
    assert_eq!(
        lines[0].stale,
        vec![
            "lines[10000000001:20000000001].current_total".to_owned(),
            "freight.original".to_owned(),
            "freight.current".to_owned()
        ]
    );
    assert!(lines[0].human().contains("stale"), "{}", lines[0].human());
}

/// Records `line` as an interrupted run leaves it: planned on `order`, sent, no outcome.
async fn left_sent(journal: &SqliteJournal, line: &AmendmentLine, order: &Order) -> Plan {
    let plan =
        order_domain::plan(order, &line.set, &PlatformKind::WechatChannels.policy()).unwrap();
    let intent = Intent {
        key: line.key(),
        shop: line.shop.clone(),
        order: order.clone(),
        amendment: line.set.clone(),
        plan: Ok(plan.clone()),
    };
    let t = Timestamp::from_millis(1);
    journal.begin(&intent, t).await.unwrap();
    journal.mark_sent(&intent.key, t).await.unwrap();
    plan
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_settles_an_amendment_left_in_doubt_by_reading_the_order() {
    let (run, app, journal) = setup().await;
    let em = run.sandbox().channels().unwrap().clone();
    let texts: Vec<String> = (0..3)
        .map(|n| BY_ID_CHANNELS.replace("3720000000000000101", &format!("37200000000000002{n:02}")))
        .collect();
    let mut ids = Vec::new();
    for (n, text) in texts.iter().enumerate() {
        let line = parse_line(1, text).unwrap();
        let before = seed(&run, CHANNELS, &line);
        let plan = left_sent(&journal, &line, &before).await;
        let id: u64 = line.order_id().as_str().parse().unwrap();
        match n {
            // The first send landed: the order shows the target.
            0 => em.seed_order(channels_seed(&before.with_revision(&plan, None)).unwrap()),
            // It did not: the order is as before.
            1 => {}
            // Someone else changed it meanwhile: neither.
            _ => {
                let mut other = em.order(id).unwrap();
                other.freight = 300;
                em.seed_order(other);
            }
        }
        ids.push((id, em.order(id).unwrap().price_changes));
    }
    let (s, lines) = batch(&app, &texts.join("\n")).await;
    assert_eq!(
        (s.total.confirmed_by_read, s.total.applied, s.total.in_doubt),
        (1, 1, 1),
        "{lines:?}"
    );
    let by_order = |id: u64| {
        lines
            .iter()
            .find(|l| l.order.as_deref() == Some(&id.to_string()))
            .unwrap()
    };
    // Confirmed by the read: nothing resent.
    let l = by_order(ids[0].0);
    assert_eq!((l.status, l.resent), (LineStatus::ConfirmedByRead, false));
    assert_eq!(em.order(ids[0].0).unwrap().price_changes, ids[0].1);
    // As before: resent once.
    let l = by_order(ids[1].0);
    assert_eq!((l.status, l.resent), (LineStatus::Applied, true));
    assert_eq!(em.order(ids[1].0).unwrap().price_changes, ids[1].1 + 1);
    // Neither: held, with the difference; nothing sent.
    let l = by_order(ids[2].0);
    assert_eq!(l.status, LineStatus::InDoubt);
    let m = l.message.as_deref().unwrap();
    assert!(m.contains("freight: expected 0.00, found 3.00"), "{m}");
    assert_eq!(em.order(ids[2].0).unwrap().price_changes, ids[2].1);
    let states: Vec<AmendmentState> = journal
        .amendments(None)
        .await
        .unwrap()
        .iter()
        .map(|r| r.state)
        .collect();
    assert!(states.contains(&AmendmentState::Confirmed));
    assert!(
        states.contains(&AmendmentState::Sent),
        "the held one stays sent"
    );
    // `hold` still holds, whatever the read would say.
    let (s, _) = run_with(
        &app,
        &texts[2],
        BatchOptions {
            in_doubt: InDoubt::Hold,
            ..BatchOptions::default()
        },
    )
    .await;
    assert_eq!(s.total.in_doubt, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_flags_an_order_acknowledged_without_being_applied() {
    let run = SandboxRun::start(&shops(), 3).await.unwrap();
    let journal = Arc::new(SqliteJournal::in_memory().await.unwrap());
    let app = app_over(&run, journal.clone());
    let confirm = BatchOptions {
        confirm: true,
        ..BatchOptions::default()
    };
    let line = parse_line(1, BY_ID_CHANNELS).unwrap();
    seed(&run, CHANNELS, &line);
    // The emulator's fault: the next change is answered success and not applied.
    run.sandbox().channels().unwrap().ack_without_apply(1);
    let (s, lines) = run_with(&app, BY_ID_CHANNELS, confirm.clone()).await;
    assert_eq!((s.total.flagged, s.exit_code()), (1, 1), "{lines:?}");
    let m = lines[0].message.as_deref().unwrap();
    assert!(
        m.contains("does not show the target") && m.contains("expected 80.00, found 100.00"),
        "{m}"
    );
    let rec = journal.amendments(Some(line.order_id())).await.unwrap();
    assert_eq!(rec[0].state, AmendmentState::Flagged);
    assert!(rec[0].note.as_deref().unwrap().contains("found 100.00"));

    let other = BY_ID_1688;
    seed(&run, OPEN1688, &parse_line(1, other).unwrap());
    let (s, lines) = run_with(&app, other, confirm).await;
    assert_eq!((s.total.confirmed, s.exit_code()), (1, 0), "{lines:?}");
    let rec = journal
        .amendments(Some(parse_line(1, other).unwrap().order_id()))
        .await
        .unwrap();
    assert_eq!(rec[0].state, AmendmentState::Confirmed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wechat_revision_count_is_the_journals_when_the_read_has_none() {
    let (run, app, journal) = setup().await;
    let line = parse_line(1, BY_ID_CHANNELS).unwrap();
    seed(&run, CHANNELS, &line);
    let (s, _) = batch(&app, BY_ID_CHANNELS).await;
    assert_eq!(s.total.applied, 1);
    let second = BY_ID_CHANNELS.replace("80.00", "70.00");
    let (s, _) = batch(&app, &second).await;
    assert_eq!(s.total.applied, 1);
    let rec = journal.amendments(Some(line.order_id())).await.unwrap();
    // Newest first: the second was planned on revision 1, the journal's count.
    assert_eq!(rec[0].intent.order.revision().count, 1);
    assert_eq!(rec[1].intent.order.revision().count, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vvtool_order_given_by_id_is_the_latest_stored_1688_message() {
    let (_run, app, journal) = setup().await;
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../transport-1688-push/tests/it/fixtures/seed_002.json"
    ))
    .unwrap();
    let decoded = transport_1688_push::decode_message(&body).unwrap();
    let id = decoded.order.id().clone();
    let text = format!(r#"{{"shop":"vvtool-main","order":"{id}","set":{{"freight":"0"}}}}"#);
    // No message yet: an input error that says why.
    let (s, lines) = batch(&app, &text).await;
    assert_eq!(s.total.input_errors, 1);
    assert!(
        lines[0]
            .message
            .as_deref()
            .unwrap()
            .contains("no 1688 order message"),
        "{lines:?}"
    );
    let stored = journal
        .record_message(&InboundRecord {
            dedup_key: "n-1".into(),
            source: transport_1688_push::SOURCE.into(),
            raw: body,
            received_at: Timestamp::from_millis(1),
        })
        .await
        .unwrap();
    let order_domain::MessageInsert::New(mid) = stored else {
        panic!("stored twice")
    };
    journal.message_decoded(mid, &id).await.unwrap();
    let (_, lines) = batch(&app, &text).await;
    assert_eq!(lines[0].source, Some("message"), "{lines:?}");
    let rec = journal.amendments(Some(&id)).await.unwrap();
    assert_eq!(rec[0].intent.order, decoded.order);
}
