//! Workers on a throwaway PostgreSQL cluster against the sandbox emulators over real HTTP:
//! two workers draining one queue, a dead worker's amendment taken over and verified, and the
//! `apply --enqueue`, `worker` and `status` commands.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use order_app::input::{InputItem, LineReader};
use order_app::report::LineStatus;
use order_app::sandbox::{SandboxRun, scan_shops};
use order_app::worker::{
    Finished, Worker, WorkerOptions, WorkerSummary, app_from_config, credentials_of, enqueue,
};
use order_app::{App, Config};
use order_domain::{AmendmentState, Journal, OrderPlatform, ShopId};
use order_journal::{PostgresJournal, Queue};
use tokio::sync::watch;

const BIN: &str = env!("CARGO_BIN_EXE_ordermod");

fn dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("worker-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The example generator's lines of the platform whose shop starts with `prefix`, each moved
/// to one of `shops` in turn.
fn lines(per_platform: usize, prefix: &str, shops: &[&str]) -> Vec<String> {
    order_app::generate::amendments(per_platform)
        .lines()
        .filter(|l| l.contains(&format!("\"shop\":\"{prefix}")))
        .enumerate()
        .map(|(i, l)| {
            l.replace(
                &format!("\"shop\":\"{prefix}main\""),
                &format!("\"shop\":\"{}\"", shops[i % shops.len()]),
            )
        })
        .collect()
}

/// Emulators for the shops of `file`, seeded with its orders, and a config for them on the
/// journal `url`.
async fn sandbox(file: &Path, url: &str) -> (SandboxRun, Config, BTreeMap<String, String>) {
    let shops = scan_shops(file).await.unwrap();
    let run = SandboxRun::start(&shops, 0).await.unwrap();
    run.seed_from_file(file).await.unwrap();
    let config = Config::parse(&run.config_toml(url)).unwrap();
    let env = run.env();
    (run, config, env)
}

async fn enqueue_file(queue: &Queue, config: &Config, file: &Path) -> u64 {
    let shops = config
        .shops
        .iter()
        .map(|s| (s.id.clone(), s.platform))
        .collect();
    let input = tokio::io::BufReader::new(tokio::fs::File::open(file).await.unwrap());
    let s = enqueue(queue, &shops, input, |r| panic!("input error: {r:?}"))
        .await
        .unwrap();
    s.enqueued
}

fn options(id: &str) -> WorkerOptions {
    WorkerOptions {
        id: id.to_owned(),
        concurrency: 16,
        until_empty: true,
        lease: Duration::from_secs(30),
        ..WorkerOptions::new()
    }
}

/// One worker process: its own app (transports, limiters), the shared journal and queue.
async fn run_worker(
    pg: &PostgresJournal,
    config: &Config,
    env: &BTreeMap<String, String>,
    id: &str,
) -> (WorkerSummary, Vec<Finished>) {
    let journal: Arc<dyn Journal> = Arc::new(pg.clone());
    let app = app_from_config(config, env, journal).unwrap();
    let worker = Worker::new(app, pg.queue(), credentials_of(config), options(id));
    let (_stop, stopped) = watch::channel(false);
    let mut finished = Vec::new();
    let summary = worker
        .run(stopped, |f| finished.push(f.clone()))
        .await
        .unwrap();
    (summary, finished)
}

/// Two workers (two apps, as two processes would have) drain one queue of four credentials:
/// every amendment is applied once at the emulators, none is rate-limited (each credential
/// is sent with by one worker at a time, at its rate), and both workers worked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_drain_one_queue_each_amendment_applied_once_and_never_rate_limited() {
    let d = dir("two");
    let mut all = lines(80, "em-", &["em-a", "em-b"]);
    all.extend(lines(80, "icbu-", &["icbu-a", "icbu-b"]));
    let file = d.join("batch.jsonl");
    std::fs::write(&file, all.join("\n")).unwrap();
    let url = pg_throwaway::shared().fresh_database();
    let (run, config, env) = sandbox(&file, &url).await;
    let pg = PostgresJournal::open(&url).await.unwrap();
    assert_eq!(enqueue_file(&pg.queue(), &config, &file).await, 160);

    let ((a, fa), (b, fb)) = tokio::join!(
        run_worker(&pg, &config, &env, "worker-a"),
        run_worker(&pg, &config, &env, "worker-b")
    );
    let finished: Vec<&Finished> = fa.iter().chain(&fb).collect();
    assert_eq!(finished.len(), 160, "{a:?} {b:?}");
    assert!(finished.iter().all(|f| f.recorded && f.row.attempts == 1));
    let applied = |s: &WorkerSummary| s.by_status.get("applied").copied().unwrap_or(0);
    assert!(
        applied(&a) > 0 && applied(&b) > 0,
        "both worked: {a:?} {b:?}"
    );
    let (valid, _) = order_app::generate::expected_counts(80);
    assert_eq!(applied(&a) + applied(&b), 2 * valid as u64);

    let sb = run.sandbox();
    for stats in [sb.em().unwrap().stats(), sb.icbu().unwrap().stats()] {
        assert_eq!(stats.rate_limited, 0, "{stats:?}");
        assert_eq!(stats.changes_per_order.len(), valid, "{stats:?}");
        assert!(
            stats.changes_per_order.values().all(|n| *n == 1),
            "each applied once: {:?}",
            stats.changes_per_order
        );
    }
    // The journal agrees; the queue is empty and nobody holds anything.
    let q = pg.queue();
    assert_eq!(q.unfinished().await.unwrap(), 0);
    assert!(q.credential_holders().await.unwrap().is_empty());
    assert!(q.workers().await.unwrap().is_empty());
    let counts = pg.counts_by_state().await.unwrap();
    let acknowledged = counts
        .iter()
        .find(|(s, _)| *s == AmendmentState::Acknowledged)
        .map(|(_, n)| *n);
    assert_eq!(acknowledged, Some(2 * valid as u64), "{counts:?}");
    pg.close().await;
}

