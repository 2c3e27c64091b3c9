//! Decoding and verification of 1688 push messages: the seed example, hand-made variants and
//! each signature scheme's golden vector.

use std::sync::Arc;

use order_domain::{Currency, LineId, MessageDecoder, MessageError, Money, OrderStatus, Timestamp};
use transport_1688_push::{
    HmacSha1SortedKeyValue, InMemoryNonceStore, Md5SortedParams, NonceStore, PushConfig,
    PushDecoder, Repair, RepairKind, SignedParts, decode_message, map_status,
};

const SEED: &[u8] = include_bytes!("fixtures/seed_002.json");

fn cny(text: &str) -> Money {
    Money::parse(text, Currency::Cny).unwrap()
}

fn malformed_at(r: Result<impl std::fmt::Debug, MessageError>) -> (String, String) {
    match r {
        Err(MessageError::Malformed { at, reason }) => (at, reason),
        other => panic!("expected Malformed, got {other:?}"),
    }
}

// ---------------------------------------------------------------- the seed example

#[test]
fn seed_fixture_is_not_strict_json() {
    assert!(serde_json::from_slice::<serde_json::Value>(SEED).is_err());
}

#[test]
fn seed_example_decodes_exactly() {
    let d = decode_message(SEED).unwrap();
    let o = &d.order;
    assert_eq!(o.id().as_str(), "58218860983545941");
    assert_eq!(o.currency(), Currency::Cny);
    assert_eq!(o.status(), &OrderStatus::Shipped);
    assert_eq!(o.trade_type(), Some("50060"));
    assert_eq!(o.freight_current(), cny("6"));
    assert_eq!(o.freight_current().to_string(), "6.00");
    assert_eq!(o.freight_original(), cny("6"));

    let ids: Vec<&str> = o.lines().iter().map(|l| l.id().as_str()).collect();
    assert_eq!(
        ids,
        [
            "128403042259997715",
            "58218860985545941",
            "58218860986545941"
        ]
    );
    let l0 = o.line(&LineId::new("128403042259997715").unwrap()).unwrap();
    assert_eq!(l0.product().unwrap().as_str(), "547486647009");
    assert_eq!(l0.sku().unwrap().as_str(), "3315536521048");
    assert_eq!(l0.name(), Some("测试扫码购富光勿拍2L*6件"));
    assert_eq!(l0.unit(), Some("箱"));
    assert_eq!(l0.quantity().value().to_string(), "1");
    assert_eq!(l0.unit_price(), Some(cny("0.3")));
    assert_eq!(l0.current_total(), cny("0.30"));
    assert_eq!(l0.original_total(), cny("0.30"));
    let l1 = &o.lines()[1];
    assert_eq!(l1.unit_price(), Some(cny("0.10")));
    assert_eq!(l1.current_total(), cny("0.05"));
    assert_eq!(l1.original_total(), cny("0.05"));
    // The sample is not self-consistent: lines + freight = 6.40 while totalAmount says 6.15.
    assert_eq!(o.total().unwrap(), cny("6.40"));

    let m = &d.message;
    assert_eq!(m.message_type, "ORDER_BUYER_VIEW_ORDER_PRICE_MODIFY");
    assert_eq!(m.message_platform, Some(1));
    assert_eq!(m.timestamp, Some(Timestamp::from_millis(1_702_890_004_504)));
    let b = &m.base_info;
    assert_eq!(b.total_amount, cny("6.15"));
    assert_eq!(b.total_amount.to_minor().unwrap(), 615);
    assert_eq!(b.shipping_fee.to_minor().unwrap(), 600);
    assert_eq!(b.sum_product_payment, Some(cny("0.3")));
    assert_eq!(b.discount, Some(Money::from_minor(0, Currency::Cny)));
    assert_eq!(b.refund_payment, Some(Money::from_minor(0, Currency::Cny)));
    assert_eq!(b.refund, Some(cny("0")));
    assert_eq!(b.id_numeric.as_deref(), Some("58218860983545944"));
    assert_eq!(b.buyer_user_id.as_deref(), Some("2248544159"));
    assert_eq!(b.step_pay_all, Some(false));
    let created = b.create_time.as_ref().unwrap();
    assert_eq!(created.raw(), "20170913231708000-0700");
    assert_eq!(created.offset_minutes(), Some(-420));
    assert_eq!(created.utc_millis(), Some(1_505_369_828_000));
    assert_eq!(
        b.receiver_info.as_ref().unwrap().to_area.as_deref(),
        Some("浙江省 杭州市 滨江区 长河街道")
    );
    assert_eq!(
        b.buyer_contact.as_ref().unwrap().company_name.as_deref(),
        Some("阿里巴巴网络科技有限公司")
    );

    let logistics = m.native_logistics.as_ref().unwrap();
    assert_eq!(logistics.town.as_deref(), Some("长河街道"));
    let li = &logistics.logistics_items[0];
    assert_eq!(li.id.as_deref(), Some("107450035961376"));
    assert_eq!(
        li.sub_item_ids,
        [
            "58218860984545941",
            "58218860985545941",
            "58218860986545941"
        ]
    );
    assert_eq!(
        li.sub_item_ids_raw.as_deref(),
        Some("58218860984545941,\n58218860985545941,\n58218860986545941")
    );

    let p0 = &m.product_items[0];
    assert_eq!(p0.sub_item_id.as_deref(), Some("128403042259997715"));
    assert_eq!(
        p0.sub_item_id_numeric.as_deref(),
        Some("128403042259997710")
    );
    assert_eq!(p0.entry_discount, Some(Money::from_minor(0, Currency::Cny)));
    assert_eq!(
        p0.product_img_url[0],
        "https: //cbu01.alicdn.com/img/ibank/2017/757/125/3950521757.80x80.jpg"
    );
    assert_eq!(p0.sku_infos[1].value.as_deref(), Some("1.1L-2L"));
    let expire = p0.gmt_pay_expire_time.as_ref().unwrap();
    assert_eq!(expire.raw(), "2018-02-07 15: 27: 58");
    assert_eq!(expire.utc_millis(), None);
    let gmt = p0.gmt_create.as_ref().unwrap();
    assert_eq!(gmt.offset_minutes(), Some(480));
    assert_eq!(gmt.utc_millis(), Some(1_517_902_078_000));
    assert_eq!(
        m.product_items[1].sub_item_id_numeric.as_deref(),
        Some("58218860985545944")
    );
    assert!(m.product_items[1].product_img_url.is_empty());

    let t = &m.trade_terms[0];
    assert_eq!(t.phase.as_deref(), Some("655062941545941"));
    assert_eq!(t.phas_amount, Some(cny("6.15")));
    assert_eq!(t.pay_status.as_deref(), Some("2"));
    assert_eq!(
        m.order_rate_info.as_ref().unwrap().buyer_rate_status,
        Some(5)
    );
}

