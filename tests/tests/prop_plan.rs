//! Properties of planning, over hand-written generators of orders and amendments, including
//! adversarial ones: zero and huge amounts, many lines, unknown and closed lines, sub-minor
//! precision, paid orders and orders at the revision limit.

use std::collections::BTreeMap;

use order_domain::{
    Address, Amendment, Amount, Currency, FreightSpec, LineId, Logistics, Money, Order, OrderLine,
    OrderLineSpec, OrderSpec, OrderStatus, Part, Plan, Policy, RevisionState, UnnamedLines,
    ViolationCode, plan,
};
use proptest::prelude::*;

fn amount(minor: i64, cur: Currency) -> Amount {
    Amount::parse(&Money::from_minor(minor, cur).to_string()).unwrap()
}

fn status() -> impl Strategy<Value = OrderStatus> {
    prop_oneof![
        8 => Just(OrderStatus::AwaitingPayment),
        1 => Just(OrderStatus::Paid),
        1 => Just(OrderStatus::Shipped),
        1 => Just(OrderStatus::Closed),
        1 => Just(OrderStatus::Other("waitsellerconfirm".into())),
    ]
}

fn minor_amount() -> impl Strategy<Value = i64> {
    prop_oneof![
        2 => Just(0_i64),
        10 => 1_i64..100_000,
        2 => 100_000_i64..10_000_000_000,
        1 => Just(999_999_999_999_999_i64),
    ]
}

/// (original, current, closed)
fn line() -> impl Strategy<Value = (i64, i64, bool)> {
    (minor_amount(), 0_u32..=100, prop::bool::weighted(0.1))
        .prop_map(|(orig, pct, closed)| (orig, orig / 100 * i64::from(pct), closed))
}

fn order() -> impl Strategy<Value = Order> {
    let lines = prop_oneof![
        10 => prop::collection::vec(line(), 1..8),
        1 => prop::collection::vec(line(), 50..120),
    ];
    (
        prop_oneof![6 => Just(Currency::Cny), 1 => Just(Currency::Usd), 1 => Just(Currency::Jpy)],
        status(),
        prop::option::of(prop::sample::select(vec!["6", "8", "9", "10", "50060"])),
        lines,
        (minor_amount(), 0_u32..=100),
        prop_oneof![8 => 0_u32..10, 1 => 45_u32..=50],
        any::<bool>(),
    )
        .prop_map(
            |(cur, status, trade_type, lines, (fo, fpct), revisions, big_ids)| {
                let lines = lines
                    .into_iter()
                    .enumerate()
                    .map(|(i, (o, c, closed))| OrderLineSpec {
                        id: if big_ids {
                            LineId::new(format!("{}", 2_198_111_437_768_747_370_u64 + i as u64))
                                .unwrap()
                        } else {
                            LineId::new(format!("L{i}")).unwrap()
                        },
                        product: Some(format!("{}", 1000 + i).parse().unwrap()),
                        sku: Some(format!("{}", 5000 + i).parse().unwrap()),
                        name: None,
                        unit: None,
                        quantity: order_domain::Quantity::whole(1).unwrap(),
                        unit_price: None,
                        original_total: amount(o, cur),
                        current_total: Some(amount(c, cur)),
                        closed,
                    })
                    .collect();
                Order::from_spec(OrderSpec {
                    id: "9007199254740993".parse().unwrap(),
                    status,
                    currency: cur,
                    trade_type: trade_type.map(str::to_owned),
                    lines,
                    freight: Some(FreightSpec {
                        original: amount(fo, cur),
                        current: Some(amount(fo / 100 * i64::from(fpct), cur)),
                    }),
                    revision: RevisionState {
                        count: revisions,
                        version: None,
                    },
                    address: None,
                    logistics: None,
                    delivery_date: None,
                    remarks: None,
                    payment: None,
                })
                .unwrap()
            },
        )
}