/// A platform whose send lands and whose worker then dies before it hears the reply.
#[derive(Debug)]
struct DiesAfterSending(Arc<dyn OrderPlatform>);

#[async_trait::async_trait]
impl OrderPlatform for DiesAfterSending {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn policy(&self) -> &order_domain::Policy {
        self.0.policy()
    }
    async fn apply(
        &self,
        order: &order_domain::Order,
        plan: &order_domain::Plan,
    ) -> Result<order_domain::Receipt, order_domain::PlatformError> {
        let _ = self.0.apply(order, plan).await;
        std::future::pending().await
    }
}

/// A worker dies after its send landed (the journal says `sent`, its lease runs out): another
/// worker takes the amendment over, reads the order, finds the target and records it
/// confirmed without sending it a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_workers_sent_amendment_is_taken_over_and_verified_not_doubled() {
    let d = dir("takeover");
    let all = lines(1, "1688-", &["1688-a"]);
    let file = d.join("batch.jsonl");
    std::fs::write(&file, &all[0]).unwrap();
    let url = pg_throwaway::shared().fresh_database();
    let (run, config, env) = sandbox(&file, &url).await;
    let pg = PostgresJournal::open(&url).await.unwrap();
    let queue = pg.queue();
    assert_eq!(enqueue_file(&queue, &config, &file).await, 1);

    // The dead worker: claims under a lease that has run out by the next statement, sends, and
    // never records the reply.
    let shop = ShopId::new("1688-a").unwrap();
    let journal: Arc<dyn Journal> = Arc::new(pg.clone());
    let real = app_from_config(&config, &env, journal.clone()).unwrap();
    let mut factory = order_app::registry::PlatformFactory::new(order_app::http_client().unwrap());
    let shop_config = config.shop(&shop).unwrap();
    let (platform, source) = factory
        .build_with_source(shop_config, &shop_config.resolve_secrets(&env).unwrap())
        .unwrap();
    let dying = App::builder()
        .shop(shop.clone(), Arc::new(DiesAfterSending(platform)))
        .source(shop.clone(), source.unwrap())
        .journal(journal.clone())
        .build()
        .unwrap();
    let row = queue
        .claim("dead", &["1688-a".to_owned()], 1, Duration::ZERO)
        .await
        .unwrap()
        .remove(0);
    let mut reader = LineReader::new(row.line.as_bytes());
    let Some(InputItem::Amendment { amendment, .. }) = reader.next().await.unwrap() else {
        panic!("the queued line reads back");
    };
    let order_id = amendment.order_id().to_string();
    let sending = tokio::spawn(async move { dying.apply(&amendment).await });
    let em = run.sandbox().open1688().unwrap();
    // Wait until the emulator applied it (the journal then says `sent`).
    while em
        .stats()
        .changes_per_order
        .get(&order_id)
        .copied()
        .unwrap_or(0)
        == 0
    {
        tokio::task::yield_now().await;
    }
    sending.abort();
    let rec = journal.amendments(None).await.unwrap();
    assert_eq!(rec[0].state, AmendmentState::Sent);
    drop(real);

    let (summary, finished) = run_worker(&pg, &config, &env, "heir").await;
    assert_eq!(summary.taken_over, 1, "{summary:?}");
    assert_eq!(finished.len(), 1);
    assert_eq!(finished[0].row.attempts, 2);
    assert_eq!(finished[0].report.status, LineStatus::ConfirmedByRead);
    assert_eq!(em.stats().changes_per_order[&order_id], 1, "not sent twice");
    assert_eq!(em.stats().rate_limited, 0);
    let rec = journal.amendments(None).await.unwrap();
    assert_eq!(rec[0].state, AmendmentState::Confirmed);
    pg.close().await;
}

