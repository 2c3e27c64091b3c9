//! Load generator for `cargo xtask bench` (part `intake`): posts signed 1688 price-modified
//! messages over loopback, bounded in count and time, and prints `name: value` lines.
//!
//! ```text
//! intake-load --url http://127.0.0.1:PORT/PATH [--requests N] [--concurrency C] [--seconds S]
//! intake-load --serve-bare   # serve the bare handler; prints `receiving on URL`, runs until killed
//! ```
//! Messages are signed with `ordermod serve --sandbox`'s documented test secret
//! (`Md5LengthPrefixed`), each with its own nonce, timestamp and order id.
//!
//! The bare handler (`POST /bare`) reads the whole body into memory, as the receiver does, and
//! answers 200 with a short text; it runs in a process of its own (`--serve-bare`), like
//! `ordermod serve`, so both sides are loaded by the same generator with the same settings and
//! neither shares the generator's runtime. Besides the latencies the generator prints its own
//! CPU time (`cpu_us`, user + system from `/proc/self/stat`), its share of the machine.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use transport_1688_push::{Md5LengthPrefixed, SignatureScheme, SignedParts};
use transport_core::SecretString;

const SECRET: &str = "ordermod-sandbox-secret";

struct Args {
    url: Option<String>,
    serve_bare: bool,
    requests: u64,
    concurrency: usize,
    seconds: u64,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        url: None,
        serve_bare: false,
        requests: 20_000,
        concurrency: 16,
        seconds: 20,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().ok_or(format!("{k} needs a value"));
        match k.as_str() {
            "--url" => a.url = Some(v()?),
            "--serve-bare" => a.serve_bare = true,
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

/// Serves the bare handler on a free loopback port until the process is killed: it reads the
/// whole body (axum's `Bytes` extractor collects it) and answers 200.
async fn serve_bare() -> Result<(), String> {
    use axum::routing::post;
    let app = axum::Router::new().route(
        "/bare",
        post(|body: axum::body::Bytes| async move { if body.is_empty() { "empty" } else { "ok" } }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("receiving on http://{addr}/bare");
    axum::serve(listener, app).await.map_err(|e| e.to_string())
}

/// User + system CPU time of this process in microseconds (`/proc/self/stat`, in clock ticks
/// of 1/100 s), or 0 where it cannot be read.
fn cpu_us() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0;
    };
    // Fields after the command name (which may hold spaces) start at `state` (field 3);
    // utime and stime are fields 14 and 15.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (ticks(11) + ticks(12)) * 10_000
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let a = args()?;
    if a.serve_bare {
        return serve_bare().await;
    }
    let Some(url) = a.url.clone() else {
        return Err("give --url or --serve-bare".into());
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
    let cpu = cpu_us();
    lat.sort_unstable();
    let pct = |p: usize| lat.get((lat.len() * p / 100).min(lat.len().saturating_sub(1)));
    println!("requests: {}", lat.len());
    println!("errors: {}", errors.load(Ordering::Relaxed));
    println!("elapsed_us: {}", elapsed.as_micros());
    println!("p50_us: {}", pct(50).copied().unwrap_or(0));
    println!("p99_us: {}", pct(99).copied().unwrap_or(0));
    println!("cpu_us: {cpu}");
    Ok(())
}