#[test]
fn seed_example_records_every_repair() {
    let d = decode_message(SEED).unwrap();
    let summary: Vec<(RepairKind, &str)> =
        d.repairs.iter().map(|r| (r.kind, r.at.as_str())).collect();
    assert_eq!(
        summary,
        [
            (RepairKind::EscapedControlCharacters, "line 74, column 34"),
            (RepairKind::IdDisagreement, "$.messageBody.baseInfo.id"),
            (
                RepairKind::IdDisagreement,
                "$.messageBody.productItems[0].subItemID"
            ),
            (
                RepairKind::UnparsedTime,
                "$.messageBody.productItems[0].gmtPayExpireTime"
            ),
            (
                RepairKind::RecoveredId,
                "$.messageBody.productItems[1].subItemID"
            ),
            (
                RepairKind::RecoveredId,
                "$.messageBody.productItems[2].subItemID"
            ),
        ]
    );
    assert!(
        d.repairs[0]
            .detail
            .contains("escaped 2 raw control character(s)")
    );
    assert!(d.repairs[0].detail.contains("line 75, column 19"));
    assert!(d.repairs[1].detail.contains("58218860983545941"));
}

#[test]
fn seed_example_through_the_port() {
    let dec = PushDecoder::with_secret("s".into());
    assert_eq!(dec.source(), "1688-push");
    let ev = dec.decode(SEED).unwrap();
    assert_eq!(ev.message_type, "ORDER_BUYER_VIEW_ORDER_PRICE_MODIFY");
    assert_eq!(ev.sent_at, Some(Timestamp::from_millis(1_702_890_004_504)));
    assert_eq!(ev.order.id().as_str(), "58218860983545941");
    assert_eq!(ev.raw.as_bytes(), SEED);
    // The platform's own total, next to the snapshot's computed one.
    assert_eq!(ev.reported_total, Some(cny("6.15")));
    assert_eq!(ev.order.total().unwrap(), cny("6.40"));
}

