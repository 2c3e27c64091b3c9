//! Each seed document's own example, planned through the domain.

use order_domain::{Amendment, Order, ViolationCode, plan};

fn order(v: serde_json::Value) -> Order {
    serde_json::from_value(v).unwrap()
}

fn set(v: serde_json::Value) -> Amendment {
    serde_json::from_value(v).unwrap()
}

/// Seed 004: 200 (products) + 20 (freight) + 80 (insurance) + 0 + 0 = 300, and 100 × 2 = 200.
fn icbu_order() -> Order {
    order(serde_json::json!({
        "id": "24668306501026709", "status": "awaiting_payment", "currency": "USD",
        "lines": [{"id": "62337348461", "product": "62337348461", "sku": "-1", "name": "helloworld",
                   "unit": "set", "quantity": "100", "unit_price": "2", "original_total": "200"}],
        "address": {"zip": "461670", "country": "United States of America", "street": "Bank of new york",
                    "city": "New York", "province_code": "California", "city_code": "NY", "receiver": "james",
                    "telephone": {"area": "0512", "country": "86", "number": "13890876543"}},
        "logistics": {"shipment_method": "sea", "trade_term": "FOB", "carrier": "DHL",
                      "shipment_date": {"days_after_payment": 5}},
        "revision": {"version": "1576114051021"}
    }))
}

fn icbu_payment(total: &str) -> serde_json::Value {
    serde_json::json!({"payment": {"products": "200", "freight": "20", "insurance": "80",
        "value_added_services": "0", "tax": "0", "total": total, "initial": "150"},
        "remarks": {"order": "test"}})
}

#[test]
fn icbu_example_adds_up() {
    let p = plan(
        &icbu_order(),
        &set(icbu_payment("300")),
        &transport_icbu::policy(),
    )
    .unwrap();
    assert_eq!(p.new_total().to_string(), "300.00");
    let items = p.items().unwrap();
    assert_eq!(
        items.len(),
        1,
        "the product list is always sent, here from the snapshot"
    );
    assert_eq!(items[0].quantity.to_string(), "100");
    assert_eq!(p.version().unwrap().as_str(), "1576114051021");
}

#[test]
fn icbu_example_with_a_wrong_total_is_refused_with_the_sum() {
    let r = plan(
        &icbu_order(),
        &set(icbu_payment("299")),
        &transport_icbu::policy(),
    )
    .unwrap_err();
    assert_eq!(r.codes(), vec![ViolationCode::PaymentTotalMismatch]);
    assert_eq!(r.violations[0].field, "payment.total");
    assert!(
        r.violations[0].message.contains("300.00"),
        "{}",
        r.violations[0].message
    );
}

#[test]
fn icbu_products_must_be_quantity_times_unit_price() {
    let mut a = icbu_payment("300");
    a["items"] = serde_json::json!([{"product": "62337348461", "sku": "-1", "name": "helloworld",
        "unit": "set", "quantity": "100", "unit_price": "2.01"}]);
    let r = plan(&icbu_order(), &set(a), &transport_icbu::policy()).unwrap_err();
    assert_eq!(r.codes(), vec![ViolationCode::PaymentProductsMismatch]);
}

#[test]
fn icbu_initial_payment_above_total_and_stale_version() {
    let mut a = icbu_payment("300");
    a["payment"]["initial"] = "300.01".into();
    a["version"] = "1576114050000".into();
    let r = plan(&icbu_order(), &set(a), &transport_icbu::policy()).unwrap_err();
    assert_eq!(
        r.codes(),
        vec![
            ViolationCode::PaymentInitialAboveTotal,
            ViolationCode::VersionStale
        ]
    );
}

fn wechat_order(revisions: u32) -> Order {
    order(serde_json::json!({
        "id": "123456", "status": "awaiting_payment", "currency": "CNY",
        "lines": [{"id": "1234:5678", "product": "1234", "sku": "5678", "original_total": "5.00"}],
        "freight": {"original": "8.00"}, "revision": {"count": revisions}
    }))
}

