//! Digest primitives for platform signatures. Pure functions; each platform crate builds its
//! own canonical string (the recipes are in `docs/platforms/`) and calls these.
//!
//! Received signatures are compared with [`verify_hex`], in constant time, never with `==`.
//!
//! ```
//! use transport_core::sign::{hex_upper, hmac_sha1, verify_hex};
//! let d = hmac_sha1(b"test123", b"param2/1/system/currentTime/1000000a1b2");
//! assert_eq!(hex_upper(&d), "33E54F4F7B989E3E0E912D3FBD2F1A03CA7CCE88");
//! assert!(verify_hex("33e54f4f7b989e3e0e912d3fbd2f1a03ca7cce88", &d));
//! ```

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha1::Sha1;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// MD5 of `data`.
pub fn md5(data: &[u8]) -> [u8; 16] {
    Md5::digest(data).into()
}

/// HMAC-MD5 of `data` under `key`.
pub fn hmac_md5(key: &[u8], data: &[u8]) -> [u8; 16] {
    mac::<Hmac<Md5>>(key, data).into()
}

/// HMAC-SHA1 of `data` under `key`.
pub fn hmac_sha1(key: &[u8], data: &[u8]) -> [u8; 20] {
    mac::<Hmac<Sha1>>(key, data).into()
}

/// HMAC-SHA256 of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    mac::<Hmac<Sha256>>(key, data).into()
}

/// Calls `f(key, value)` for each of `params` except those named `skip` and those whose value
/// is empty, in byte order of the keys (a stable sort: equal keys keep their order). The
/// canonical order of most platforms' signature strings, without building the string.
///
/// ```
/// use transport_core::sign::for_each_sorted_param;
/// let mut s = String::new();
/// for_each_sorted_param(&[("b", "2"), ("sign", "x"), ("a", "1"), ("c", "")], "sign", |k, v| {
///     s.push_str(k);
///     s.push_str(v);
/// });
/// assert_eq!(s, "a1b2");
/// ```
pub fn for_each_sorted_param<'p>(
    params: &'p [(&'p str, &'p str)],
    skip: &str,
    mut f: impl FnMut(&'p str, &'p str),
) {
    const ON_STACK: usize = 16;
    let kept = params.iter().filter(|(k, v)| *k != skip && !v.is_empty());
    if params.len() > ON_STACK {
        let mut kept: Vec<&(&str, &str)> = kept.collect();
        kept.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        kept.into_iter().for_each(|(k, v)| f(k, v));
        return;
    }
    // Insertion sort on the stack: a handful of parameters, no allocation.
    let mut sorted: [&(&str, &str); ON_STACK] = [&("", ""); ON_STACK];
    let mut n = 0;
    for p in kept {
        let mut i = n;
        while i > 0 && sorted[i - 1].0.as_bytes() > p.0.as_bytes() {
            sorted[i] = sorted[i - 1];
            i -= 1;
        }
        sorted[i] = p;
        n += 1;
    }
    sorted[..n].iter().for_each(|(k, v)| f(k, v));
}

/// An incremental digest for signatures: the canonical string is fed piece by piece with
/// [`update`](Digester::update), so it never has to be joined into one copy first, and the
/// result is read as upper-case hex. Feeding pieces gives exactly the digest of their
/// concatenation.
///
/// ```
/// use transport_core::sign::{Digester, hex_upper, hmac_sha256, md5};
/// let mut d = Digester::md5();
/// d.update(b"ab");
/// d.update(b"c");
/// assert_eq!(d.finish_hex_upper(), hex_upper(&md5(b"abc")));
/// let mut d = Digester::hmac_sha256(b"key");
/// d.update(b"a=1&");
/// d.update(b"b=2");
/// assert_eq!(d.finish_hex_upper(), hex_upper(&hmac_sha256(b"key", b"a=1&b=2")));
/// ```
#[derive(Clone)]
pub struct Digester(DigesterState);

#[derive(Clone)]
enum DigesterState {
    Md5(Md5),
    HmacMd5(Hmac<Md5>),
    HmacSha256(Hmac<Sha256>),
}

