//! The deterministic example generator behind `examples/amendments.jsonl`.
//!
//! [`amendments`] writes `per_platform` amendment lines for each of the six outbound platforms
//! (shops `wechat-main`, `vvtool-main`, `em-main`, `icbu-main`, `1688-main`, `channels-main`, so
//! `--sandbox` maps them by prefix), interleaved platform by platform. The same argument always
//! gives the same bytes: a fixed-seed generator (`fastrand`) draws the amounts, and which
//! amendments must be refused is decided by the index `i` within each platform, so the counts
//! are exact:
//!
//! | `i` | WeChat Shop | vv-tool (1688) | EM franchiser | Alibaba.com ICBU | 1688 open platform | WeChat Channels |
//! |---|---|---|---|---|---|---|
//! | `i % 10 == 3` | line raised above its original | line raised above its original | partial address (province only) | payment total does not add up | entry raised above its original | line raised above its original |
//! | `i % 10 == 7` | order already paid | trade type 1 (not 6, 8, 9, 10) | express delivery (way 4) without a logistics company | product amount is not Σ quantity × unit price | trade type 50060 (not 6, 8, 9, 10) | new address for a shipped order |
//! | `i % 25 == 11` | every line and freight set to 0 (zero total) | order already paid | a fractional item quantity | initial payment above the total | order already paid | every line and freight set to 0 (zero total) |
//! | otherwise | valid: lower lines and/or freight | valid: lower entries and/or freight | valid: address, logistics, date, remarks or items | valid: new freight and payment, or new unit prices | valid: lower entries (one lowered earlier and kept) and/or freight | valid: lower lines and/or freight, or (every third) a new address for a paid order |
//!
//! With 250 per platform: 25 + 25 + 10 = 60 refused and 190 valid per platform, so 1,140 valid
//! and 360 refused in all. The 1688 open platform and WeChat Channels lines draw from their own
//! generators, so the other platforms' lines are the same bytes as before they were added.
//! [`expected_counts`] computes these numbers for any size.

use std::fmt::Write as _;

use order_domain::{Currency, Money};
use serde_json::{Value, json};

/// Which rule an amendment is built to break, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Valid,
    /// `i % 10 == 3`.
    RefusalA,
    /// `i % 10 == 7`.
    RefusalB,
    /// `i % 25 == 11`.
    RefusalC,
}

fn kind(i: usize) -> Kind {
    if i % 10 == 3 {
        Kind::RefusalA
    } else if i % 10 == 7 {
        Kind::RefusalB
    } else if i % 25 == 11 {
        Kind::RefusalC
    } else {
        Kind::Valid
    }
}

/// (valid, refused) amendments per platform for `per_platform`.
pub fn expected_counts(per_platform: usize) -> (usize, usize) {
    let refused = (0..per_platform)
        .filter(|&i| kind(i) != Kind::Valid)
        .count();
    (per_platform - refused, refused)
}

/// A fixed-seed generator: `fastrand`, the workspace's one seeded generator.
struct Rng(fastrand::Rng);

impl Rng {
    /// The generator for `seed`: the same seed always draws the same numbers.
    fn seeded(seed: u64) -> Rng {
        Rng(fastrand::Rng::with_seed(seed))
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        self.0.i64(lo..=hi)
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.0.usize(..items.len())]
    }
}

fn cny(minor: i64) -> String {
    Money::from_minor(minor, Currency::Cny).to_string()
}

fn usd(minor: i64) -> String {
    Money::from_minor(minor, Currency::Usd).to_string()
}

/// A discounted amount: `pct` percent off, at least 1 minor unit above zero.
fn discounted(amount: i64, pct: i64) -> i64 {
    (amount * (100 - pct) / 100).max(1)
}

/// The example batch as JSON Lines.
pub fn amendments(per_platform: usize) -> String {
    let mut rng = Rng::seeded(0x0DE2_0DE2_2026_1123);
    let mut rng_1688 = Rng::seeded(0x1688_0DE2_2026_1129);
    let mut channels_rng = Rng::seeded(0x0C4A_11E1_2026_1129);
    let mut out = String::new();
    for i in 0..per_platform {
        for line in [
            wechat(i, &mut rng),
            vvtool(i, &mut rng),
            em(i, &mut rng),
            icbu(i, &mut rng),
            open1688(i, &mut rng_1688),
            channels(i, &mut channels_rng),
        ] {
            let _ = writeln!(out, "{line}");
        }
    }
    out
}