/// An amendment for `order`: some of its lines (and sometimes unknown ones) with targets from
/// zero to twice the original (so raises happen), sometimes finer than the minor unit.
fn amendment_for(order: &Order) -> impl Strategy<Value = Amendment> + use<> {
    let cur = order.currency();
    let lines: Vec<(LineId, i64)> = order
        .lines()
        .iter()
        .map(|l| (l.id().clone(), l.original_total().to_minor().unwrap()))
        .collect();
    let freight = order.freight_original().to_minor().unwrap();
    let n = lines.len();
    (
        prop::collection::vec(
            (0..n, 0_u32..=200, prop::bool::weighted(0.03)),
            0..=n.min(10),
        ),
        prop::bool::weighted(0.05),
        prop::option::of(0_u32..=200),
    )
        .prop_map(move |(picks, unknown, freight_pct)| {
            let mut set = BTreeMap::new();
            for (i, pct, sub_minor) in picks {
                let (id, orig) = &lines[i];
                let target = orig / 100 * i64::from(pct);
                let mut text = Money::from_minor(target, cur).to_string();
                if sub_minor {
                    text.push_str(if cur.exponent() == 0 { ".5" } else { "5" });
                }
                set.insert(id.clone(), Amount::parse(&text).unwrap());
            }
            if unknown {
                set.insert("no-such-line".parse().unwrap(), amount(1, cur));
            }
            Amendment {
                lines: set,
                freight: freight_pct.map(|p| amount(freight / 100 * i64::from(p), cur)),
                ..Amendment::default()
            }
        })
}

fn order_and_amendment() -> impl Strategy<Value = (Order, Amendment)> {
    order().prop_flat_map(|o| {
        let a = amendment_for(&o);
        (Just(o), a)
    })
}

fn price_policies() -> impl Strategy<Value = Policy> {
    prop::sample::select(vec![
        transport_wechat_shop::policy(),
        transport_vvtool::policy(),
    ])
}