// ---------------------------------------------------------------- hand-made variants

fn msg(base_extra: &str, body_extra: &str) -> String {
    format!(
        r#"{{"messageType":"ORDER_BUYER_VIEW_ORDER_PRICE_MODIFY","messageBody":{{"baseInfo":{{"idOfStr":"2198111437768747370","status":"waitbuyerpay","totalAmount":10.5,"shippingFee":0.5{base_extra}}}{body_extra}}}}}"#
    )
}

#[test]
fn missing_optional_parts_are_not_errors() {
    let d = decode_message(msg("", "").as_bytes()).unwrap();
    assert!(d.repairs.is_empty());
    assert_eq!(d.order.id().as_str(), "2198111437768747370");
    assert_eq!(d.order.status(), &OrderStatus::AwaitingPayment);
    assert!(d.order.lines().is_empty());
    assert_eq!(d.order.trade_type(), None);
    assert_eq!(d.order.freight_current(), cny("0.50"));
    let m = &d.message;
    assert_eq!(m.timestamp, None);
    assert!(m.native_logistics.is_none() && m.product_items.is_empty());
    assert!(m.trade_terms.is_empty() && m.order_rate_info.is_none());
    assert_eq!(m.base_info.discount, None);
    // `null` parts are absent too.
    let nulls = msg(
        r#","createTime":null,"discount":null"#,
        r#","productItems":null,"tradeTerms":null,"nativeLogistics":null"#,
    );
    let d = decode_message(nulls.as_bytes()).unwrap();
    assert!(d.message.product_items.is_empty() && d.message.base_info.create_time.is_none());
}

#[test]
fn unknown_fields_are_ignored() {
    let body = msg(
        r#","brandNew":{"deep":[1,2,{"x":null}]},"flag":true"#,
        r#","futureSection":[{"a":1}],"productItems":[{"subItemIDString":"7","itemAmount":1,"newThing":"x"}]"#,
    )
    .replace(
        r#"{"messageType""#,
        r#"{"extraTop":12345678901234567890123,"messageType""#,
    );
    let d = decode_message(body.as_bytes()).unwrap();
    assert_eq!(d.order.lines()[0].id().as_str(), "7");
    assert!(d.repairs.is_empty());
}

#[test]
fn seed_lines_2_and_3_get_their_ids_from_the_snapshot_url() {
    let d = decode_message(SEED).unwrap();
    let items = &d.message.product_items;
    // The numbers as sent, rounded through a double upstream...
    assert_eq!(
        items[1].sub_item_id_numeric.as_deref(),
        Some("58218860985545944")
    );
    assert_eq!(
        items[2].sub_item_id_numeric.as_deref(),
        Some("58218860986545944")
    );
    // ...and the true ids, from each entry's productSnapshotUrl `order_entry_id`.
    assert_eq!(items[1].sub_item_id.as_deref(), Some("58218860985545941"));
    assert_eq!(items[2].sub_item_id.as_deref(), Some("58218860986545941"));
    let recovered: Vec<&Repair> = d
        .repairs
        .iter()
        .filter(|r| r.kind == RepairKind::RecoveredId)
        .collect();
    assert_eq!(recovered.len(), 2);
    assert!(recovered[0].detail.contains("58218860985545944"));
    assert!(recovered[0].detail.contains("58218860985545941"));
}

#[test]
fn a_numeric_id_that_agrees_with_its_snapshot_url_or_fits_a_double_is_not_flagged() {
    let body = r#"{"messageType":"T","messageBody":{"baseInfo":{"id":"1","status":"x","totalAmount":0,"shippingFee":0},
      "productItems":[
        {"subItemID":58218860985545941,"itemAmount":0,"productSnapshotUrl":"https://t/s.htm?a=1&order_entry_id=58218860985545941"},
        {"subItemID":9007199254740992,"itemAmount":0}]}}"#;
    let d = decode_message(body.as_bytes()).unwrap();
    let ids: Vec<&str> = d.order.lines().iter().map(|l| l.id().as_str()).collect();
    assert_eq!(ids, ["58218860985545941", "9007199254740992"]);
    assert!(d.repairs.is_empty(), "{:?}", d.repairs);
}