/// Seed 001: `change_price` 300 is the line's new total (3.00 yuan), `express_fee` 0.
#[test]
fn wechat_example_sets_an_absolute_line_total_and_free_shipping() {
    let p = plan(
        &wechat_order(0),
        &set(serde_json::json!({"lines": {"1234:5678": "3.00"}, "freight": "0"})),
        &transport_wechat_shop::policy(),
    )
    .unwrap();
    assert_eq!(p.lines()[0].target().to_minor().unwrap(), 300);
    assert_eq!(p.freight().unwrap().target().to_minor().unwrap(), 0);
    assert_eq!(p.new_total().to_string(), "3.00");
}

#[test]
fn wechat_reports_raises_zero_totals_and_the_51st_change_together() {
    let r = plan(
        &wechat_order(50),
        &set(serde_json::json!({"lines": {"1234:5678": "0"}, "freight": "0"})),
        &transport_wechat_shop::policy(),
    )
    .unwrap_err();
    assert_eq!(
        r.codes(),
        vec![
            ViolationCode::RevisionLimitReached,
            ViolationCode::TotalZeroForbidden
        ]
    );
    let r = plan(
        &wechat_order(50),
        &set(serde_json::json!({"lines": {"1234:5678": "5.01"}, "freight": "9"})),
        &transport_wechat_shop::policy(),
    )
    .unwrap_err();
    assert_eq!(
        r.codes(),
        vec![
            ViolationCode::PriceRaiseForbidden,
            ViolationCode::PriceRaiseForbidden,
            ViolationCode::RevisionLimitReached
        ]
    );
    assert!(
        plan(
            &wechat_order(49),
            &set(serde_json::json!({"lines": {"1234:5678": "4"}})),
            &transport_wechat_shop::policy()
        )
        .is_ok()
    );
}

fn vv_order(trade_type: &str) -> Order {
    order(serde_json::json!({
        "id": "2198111437768747370", "status": "awaiting_payment", "currency": "CNY", "trade_type": trade_type,
        "lines": [{"id": "2198111437768747370", "original_total": "10.00"},
                  {"id": "2198111437768747371", "original_total": "4.00", "closed": true}],
        "freight": {"original": "2.00"}
    }))
}

/// Seed 000's example sends a discount of +20 fen, a raise, which its own error table refuses.
#[test]
fn vvtool_example_raise_is_refused_and_its_lowering_twin_is_signed() {
    let raise =
        set(serde_json::json!({"lines": {"2198111437768747370": "10.20"}, "freight": "2.00"}));
    let r = plan(&vv_order("6"), &raise, &transport_vvtool::policy()).unwrap_err();
    assert_eq!(r.codes(), vec![ViolationCode::PriceRaiseForbidden]);
    let lower =
        set(serde_json::json!({"lines": {"2198111437768747370": "9.80"}, "freight": "2.00"}));
    let p = plan(&vv_order("6"), &lower, &transport_vvtool::policy()).unwrap();
    assert_eq!(
        p.lines().len(),
        1,
        "closed entries are excluded from the request"
    );
    assert_eq!(p.lines()[0].delta_vs_original().to_minor().unwrap(), -20);
    assert_eq!(p.freight().unwrap().target().to_minor().unwrap(), 200);
}

#[test]
fn vvtool_refuses_closed_entries_and_other_trade_types() {
    let a = set(serde_json::json!({"lines": {"2198111437768747371": "3.00"}}));
    let r = plan(&vv_order("50060"), &a, &transport_vvtool::policy()).unwrap_err();
    assert_eq!(
        r.codes(),
        vec![
            ViolationCode::LineClosed,
            ViolationCode::TradeTypeNotAllowed
        ]
    );
}

fn em_order() -> Order {
    order(serde_json::json!({
        "id": "DD202409260001", "status": "paid", "currency": "CNY",
        "lines": [{"id": "1", "product": "ERP_1113005", "quantity": "3", "original_total": "30"}]
    }))
}