proptest! {
    #[test]
    fn prop_plan_never_raises_where_lower_only((o, a) in order_and_amendment(), policy in price_policies()) {
        if let Ok(p) = plan(&o, &a, &policy) {
            for l in p.lines() {
                prop_assert!(l.target().amount() <= l.original().amount(), "line {} raised", l.line());
            }
            if let Some(f) = p.freight() {
                prop_assert!(f.target().amount() <= f.original().amount());
            }
        }
    }

    #[test]
    fn prop_plan_never_yields_zero_total_where_forbidden((o, a) in order_and_amendment()) {
        if let Ok(p) = plan(&o, &a, &transport_wechat_shop::policy()) {
            prop_assert!(!p.new_total().is_zero());
        }
    }

    #[test]
    fn prop_plan_never_exceeds_revision_limit((o, a) in order_and_amendment()) {
        match plan(&o, &a, &transport_wechat_shop::policy()) {
            Ok(p) => prop_assert!(p.next_revision() <= 50),
            Err(r) => prop_assert_eq!(r.has(ViolationCode::RevisionLimitReached), o.revision().count >= 50),
        }
    }

    #[test]
    fn prop_lines_not_named_keep_their_current_totals((o, a) in order_and_amendment(), policy in price_policies()) {
        if let Ok(p) = plan(&o, &a, &policy) {
            for l in p.lines() {
                match a.lines.get(l.line()) {
                    None => prop_assert_eq!(l.target(), l.current()),
                    Some(t) => prop_assert_eq!(l.target().amount(), t.value()),
                }
            }
        }
    }

    #[test]
    fn prop_original_plus_delta_is_target((o, a) in order_and_amendment(), policy in price_policies()) {
        if let Ok(p) = plan(&o, &a, &policy) {
            for l in p.lines() {
                prop_assert_eq!(l.original().checked_add(l.delta_vs_original()).unwrap(), l.target());
                prop_assert_eq!(l.current().checked_add(l.delta_vs_current()).unwrap(), l.target());
                // Every target is a whole number of minor units: it can go on the wire exactly.
                prop_assert!(l.target().to_minor().is_ok());
            }
        }
    }

    #[test]
    fn prop_planning_the_result_again_changes_nothing((o, a) in order_and_amendment()) {
        let policy = transport_vvtool::policy();
        if let Ok(p) = plan(&o, &a, &policy) {
            let after = o.with_revision(&p, None);
            let again = plan(&after, &a, &policy).expect("an accepted amendment stays acceptable");
            prop_assert!(again.is_noop_for(&after));
            let targets: Vec<_> = p.lines().iter().map(|l| l.target()).collect();
            let targets_again: Vec<_> = again.lines().iter().map(|l| l.target()).collect();
            prop_assert_eq!(targets, targets_again);
            prop_assert_eq!(again.new_total(), p.new_total());
        }
    }

    #[test]
    fn prop_rejection_is_pure_and_independent_of_part_order(
        (o, a) in order_and_amendment(),
        policy in price_policies(),
        rotate in 0_usize..8,
    ) {
        let before = o.clone();
        let first = plan(&o, &a, &policy);
        prop_assert_eq!(&o, &before, "planning changed the order");
        // Write the same amendment with its parts (and its lines) in another order.
        let value = serde_json::to_value(&a).unwrap();
        let mut entries: Vec<(String, serde_json::Value)> = value.as_object().unwrap().clone().into_iter().collect();
        if !entries.is_empty() {
            let k = rotate % entries.len();
            entries.rotate_left(k);
        }
        let text = format!(
            "{{{}}}",
            entries
                .iter()
                .map(|(k, v)| {
                    let v = match v.as_object() {
                        Some(m) => {
                            let mut inner: Vec<_> = m.iter().collect();
                            inner.reverse();
                            format!("{{{}}}", inner.iter().map(|(ik, iv)| format!("{}:{}", serde_json::to_string(ik).unwrap(), iv)).collect::<Vec<_>>().join(","))
                        }
                        None => v.to_string(),
                    };
                    format!("{}:{}", serde_json::to_string(k).unwrap(), v)
                })
                .collect::<Vec<_>>()
                .join(",")
        );
        let reordered: Amendment = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&reordered, &a);
        let second = plan(&o, &reordered, &policy);
        prop_assert_eq!(&first, &second);
        if let Err(r) = first {
            prop_assert!(!r.violations.is_empty());
            let mut sorted = r.violations.clone();
            sorted.sort();
            sorted.dedup();
            prop_assert_eq!(sorted, r.violations);
        }
    }

    #[test]
    fn prop_after_n_revisions_state_is_original_plus_last(
        o in order(),
        rounds in prop::collection::vec((0_u32..=100, 0_u32..=100), 1..6),
    ) {
        // Each revision restates every open line (as WeChat and 1688 expect); prices are
        // always stated against the original, so only the last revision matters.
        let policy = transport_vvtool::policy();
        let cur = o.currency();
        let restate = |(pct, fpct): (u32, u32)| Amendment {
            lines: o
                .lines()
                .iter()
                .filter(|l| !l.is_closed())
                .map(|l| (l.id().clone(), amount(l.original_total().to_minor().unwrap() / 100 * i64::from(pct), cur)))
                .collect(),
            freight: Some(amount(o.freight_original().to_minor().unwrap() / 100 * i64::from(fpct), cur)),
            ..Amendment::default()
        };
        let mut state = o.clone();
        let mut applied = 0;
        let mut last = None;
        for r in &rounds {
            if let Ok(p) = plan(&state, &restate(*r), &policy) {
                state = state.with_revision(&p, None);
                applied += 1;
                last = Some(*r);
            }
        }
        if let Some(r) = last {
            let direct = o.with_revision(&plan(&o, &restate(r), &policy).unwrap(), None);
            let totals = |x: &Order| x.lines().iter().map(|l| l.current_total()).collect::<Vec<_>>();
            prop_assert_eq!(totals(&state), totals(&direct));
            prop_assert_eq!(state.freight_current(), direct.freight_current());
            prop_assert_eq!(state.revision().count, o.revision().count + applied);
        }
    }
}

// ---- ICBU and EM rules -------------------------------------------------------------------