fn ordermod(args: &[&str], env: &BTreeMap<String, String>) -> Output {
    Command::new(BIN)
        .args(args)
        .envs(env)
        .env_remove("ORDERMOD_CONFIG")
        .output()
        .expect("the ordermod binary runs")
}

async fn ordermod_async(args: Vec<String>, env: BTreeMap<String, String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ordermod(&args, &env)
    })
    .await
    .unwrap()
}

fn out(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `apply --enqueue` checks lines as `apply` does, queues the rest once, refuses a key reused
/// for another amendment; `worker --until-empty` drains it; `status` shows the counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn enqueue_worker_and_status_commands_queue_once_drain_and_count() {
    let d = dir("cli");
    let mut all = lines(10, "em-", &["em-a"]);
    let n = all.len();
    // The emulators and the config know the shop `em-a` only.
    let known = d.join("known.jsonl");
    std::fs::write(&known, all.join("\n")).unwrap();
    all.push("{broken".to_owned());
    all.push(all[0].replace("\"shop\":\"em-a\"", "\"shop\":\"em-nowhere\""));
    // One key for two different amendments: the second is refused.
    let keyed = |l: &str| l.replacen('{', "{\"key\":\"same-key\",", 1);
    all[1] = keyed(&all[1]);
    all.push(keyed(&all[2]));
    let file = d.join("batch.jsonl");
    std::fs::write(&file, all.join("\n")).unwrap();
    let url = pg_throwaway::shared().fresh_database();
    let (run, _config, env) = sandbox(&known, &url).await;
    let cfg = d.join("ordermod.toml");
    std::fs::write(&cfg, run.config_toml(&url)).unwrap();
    let (f, c) = (
        file.to_str().unwrap().to_owned(),
        cfg.to_str().unwrap().to_owned(),
    );
    let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();

    let o = ordermod_async(args(&["apply", &f, "--enqueue", "-c", &c]), env.clone()).await;
    let text = out(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains(&format!("enqueued: {n}\n")), "{text}");
    assert!(text.contains("already_queued: 0\n"), "{text}");
    assert!(text.contains("input_errors: 3\n"), "{text}");
    assert!(text.contains("unknown shop `em-nowhere`"), "{text}");
    assert!(text.contains("same-key"), "{text}");

    let o = ordermod_async(
        args(&["apply", &f, "--enqueue", "-c", &c, "-q"]),
        env.clone(),
    )
    .await;
    let text = out(&o);
    assert!(text.contains("enqueued: 0\nalready_queued: "), "{text}");
    assert!(text.contains(&format!("already_queued: {n}\n")), "{text}");

    let o = ordermod_async(args(&["status", "-c", &c, "--json"]), env.clone()).await;
    let status: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(status["shops"]["em-a"]["queued"], n, "{status}");

    let o = ordermod_async(
        args(&["worker", "-c", &c, "--until-empty", "--lease-secs", "10"]),
        env.clone(),
    )
    .await;
    let text = out(&o);
    assert_eq!(o.status.code(), Some(0), "{text}");
    let (valid, refused) = order_app::generate::expected_counts(10);
    assert!(
        text.contains(&format!(": applied {valid}, rejected {refused}, failed 0,")),
        "{text}"
    );

    let o = ordermod_async(args(&["status", "-c", &c, "--json"]), env.clone()).await;
    let status: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let shop = &status["shops"]["em-a"];
    assert_eq!(
        (
            shop["queued"].as_u64(),
            shop["in_flight"].as_u64(),
            shop["done"].as_u64()
        ),
        (Some(0), Some(0), Some(valid as u64)),
        "{status}"
    );
    assert_eq!(shop["outcomes"]["rejected"], refused, "{status}");
    assert_eq!(status["workers"].as_array().map(Vec::len), Some(0));
    let o = ordermod_async(args(&["status", "-c", &c]), env.clone()).await;
    let text = out(&o);
    assert!(text.starts_with("shop "), "{text}");
    assert!(text.contains("workers: 0 live"), "{text}");
    assert_eq!(run.sandbox().em().unwrap().stats().rate_limited, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_and_the_queue_need_postgresql_and_status_on_sqlite_counts_the_journal() {
    let d = dir("sqlite");
    let file = d.join("batch.jsonl");
    std::fs::write(&file, lines(2, "em-", &["em-a"]).join("\n")).unwrap();
    let db = format!("sqlite://{}", d.join("j.db").display());
    let (run, _config, env) = sandbox(&file, &db).await;
    let cfg = d.join("ordermod.toml");
    std::fs::write(&cfg, run.config_toml(&db)).unwrap();
    let (f, c) = (
        file.to_str().unwrap().to_owned(),
        cfg.to_str().unwrap().to_owned(),
    );
    let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    for a in [
        args(&["apply", &f, "--enqueue", "-c", &c]),
        args(&["worker", "-c", &c, "--until-empty"]),
    ] {
        let o = ordermod_async(a, env.clone()).await;
        let text = out(&o);
        assert_eq!(o.status.code(), Some(2), "{text}");
        assert!(text.contains("needs a PostgreSQL journal"), "{text}");
    }
    let o = ordermod_async(args(&["apply", &f, "-c", &c, "-q"]), env.clone()).await;
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let o = ordermod_async(args(&["status", "-c", &c, "--json"]), env.clone()).await;
    let status: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(status["backend"], "sqlite");
    assert_eq!(status["shops"]["em-a"]["acknowledged"], 2, "{status}");
}

/// SIGTERM: the worker stops claiming, finishes what is in flight, gives its leases back at
/// once and exits 0; nothing is left claimed, and another worker finishes the queue, each
/// amendment applied once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_stopped_by_sigterm_finishes_its_amendments_and_gives_everything_back() {
    let d = dir("sigterm");
    let all = lines(60, "em-", &["em-a"]);
    let file = d.join("batch.jsonl");
    std::fs::write(&file, all.join("\n")).unwrap();
    let url = pg_throwaway::shared().fresh_database();
    let (run, config, env) = sandbox(&file, &url).await;
    let cfg = d.join("ordermod.toml");
    std::fs::write(&cfg, run.config_toml(&url)).unwrap();
    let pg = PostgresJournal::open(&url).await.unwrap();
    let q = pg.queue();
    assert_eq!(enqueue_file(&q, &config, &file).await, 60);

    let child = Command::new(BIN)
        .args(["worker", "-c", cfg.to_str().unwrap()])
        .envs(&env)
        .env_remove("ORDERMOD_CONFIG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once it has finished some (at 20 per second, 60 take three seconds), stop it.
    loop {
        let done: u64 = q
            .by_shop()
            .await
            .unwrap()
            .get("em-a")
            .map_or(0, |s| s.done.values().sum());
        if done >= 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let o = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let text = out(&o);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(
        text.contains("worker ") && text.contains(": applied "),
        "{text}"
    );

    let s = q.by_shop().await.unwrap()["em-a"].clone();
    assert_eq!(
        (s.in_flight, s.expired),
        (0, 0),
        "nothing left claimed: {s:?}"
    );
    let finished: u64 = s.done.values().sum();
    assert!(s.queued > 0, "stopped before the end: {s:?}");
    assert_eq!(finished + s.queued, 60);
    assert!(q.credential_holders().await.unwrap().is_empty());
    assert!(q.workers().await.unwrap().is_empty());

    let (rest, _) = run_worker(&pg, &config, &env, "second").await;
    assert_eq!(rest.by_status.values().sum::<u64>(), s.queued);
    let (valid, _) = order_app::generate::expected_counts(60);
    let stats = run.sandbox().em().unwrap().stats();
    assert_eq!(stats.changes_per_order.len(), valid, "{stats:?}");
    assert!(
        stats.changes_per_order.values().all(|n| *n == 1),
        "{stats:?}"
    );
    assert_eq!(stats.rate_limited, 0);
    pg.close().await;
}
