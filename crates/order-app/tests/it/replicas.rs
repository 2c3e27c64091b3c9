//! Processes side by side on one PostgreSQL journal (issue 17): WeChat tokens shared through
//! the journal, and receivers behind a load balancer. Each "process" is its own set of
//! objects (its own journal handle and connection pool, HTTP client, token sources or
//! receiver) on one fresh database of the throwaway cluster, talking real HTTP.

use std::collections::BTreeMap;
use std::sync::Arc;

use order_app::config::Config;
use order_app::registry::{PgTokenStore, PlatformFactory};
use order_domain::{OrderId, OrderSource};
use order_journal::PostgresJournal;
use order_sandbox::{ChannelsEmulator, ChannelsOrder, ChannelsSettings, Sandbox};

// ------------------------------------------------------------------ tokens across processes

const APPID: &str = "wx-sandbox-app";
const ORDER: u64 = 3_705_115_058_471_208_928;

async fn channels_sandbox() -> (Sandbox, ChannelsEmulator) {
    let settings = ChannelsSettings {
        rate_limit_per_second: None,
        ..ChannelsSettings::default()
    };
    let sb = Sandbox::builder()
        .seed(17)
        .channels(settings)
        .start()
        .await
        .unwrap();
    let em = sb.channels().unwrap().clone();
    em.seed_order(ChannelsOrder::awaiting_payment(
        ORDER,
        500,
        &[(1, 11, 2, 1500)],
    ));
    (sb, em)
}

/// The order read of a Channels shop built by one process's registry, its tokens kept in the
/// journal at `journal_url`.
async fn process(journal_url: &str, em: &ChannelsEmulator) -> Arc<dyn OrderSource> {
    let journal = PostgresJournal::open(journal_url).await.unwrap();
    let config = Config::parse(&format!(
        r#"
[journal]
url = "sqlite::memory:"

[[shop]]
id = "ch-main"
platform = "wechat-channels"
base_url = "{}"
rate_limit_per_second = 1000
[shop.credentials]
appid = "{APPID}"
secret_env = "CH_SECRET"
"#,
        em.base_url()
    ))
    .unwrap();
    let env: BTreeMap<String, String> = [("CH_SECRET".to_owned(), "sandbox-secret".to_owned())]
        .into_iter()
        .collect();
    let mut factory = PlatformFactory::new(order_app::http_client().unwrap())
        .with_token_store(Arc::new(PgTokenStore::new(journal.shared_tokens())));
    let shop = &config.shops[0];
    let (_, source) = factory
        .build_with_source(shop, &shop.resolve_secrets(&env).unwrap())
        .unwrap();
    source.unwrap()
}

/// `n` order reads at once, alternating between the processes' sources; every one succeeds.
async fn read_at_once(sources: &[Arc<dyn OrderSource>], n: usize) {
    let mut reads = tokio::task::JoinSet::new();
    for i in 0..n {
        let source = Arc::clone(&sources[i % sources.len()]);
        reads.spawn(async move {
            source
                .fetch(&OrderId::new(ORDER.to_string()).unwrap())
                .await
        });
    }
    for read in reads.join_all().await {
        read.unwrap();
    }
}

#[tokio::test]
async fn two_processes_fetch_a_token_once_and_refresh_a_rejected_one_once() {
    let (_sb, em) = channels_sandbox().await;
    let url = pg_throwaway::shared().fresh_database();
    let sources = [process(&url, &em).await, process(&url, &em).await];

    // 16 callers across both processes, none holding a token yet: one fetch serves them all
    // (the plain endpoint invalidates the previous token on every fetch, so a second fetch
    // would also have shown as refused calls and more fetches).
    read_at_once(&sources, 16).await;
    assert_eq!(em.token_fetches(), 1, "one fetch for both processes");
    assert_eq!(em.tokens_issued(), 1);

    // WeChat refuses the token (40001): every caller of both processes is refused once, and
    // one of them refreshes it; the others read the refreshed token from the journal.
    em.invalidate_tokens();
    read_at_once(&sources, 16).await;
    assert_eq!(em.token_fetches(), 2, "one refresh for both processes");
    assert_eq!(em.tokens_issued(), 2);
    let refused = em
        .calls()
        .iter()
        .filter(|c| c.outcome.starts_with("rejected:"))
        .count();
    assert!(
        (1..=16).contains(&refused),
        "each caller is refused at most once: {refused}"
    );

    // A third process starting now reads the stored token instead of fetching.
    let third = process(&url, &em).await;
    read_at_once(&[third], 4).await;
    assert_eq!(em.token_fetches(), 2);
}