fn with_key(mut v: Value, i: usize, platform: &str) -> Value {
    // Every 50th amendment carries a caller-chosen key; the others get a derived one.
    if i % 50 == 49
        && let Some(m) = v.as_object_mut()
    {
        m.insert("key".into(), json!(format!("example-{platform}-{i:04}")));
    }
    v
}

fn wechat(i: usize, rng: &mut Rng) -> Value {
    let k = kind(i);
    let order_id = 3_710_000_000_000_000_000u64 + (i as u64) * 7;
    let n_lines = usize::try_from(rng.range(1, 3)).unwrap_or(1);
    let mut lines = Vec::new();
    let mut totals = Vec::new();
    for l in 0..n_lines {
        let total = rng.range(990, 59_900);
        totals.push(total);
        lines.push(json!({
            "id": format!("{order_id}-{l}"),
            "product": (10_000_000_000u64 + (i as u64) * 10 + l as u64).to_string(),
            "sku": (20_000_000_000u64 + (i as u64) * 10 + l as u64).to_string(),
            "quantity": rng.range(1, 5).to_string(),
            "original_total": cny(total),
        }));
    }
    let freight = *rng.pick(&[0, 600, 800, 1200, 2000]);
    let status = if k == Kind::RefusalB {
        "paid"
    } else {
        "awaiting_payment"
    };
    let mut set_lines = serde_json::Map::new();
    let mut set_freight = None;
    match k {
        Kind::RefusalA => {
            set_lines.insert(format!("{order_id}-0"), json!(cny(totals[0] + 500)));
        }
        Kind::RefusalC => {
            for l in 0..n_lines {
                set_lines.insert(format!("{order_id}-{l}"), json!("0"));
            }
            set_freight = Some(json!("0"));
        }
        Kind::Valid | Kind::RefusalB => {
            let pct = rng.range(5, 30);
            for (l, t) in totals.iter().enumerate() {
                if l == 0 || rng.range(0, 1) == 1 {
                    set_lines.insert(format!("{order_id}-{l}"), json!(cny(discounted(*t, pct))));
                }
            }
            if freight > 0 && rng.range(0, 2) == 0 {
                set_freight = Some(json!("0"));
            }
        }
    }
    let mut set = json!({ "lines": set_lines });
    if let Some(f) = set_freight {
        set["freight"] = f;
    }
    with_key(
        json!({
            "shop": "wechat-main",
            "order": {
                "id": order_id.to_string(),
                "status": status,
                "currency": "CNY",
                "lines": lines,
                "freight": { "original": cny(freight) },
            },
            "set": set,
        }),
        i,
        "wechat",
    )
}

fn channels(i: usize, rng: &mut Rng) -> Value {
    let k = kind(i);
    let order_id = 3_720_000_000_000_000_000u64 + (i as u64) * 11;
    let n_lines = usize::try_from(rng.range(1, 3)).unwrap_or(1);
    let mut lines = Vec::new();
    let mut totals = Vec::new();
    for l in 0..n_lines {
        let qty = rng.range(1, 4);
        let total = rng.range(990, 29_900) * qty;
        totals.push(total);
        lines.push(json!({
            "id": format!("{order_id}-{l}"),
            "product": (30_000_000_000u64 + (i as u64) * 10 + l as u64).to_string(),
            "sku": (40_000_000_000u64 + (i as u64) * 10 + l as u64).to_string(),
            "quantity": qty.to_string(),
            "original_total": cny(total),
        }));
    }
    let freight = *rng.pick(&[0, 500, 800, 1000]);
    let new_address = |n: usize| {
        json!({
            "receiver": format!("收货人{n}"),
            "mobile": format!("1380000{:04}", n % 10_000),
            "province": "广东省",
            "city": "广州市",
            "district": "海珠区",
            "street": format!("新港中路 {} 号", n % 400 + 1),
        })
    };
    let address_change = k == Kind::Valid && i % 3 == 2;
    let status = match k {
        Kind::RefusalB => "shipped",
        _ if address_change => "paid",
        _ => "awaiting_payment",
    };
    let set = match k {
        Kind::RefusalB => json!({ "address": new_address(i) }),
        Kind::Valid if address_change => json!({ "address": new_address(i) }),
        Kind::RefusalA => {
            json!({ "lines": { format!("{order_id}-0"): cny(totals[0] + 100) } })
        }
        Kind::RefusalC => {
            let zero: serde_json::Map<String, Value> = (0..n_lines)
                .map(|l| (format!("{order_id}-{l}"), json!("0")))
                .collect();
            json!({ "lines": zero, "freight": "0" })
        }
        Kind::Valid => {
            let pct = rng.range(5, 30);
            let mut set_lines = serde_json::Map::new();
            for (l, t) in totals.iter().enumerate() {
                if l == 0 || rng.range(0, 1) == 1 {
                    set_lines.insert(format!("{order_id}-{l}"), json!(cny(discounted(*t, pct))));
                }
            }
            let mut set = json!({ "lines": set_lines });
            if freight > 0 && rng.range(0, 2) == 0 {
                set["freight"] = json!("0");
            }
            set
        }
    };
    with_key(
        json!({
            "shop": "channels-main",
            "order": {
                "id": order_id.to_string(),
                "status": status,
                "currency": "CNY",
                "lines": lines,
                "freight": { "original": cny(freight) },
                "address": new_address(i + 1000),
            },
            "set": set,
        }),
        i,
        "channels",
    )
}