#[test]
fn string_ids_win_over_numeric_twins() {
    let body = r#"{"messageType":"T","messageBody":{"baseInfo":{"id":58218860983545944,"idOfStr":"58218860983545941","status":"waitbuyerpay","totalAmount":"1.00","shippingFee":0},
      "productItems":[
        {"subItemID":128403042259997710,"subItemIDString":"128403042259997715","itemAmount":1},
        {"subItemID":2198111437768747371,"itemAmount":0},
        {"subItemIDString":"E-3","subItemID":"E-3","itemAmount":0}]}}"#;
    let d = decode_message(body.as_bytes()).unwrap();
    assert_eq!(d.order.id().as_str(), "58218860983545941");
    let ids: Vec<&str> = d.order.lines().iter().map(|l| l.id().as_str()).collect();
    assert_eq!(ids, ["128403042259997715", "2198111437768747371", "E-3"]);
    let kinds: Vec<RepairKind> = d.repairs.iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds,
        [
            RepairKind::IdDisagreement,
            RepairKind::IdDisagreement,
            RepairKind::UnreliableId
        ]
    );
    assert_eq!(d.repairs[2].at, "$.messageBody.productItems[1].subItemID");
    // Only the numeric form: used as exact digits, never through f64.
    let only_num = r#"{"messageType":"T","messageBody":{"baseInfo":{"id":2198111437768747370,"status":"x","totalAmount":0,"shippingFee":0}}}"#;
    let d = decode_message(only_num.as_bytes()).unwrap();
    assert_eq!(d.order.id().as_str(), "2198111437768747370");
    assert_eq!(d.order.status(), &OrderStatus::Other("x".into()));
}

#[test]
fn times_keep_their_offset_and_bad_ones_stay_raw() {
    let body = msg(
        r#","createTime":"20240101080000000+0800","payTime":"20240101000000000-0000","modifyTime":"2018-02-07 15: 27: 58""#,
        "",
    );
    let d = decode_message(body.as_bytes()).unwrap();
    let b = &d.message.base_info;
    let c = b.create_time.as_ref().unwrap();
    assert_eq!(c.offset_minutes(), Some(480));
    assert_eq!(c.utc_millis(), Some(1_704_067_200_000)); // 2024-01-01T00:00:00Z
    assert_eq!(c.timestamp(), b.pay_time.as_ref().unwrap().timestamp());
    let bad = b.modify_time.as_ref().unwrap();
    assert_eq!(
        (bad.raw(), bad.utc_millis()),
        ("2018-02-07 15: 27: 58", None)
    );
    assert_eq!(d.repairs.len(), 1);
    assert_eq!(d.repairs[0].kind, RepairKind::UnparsedTime);
    assert_eq!(d.repairs[0].at, "$.messageBody.baseInfo.modifyTime");
}

#[test]
fn entry_discount_is_signed_fen_against_the_original() {
    let body = msg(
        "",
        r#","productItems":[
          {"subItemIDString":"A","price":5,"quantity":2,"itemAmount":8.00,"entryDiscount":-200},
          {"subItemIDString":"B","price":"4.25","quantity":2,"itemAmount":10,"entryDiscount":150},
          {"subItemIDString":"C","price":0.1,"quantity":3,"entryDiscount":-5}]"#,
    );
    let d = decode_message(body.as_bytes()).unwrap();
    let l = d.order.lines();
    assert_eq!(
        (l[0].original_total(), l[0].current_total()),
        (cny("10"), cny("8"))
    );
    assert_eq!(
        (l[1].original_total(), l[1].current_total()),
        (cny("8.50"), cny("10"))
    );
    assert_eq!(l[1].unit_price(), Some(cny("4.25")));
    // itemAmount absent: derived as price × quantity + entryDiscount, and recorded.
    assert_eq!(
        (l[2].original_total(), l[2].current_total()),
        (cny("0.30"), cny("0.25"))
    );
    assert_eq!(d.repairs[0].kind, RepairKind::DerivedAmount);
    assert_eq!(d.repairs[0].at, "$.messageBody.productItems[2].itemAmount");
}