impl Digester {
    /// Plain MD5.
    pub fn md5() -> Self {
        Digester(DigesterState::Md5(Md5::new()))
    }

    /// HMAC-MD5 under `key`.
    pub fn hmac_md5(key: &[u8]) -> Self {
        Digester(DigesterState::HmacMd5(keyed(key)))
    }

    /// HMAC-SHA256 under `key`.
    pub fn hmac_sha256(key: &[u8]) -> Self {
        Digester(DigesterState::HmacSha256(keyed(key)))
    }

    /// Feeds the next piece.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.0 {
            DigesterState::Md5(d) => Digest::update(d, data),
            DigesterState::HmacMd5(m) => Mac::update(m, data),
            DigesterState::HmacSha256(m) => Mac::update(m, data),
        }
    }

    /// The digest of everything fed, in upper-case hex.
    pub fn finish_hex_upper(self) -> String {
        match self.0 {
            DigesterState::Md5(d) => hex_upper(&d.finalize()),
            DigesterState::HmacMd5(m) => hex_upper(&m.finalize().into_bytes()),
            DigesterState::HmacSha256(m) => hex_upper(&m.finalize().into_bytes()),
        }
    }
}

impl std::fmt::Debug for Digester {
    /// Names the algorithm only: the keyed state is derived from a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self.0 {
            DigesterState::Md5(_) => "md5",
            DigesterState::HmacMd5(_) => "hmac-md5",
            DigesterState::HmacSha256(_) => "hmac-sha256",
        };
        f.debug_tuple("Digester").field(&name).finish()
    }
}

fn keyed<M: hmac::digest::KeyInit>(key: &[u8]) -> M {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    <M as hmac::digest::KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"))
}

fn mac<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> hmac::digest::Output<M> {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    let mut m = <M as hmac::digest::KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    m.update(data);
    m.finalize().into_bytes()
}

/// Upper-case hex (`0A1B`), the form most platforms expect.
pub fn hex_upper(bytes: &[u8]) -> String {
    hex::encode_upper(bytes)
}