/// Seed 003's full modification: way 2 with company 10, the three region parts, one item.
#[test]
fn em_example_is_accepted() {
    let a = set(serde_json::json!({
        "address": {"province": "上海", "city": "上海市", "district": "嘉定区", "street": "商城路123123",
                    "receiver": "hanson", "mobile": "18817834074"},
        "logistics": {"warehouse": "5", "transport_way": 2, "company": 10, "contact": "hanson-w",
                      "contact_mobile": "18817834074", "car_number": "沪A888888"},
        "delivery_date": "2024-09-28",
        "remarks": {"order": "订单备注", "logistics": "物流备注123"},
        "items": [{"product": "ERP_1113005", "quantity": 1, "remark": "接口导入订单-修改明细3(数量3个改成1个)"}]
    }));
    let p = plan(&em_order(), &a, &transport_em::policy()).unwrap();
    assert_eq!(p.items().unwrap()[0].quantity.to_string(), "1");
    assert_eq!(p.delivery_date().unwrap().to_string(), "2024-09-28");
}

#[test]
fn em_rules_are_all_reported() {
    let a = set(serde_json::json!({
        "address": {"province": "上海", "street": "商城路738号"},
        "logistics": {"transport_way": 2, "company": 5},
        "items": [{"product": "ERP_1113005", "quantity": "1.5"}],
        "lines": {"1": "1.00"}
    }));
    let r = plan(&em_order(), &a, &transport_em::policy()).unwrap_err();
    assert_eq!(
        r.codes(),
        vec![
            ViolationCode::AddressRegionPartial,
            ViolationCode::ItemsQuantityNotWhole,
            ViolationCode::PartUnsupported,
            ViolationCode::LogisticsCompanyNotAllowed,
        ]
    );
    let way4 = set(serde_json::json!({"logistics": {"transport_way": 4}}));
    assert_eq!(
        plan(&em_order(), &way4, &transport_em::policy())
            .unwrap_err()
            .codes(),
        vec![ViolationCode::LogisticsCompanyRequired]
    );
    let way3 = set(serde_json::json!({"logistics": {"transport_way": 3, "company": 8}}));
    assert_eq!(
        plan(&em_order(), &way3, &transport_em::policy())
            .unwrap_err()
            .codes(),
        vec![ViolationCode::LogisticsCompanyUnexpected]
    );
    assert!(
        serde_json::from_value::<Amendment>(serde_json::json!({"delivery_date": "2024-02-30"}))
            .is_err()
    );
}

#[test]
fn sub_fen_amounts_and_unknown_lines_name_their_field() {
    let a = set(serde_json::json!({"lines": {"1234:5678": "2.995", "nope": "1"}}));
    let r = plan(&wechat_order(0), &a, &transport_wechat_shop::policy()).unwrap_err();
    let fields: Vec<_> = r
        .violations
        .iter()
        .map(|v| (v.field.as_str(), v.code))
        .collect();
    assert_eq!(
        fields,
        vec![
            ("lines[1234:5678]", ViolationCode::AmountPrecision),
            ("lines[nope]", ViolationCode::LineUnknown)
        ]
    );
    assert!(
        r.to_string()
            .starts_with("order 123456 cannot be changed on wechat-shop: "),
        "{r}"
    );
}

#[test]
fn unknown_amendment_parts_are_refused_by_name() {
    let err = serde_json::from_value::<Amendment>(serde_json::json!({"price": "1"})).unwrap_err();
    assert!(err.to_string().contains("unknown field `price`"), "{err}");
}

/// Issue 12 item 18: seed 004's order with freight 20; the freight drops to 15 and the total
/// with insurance goes from 300 to 295, not from 220 (lines and freight) to 295.
#[test]
fn icbu_freight_drop_is_shown_as_a_drop_of_the_payment_total() {
    let mut v = serde_json::to_value(icbu_order()).unwrap();
    v["freight"] = serde_json::json!({"original": "20"});
    let o = order(v);
    let mut a = icbu_payment("295");
    a["payment"]["freight"] = "15".into();
    a["freight"] = "15".into();
    let p = plan(&o, &set(a), &transport_icbu::policy()).unwrap();
    assert_eq!(p.previous_total().to_string(), "300.00");
    assert_eq!(p.new_total().to_string(), "295.00");
}
