//! order-app assembled the two ways embedders do (from a config, and by hand), run against the
//! order-sandbox emulators over real HTTP, checked through the emulators' own state.

use std::collections::BTreeMap;

use order_app::generate::amendments;
use order_app::input::{AmendmentLine, parse_line};
use order_app::sandbox::{SandboxRun, wechat_seed};
use order_app::{App, BatchOptions, Config, Disposition, PlatformKind};
use order_domain::{AmendmentState, ShopId};

fn lines(per_platform: usize, keep: &[&str]) -> Vec<String> {
    amendments(per_platform)
        .lines()
        .filter(|l| keep.iter().any(|k| l.contains(&format!("\"shop\":\"{k}"))))
        .map(str::to_owned)
        .collect()
}

fn shops_of(parsed: &[AmendmentLine]) -> BTreeMap<ShopId, PlatformKind> {
    parsed
        .iter()
        .map(|a| {
            let kind = PlatformKind::from_sandbox_shop(&a.shop).expect("sandbox shop names");
            (a.shop.clone(), kind)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_from_config_applies_a_batch_on_the_emulators_and_a_rerun_sends_nothing() {
    let text = lines(12, &["wechat-", "vvtool-", "em-", "icbu-"]).join("\n");
    let parsed: Vec<AmendmentLine> = text
        .lines()
        .enumerate()
        .map(|(i, l)| parse_line(i as u64 + 1, l).unwrap())
        .collect();
    let run = SandboxRun::start(&shops_of(&parsed), 3).await.unwrap();
    let sb = run.sandbox();
    for a in &parsed {
        let kind = PlatformKind::from_sandbox_shop(&a.shop).unwrap();
        order_app::sandbox::seed_order(sb, kind, &a.shop, a.snapshot().unwrap()).unwrap();
    }
    // The same config text a user would write, with secrets from an injected environment.
    let config = Config::parse(&run.config_toml("sqlite::memory:")).unwrap();
    let app = App::from_config(&config, &run.env()).await.unwrap();

    let summary = app
        .run_batch(
            text.as_bytes(),
            BatchOptions {
                concurrency: 4,
                ..BatchOptions::default()
            },
            |_| {},
        )
        .await
        .unwrap();
    let (valid, refused) = order_app::generate::expected_counts(12);
    assert_eq!(summary.total.applied, 4 * valid as u64, "{summary:?}");
    assert_eq!(summary.total.rejected, 4 * refused as u64);
    assert_eq!(summary.total.failed, 0, "{summary:?}");

    // The emulators saw each valid amendment exactly once, and nothing refused.
    let mut changed = BTreeMap::new();
    for s in [
        sb.wechat().unwrap().stats(),
        sb.vvtool().unwrap().stats(),
        sb.em().unwrap().stats(),
        sb.icbu().unwrap().stats(),
    ] {
        changed.extend(s.changes_per_order);
    }
    assert_eq!(changed.len(), 4 * valid);
    assert!(changed.values().all(|&n| n == 1), "{changed:?}");
    // WeChat holds exactly the planned totals; ICBU advanced each version once.
    for a in parsed.iter().filter(|a| a.shop.as_str() == "wechat-main") {
        if let Ok(plan) = order_domain::plan(
            a.snapshot().unwrap(),
            &a.set,
            &PlatformKind::WechatShop.policy(),
        ) {
            let want = wechat_seed(&a.snapshot().unwrap().with_revision(&plan, None)).unwrap();
            let got = sb.wechat().unwrap().order(want.order_id).unwrap();
            assert_eq!(got.lines, want.lines);
            assert_eq!(got.express_fee, want.express_fee);
        }
    }
    for a in parsed.iter().filter(|a| a.shop.as_str() == "icbu-main") {
        let o = sb.icbu().unwrap().order(a.order_id().as_str()).unwrap();
        let applied = changed.contains_key(a.order_id().as_str());
        assert_eq!(o.version, if applied { "2" } else { "1" });
    }

    // Journal: every line recorded with its outcome; a rerun skips everything.
    let records = app.amendments(None).await.unwrap();
    assert_eq!(records.len(), parsed.len());
    assert_eq!(
        records
            .iter()
            .filter(|r| r.state == AmendmentState::Acknowledged)
            .count(),
        4 * valid
    );
    let again = app
        .run_batch(text.as_bytes(), BatchOptions::default(), |_| {})
        .await
        .unwrap();
    assert_eq!(again.total.applied, 0);
    assert_eq!(again.total.already_done, 4 * valid as u64);
    assert_eq!(sb.wechat().unwrap().stats().total_requests, valid as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_built_by_hand_applies_one_amendment_and_reports_platform_errors_verbatim() {
    let text = lines(1, &["wechat-"]);
    let a = parse_line(1, &text[0]).unwrap();
    let run = SandboxRun::start(&shops_of(std::slice::from_ref(&a)), 5)
        .await
        .unwrap();
    // Not seeded: the platform does not know the order. Build the transport through the
    // registry and hand it to the builder, as an embedder would.
    let config = Config::parse(&run.config_toml("sqlite::memory:")).unwrap();
    let shop = &config.shops[0];
    let http = order_app::http_client().unwrap();
    let platform =
        order_app::registry::build_platform(&http, shop, shop.resolve_secrets(&run.env()).unwrap())
            .unwrap();
    let app = App::builder()
        .shop(shop.id.clone(), platform)
        .journal(order_app::open_journal("sqlite::memory:").await.unwrap())
        .build()
        .unwrap();
    let applied = app.apply(&a).await.unwrap();
    let Disposition::Failed(e) = applied.disposition else {
        panic!("expected a platform failure, got {applied:?}");
    };
    assert_eq!(e.kind().as_str(), "not_found");
    assert_eq!(e.code(), Some("100002"));
    assert_eq!(e.message(), "order not exist");

    // Seeded, a new amendment (another target, so another key) goes through.
    order_app::sandbox::seed_order(
        run.sandbox(),
        PlatformKind::WechatShop,
        &a.shop,
        a.snapshot().unwrap(),
    )
    .unwrap();
    let mut b = a.clone();
    let first_line = b.set.lines.keys().next().unwrap().clone();
    b.set
        .lines
        .insert(first_line, order_domain::Amount::parse("1.00").unwrap());
    assert_ne!(a.key(), b.key());
    let applied = app.apply(&b).await.unwrap();
    assert!(
        matches!(applied.disposition, Disposition::Applied(_)),
        "{applied:?}"
    );
    // The first stays failed: not sent again.
    let again = app.apply(&a).await.unwrap();
    assert_eq!(
        again.disposition,
        Disposition::AlreadyRecorded(AmendmentState::Failed)
    );
}