fn vvtool(i: usize, rng: &mut Rng) -> Value {
    let k = kind(i);
    let order_id = 2_198_111_437_768_740_000u64 + (i as u64) * 10;
    let n_lines = usize::try_from(rng.range(1, 4)).unwrap_or(1);
    let mut lines = Vec::new();
    let mut open = Vec::new();
    for l in 0..n_lines {
        let total = rng.range(1_000, 250_000);
        // The fourth entry of a four-entry order is closed: never named, left out of requests.
        let closed = l == 3;
        let mut line = json!({
            "id": (order_id + 1 + l as u64).to_string(),
            "product": (600_000_000_000u64 + (i as u64) * 10 + l as u64).to_string(),
            "original_total": cny(total),
        });
        if closed {
            line["closed"] = json!(true);
        } else {
            open.push((order_id + 1 + l as u64, total));
        }
        lines.push(line);
    }
    let freight = *rng.pick(&[0, 500, 1000, 1500]);
    let trade_type = if k == Kind::RefusalB {
        "1"
    } else {
        *rng.pick(&["6", "8", "9", "10"])
    };
    let status = if k == Kind::RefusalC {
        "paid"
    } else {
        "awaiting_payment"
    };
    let mut set_lines = serde_json::Map::new();
    let mut set_freight = None;
    if k == Kind::RefusalA {
        set_lines.insert(open[0].0.to_string(), json!(cny(open[0].1 + 1_000)));
    } else {
        let pct = rng.range(3, 25);
        for (l, (id, t)) in open.iter().enumerate() {
            if l == 0 || rng.range(0, 1) == 1 {
                set_lines.insert(id.to_string(), json!(cny(discounted(*t, pct))));
            }
        }
        if rng.range(0, 2) == 0 {
            set_freight = Some(json!(cny(freight / 2)));
        }
    }
    let mut set = json!({ "lines": set_lines });
    if let Some(f) = set_freight {
        set["freight"] = f;
    }
    with_key(
        json!({
            "shop": "vvtool-main",
            "order": {
                "id": order_id.to_string(),
                "status": status,
                "currency": "CNY",
                "trade_type": trade_type,
                "lines": lines,
                "freight": { "original": cny(freight) },
            },
            "set": set,
        }),
        i,
        "vvtool",
    )
}

/// A 1688 open platform order of 1 to 4 entries (the fourth closed); the second entry, when
/// open, was lowered earlier, so a plan that leaves it alone must restate its discount.
fn open1688(i: usize, rng: &mut Rng) -> Value {
    let k = kind(i);
    let order_id = 2_298_111_437_768_740_000u64 + (i as u64) * 10;
    let n_lines = usize::try_from(rng.range(1, 4)).unwrap_or(1);
    let mut lines = Vec::new();
    let mut open = Vec::new();
    for l in 0..n_lines {
        let id = order_id + 1 + l as u64;
        let total = rng.range(1_000, 250_000);
        let mut line = json!({ "id": id.to_string(), "original_total": cny(total) });
        if l == 3 {
            line["closed"] = json!(true);
        } else {
            let current = if l == 1 { discounted(total, 5) } else { total };
            if current != total {
                line["current_total"] = json!(cny(current));
            }
            open.push((id, current));
        }
        lines.push(line);
    }
    let freight = *rng.pick(&[0, 600, 1200]);
    let trade_type = if k == Kind::RefusalB {
        "50060"
    } else {
        *rng.pick(&["6", "8", "9", "10"])
    };
    let status = if k == Kind::RefusalC {
        "paid"
    } else {
        "awaiting_payment"
    };
    let mut set = json!({});
    if k == Kind::RefusalA {
        set["lines"] = json!({ open[0].0.to_string(): cny(open[0].1 + 1_000) });
    } else {
        // The first entry is lowered; the others (the earlier-lowered one included) are left.
        let pct = rng.range(3, 25);
        set["lines"] = json!({ open[0].0.to_string(): cny(discounted(open[0].1, pct)) });
        if rng.range(0, 2) == 0 {
            set["freight"] = json!(cny(freight / 2));
        }
    }
    with_key(
        json!({
            "shop": "1688-main",
            "order": {
                "id": order_id.to_string(),
                "status": status,
                "currency": "CNY",
                "trade_type": trade_type,
                "lines": lines,
                "freight": { "original": cny(freight) },
            },
            "set": set,
        }),
        i,
        "1688",
    )
}

