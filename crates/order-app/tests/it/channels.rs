//! WeChat Channels shops through the whole app: the example generator's `channels-` lines,
//! built from a config through the registry, applied on the Channels emulator over real HTTP.

use std::collections::BTreeMap;

use order_app::generate::{amendments, expected_counts};
use order_app::input::{AmendmentLine, parse_line};
use order_app::sandbox::{SandboxRun, channels_seed};
use order_app::{App, BatchOptions, Config, PlatformKind};
use order_domain::ShopId;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_lines_of_the_example_batch_apply_as_the_generator_intends() {
    let text: Vec<String> = amendments(30)
        .lines()
        .filter(|l| l.contains(r#""shop":"channels-"#))
        .map(str::to_owned)
        .collect();
    let parsed: Vec<AmendmentLine> = text
        .iter()
        .enumerate()
        .map(|(i, l)| parse_line(i as u64 + 1, l).unwrap())
        .collect();
    let shop = ShopId::new("channels-main").unwrap();
    let shops: BTreeMap<ShopId, PlatformKind> =
        [(shop.clone(), PlatformKind::WechatChannels)].into();
    let run = SandboxRun::start(&shops, 5).await.unwrap();
    let config = Config::parse(&run.config_toml("sqlite::memory:")).unwrap();
    assert_eq!(config.shops[0].platform, PlatformKind::WechatChannels);
    let app = App::from_config(&config, &run.env()).await.unwrap();
    let em = run.sandbox().channels().unwrap().clone();
    for a in &parsed {
        order_app::sandbox::seed_order(
            run.sandbox(),
            PlatformKind::WechatChannels,
            &shop,
            a.snapshot().unwrap(),
        )
        .unwrap();
    }
    let summary = app
        .run_batch(text.join("\n").as_bytes(), BatchOptions::default(), |_| {})
        .await
        .unwrap();
    let (valid, refused) = expected_counts(30);
    assert_eq!(summary.total.applied, valid as u64, "{summary:?}");
    assert_eq!(summary.total.rejected, refused as u64);
    assert_eq!(summary.total.failed, 0, "{summary:?}");

    let policy = PlatformKind::WechatChannels.policy();
    let mut addresses = 0;
    for a in &parsed {
        let Ok(plan) = order_domain::plan(a.snapshot().unwrap(), &a.set, &policy) else {
            continue;
        };
        let want = channels_seed(&a.snapshot().unwrap().with_revision(&plan, None)).unwrap();
        let got = em.order(want.order_id).unwrap();
        if a.set.address.is_some() {
            addresses += 1;
            assert_eq!(got.address, want.address, "order {}", want.order_id);
            assert_eq!(got.address_changes, 1);
        } else {
            let totals = |o: &order_sandbox::ChannelsOrder| {
                o.lines.iter().map(|l| l.current_total).collect::<Vec<_>>()
            };
            assert_eq!(totals(&got), totals(&want), "order {}", want.order_id);
            assert_eq!(got.freight, want.freight);
            assert_eq!(got.price_changes, 1);
        }
    }
    assert!(addresses > 0, "the batch has address changes");
}