fn icbu_case() -> impl Strategy<Value = (Order, Amendment)> {
    (
        prop::collection::vec((1_u32..500, 1_i64..100_000), 1..5),
        0_i64..50_000,
        0_i64..10_000,
        0_i64..10_000,
        -2_i64..=2,
        -2_i64..=2,
        0_u32..=120,
    )
        .prop_map(
            |(items, freight, insurance, tax, total_skew, product_skew, initial_pct)| {
                let cur = Currency::Usd;
                let products: i64 =
                    items.iter().map(|(q, u)| i64::from(*q) * u).sum::<i64>() + product_skew;
                let total = products + freight + insurance + tax + total_skew;
                let order: Order = serde_json::from_value(serde_json::json!({
                    "id": "24668306501026709", "status": "awaiting_payment", "currency": "USD",
                    "lines": [{"id": "P1", "original_total": "1"}],
                    "address": {"receiver": "james", "telephone": {"number": "13890876543"},
                                "country": "United States of America", "city": "New York",
                                "street": "Bank of new york", "zip": "461670"},
                    "logistics": {"shipment_method": "sea", "trade_term": "FOB",
                                  "shipment_date": {"days_after_payment": 5}},
                    "revision": {"count": 0, "version": "1576114051021"}
                }))
                .unwrap();
                let list = items
                    .iter()
                    .enumerate()
                    .map(|(i, (q, u))| order_domain::Item {
                        product: format!("6233734846{i}").parse().unwrap(),
                        sku: Some("-1".parse().unwrap()),
                        name: Some(format!("product {i}")),
                        unit: Some("set".into()),
                        quantity: order_domain::Quantity::whole(*q).unwrap(),
                        unit_price: Some(amount(*u, cur)),
                        remark: None,
                    })
                    .collect();
                let a = Amendment {
                    items: Some(list),
                    payment: Some(order_domain::PaymentBreakdown {
                        products: amount(products.max(0), cur),
                        freight: amount(freight, cur),
                        insurance: Some(amount(insurance, cur)),
                        value_added_services: None,
                        tax: Some(amount(tax, cur)),
                        total: amount(total.max(0), cur),
                        initial: amount(total.max(0) / 100 * i64::from(initial_pct), cur),
                    }),
                    ..Amendment::default()
                };
                (order, a)
            },
        )
}

fn em_case() -> impl Strategy<Value = (Order, Amendment)> {
    (
        prop::option::of(0_u8..=7),
        prop::option::of(prop::sample::select(vec![0_u32, 5, 6, 7, 8, 9, 10, 11, 99])),
        (any::<bool>(), any::<bool>(), any::<bool>()),
    )
        .prop_map(|(way, company, (p, c, d))| {
            let order: Order = serde_json::from_value(serde_json::json!({
                "id": "DD202409260001", "status": "paid", "currency": "CNY",
                "lines": [{"id": "1", "product": "ERP_1113005", "quantity": "3", "original_total": "30"}]
            }))
            .unwrap();
            let a = Amendment {
                logistics: Some(Logistics { transport_way: way, company, ..Logistics::default() }),
                address: Some(Address {
                    province: p.then(|| "上海".to_owned()),
                    city: c.then(|| "上海市".to_owned()),
                    district: d.then(|| "嘉定区".to_owned()),
                    street: Some("商城路123123".into()),
                    ..Address::default()
                }),
                ..Amendment::default()
            };
            (order, a)
        })
}

proptest! {
    #[test]
    fn prop_icbu_accepted_breakdowns_add_up((o, a) in icbu_case()) {
        match plan(&o, &a, &transport_icbu::policy()) {
            Ok(p) => {
                let pay = p.payment().unwrap();
                let z = Amount::ZERO;
                let parts = [pay.products, pay.freight, pay.insurance.unwrap_or(z), pay.value_added_services.unwrap_or(z), pay.tax.unwrap_or(z)];
                prop_assert_eq!(parts.iter().map(|x| x.value()).sum::<rust_decimal::Decimal>(), pay.total.value());
                let products: rust_decimal::Decimal = p.items().unwrap().iter().map(|i| i.quantity.value() * i.unit_price.unwrap().value()).sum();
                prop_assert_eq!(products, pay.products.value());
                prop_assert!(pay.initial.value() <= pay.total.value());
                prop_assert_eq!(p.version().map(|v| v.as_str()), Some("1576114051021"));
            }
            Err(r) => {
                for v in &r.violations {
                    let is_payment_rule = matches!(
                        v.code,
                        ViolationCode::PaymentTotalMismatch | ViolationCode::PaymentProductsMismatch | ViolationCode::PaymentInitialAboveTotal
                    );
                    prop_assert!(is_payment_rule, "unexpected violation {}", v);
                }
            }
        }
    }

    #[test]
    fn prop_em_accepted_plans_obey_logistics_and_address_rules((o, a) in em_case()) {
        if let Ok(p) = plan(&o, &a, &transport_em::policy()) {
            let l = p.logistics().unwrap();
            let company = l.company.filter(|&c| c != 0);
            match l.transport_way {
                Some(2) => prop_assert!(matches!(company, Some(6 | 7 | 9 | 10 | 11))),
                Some(4) => prop_assert!(matches!(company, Some(5 | 8))),
                Some(w) => {
                    prop_assert!((1..=5).contains(&w));
                    prop_assert_eq!(company, None);
                }
                None => prop_assert_eq!(company, None),
            }
            let addr = p.address().unwrap();
            let given = [&addr.province, &addr.city, &addr.district].iter().filter(|x| x.is_some()).count();
            prop_assert!(given == 0 || given == 3);
        }
    }
}