const PROVINCES: &[(&str, &str, &str)] = &[
    ("浙江省", "杭州市", "西湖区"),
    ("江苏省", "苏州市", "工业园区"),
    ("广东省", "深圳市", "南山区"),
    ("上海市", "上海市", "浦东新区"),
    ("四川省", "成都市", "武侯区"),
];

fn em(i: usize, rng: &mut Rng) -> Value {
    let k = kind(i);
    let tradeno = format!("DD20261123{i:05}");
    let n_items = usize::try_from(rng.range(1, 3)).unwrap_or(1);
    let mut lines = Vec::new();
    let mut items = Vec::new();
    for l in 0..n_items {
        let code = format!("EM-{:04}", (i * 3 + l) % 400);
        let qty = rng.range(1, 20);
        lines.push(json!({
            "id": format!("{tradeno}-{l}"),
            "product": code,
            "quantity": qty.to_string(),
            "original_total": cny(qty * 1_200),
        }));
        items.push((code, qty));
    }
    let (p, c, d) = *rng.pick(PROVINCES);
    let order = json!({
        "id": tradeno,
        "status": "awaiting_payment",
        "currency": "CNY",
        "lines": lines,
        "address": { "receiver": "张三", "mobile": "13800000000", "province": p, "city": c,
                     "district": d, "street": "文三路 1 号" },
        "logistics": { "warehouse": "1", "transport_way": 1 },
    });
    let (np, nc, nd) = *rng.pick(PROVINCES);
    let set = match k {
        Kind::RefusalA => json!({ "address": { "receiver": "李四", "mobile": "13900000000",
                                                "province": np, "street": "新街 8 号" } }),
        Kind::RefusalB => json!({ "logistics": { "warehouse": "1", "transport_way": 4 } }),
        Kind::RefusalC => json!({ "items": [{ "product": items[0].0, "quantity": "1.5" }] }),
        Kind::Valid => match i % 4 {
            0 => json!({ "address": { "receiver": "李四", "mobile": "13900000000",
                                      "province": np, "city": nc, "district": nd,
                                      "street": format!("新街 {} 号", i % 97 + 1) } }),
            1 => json!({ "logistics": { "warehouse": "1", "transport_way": 4,
                                        "company": *rng.pick(&[5, 8]),
                                        "contact": "王五", "contact_mobile": "13700000000" },
                         "delivery_date": format!("2026-12-{:02}", i % 28 + 1) }),
            2 => json!({ "items": items.iter().map(|(code, q)| json!({
                             "product": code, "quantity": (q + 1).to_string() }))
                             .collect::<Vec<_>>(),
                         "remarks": { "order": "加急" } }),
            _ => json!({ "delivery_date": format!("2026-12-{:02}", i % 28 + 1),
                         "remarks": { "order": "请周末送达", "logistics": "易碎" } }),
        },
    };
    with_key(
        json!({ "shop": "em-main", "order": order, "set": set }),
        i,
        "em",
    )
}

