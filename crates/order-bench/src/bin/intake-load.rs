//! Load generator for `cargo xtask bench` (part `intake`): posts signed 1688 price-modified
//! messages over loopback, bounded in count and time, and prints `name: value` lines.
//!
//! ```text
//! intake-load --url http://127.0.0.1:PORT/PATH [--requests N] [--concurrency C] [--seconds S]
//! intake-load --bare [...]   # serve a bare axum handler that only reads the body, and load it
//! ```
//! Messages are signed with `ordermod serve --sandbox`'s documented test secret
//! (`Md5LengthPrefixed`), each with its own nonce, timestamp and order id.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use transport_1688_push::{Md5LengthPrefixed, SignatureScheme, SignedParts};
use transport_core::SecretString;

const SECRET: &str = "ordermod-sandbox-secret";

struct Args {
    url: Option<String>,
    bare: bool,
    requests: u64,
    concurrency: usize,
    seconds: u64,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        url: None,
        bare: false,
        requests: 20_000,
        concurrency: 16,
        seconds: 20,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().ok_or(format!("{k} needs a value"));
        match k.as_str() {
            "--url" => a.url = Some(v()?),
            "--bare" => a.bare = true,
            "--requests" => a.requests = v()?.parse().map_err(|e| format!("{e}"))?,
            "--concurrency" => a.concurrency = v()?.parse().map_err(|e| format!("{e}"))?,
            "--seconds" => a.seconds = v()?.parse().map_err(|e| format!("{e}"))?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(a)
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// One signed message: headers and body.
fn message(scheme: &Md5LengthPrefixed, i: u64) -> (Vec<(String, String)>, String) {
    let now = now_ms();
    let order = 58_218_860_983_545_941u64 + i;
    let body = format!(
        r#"{{"messageType":"ORDER_BUYER_VIEW_ORDER_PRICE_MODIFY","timestamp":"{now}","messageBody":{{"baseInfo":{{"idOfStr":"{order}","status":"waitbuyerpay","totalAmount":6.3,"shippingFee":6,"sumProductPayment":0.3}},"productItems":[{{"subItemIDString":"128403042259997715","quantity":1,"price":0.3,"itemAmount":0.3}}]}}}}"#
    );
    let mut headers: Vec<(String, String)> = vec![
        ("access-key".into(), "sandbox-access-key".into()),
        ("nonce-str".into(), format!("load-{now}-{i}")),
        ("timestamp".into(), now.to_string()),
        ("user-id".into(), "sandbox-user".into()),
    ];
    let sig = hex_upper(&scheme.expected_digest(&SignedParts {
        headers: &headers,
        body: body.as_bytes(),
    }));
    headers.push(("signature".into(), sig));
    (headers, body)
}

fn hex_upper(b: &[u8]) -> String {
    transport_core::sign::hex_upper(b)
}

async fn bare_server() -> Result<String, String> {
    use axum::routing::post;
    let app = axum::Router::new().route(
        "/bare",
        post(|body: axum::body::Bytes| async move { if body.is_empty() { "empty" } else { "ok" } }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(format!("http://{addr}/bare"))
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let a = args()?;
    let url = match (&a.url, a.bare) {
        (_, true) => bare_server().await?,
        (Some(u), false) => u.clone(),
        (None, false) => return Err("give --url or --bare".into()),
    };
    transport_core::install_crypto_provider();
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(a.concurrency)
        .build()
        .map_err(|e| e.to_string())?;
    let scheme = Arc::new(Md5LengthPrefixed::new(SecretString::from(SECRET)));
    let next = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(a.seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..a.concurrency.max(1) {
        let (client, scheme, next, errors, url) = (
            client.clone(),
            scheme.clone(),
            next.clone(),
            errors.clone(),
            url.clone(),
        );
        let total = a.requests;
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total || Instant::now() > deadline {
                    break;
                }
                let (headers, body) = message(&scheme, i);
                let mut req = client.post(&url).header("content-type", "application/json");
                for (k, v) in &headers {
                    req = req.header(k.as_str(), v.as_str());
                }
                let t = Instant::now();
                match req.body(body).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                lat.push(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.map_err(|e| e.to_string())?);
    }
    let elapsed = started.elapsed();
    lat.sort_unstable();
    let pct = |p: usize| lat.get((lat.len() * p / 100).min(lat.len().saturating_sub(1)));
    println!("requests: {}", lat.len());
    println!("errors: {}", errors.load(Ordering::Relaxed));
    println!("elapsed_us: {}", elapsed.as_micros());
    println!("p50_us: {}", pct(50).copied().unwrap_or(0));
    println!("p99_us: {}", pct(99).copied().unwrap_or(0));
    Ok(())
}
