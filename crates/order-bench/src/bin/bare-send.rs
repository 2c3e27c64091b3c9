//! The bare client of `cargo xtask bench`'s `batch_vs_bare`: the same HTTP requests
//! `ordermod apply` sends, sent to the same emulators with nothing else (no planning, no
//! journal, no rate limiter, no retries), to bound what a batch could reach on this machine.
//!
//! ```text
//! bare-send record --out LOG --upstream NAME=URL [--upstream NAME=URL ...]
//! bare-send replay --log LOG --upstream NAME=URL [...] [--concurrency N]
//! ```
//!
//! `record` is a recording reverse proxy: one loopback listener per upstream (it prints
//! `proxy NAME UPSTREAM_URL PROXY_URL` per upstream, then `ready`), forwarding every request
//! unchanged and keeping its method, path and query, headers and body (and the reply, when the
//! reply carries an `access_token`). When its standard input closes it writes the log (JSON
//! Lines) and exits. `ordermod apply` is pointed at the proxies for one unmeasured run.
//!
//! `replay` reads the log and, against a fresh sandbox seeded with the same batch, first
//! repeats the token requests one by one (untimed) so each recorded access token can be
//! replaced by the one the fresh emulator issued; then it builds every other request ahead of
//! time, byte for byte as recorded, and sends them all with `--concurrency` requests in flight
//! (default 64, `ordermod apply`'s default) over one keep-alive `reqwest` client, reading each
//! reply body. It prints `requests`, `errors` (transport errors and non-2xx replies),
//! `tokens` and `elapsed_us` (the sending only).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{Value, json};

/// Headers that belong to one connection, not to the request.
const HOP_HEADERS: [&str; 5] = [
    "host",
    "content-length",
    "connection",
    "transfer-encoding",
    "keep-alive",
];

struct Args {
    mode: String,
    file: Option<String>,
    upstreams: Vec<(String, String)>,
    concurrency: usize,
}

fn args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mode = it.next().ok_or("give `record` or `replay`")?;
    let mut a = Args {
        mode,
        file: None,
        upstreams: Vec::new(),
        concurrency: 64,
    };
    while let Some(k) = it.next() {
        let mut v = || it.next().ok_or(format!("{k} needs a value"));
        match k.as_str() {
            "--out" | "--log" => a.file = Some(v()?),
            "--upstream" => {
                let s = v()?;
                let (name, url) = s
                    .split_once('=')
                    .ok_or(format!("--upstream wants NAME=URL, got {s}"))?;
                a.upstreams
                    .push((name.to_owned(), url.trim_end_matches('/').to_owned()));
            }
            "--concurrency" => a.concurrency = v()?.parse().map_err(|e| format!("{e}"))?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(a)
}

fn client(pool: usize) -> Result<reqwest::Client, String> {
    // reqwest is built without a default TLS provider (decision D14): install ring's.
    transport_core::install_crypto_provider();
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(pool)
        .build()
        .map_err(|e| e.to_string())
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let a = args()?;
    let file = a.file.clone().ok_or("give --out / --log")?;
    if a.upstreams.is_empty() {
        return Err("give at least one --upstream NAME=URL".into());
    }
    match a.mode.as_str() {
        "record" => record(&file, &a.upstreams).await,
        "replay" => replay(&file, &a.upstreams, a.concurrency.max(1)).await,
        other => Err(format!("unknown mode {other}")),
    }
}

// ------------------------------------------------------------------------------------ record

#[derive(Clone)]
struct Proxy {
    name: String,
    upstream: String,
    client: reqwest::Client,
    log: Arc<Mutex<Vec<Value>>>,
}

async fn forward(
    axum::extract::State(p): axum::extract::State<Proxy>,
    req: axum::extract::Request,
) -> Result<axum::response::Response, (axum::http::StatusCode, String)> {
    let bad = |e: String| (axum::http::StatusCode::BAD_GATEWAY, e);
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|e| bad(e.to_string()))?;
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_owned();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter(|(k, _)| !HOP_HEADERS.contains(&k.as_str()))
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let mut out = p
        .client
        .request(parts.method.clone(), format!("{}{path}", p.upstream));
    for (k, v) in &headers {
        out = out.header(k, v);
    }
    let reply = out
        .body(body.clone())
        .send()
        .await
        .map_err(|e| bad(e.to_string()))?;
    let status = reply.status();
    let content_type = reply.headers().get(reqwest::header::CONTENT_TYPE).cloned();
    let reply_body = reply.bytes().await.map_err(|e| bad(e.to_string()))?;
    let text = String::from_utf8(body.to_vec()).map_err(|e| bad(format!("body: {e}")))?;
    let token = serde_json::from_slice::<Value>(&reply_body)
        .ok()
        .and_then(|v| v.get("access_token")?.as_str().map(str::to_owned));
    let entry = json!({
        "upstream": p.name,
        "method": parts.method.as_str(),
        "path": path,
        "headers": headers,
        "body": text,
        "token": token,
    });
    p.log.lock().map_err(|e| bad(e.to_string()))?.push(entry);
    let mut resp = axum::response::Response::new(axum::body::Body::from(reply_body));
    *resp.status_mut() = status;
    if let Some(ct) = content_type {
        resp.headers_mut()
            .insert(axum::http::header::CONTENT_TYPE, ct);
    }
    Ok(resp)
}