fn icbu(i: usize, rng: &mut Rng) -> Value {
    let k = kind(i);
    let order_id = 24_668_306_501_000_000u64 + (i as u64) * 3;
    let n_items = usize::try_from(rng.range(1, 3)).unwrap_or(1);
    let mut lines = Vec::new();
    let mut products = 0;
    let mut priced = Vec::new();
    for l in 0..n_items {
        let qty = rng.range(10, 500);
        let unit = rng.range(150, 9_900);
        products += qty * unit;
        priced.push((l, qty, unit));
        lines.push(json!({
            "id": format!("{order_id}-{l}"),
            "product": (1_600_000_000_000u64 + (i as u64) * 10 + l as u64).to_string(),
            "sku": "-1",
            "name": format!("Stainless steel bottle model {}", (i * 7 + l) % 300),
            "unit": *rng.pick(&["piece", "set", "box"]),
            "quantity": qty.to_string(),
            "unit_price": usd(unit),
            "original_total": usd(qty * unit),
        }));
    }
    let freight = rng.range(5_000, 80_000);
    let total = products + freight;
    let order = json!({
        "id": order_id.to_string(),
        "status": "awaiting_payment",
        "currency": "USD",
        "lines": lines,
        "freight": { "original": usd(freight) },
        "revision": { "count": 0, "version": "1" },
        "address": { "receiver": "Jane Doe", "telephone": { "country": "1", "area": "415",
                     "number": "5550100" }, "country": "US", "province": "CA",
                     "city": "San Francisco", "street": "1 Market St", "zip": "94105" },
        "logistics": { "shipment_method": "sea", "trade_term": "FOB",
                       "shipment_date": { "days_after_payment": 30 } },
        "payment": { "products": usd(products), "freight": usd(freight), "total": usd(total),
                     "initial": usd(total * 3 / 10) },
    });
    let new_freight = freight - rng.range(500, 4_000);
    let new_total = products + new_freight;
    let set = match k {
        Kind::RefusalA => json!({ "freight": usd(new_freight), "payment": {
            "products": usd(products), "freight": usd(new_freight),
            "total": usd(new_total + 100), "initial": usd(new_total * 3 / 10) } }),
        Kind::RefusalB => json!({ "freight": usd(new_freight), "payment": {
            "products": usd(products - 1_000), "freight": usd(new_freight),
            "total": usd(new_total - 1_000), "initial": usd(new_total * 3 / 10) } }),
        Kind::RefusalC => json!({ "freight": usd(new_freight), "payment": {
            "products": usd(products), "freight": usd(new_freight),
            "total": usd(new_total), "initial": usd(new_total + 1) } }),
        Kind::Valid if i.is_multiple_of(2) => json!({ "freight": usd(new_freight), "payment": {
            "products": usd(products), "freight": usd(new_freight),
            "total": usd(new_total), "initial": usd(new_total * 3 / 10) } }),
        Kind::Valid => {
            // A 5% lower unit price on every item, with the payment restated to match.
            let mut new_products = 0;
            let items: Vec<Value> = priced
                .iter()
                .map(|&(l, qty, unit)| {
                    let new_unit = discounted(unit, 5);
                    new_products += qty * new_unit;
                    let line = &order["lines"][l];
                    json!({ "product": line["product"], "sku": "-1", "name": line["name"],
                            "unit": line["unit"], "quantity": qty.to_string(),
                            "unit_price": usd(new_unit) })
                })
                .collect();
            let t = new_products + freight;
            json!({ "items": items, "payment": { "products": usd(new_products),
                    "freight": usd(freight), "total": usd(t), "initial": usd(t * 3 / 10) } })
        }
    };
    with_key(
        json!({ "shop": "icbu-main", "order": order, "set": set }),
        i,
        "icbu",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::parse_line;
    use crate::registry::PlatformKind;

    #[test]
    fn the_batch_is_deterministic_and_every_line_is_refused_exactly_when_intended() {
        let a = amendments(60);
        assert_eq!(a, amendments(60));
        let mut refused = [0usize; 6];
        for (n, text) in a.lines().enumerate() {
            let line = parse_line(n as u64 + 1, text).unwrap_or_else(|e| panic!("{e}\n{text}"));
            let kind = PlatformKind::from_sandbox_shop(&line.shop).unwrap();
            let i = n / 6;
            let planned = order_domain::plan(line.snapshot().unwrap(), &line.set, &kind.policy());
            let want_refused = super::kind(i) != Kind::Valid;
            assert_eq!(
                planned.is_err(),
                want_refused,
                "line {} ({kind}, i = {i}): {planned:?}",
                n + 1
            );
            if let Err(r) = planned {
                refused[n % 6] += 1;
                assert_eq!(r.violations.len(), 1, "one reason each: {r}");
            }
        }
        let (_, want) = expected_counts(60);
        assert_eq!(refused, [want; 6]);
        assert_eq!(expected_counts(250), (190, 60));
    }
}