/// The price policies, and two built here that differ only in what happens to unnamed lines.
fn unnamed_line_policies() -> impl Strategy<Value = Policy> {
    let built = |unnamed| {
        Policy::permissive("built")
            .with_changeable([Part::LinePrices, Part::Freight])
            .with_unnamed_lines(unnamed)
    };
    prop::sample::select(vec![
        transport_wechat_shop::policy(),
        transport_vvtool::policy(),
        built(UnnamedLines::KeptByPlatform),
        built(UnnamedLines::Restate),
    ])
}

/// What a platform with `policy`'s semantics holds for `line` after a request that carries
/// the plan's sent lines: a sent line its target; an unsent one its current total where the
/// platform keeps it, its original where a new revision undoes earlier ones.
fn platform_ends_with(policy: &Policy, line: &OrderLine, p: &Plan) -> Money {
    match p.sent_lines().find(|l| l.line() == line.id()) {
        Some(sent) => sent.target(),
        None => match policy.unnamed_lines {
            UnnamedLines::KeptByPlatform => line.current_total(),
            UnnamedLines::Restate => line.original_total(),
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Issue 12 item 15 / issue 14 item 6: absolute state on the wire.
    #[test]
    fn prop_unnamed_lines_keep_their_current_total_and_restating_policies_send_them(
        (o, a) in order_and_amendment(),
        policy in unnamed_line_policies(),
    ) {
        let Ok(p) = plan(&o, &a, &policy) else { return Ok(()) };
        // Every line's target is the named one or, unnamed, its current total.
        for l in p.lines() {
            match a.lines.get(l.line()) {
                Some(t) => prop_assert_eq!(l.target().amount(), t.value()),
                None => prop_assert_eq!(l.target(), l.current(), "unnamed line {}", l.line()),
            }
            prop_assert_eq!(l.is_sent(), l.is_named() || l.is_restated());
        }
        let open: Vec<&OrderLine> = o.lines().iter().filter(|l| !l.is_closed()).collect();
        if policy.unnamed_lines == UnnamedLines::Restate {
            // Every line whose current total differs from its original is in the request.
            for line in open.iter().filter(|l| l.current_total() != l.original_total()) {
                prop_assert!(
                    p.sent_lines().any(|l| l.line() == line.id()),
                    "line {} was changed earlier and is not restated", line.id()
                );
            }
        } else {
            prop_assert!(p.lines().iter().all(|l| !l.is_restated()));
        }
        // The platform ends where the plan says, line by line, and in total.
        let mut ends = Vec::new();
        for line in &open {
            let end = platform_ends_with(&policy, line, &p);
            let planned = p.lines().iter().find(|l| l.line() == line.id()).map_or(line.current_total(), |l| l.target());
            prop_assert_eq!(end, planned, "line {}", line.id());
            ends.push(end);
        }
        let freight = p.freight().map_or(o.freight_current(), |f| f.target());
        let total = Money::sum(o.currency(), ends).and_then(|t| t.checked_add(freight));
        prop_assert_eq!(total, Ok(p.new_total()));
    }
}