async fn record(out: &str, upstreams: &[(String, String)]) -> Result<(), String> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let http = client(256)?;
    for (name, upstream) in upstreams {
        let proxy = Proxy {
            name: name.clone(),
            upstream: upstream.clone(),
            client: http.clone(),
            log: log.clone(),
        };
        let app = axum::Router::new().fallback(forward).with_state(proxy);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        println!("proxy {name} {upstream} http://{addr}");
    }
    println!("ready");
    // Until standard input closes.
    let _ = tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink)
    })
    .await;
    let entries = std::mem::take(&mut *log.lock().map_err(|e| e.to_string())?);
    let mut text = String::new();
    for e in &entries {
        text.push_str(&e.to_string());
        text.push('\n');
    }
    std::fs::write(out, text).map_err(|e| format!("cannot write {out}: {e}"))?;
    println!("recorded {}", entries.len());
    Ok(())
}

// ------------------------------------------------------------------------------------ replay

/// One recorded request.
struct Entry {
    upstream: String,
    method: reqwest::Method,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
    token: Option<String>,
}

fn entry(v: &Value) -> Result<Entry, String> {
    let s = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or(format!("log entry without {k}"))
    };
    let headers = v
        .get("headers")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .filter_map(|h| Some((h[0].as_str()?.to_owned(), h[1].as_str()?.to_owned())))
        .collect();
    Ok(Entry {
        upstream: s("upstream")?,
        method: s("method")?.parse().map_err(|e| format!("method: {e}"))?,
        path: s("path")?,
        headers,
        body: s("body")?,
        token: v.get("token").and_then(Value::as_str).map(str::to_owned),
    })
}

fn build(
    http: &reqwest::Client,
    base: &HashMap<&str, &str>,
    e: &Entry,
    path: &str,
) -> Result<reqwest::Request, String> {
    let base = base
        .get(e.upstream.as_str())
        .ok_or(format!("no --upstream for {}", e.upstream))?;
    let mut r = http.request(e.method.clone(), format!("{base}{path}"));
    for (k, v) in &e.headers {
        r = r.header(k, v);
    }
    r.body(e.body.clone()).build().map_err(|e| e.to_string())
}

async fn replay(
    log: &str,
    upstreams: &[(String, String)],
    concurrency: usize,
) -> Result<(), String> {
    let text = std::fs::read_to_string(log).map_err(|e| format!("cannot read {log}: {e}"))?;
    let entries: Vec<Entry> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l)
                .map_err(|e| e.to_string())
                .and_then(|v| entry(&v))
        })
        .collect::<Result<_, _>>()?;
    let base: HashMap<&str, &str> = upstreams
        .iter()
        .map(|(n, u)| (n.as_str(), u.as_str()))
        .collect();
    let http = client(concurrency)?;

    // Untimed: fresh tokens for the recorded ones.
    let mut tokens: Vec<(String, String)> = Vec::new();
    for e in entries.iter().filter(|e| e.token.is_some()) {
        let reply = http
            .execute(build(&http, &base, e, &e.path)?)
            .await
            .map_err(|e| format!("token request: {e}"))?;
        let v: Value = reply
            .json()
            .await
            .map_err(|e| format!("token reply: {e}"))?;
        let new = v
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or(format!("token reply without access_token: {v}"))?;
        if let Some(old) = &e.token {
            tokens.push((old.clone(), new.to_owned()));
        }
    }
    // Untimed: every request built ahead of time.
    let mut requests = Vec::new();
    for e in entries.iter().filter(|e| e.token.is_none()) {
        let mut path = e.path.clone();
        for (old, new) in &tokens {
            if path.contains(old.as_str()) {
                path = path.replace(old.as_str(), new);
            }
        }
        requests.push(build(&http, &base, e, &path)?);
    }
    let count = requests.len();
    let requests = Arc::new(Mutex::new(requests.into_iter()));
    let errors = Arc::new(AtomicU64::new(0));

    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (http, requests, errors) = (http.clone(), requests.clone(), errors.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let Some(req) = requests.lock().ok().and_then(|mut it| it.next()) else {
                    break;
                };
                match http.execute(req).await {
                    Ok(r) if r.status().is_success() => {
                        if r.bytes().await.is_err() {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for w in workers {
        w.await.map_err(|e| e.to_string())?;
    }
    let elapsed = started.elapsed();
    println!("requests: {count}");
    println!("errors: {}", errors.load(Ordering::Relaxed));
    println!("tokens: {}", tokens.len());
    println!("elapsed_us: {}", elapsed.as_micros());
    Ok(())
}