/// Lower-case hex (`0a1b`).
pub fn hex_lower(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// Whether `received_hex` (either case, surrounding whitespace ignored) encodes exactly
/// `computed`. The comparison of the bytes is constant-time; a malformed or wrong-length hex
/// string is simply `false`.
pub fn verify_hex(received_hex: &str, computed: &[u8]) -> bool {
    let Ok(received) = hex::decode(received_hex.trim()) else {
        return false;
    };
    // Length is public (digests have fixed sizes); the contents are compared in constant time.
    received.len() == computed.len() && bool::from(received.ct_eq(computed))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1688 `_aop_signature`: sort the `key + value` strings, prefix the url path.
    fn aop_string(path: &str, params: &[(&str, &str)]) -> String {
        let mut parts: Vec<String> = params.iter().map(|(k, v)| format!("{k}{v}")).collect();
        parts.sort();
        format!("{path}{}", parts.concat())
    }

    #[test]
    fn hmac_sha1_published_vector() {
        let d = hmac_sha1(b"test123", b"param2/1/system/currentTime/1000000a1b2");
        assert_eq!(hex_upper(&d), "33E54F4F7B989E3E0E912D3FBD2F1A03CA7CCE88");
    }

    #[test]
    fn aop_signature_vector_for_get_buyer_order_list() {
        let s = aop_string(
            "param2/1/com.alibaba.trade/alibaba.trade.getBuyerOrderList/1234567",
            &[
                ("access_token", "tok-abc"),
                ("_aop_datatype", "application/json"),
                ("_aop_timestamp", "1700000000000"),
                ("page", "1"),
                ("pageSize", "20"),
            ],
        );
        assert_eq!(
            s,
            "param2/1/com.alibaba.trade/alibaba.trade.getBuyerOrderList/1234567\
             _aop_datatypeapplication/json_aop_timestamp1700000000000access_tokentok-abcpage1pageSize20"
        );
        assert_eq!(
            hex_upper(&hmac_sha1(b"secretXYZ", s.as_bytes())),
            "D01C12C8FCD4B59367FFDD51E1DEC31C7C237A4C"
        );
    }

    #[test]
    fn message_push_vector() {
        let s = aop_string(
            "",
            &[
                ("msgId", "1001"),
                ("gmtBorn", "1700000000000"),
                ("type", "ORDER_CHANGED"),
                ("userInfo", "m1"),
                ("data", r#"{"k":"v"}"#),
            ],
        );
        let d = hmac_sha1(b"secretXYZ", s.as_bytes());
        assert_eq!(hex_upper(&d), "4B20205134EA09C4C8D29CCAC26F6C179EB72C8E");
        assert!(verify_hex("4b20205134ea09c4c8d29ccac26f6c179eb72c8e", &d));
    }

    #[test]
    fn rfc_vectors_for_md5_family_and_sha256() {
        // RFC 1321 and RFC 2104 / RFC 4231 test cases.
        assert_eq!(hex_lower(&md5(b"")), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(hex_lower(&md5(b"abc")), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            hex_lower(&hmac_md5(b"Jefe", b"what do ya want for nothing?")),
            "750c783e6ab0b503eaa86e310a5db738"
        );
        assert_eq!(
            hex_lower(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex_lower(&hmac_sha1(b"Jefe", b"what do ya want for nothing?")),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
    }

    #[test]
    fn verify_hex_rejects_wrong_and_malformed() {
        let d = md5(b"abc");
        assert!(verify_hex("900150983CD24FB0D6963F7D28E17F72", &d));
        assert!(verify_hex(" 900150983cd24fb0d6963f7d28e17f72\n", &d));
        assert!(!verify_hex("900150983cd24fb0d6963f7d28e17f73", &d));
        assert!(!verify_hex("900150983cd24fb0", &d));
        assert!(!verify_hex("zz", &d));
        assert!(!verify_hex("", &d));
    }

    #[test]
    fn digester_pieces_equal_the_whole_and_hex_matches_the_hex_crate() {
        let whole = "appid=a&request_data={\"备注\":1}&key=s".as_bytes();
        for cut in [0, 1, 7, whole.len()] {
            let (a, b) = whole.split_at(cut);
            let feed = |mut d: Digester| {
                d.update(a);
                d.update(b);
                d.finish_hex_upper()
            };
            assert_eq!(feed(Digester::md5()), hex_upper(&md5(whole)));
            assert_eq!(
                feed(Digester::hmac_md5(b"k")),
                hex_upper(&hmac_md5(b"k", whole))
            );
            assert_eq!(
                feed(Digester::hmac_sha256(b"k")),
                hex_upper(&hmac_sha256(b"k", whole))
            );
        }
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(hex_upper(&bytes), hex::encode_upper(&bytes));
        assert_eq!(hex_upper(&[]), "");
        assert_eq!(
            format!("{:?}", Digester::hmac_sha256(b"secret")),
            "Digester(\"hmac-sha256\")"
        );
    }

    #[test]
    fn sorted_params_match_a_stable_sort_on_the_stack_and_off_it() {
        for n in [0, 1, 3, 16, 17, 40] {
            let keys: Vec<String> = (0..n).map(|i| format!("k{}", (i * 7) % 5)).collect();
            let values: Vec<String> = (0..n)
                .map(|i| {
                    if i % 4 == 3 {
                        String::new()
                    } else {
                        i.to_string()
                    }
                })
                .collect();
            let mut params: Vec<(&str, &str)> = keys
                .iter()
                .zip(&values)
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            params.push(("sign", "S"));
            let mut expected: Vec<(&str, &str)> = params
                .iter()
                .copied()
                .filter(|(k, v)| *k != "sign" && !v.is_empty())
                .collect();
            expected.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            let mut got = Vec::new();
            for_each_sorted_param(&params, "sign", |k, v| got.push((k, v)));
            assert_eq!(got, expected, "{n}");
        }
    }

    #[test]
    fn utf8_input_signs_bytes() {
        // Chinese text is signed as its UTF-8 bytes.
        let a = hmac_md5(b"k", "备注".as_bytes());
        let b = hmac_md5(b"k", &[0xE5, 0xA4, 0x87, 0xE6, 0xB3, 0xA8]);
        assert_eq!(a, b);
    }
}
