//! Plans one amendment for each outbound platform and prints the plan or the rejection.
//!
//! Run with `cargo run -p ordermod-tests --example plan_each_platform`. Pure: nothing is sent.

use order_domain::{Amendment, Order, Plan, Policy, plan};

fn show(title: &str, order: &Order, amendment: &Amendment, policy: &Policy) {
    println!("== {title} ({}) order {}", policy.name, order.id());
    match plan(order, amendment, policy) {
        Ok(p) => print_plan(&p),
        Err(r) => {
            println!("   rejected:");
            for v in &r.violations {
                println!("   - {:<28} {:<30} {}", v.field, v.code.as_str(), v.message);
            }
        }
    }
    println!();
}

fn print_plan(p: &Plan) {
    for l in p.lines() {
        println!(
            "   line {:<22} original {:>10} current {:>10} -> target {:>10} (vs original {:>+9}, vs current {:>+9})",
            l.line().as_str(),
            l.original().to_string(),
            l.current().to_string(),
            l.target().to_string(),
            l.delta_vs_original().to_minor().unwrap_or_default(),
            l.delta_vs_current().to_minor().unwrap_or_default(),
        );
    }
    if let Some(f) = p.freight() {
        println!("   freight {} -> {}", f.current(), f.target());
    }
    if let Some(a) = p.address() {
        println!(
            "   address {:?} {:?} {:?} {:?}",
            a.province, a.city, a.district, a.street
        );
    }
    if let Some(l) = p.logistics() {
        println!(
            "   logistics way {:?} company {:?} method {:?}",
            l.transport_way, l.company, l.shipment_method
        );
    }
    if let Some(items) = p.items() {
        for i in items {
            println!(
                "   item {} x {} at {:?}",
                i.product,
                i.quantity,
                i.unit_price.map(|u| u.to_string())
            );
        }
    }
    if let Some(pay) = p.payment() {
        println!(
            "   payment total {} = products {} + freight {} (+ others); initial {}",
            pay.total, pay.products, pay.freight, pay.initial
        );
    }
    println!(
        "   total {} -> {}; becomes revision {}",
        p.previous_total(),
        p.new_total(),
        p.next_revision()
    );
    if let Some(v) = p.version() {
        println!("   carries version {v}");
    }
}

fn parse<T: serde::de::DeserializeOwned>(json: &str) -> T {
    match serde_json::from_str(json) {
        Ok(v) => v,
        Err(e) => panic!("example JSON is invalid: {e}"),
    }
}

fn main() {
    let wechat: Order = parse(
        r#"{"id": "3712345678901234567", "status": "awaiting_payment", "currency": "CNY",
            "lines": [{"id": "a", "product": "1234", "sku": "5678", "original_total": "59.80"},
                      {"id": "b", "product": "1235", "sku": "5679", "original_total": "20.00"}],
            "freight": {"original": "8.00"}, "revision": {"count": 3}}"#,
    );
    show(
        "WeChat Shop: lower one line, free shipping",
        &wechat,
        &parse(r#"{"lines": {"a": "49.90"}, "freight": "0"}"#),
        &transport_wechat_shop::policy(),
    );
    show(
        "WeChat Shop: a raise is refused",
        &wechat,
        &parse(r#"{"lines": {"b": "25.00"}}"#),
        &transport_wechat_shop::policy(),
    );

    let vv: Order = parse(
        r#"{"id": "2198111437768747370", "status": "awaiting_payment", "currency": "CNY", "trade_type": "6",
            "lines": [{"id": "2198111437768747371", "original_total": "100.00"},
                      {"id": "2198111437768747372", "original_total": "30.00", "current_total": "28.00"},
                      {"id": "2198111437768747373", "original_total": "5.00", "closed": true}],
            "freight": {"original": "12.00"}}"#,
    );
    show(
        "1688 via vv-tool: signed deltas against the original",
        &vv,
        &parse(r#"{"lines": {"2198111437768747371": "90.00"}, "freight": "10.00"}"#),
        &transport_vvtool::policy(),
    );

    let em: Order = parse(
        r#"{"id": "DD202409260001", "status": "paid", "currency": "CNY",
            "lines": [{"id": "1", "product": "ERP_1113005", "quantity": "3", "original_total": "30"}]}"#,
    );
    show(
        "EM franchiser: new address, express logistics, one item",
        &em,
        &parse(
            r#"{"address": {"province": "上海", "city": "上海市", "district": "嘉定区", "street": "商城路123123", "receiver": "hanson", "mobile": "18817834074"},
                "logistics": {"transport_way": 4, "company": 8}, "delivery_date": "2024-09-28",
                "items": [{"product": "ERP_1113005", "quantity": 1}]}"#,
        ),
        &transport_em::policy(),
    );
    show(
        "EM franchiser: partial region and wrong company",
        &em,
        &parse(
            r#"{"address": {"province": "上海"}, "logistics": {"transport_way": 2, "company": 5}}"#,
        ),
        &transport_em::policy(),
    );

    let icbu: Order = parse(
        r#"{"id": "24668306501026709", "status": "awaiting_payment", "currency": "USD",
            "lines": [{"id": "p1", "product": "62337348461", "sku": "-1", "name": "helloworld", "unit": "set",
                       "quantity": "100", "unit_price": "2", "original_total": "200"}],
            "address": {"receiver": "james", "telephone": {"number": "13890876543"}, "country": "United States of America",
                        "city": "New York", "street": "Bank of new york", "zip": "461670"},
            "logistics": {"shipment_method": "sea", "trade_term": "FOB", "shipment_date": {"days_after_payment": 5}},
            "revision": {"version": "1576114051021"}}"#,
    );
    show(
        "Alibaba.com ICBU: payment terms that add up",
        &icbu,
        &parse(
            r#"{"payment": {"products": "200", "freight": "20", "insurance": "80", "total": "300", "initial": "150"}}"#,
        ),
        &transport_icbu::policy(),
    );
    show(
        "Alibaba.com ICBU: a total that does not add up",
        &icbu,
        &parse(
            r#"{"payment": {"products": "200", "freight": "20", "total": "300", "initial": "150"}}"#,
        ),
        &transport_icbu::policy(),
    );
}
