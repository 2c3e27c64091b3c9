//! The 1688 open platform request signature, `_aop_signature`.
//!
//! Recipe (`docs/platforms/1688-open.md`): one string `key + value` per parameter sent, except
//! `_aop_signature` itself; the strings sorted in byte order and concatenated; HMAC-SHA1 with
//! the app secret as key over `urlPath` followed by that concatenation; upper-case hex.

use transport_core::sign::{hex_upper, hmac_sha1};

use crate::generated::params;

/// The signed path of an API: `param2/{version}/{namespace}/{api}/{app_key}`, no leading slash.
pub fn url_path(version: u32, namespace: &str, api: &str, app_key: &str) -> String {
    format!(
        "{}/{version}/{namespace}/{api}/{app_key}",
        params::URL_PATH_PREFIX
    )
}

/// `_aop_signature` of a request to `url_path` carrying `params` (values as sent, before form
/// encoding), under `secret`. A `_aop_signature` entry in `params` is ignored.
///
/// ```
/// use transport_1688_open::aop_signature;
/// assert_eq!(
///     aop_signature("test123", "param2/1/system/currentTime/1000000a1b2", &[]),
///     "33E54F4F7B989E3E0E912D3FBD2F1A03CA7CCE88"
/// );
/// ```
pub fn aop_signature(secret: &str, url_path: &str, params: &[(&str, &str)]) -> String {
    let mut pairs: Vec<String> = params
        .iter()
        .filter(|(k, _)| *k != params::AOP_SIGNATURE)
        .map(|(k, v)| {
            let mut s = String::with_capacity(k.len() + v.len());
            s.push_str(k);
            s.push_str(v);
            s
        })
        .collect();
    // Byte order of the UTF-8 strings (`str`'s `Ord`), which the recipe prescribes.
    pairs.sort_unstable();
    let mut message =
        String::with_capacity(url_path.len() + pairs.iter().map(String::len).sum::<usize>());
    message.push_str(url_path);
    for p in &pairs {
        message.push_str(p);
    }
    hex_upper(&hmac_sha1(secret.as_bytes(), message.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_vector_without_parameters() {
        assert_eq!(
            aop_signature("test123", "param2/1/system/currentTime/1000000a1b2", &[]),
            "33E54F4F7B989E3E0E912D3FBD2F1A03CA7CCE88"
        );
    }

    #[test]
    fn published_vector_with_parameters_in_any_order() {
        let path = url_path(
            1,
            "com.alibaba.trade",
            "alibaba.trade.getBuyerOrderList",
            "1234567",
        );
        assert_eq!(
            path,
            "param2/1/com.alibaba.trade/alibaba.trade.getBuyerOrderList/1234567"
        );
        let params = [
            ("pageSize", "20"),
            ("access_token", "tok-abc"),
            ("page", "1"),
            ("_aop_timestamp", "1700000000000"),
            ("_aop_datatype", "application/json"),
        ];
        let expected = "D01C12C8FCD4B59367FFDD51E1DEC31C7C237A4C";
        assert_eq!(aop_signature("secretXYZ", &path, &params), expected);
        let mut reversed = params;
        reversed.reverse();
        assert_eq!(aop_signature("secretXYZ", &path, &reversed), expected);
        // A signature already among the parameters is not itself signed.
        let mut with_sig = params.to_vec();
        with_sig.push(("_aop_signature", "ANYTHING"));
        assert_eq!(aop_signature("secretXYZ", &path, &with_sig), expected);
    }

    #[test]
    fn chinese_values_are_signed_as_utf8() {
        // HMAC-SHA1("secretXYZ", path + "access_tokentok-abc" + "memo改价说明：包邮" + "orderId1")
        // computed independently (Python hmac/hashlib) and pinned here.
        let path = "param2/1/cn.alibaba.open/trade.order.modifyOrderPrice/1234567";
        let sig = aop_signature(
            "secretXYZ",
            path,
            &[
                ("orderId", "1"),
                ("memo", "改价说明：包邮"),
                ("access_token", "tok-abc"),
            ],
        );
        assert_eq!(sig, CHINESE_VECTOR);
        assert_eq!(sig.len(), 40);
    }

    const CHINESE_VECTOR: &str = "4733B0F79C98932F2D0A748F992B13A9278AA41B";
}
