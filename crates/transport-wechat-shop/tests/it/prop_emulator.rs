//! Absolute state on the wire, checked against the emulator: whatever the order and however it
//! was lowered before, after a change the order as read back shows the plan's target on every
//! line, named or not (issue 14 item 6).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use transport_core::ClientConfig as _;

use order_domain::{Amendment, Order, OrderId, OrderPlatform, OrderSource, plan};
use order_sandbox::{Sandbox, WechatEmulator, WechatOrder, WechatSettings};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use transport_core::{HttpClient, HttpConfig, RetryPolicy, SecretString};
use transport_wechat_shop::{WechatConfig, WechatShopClient, WechatShopPlatform};

const APPID: &str = "wx-sandbox-app";
const SECRET: &str = "sandbox-secret";
/// Order ids above 2^53, one per case.
const FIRST_ORDER: u64 = 4_000_000_000_000_000_000;

fn platform(em: &WechatEmulator) -> WechatShopPlatform {
    let http =
        HttpClient::new(&HttpConfig::default().with_timeout(Duration::from_secs(10))).unwrap();
    let config = WechatConfig::new(APPID, SecretString::from(SECRET))
        .with_base_url(em.base_url())
        .with_rate_limit(None)
        .with_retry(RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            ..RetryPolicy::default()
        });
    WechatShopPlatform::new(WechatShopClient::new(http, config))
}

/// `fen` as the yuan text an amendment takes.
fn yuan(fen: u64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

/// Each line's new total in per-mille of its original (1..=1000), or `None` when the change
/// leaves the line out.
fn change(lines: usize) -> impl Strategy<Value = Vec<Option<u64>>> {
    prop::collection::vec(prop::option::of(1u64..=1000), lines)
}

fn amendment(order: &WechatOrder, per_mille: &[Option<u64>]) -> Option<Amendment> {
    let named: Vec<String> = order
        .lines
        .iter()
        .zip(per_mille)
        .filter_map(|(l, p)| {
            p.map(|p| {
                let target = (l.original_total * p / 1000).max(1);
                format!("\"{}:{}\": \"{}\"", l.product_id, l.sku_id, yuan(target))
            })
        })
        .collect();
    if named.is_empty() {
        return None;
    }
    serde_json::from_str(&format!("{{\"lines\": {{{}}}}}", named.join(", "))).ok()
}

/// Reads the order, plans `set` on it, sends the plan, reads the order again and checks that
/// every line shows the plan's target: named, restated, or kept as it stood.
async fn change_and_check(p: &WechatShopPlatform, id: &OrderId, set: &Amendment) {
    let before: Order = p.fetch(id).await.unwrap();
    let pl = plan(&before, set, OrderPlatform::policy(p)).unwrap();
    p.apply(&before, &pl).await.unwrap();
    let after = p.fetch(id).await.unwrap();
    assert_eq!(after.lines().len(), before.lines().len());
    for (b, a) in before.lines().iter().zip(after.lines()) {
        let target = pl
            .lines()
            .iter()
            .find(|l| l.line() == b.id())
            .map_or(b.current_total(), |l| l.target());
        assert_eq!(a.current_total(), target, "order {id}, line {}", a.id());
    }
}

#[test]
fn prop_the_emulator_ends_in_the_plans_target_for_every_line() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sb = rt.block_on(async {
        Sandbox::builder()
            .seed(11)
            .wechat(WechatSettings {
                rate_limit_per_second: None,
                ..WechatSettings::default()
            })
            .start()
            .await
            .unwrap()
    });
    let em = sb.wechat().unwrap().clone();
    let p = platform(&em);
    let next = AtomicU64::new(FIRST_ORDER);
    let cases = (1usize..=4)
        .prop_flat_map(|n| {
            (
                prop::collection::vec(1u64..=200_000, n),
                change(n),
                change(n),
            )
        })
        .boxed();
    // The case count comes from PROPTEST_CASES (CI: 1,000).
    let mut runner = TestRunner::new(ProptestConfig::default());
    runner
        .run(&cases, |(originals, first, second)| {
            let id = next.fetch_add(1, Ordering::Relaxed);
            let lines: Vec<(u64, u64, u64)> = originals
                .iter()
                .enumerate()
                .map(|(i, &fen)| (i as u64 + 1, 100 + i as u64, fen))
                .collect();
            let order = WechatOrder::awaiting_payment(id, 500, &lines);
            em.seed_order(order.clone());
            let oid = OrderId::new(id.to_string()).unwrap();
            rt.block_on(async {
                // An earlier change lowers some lines; then another names others (or the same).
                for per_mille in [&first, &second] {
                    if let Some(set) = amendment(&order, per_mille) {
                        change_and_check(&p, &oid, &set).await;
                    }
                }
            });
            prop_assert!(em.order(id).is_some());
            Ok(())
        })
        .unwrap();
}