#[test]
fn amounts_are_read_from_their_literal_text() {
    let body = r#"{"messageType":"T","messageBody":{"baseInfo":{"idOfStr":"1","status":"waitsellersend","totalAmount":12345678901234567.89,"shippingFee":0.1,"sumProductPayment":"0.30","discount":-123,"refundPayment":456,"refund":1.5e1}}}"#;
    let b = decode_message(body.as_bytes()).unwrap().message.base_info;
    assert_eq!(b.total_amount.to_string(), "12345678901234567.89");
    assert_eq!(b.shipping_fee.to_minor().unwrap(), 10);
    assert_eq!(b.sum_product_payment.unwrap().to_minor().unwrap(), 30);
    assert_eq!(b.discount.unwrap().to_string(), "-1.23");
    assert_eq!(b.refund_payment.unwrap().to_string(), "4.56");
    assert_eq!(b.refund.unwrap(), cny("15"));
}

#[test]
fn non_json_is_malformed_with_a_location() {
    let (at, reason) = malformed_at(decode_message(b"hello"));
    assert_eq!(at, "line 1, column 1");
    assert!(reason.contains("invalid JSON"), "{reason}");
    let (at, _) = malformed_at(decode_message(b"{\"a\":\n  1,,}"));
    assert!(at.starts_with("line 2, column"), "{at}");
    let (at, _) = malformed_at(decode_message(b""));
    assert!(at.starts_with("line 1"), "{at}");
    // Not UTF-8.
    malformed_at(decode_message(b"{\"messageType\":\"\xff\"}"));
    // Broken beyond the repair: the location is in the original text, after the repaired line.
    let (at, reason) = malformed_at(decode_message(b"{\"a\":\"x\ny\",\n\"b\": tru}"));
    assert!(at.starts_with("line 3, column"), "{at}");
    assert!(reason.contains("even after escaping"), "{reason}");
    let (at, _) = malformed_at(decode_message(b"[1,2]"));
    assert_eq!(at, "$");
}

