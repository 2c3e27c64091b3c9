//! Absolute state on the wire (issue 12 item 15, issue 14 item 6): a line lowered by an
//! earlier revision and not named now is restated with its current total, because WeChat Shop
//! voids earlier revisions and 1688's discounts replace earlier ones.

use order_domain::{Amendment, Order, plan};

/// Line 11 was lowered from 100.00 to 80.00 earlier; line 12 is untouched.
fn lowered_earlier() -> Order {
    serde_json::from_str(
        r#"{"id": "3712345678901234567", "status": "awaiting_payment", "currency": "CNY",
            "trade_type": "6",
            "lines": [
                {"id": "11", "product": "1001", "sku": "5001", "original_total": "100.00",
                 "current_total": "80.00"},
                {"id": "12", "product": "1002", "sku": "5002", "original_total": "50.00"}],
            "freight": {"original": "10.00"},
            "revision": {"count": 1}}"#,
    )
    .expect("the order JSON in this test is valid")
}

fn set(json: &str) -> Amendment {
    serde_json::from_str(json).expect("the amendment JSON in this test is valid")
}

/// (product id, change_price in fen) of each line a WeChat request carries.
fn wechat_lines(a: &Amendment) -> Vec<(u64, i64)> {
    let o = lowered_earlier();
    let p = plan(&o, a, &transport_wechat_shop::policy()).expect("a lowering is fine");
    let req = transport_wechat_shop::encode(&o, &p).expect("encodes");
    req.change_order_infos
        .iter()
        .map(|i| (i.product_id, i.change_price))
        .collect()
}

#[test]
fn wechat_request_restates_a_line_lowered_earlier_and_not_named() {
    assert_eq!(
        wechat_lines(&set(r#"{"lines": {"12": "40.00"}}"#)),
        vec![(1001, 8000), (1002, 4000)]
    );
}

#[test]
fn wechat_freight_only_change_restates_lines_lowered_earlier() {
    assert_eq!(
        wechat_lines(&set(r#"{"freight": "5.00"}"#)),
        vec![(1001, 8000)]
    );
}

#[test]
fn wechat_plan_new_total_counts_restated_lines_at_their_current_total() {
    let o = lowered_earlier();
    let p = plan(
        &o,
        &set(r#"{"lines": {"12": "40.00"}}"#),
        &transport_wechat_shop::policy(),
    )
    .expect("a lowering is fine");
    assert_eq!(p.previous_total().to_string(), "140.00");
    assert_eq!(p.new_total().to_string(), "130.00");
    let restated: Vec<_> = p
        .lines()
        .iter()
        .filter(|l| l.is_restated())
        .map(|l| l.line().as_str())
        .collect();
    assert_eq!(restated, ["11"]);
}

#[test]
fn vvtool_request_sends_the_current_discount_of_a_line_lowered_earlier() {
    let o = lowered_earlier();
    let p = plan(
        &o,
        &set(r#"{"lines": {"12": "40.00"}}"#),
        &transport_vvtool::policy(),
    )
    .expect("a lowering is fine");
    let req = transport_vvtool::encode(&o, &p, "shop").expect("encodes");
    let discounts: Vec<_> = req
        .entry_discounts
        .iter()
        .map(|e| (e.id, e.discount))
        .collect();
    assert_eq!(discounts, vec![(11, -2000), (12, -1000)]);
}
