//! The domain's serde forms, as users write them by hand, planned for every outbound platform.

use order_domain::{Amendment, Order, ViolationCode, plan};

fn order(json: &str) -> Order {
    serde_json::from_str(json).expect("the order JSON in this test is valid")
}

fn set(json: &str) -> Amendment {
    serde_json::from_str(json).expect("the amendment JSON in this test is valid")
}

#[test]
fn one_hand_written_order_is_planned_differently_by_each_platform() {
    let o = order(
        r#"{"id": "2198111437768747370", "status": "awaiting_payment", "currency": "CNY",
            "trade_type": "6",
            "lines": [{"id": "2198111437768747371", "product": "1234", "sku": "5678",
                       "original_total": "3.00"}],
            "freight": {"original": "2.00"}}"#,
    );
    let a = set(r#"{"lines": {"2198111437768747371": "2.80"}, "freight": "0"}"#);

    let wechat =
        plan(&o, &a, &transport_wechat_shop::policy()).expect("a lowering is fine on WeChat Shop");
    assert_eq!(wechat.lines()[0].target().to_minor().unwrap(), 280);
    let vv = plan(&o, &a, &transport_vvtool::policy()).expect("a lowering is fine on 1688");
    assert_eq!(vv.lines()[0].delta_vs_original().to_minor().unwrap(), -20);

    let em = plan(&o, &a, &transport_em::policy()).expect_err("EM changes no prices");
    assert_eq!(
        em.codes(),
        vec![
            ViolationCode::PartUnsupported,
            ViolationCode::PartUnsupported
        ]
    );
    let icbu =
        plan(&o, &a, &transport_icbu::policy()).expect_err("ICBU needs logistics and payment");
    assert!(icbu.has(ViolationCode::PartUnsupported));
    assert!(icbu.has(ViolationCode::PartRequired));
}