#[test]
fn content_errors_name_the_json_path() {
    let cases = [
        (r#"{"messageBody":{}}"#, "$.messageType"),
        (r#"{"messageType":"T"}"#, "$.messageBody"),
        (
            r#"{"messageType":"T","messageBody":{"baseInfo":[]}}"#,
            "$.messageBody.baseInfo",
        ),
        (
            &msg("", "").replace("10.5", "\"ten\""),
            "$.messageBody.baseInfo.totalAmount",
        ),
        (
            &msg(r#","discount":1.5"#, ""),
            "$.messageBody.baseInfo.discount",
        ),
        (
            &msg("", "").replace(r#""idOfStr":"2198111437768747370","#, ""),
            "$.messageBody.baseInfo.idOfStr",
        ),
        (
            &msg("", r#","productItems":[{"itemAmount":1}]"#),
            "$.messageBody.productItems[0].subItemIDString",
        ),
        (
            &msg("", r#","productItems":[{"subItemID":1.5,"itemAmount":1}]"#),
            "$.messageBody.productItems[0].subItemID",
        ),
        (
            &msg("", r#","productItems":[1]"#),
            "$.messageBody.productItems[0]",
        ),
        (
            &msg(
                "",
                r#","productItems":[{"subItemID":1,"itemAmount":1,"quantity":0}]"#,
            ),
            "$.messageBody.productItems[0].quantity",
        ),
        (
            &msg(
                "",
                r#","productItems":[{"subItemID":1,"itemAmount":1,"entryDiscount":200}]"#,
            ),
            "$.messageBody.productItems[0].entryDiscount",
        ),
        (
            &msg("", "").replace(r#""shippingFee":0.5"#, r#""shippingFee":-1"#),
            "$.messageBody.baseInfo.shippingFee",
        ),
    ];
    for (body, want) in cases {
        let (at, reason) = malformed_at(decode_message(body.as_bytes()));
        assert_eq!(at, want, "{body}: {reason}");
    }
}

#[test]
fn statuses_are_normalised() {
    assert_eq!(map_status("waitbuyerpay"), OrderStatus::AwaitingPayment);
    assert_eq!(map_status("waitsellersend"), OrderStatus::Paid);
    assert_eq!(map_status("waitbuyerreceive"), OrderStatus::Shipped);
    assert_eq!(map_status("success"), OrderStatus::Completed);
    assert_eq!(map_status("confirm_goods"), OrderStatus::Completed);
    assert_eq!(map_status("cancel"), OrderStatus::Closed);
    assert_eq!(map_status("terminated"), OrderStatus::Closed);
    assert_eq!(map_status("WAIT"), OrderStatus::Other("WAIT".into()));
}

// ---------------------------------------------------------------- signatures

const BODY: &str = r#"{"messageType":"ORDER_BUYER_VIEW_ORDER_PRICE_MODIFY"}"#;
const NOW: i64 = 1_715_669_977_082;

fn hdrs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn golden_headers() -> Vec<(String, String)> {
    hdrs(&[
        ("access-key", "58c0201dfdf148eca63cbf6bb5e7cf03"),
        ("nonce-str", "n-0001"),
        ("timestamp", "1715669977082"),
        ("user-id", "2100007341207"),
        // python3: hashlib.md5(b'access-key=...&key=secretXYZ').hexdigest().upper()
        ("signature", "4E8E4B86DDF3780462FA86A6060E29F1"),
    ])
}

/// A decoder with the older sorted-params recipe, the one the golden headers are signed with.
fn sorted_params_decoder() -> PushDecoder {
    PushDecoder::new(Arc::new(Md5SortedParams::new("secretXYZ".into())))
}

#[tokio::test]
async fn with_secret_verifies_the_length_prefixed_recipe_that_serve_uses() {
    let dec = PushDecoder::with_secret("secretXYZ".into());
    let now = Timestamp::from_millis(NOW);
    // The sorted-params signature of the same message is refused: it is not the default.
    assert_eq!(
        dec.verify(&golden_headers(), BODY.as_bytes(), now).await,
        Err(MessageError::BadSignature)
    );
    // The length-prefixed golden vector (`Md5LengthPrefixed`'s documentation,
    // `docs/platforms/1688-push.md`) verifies.
    let mut h = golden_headers();
    h[4].1 = "B59A1D2B38CEAD1361D5F30AA3BA04D0".into();
    let v = dec.verify(&h, BODY.as_bytes(), now).await.unwrap();
    assert_eq!(v.dedup_key, "n-0001");
    // Every header is required: without the nonce it is a missing header, not an empty field.
    h.retain(|(k, _)| k != "nonce-str");
    assert_eq!(
        dec.verify(&h, BODY.as_bytes(), now).await,
        Err(MessageError::MissingHeader("nonce-str".into()))
    );
}

#[test]
fn default_scheme_string_to_sign() {
    let h = golden_headers();
    let parts = SignedParts {
        headers: &h,
        body: BODY.as_bytes(),
    };
    let canonical = Md5SortedParams::new("secretXYZ".into()).canonical(&parts);
    assert_eq!(
        String::from_utf8(canonical).unwrap(),
        r#"access-key=58c0201dfdf148eca63cbf6bb5e7cf03&body={"messageType":"ORDER_BUYER_VIEW_ORDER_PRICE_MODIFY"}&nonce-str=n-0001&timestamp=1715669977082&user-id=2100007341207"#
    );
}

#[tokio::test]
async fn default_scheme_golden_vector() {
    let v = sorted_params_decoder()
        .verify(
            &golden_headers(),
            BODY.as_bytes(),
            Timestamp::from_millis(NOW),
        )
        .await
        .unwrap();
    assert_eq!(v.dedup_key, "n-0001");
}

#[tokio::test]
async fn header_names_and_signature_case_do_not_matter() {
    let h: Vec<(String, String)> = golden_headers()
        .into_iter()
        .map(|(k, v)| (k.to_ascii_uppercase(), v.to_ascii_lowercase()))
        .map(|(k, v)| {
            if k == "ACCESS-KEY" {
                (k, "58c0201dfdf148eca63cbf6bb5e7cf03".to_owned())
            } else if k == "NONCE-STR" {
                (k, "n-0001".to_owned())
            } else {
                (k, v)
            }
        })
        .collect();
    sorted_params_decoder()
        .verify(&h, BODY.as_bytes(), Timestamp::from_millis(NOW))
        .await
        .unwrap();
}

#[tokio::test]
async fn without_nonce_the_dedup_key_is_a_body_digest() {
    let mut h = golden_headers();
    h.retain(|(k, _)| k != "nonce-str" && k != "signature");
    // python3: md5 of the string without the nonce-str pair.
    h.push((
        "signature".into(),
        "EB16B6F4740F5B841226EF43AC5B6EC8".into(),
    ));
    let dec = sorted_params_decoder();
    let now = Timestamp::from_millis(NOW + 1000);
    let v = dec.verify(&h, BODY.as_bytes(), now).await.unwrap();
    // python3: hashlib.md5(BODY).hexdigest().upper()
    assert_eq!(v.dedup_key, "body-md5:0D397297A41BD2A53985BB474AEB4435");
    // Replaying the same signed message is refused (the signature is the replay key).
    assert!(matches!(
        dec.verify(&h, BODY.as_bytes(), now).await,
        Err(MessageError::Replayed(_))
    ));
}

#[tokio::test]
async fn bad_signature_is_refused() {
    let dec = sorted_params_decoder();
    let now = Timestamp::from_millis(NOW);
    let mut h = golden_headers();
    h[4].1 = "4E8E4B86DDF3780462FA86A6060E29F0".into();
    assert_eq!(
        dec.verify(&h, BODY.as_bytes(), now).await,
        Err(MessageError::BadSignature)
    );
    h[4].1 = "not hex".into();
    assert_eq!(
        dec.verify(&h, BODY.as_bytes(), now).await,
        Err(MessageError::BadSignature)
    );
    // A changed body or header breaks the signature.
    let h = golden_headers();
    assert_eq!(
        dec.verify(&h, br#"{"messageType":"X"}"#, now).await,
        Err(MessageError::BadSignature)
    );
    let mut h2 = golden_headers();
    h2[3].1 = "2100007341208".into();
    assert_eq!(
        dec.verify(&h2, BODY.as_bytes(), now).await,
        Err(MessageError::BadSignature)
    );
    // Another secret.
    assert_eq!(
        PushDecoder::new(Arc::new(Md5SortedParams::new("other".into())))
            .verify(&h, BODY.as_bytes(), now)
            .await,
        Err(MessageError::BadSignature)
    );
}

#[tokio::test]
async fn stale_timestamps_are_refused_both_ways() {
    let dec = sorted_params_decoder();
    let h = golden_headers();
    let late = Timestamp::from_millis(NOW + 300_001);
    assert_eq!(
        dec.verify(&h, BODY.as_bytes(), late).await,
        Err(MessageError::Stale {
            sent: Timestamp::from_millis(NOW),
            skew_ms: 300_001,
            window_ms: 300_000
        })
    );
    let early = Timestamp::from_millis(NOW - 300_001);
    assert!(matches!(
        dec.verify(&h, BODY.as_bytes(), early).await,
        Err(MessageError::Stale { .. })
    ));
    // At the edge of the window it is accepted; a narrower window refuses it.
    let edge = Timestamp::from_millis(NOW + 300_000);
    assert!(dec.verify(&h, BODY.as_bytes(), edge).await.is_ok());
    let narrow = sorted_params_decoder().with_config(PushConfig::default().with_max_skew_ms(1000));
    assert!(matches!(
        narrow.verify(&h, BODY.as_bytes(), edge).await,
        Err(MessageError::Stale {
            window_ms: 1000,
            ..
        })
    ));
}

#[tokio::test]
async fn replayed_nonce_is_refused() {
    let dec = sorted_params_decoder();
    let h = golden_headers();
    let now = Timestamp::from_millis(NOW);
    assert!(dec.verify(&h, BODY.as_bytes(), now).await.is_ok());
    assert_eq!(
        dec.verify(&h, BODY.as_bytes(), Timestamp::from_millis(NOW + 5))
            .await,
        Err(MessageError::Replayed("n-0001".into()))
    );
    // A clone shares the store.
    assert!(matches!(
        dec.clone().verify(&h, BODY.as_bytes(), now).await,
        Err(MessageError::Replayed(_))
    ));
}

#[tokio::test]
async fn in_memory_nonce_store_prunes_and_is_bounded() {
    let s = InMemoryNonceStore::new(2);
    let t = Timestamp::from_millis;
    assert!(s.check_and_record("a", t(0), t(100)).await.unwrap());
    assert!(!s.check_and_record("a", t(50), t(150)).await.unwrap());
    assert!(s.check_and_record("b", t(60), t(200)).await.unwrap());
    // "a" expired at 100: pruned, may be recorded again.
    assert!(s.check_and_record("a", t(101), t(300)).await.unwrap());
    assert_eq!(s.len(), 2);
    // Full: the entry that expires first ("b") is evicted.
    assert!(s.check_and_record("c", t(102), t(400)).await.unwrap());
    assert_eq!(s.len(), 2);
    assert!(!s.check_and_record("a", t(103), t(400)).await.unwrap());
    assert!(!s.check_and_record("c", t(103), t(400)).await.unwrap());
}

#[tokio::test]
async fn missing_headers_are_named() {
    let dec = sorted_params_decoder();
    let now = Timestamp::from_millis(NOW);
    for missing in ["access-key", "timestamp", "user-id", "signature"] {
        let mut h = golden_headers();
        h.retain(|(k, _)| k != missing);
        assert_eq!(
            dec.verify(&h, BODY.as_bytes(), now).await,
            Err(MessageError::MissingHeader(missing.into())),
        );
        let mut empty = golden_headers();
        for (k, v) in &mut empty {
            if k == missing {
                v.clear();
            }
        }
        assert_eq!(
            dec.verify(&empty, BODY.as_bytes(), now).await,
            Err(MessageError::MissingHeader(missing.into())),
        );
    }
}

#[tokio::test]
async fn non_numeric_timestamp_is_malformed_after_the_signature() {
    let secret = "secretXYZ";
    let mut h = hdrs(&[
        ("access-key", "k"),
        ("timestamp", "yesterday"),
        ("user-id", "u"),
    ]);
    let scheme = Md5SortedParams::new(secret.into());
    let canonical = scheme.canonical(&SignedParts {
        headers: &h,
        body: b"{}",
    });
    assert_eq!(
        String::from_utf8(canonical).unwrap(),
        "access-key=k&body={}&timestamp=yesterday&user-id=u"
    );
    // python3: hashlib.md5(b'access-key=k&body={}&timestamp=yesterday&user-id=u&key=secretXYZ')
    h.push((
        "signature".into(),
        "8EF49B9BDBBBE0956DC0CD496984D451".into(),
    ));
    let r = sorted_params_decoder()
        .verify(&h, b"{}", Timestamp::from_millis(NOW))
        .await;
    assert_eq!(
        r,
        Err(MessageError::Malformed {
            at: "header `timestamp`".into(),
            reason: "`yesterday` is not Unix milliseconds".into()
        })
    );
}

fn sha1_headers() -> Vec<(String, String)> {
    hdrs(&[
        ("msgId", "1001"),
        ("gmtBorn", "1700000000000"),
        ("type", "ORDER_CHANGED"),
        ("userInfo", "m1"),
        ("signature", "4b20205134ea09c4c8d29ccac26f6c179eb72c8e"),
    ])
}

#[test]
fn hmac_sha1_scheme_string_to_sign() {
    let h = sha1_headers();
    let s = HmacSha1SortedKeyValue::new("secretXYZ".into()).canonical(&SignedParts {
        headers: &h,
        body: br#"{"k":"v"}"#,
    });
    assert_eq!(
        String::from_utf8(s).unwrap(),
        r#"data{"k":"v"}gmtBorn1700000000000msgId1001typeORDER_CHANGEDuserInfom1"#
    );
}

#[tokio::test]
async fn hmac_sha1_scheme_published_vector() {
    let dec = PushDecoder::new(Arc::new(HmacSha1SortedKeyValue::new("secretXYZ".into())))
        .with_config(PushConfig::default().with_headers("signature", "gmtBorn", "msgId"));
    let h = sha1_headers();
    let now = Timestamp::from_millis(1_700_000_000_000);
    let v = dec.verify(&h, br#"{"k":"v"}"#, now).await.unwrap();
    assert_eq!(v.dedup_key, "1001");
    assert_eq!(
        dec.verify(&h, br#"{"k":"v"}"#, now).await,
        Err(MessageError::Replayed("1001".into()))
    );
    let mut bad = sha1_headers();
    bad[2].1 = "ORDER_CHANGEd".into();
    assert_eq!(
        dec.verify(&bad, br#"{"k":"v"}"#, now).await,
        Err(MessageError::BadSignature)
    );
    let mut missing = sha1_headers();
    missing.retain(|(k, _)| k != "userInfo");
    assert_eq!(
        dec.verify(&missing, br#"{"k":"v"}"#, now).await,
        Err(MessageError::MissingHeader("userInfo".into()))
    );
}

#[test]
fn debug_output_never_shows_the_secret() {
    let dec = PushDecoder::with_secret("secretXYZ".into());
    let text = format!(
        "{dec:?} {:?}",
        HmacSha1SortedKeyValue::new("secretXYZ".into())
    );
    assert!(!text.contains("secretXYZ"), "{text}");
    let store: Arc<dyn NonceStore> = Arc::new(InMemoryNonceStore::default());
    let _ = sorted_params_decoder().with_nonce_store(store);
}
