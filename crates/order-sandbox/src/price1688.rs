//! 1688's price-change rules as the emulators that reach a 1688 order apply them (vv-tool's
//! ERP API and 1688's own open platform front the same backend): one set of checks and
//! refusals, in one order, for both.

/// A refusal: 1688's error code and its message.
pub(crate) type Refusal = (&'static str, String);

/// One entry as the rules see it; `discount` is written when the change is accepted.
pub(crate) struct Entry<'a> {
    pub(crate) id: u64,
    pub(crate) original_amount: i64,
    pub(crate) closed: bool,
    pub(crate) discount: &'a mut i64,
}

/// The order-level checks: awaiting payment (`waitbuyerpay`), a trade type that may change
/// (6, 8, 9, 10), freight not negative.
pub(crate) fn check_order(status: &str, trade_type: &str, carriage: i64) -> Result<(), Refusal> {
    if status != "waitbuyerpay" {
        return Err((
            "FAIL_BIZ_TRADING_ORDER_STATUS_ERROR",
            "订单状态不正确,只有等待买家付款的订单可以改价".into(),
        ));
    }
    if !["6", "8", "9", "10"].contains(&trade_type) {
        return Err((
            "FAIL_BIZ_TRADING_MODIFY_PRICE_ERROR",
            format!("修改价格失败:订单类型 {trade_type} 不支持改价"),
        ));
    }
    if carriage < 0 {
        return Err(("FAIL_BIZ_TRADING_INVALID_PARAM", "运费不能为负".into()));
    }
    Ok(())
}

/// Sets each named entry's discount (replacing its earlier one; entries not named keep
/// theirs): the entry must exist and be open, a discount lowers only, and no entry goes below
/// zero. On a refusal, entries before it may have been written: callers work on a copy.
pub(crate) fn discount(
    mut entries: Vec<Entry<'_>>,
    discounts: &[(u64, i64)],
) -> Result<(), Refusal> {
    for &(id, discount) in discounts {
        let Some(entry) = entries.iter_mut().find(|e| e.id == id) else {
            return Err((
                "FAIL_BIZ_TRADING_INVALID_PARAM",
                format!("子订单 {id} 不存在"),
            ));
        };
        if entry.closed {
            return Err((
                "FAIL_BIZ_TRADING_ORDER_ENTRY_STATUS_ERROR",
                format!("子订单 {id} 状态已改变,请返回重试"),
            ));
        }
        if discount > 0 {
            return Err((
                "FAIL_BIZ_TRADING_MODIFY_PRICE_ERROR",
                "修改价格失败:不能涨价,只能降价".into(),
            ));
        }
        if entry.original_amount + discount < 0 {
            return Err((
                "FAIL_BIZ_TRADING_INVALID_PARAM",
                format!("子订单 {id} 改价后金额为负"),
            ));
        }
        *entry.discount = discount;
    }
    Ok(())
}
