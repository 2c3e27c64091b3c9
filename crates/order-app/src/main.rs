//! `ordermod`: change orders on commerce platforms in bulk, resumably.
//!
//! Exit codes: 0 everything applied (now or by an earlier run); 1 some amendments were rejected,
//! failed at the platform, or their lines could not be read (every other line still ran);
//! 2 the run could not start or continue (usage, configuration, unreadable input file, journal
//! failure); 130 `apply` was interrupted by Ctrl-C (the amendments in flight were finished and
//! recorded; running it again resumes).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use order_app::report::{ReportWriter, summary_table};
use order_app::sandbox::{self, SandboxRun};
use order_app::{
    App, BatchOptions, Config, DEFAULT_CONCURRENCY, InDoubt, LineStatus, SystemEnv, open_journal,
};
use order_domain::{OrderId, Policy};
use tokio::io::BufReader;

#[derive(Debug, Parser)]
#[command(
    name = "ordermod",
    version,
    about = "Change existing orders on commerce platforms, in bulk, resumably."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Dry run: print each amendment's plan or every reason it would be refused. Sends nothing.
    Plan(PlanArgs),
    /// Apply the amendments of a JSON Lines file; running it again resumes.
    Apply(ApplyArgs),
    /// Show the journal: what was asked, sent, what the platform said, what was confirmed.
    Journal(JournalArgs),
    /// Start every platform emulator on loopback and print URLs, credentials and a config.
    Sandbox(SandboxArgs),
    /// Receive pushed platform messages (1688 price changes): store, deduplicate, dead-letter
    /// what cannot be decoded, and confirm or flag acknowledged amendments.
    Serve(order_app::serve::ServeArgs),
    /// Write the deterministic example batch (examples/amendments.jsonl).
    #[command(hide = true)]
    GenExamples(GenArgs),
}

#[derive(Debug, Args)]
struct Source {
    /// Config file (TOML).
    #[arg(
        long,
        short = 'c',
        env = "ORDERMOD_CONFIG",
        default_value = "ordermod.toml"
    )]
    config: PathBuf,
    /// Run against in-process emulators seeded with the input's orders; no config needed.
    /// Shops map to platforms by a `platform` key on the line or by name prefix
    /// (`wechat-`, `vvtool-`, `em-`, `icbu-`).
    #[arg(long)]
    sandbox: bool,
}

#[derive(Debug, Args)]
struct PlanArgs {
    /// JSON Lines file, one amendment per line (`-` for standard input).
    file: PathBuf,
    #[command(flatten)]
    source: Source,
}

#[derive(Debug, Args)]
struct ApplyArgs {
    /// JSON Lines file, one amendment per line (`-` for standard input).
    file: PathBuf,
    #[command(flatten)]
    source: Source,
    /// Amendments in flight at once.
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY, value_parser = parse_concurrency)]
    concurrency: usize,
    /// Write a JSON report of every line and the summary to this file.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Journal URL, overriding the config (`sqlite://FILE`); in --sandbox mode the default is a
    /// private in-memory journal.
    #[arg(long)]
    journal: Option<String>,
    /// Print only the summary, not a line per problem.
    #[arg(long, short = 'q')]
    quiet: bool,
    /// What to do with amendments an interrupted run sent without recording the reply:
    /// `resend` them (prices end as one send leaves them; a platform that counts revisions
    /// may count one more) or `hold` them, reported as `in_doubt`, for an operator to check.
    #[arg(long, value_enum, default_value_t = InDoubtArg::Resend)]
    in_doubt: InDoubtArg,
}

/// `--in-doubt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum InDoubtArg {
    Resend,
    Hold,
}

impl From<InDoubtArg> for InDoubt {
    fn from(a: InDoubtArg) -> Self {
        match a {
            InDoubtArg::Resend => InDoubt::Resend,
            InDoubtArg::Hold => InDoubt::Hold,
        }
    }
}

#[derive(Debug, Args)]
struct JournalArgs {
    /// Only this order.
    order: Option<String>,
    /// Config file naming the journal.
    #[arg(
        long,
        short = 'c',
        env = "ORDERMOD_CONFIG",
        default_value = "ordermod.toml"
    )]
    config: PathBuf,
    /// Journal URL, overriding the config.
    #[arg(long)]
    journal: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Show at most this many amendments, newest first (0 = all; counts always cover all).
    #[arg(long, default_value_t = 100)]
    limit: usize,
}

#[derive(Debug, Args)]
struct SandboxArgs {
    /// Seed the emulators with the orders of this JSON Lines file (shops mapped as in --sandbox).
    #[arg(long)]
    orders: Option<PathBuf>,
    /// Seed of the emulators' fault generators.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Listen on fixed ports: WeChat Shop on PORT, vv-tool PORT+1, EM PORT+2, ICBU PORT+3
    /// (any free ports otherwise).
    #[arg(long)]
    port: Option<u16>,
}

#[derive(Debug, Args)]
struct GenArgs {
    /// Output file.
    #[arg(long, short = 'o', default_value = "examples/amendments.jsonl")]
    out: PathBuf,
    /// Amendments per platform.
    #[arg(long, default_value_t = 250)]
    per_platform: usize,
}

fn parse_concurrency(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(n),
        _ => Err(format!("`{s}` is not a number from 1 to 1024")),
    }
}

/// A failure that ends the run with exit code 2.
#[derive(Debug)]
struct Fatal(String);

impl<E: std::fmt::Display> From<E> for Fatal {
    fn from(e: E) -> Self {
        Fatal(e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ORDERMOD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(Fatal(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> Result<u8, Fatal> {
    match cli.command {
        Command::Plan(a) => plan(a).await,
        Command::Apply(a) => apply(a).await,
        Command::Journal(a) => journal(a).await,
        Command::Sandbox(a) => run_sandbox(a).await,
        Command::Serve(a) => {
            order_app::serve::run(a, &SystemEnv).await?;
            Ok(0)
        }
        Command::GenExamples(a) => {
            let text = order_app::generate::amendments(a.per_platform);
            if let Some(dir) = a.out.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&a.out, text)?;
            println!("wrote {}", a.out.display());
            Ok(0)
        }
    }
}

async fn open_input(path: &Path) -> Result<Box<dyn tokio::io::AsyncBufRead + Unpin + Send>, Fatal> {
    if path == Path::new("-") {
        return Ok(Box::new(BufReader::new(tokio::io::stdin())));
    }
    let f = tokio::fs::File::open(path)
        .await
        .map_err(|e| Fatal(format!("cannot read {}: {e}", path.display())))?;
    Ok(Box::new(BufReader::with_capacity(64 * 1024, f)))
}

/// Counts the non-blank lines of a file, for the progress bar (None for standard input).
fn count_lines(path: &Path) -> Option<u64> {
    use std::io::BufRead;
    if path == Path::new("-") {
        return None;
    }
    let f = std::fs::File::open(path).ok()?;
    let mut n = 0;
    let mut buf = Vec::new();
    let mut r = std::io::BufReader::with_capacity(64 * 1024, f);
    loop {
        buf.clear();
        match r.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let t = buf.trim_ascii();
                if !t.is_empty() && !t.starts_with(b"#") {
                    n += 1;
                }
            }
        }
    }
    Some(n)
}

async fn plan(a: PlanArgs) -> Result<u8, Fatal> {
    let resolver = if a.source.sandbox {
        Resolver::Sandbox
    } else {
        Resolver::Config(Box::new(Config::load(&a.source.config)?))
    };
    let mut reader = order_app::input::LineReader::new(open_input(&a.file).await?);
    let (mut ok, mut refused, mut bad) = (0u64, 0u64, 0u64);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    while let Some(item) = reader.next().await? {
        match item {
            order_app::input::InputItem::Invalid(e) => {
                bad += 1;
                writeln!(out, "{e}")?;
            }
            order_app::input::InputItem::Amendment { line, amendment } => {
                let head = format!(
                    "line {line} {} order {}",
                    amendment.shop,
                    amendment.order.id()
                );
                let policy = match resolver.policy(&amendment) {
                    Ok(p) => p,
                    Err(m) => {
                        bad += 1;
                        writeln!(out, "{head}: input error: {m}")?;
                        continue;
                    }
                };
                match order_domain::plan(&amendment.order, &amendment.set, &policy) {
                    Ok(p) => {
                        ok += 1;
                        writeln!(
                            out,
                            "{head} on {}: plan, key {}",
                            policy.name,
                            amendment.key()
                        )?;
                        for l in p.named_lines() {
                            writeln!(
                                out,
                                "  line {}: {} -> {} (vs original {}, vs current {})",
                                l.line(),
                                l.current(),
                                l.target(),
                                signed(l.delta_vs_original()),
                                signed(l.delta_vs_current()),
                            )?;
                        }
                        if let Some(f) = p.freight() {
                            writeln!(
                                out,
                                "  freight: {} -> {} (vs original {})",
                                f.current(),
                                f.target(),
                                signed(f.delta_vs_original())
                            )?;
                        }
                        let other: Vec<&str> = p
                            .parts()
                            .iter()
                            .filter(|part| {
                                !matches!(
                                    part,
                                    order_domain::Part::LinePrices | order_domain::Part::Freight
                                )
                            })
                            .map(|part| part.field())
                            .collect();
                        if !other.is_empty() {
                            writeln!(out, "  sets: {}", other.join(", "))?;
                        }
                        writeln!(
                            out,
                            "  total: {} -> {}, revision {}",
                            p.previous_total(),
                            p.new_total(),
                            p.next_revision()
                        )?;
                    }
                    Err(r) => {
                        refused += 1;
                        writeln!(out, "{head} on {}: refused", policy.name)?;
                        for v in &r.violations {
                            writeln!(out, "  {}: {} ({})", v.field, v.message, v.code)?;
                        }
                    }
                }
            }
        }
    }
    writeln!(
        out,
        "planned {ok}, would be refused {refused}, input errors {bad}; nothing was sent"
    )?;
    out.flush()?;
    Ok(if refused + bad == 0 { 0 } else { 1 })
}

fn signed(m: order_domain::Money) -> String {
    if m.is_negative() {
        m.to_string()
    } else {
        format!("+{m}")
    }
}

/// How shops map to platforms: the config, or the sandbox convention.
enum Resolver {
    Config(Box<Config>),
    Sandbox,
}

impl Resolver {
    fn policy(&self, line: &order_app::AmendmentLine) -> Result<Policy, String> {
        let kind = match self {
            Resolver::Config(c) => {
                let shop = c
                    .shop(&line.shop)
                    .ok_or_else(|| format!("unknown shop `{}`", line.shop))?;
                if let Some(p) = &line.platform
                    && p != shop.platform.name()
                {
                    return Err(format!(
                        "the line says platform `{p}` but shop `{}` is on {}",
                        line.shop, shop.platform
                    ));
                }
                shop.platform
            }
            Resolver::Sandbox => sandbox::platform_of(&line.shop, line.platform.as_deref())?,
        };
        Ok(kind.policy())
    }
}

/// A temporary copy of standard input, removed when dropped.
struct Spool(PathBuf);

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn apply(mut a: ApplyArgs) -> Result<u8, Fatal> {
    // --sandbox reads the input twice (its shops first), so standard input is copied to a
    // temporary file, streamed, never held in memory.
    let mut _spool: Option<Spool> = None;
    if a.source.sandbox && a.file == Path::new("-") {
        let path =
            std::env::temp_dir().join(format!("ordermod-stdin-{}.jsonl", std::process::id()));
        let mut f = tokio::fs::File::create(&path).await?;
        _spool = Some(Spool(path.clone()));
        tokio::io::copy(&mut tokio::io::stdin(), &mut f).await?;
        tokio::io::AsyncWriteExt::flush(&mut f).await?;
        a.file = path;
    }
    let total = count_lines(&a.file);
    let mut _sandbox: Option<SandboxRun> = None;
    let app = if a.source.sandbox {
        let shops = sandbox::scan_shops(&a.file)
            .await
            .map_err(|e| Fatal(format!("cannot read {}: {e}", a.file.display())))?;
        let run = SandboxRun::start(&shops, 0).await?;
        let journal = open_journal(a.journal.as_deref().unwrap_or("sqlite::memory:")).await?;
        let app = run.app(journal)?;
        _sandbox = Some(run);
        app
    } else {
        let mut config = Config::load(&a.source.config)?;
        if let Some(j) = &a.journal {
            config.journal_url = Some(j.clone());
        }
        App::from_config(&config, &SystemEnv).await?
    };
    let input = open_input(&a.file).await?;

    let tty = std::io::stdout().is_terminal();
    let bar = if tty {
        let pb = total.map_or_else(ProgressBar::new_spinner, ProgressBar::new);
        pb.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} eta {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Some(pb)
    } else {
        None
    };
    let mut report = match &a.report {
        Some(path) => {
            let f = std::fs::File::create(path)
                .map_err(|e| Fatal(format!("cannot write {}: {e}", path.display())))?;
            Some(ReportWriter::new(std::io::BufWriter::new(f))?)
        }
        None => None,
    };
    // Ctrl-C: stop reading, let the amendments in flight finish and be recorded, print the
    // summary. A second Ctrl-C exits at once (safe too: the journal makes the rerun resume).
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!(
                    "interrupted: finishing the amendments in flight (Ctrl-C again to quit now)"
                );
                stop.store(true, Ordering::SeqCst);
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(130);
                }
            }
        });
    }
    let mut report_error: Option<std::io::Error> = None;
    let mut done: u64 = 0;
    let step = total.map_or(1000, |t| (t / 10).max(1));
    let result = app
        .run_batch(
            input,
            BatchOptions {
                concurrency: a.concurrency,
                stop: Some(stop),
                in_doubt: a.in_doubt.into(),
            },
            |r| {
                done += 1;
                if let Some(w) = report.as_mut()
                    && let Err(e) = w.line(r)
                {
                    report_error.get_or_insert(e);
                }
                let problem = !matches!(r.status, LineStatus::Applied | LineStatus::AlreadyDone);
                match &bar {
                    Some(pb) => {
                        if problem && !a.quiet {
                            pb.println(r.human());
                        }
                        pb.inc(1);
                    }
                    None => {
                        if problem && !a.quiet {
                            println!("{}", r.human());
                        }
                        if done.is_multiple_of(step) {
                            match total {
                                Some(t) => println!("progress: {done}/{t}"),
                                None => println!("progress: {done}"),
                            }
                        }
                    }
                }
            },
        )
        .await;
    if let Some(pb) = &bar {
        pb.finish_and_clear();
    }
    let summary = result?;
    if let Some(e) = report_error {
        return Err(Fatal(format!("cannot write the report: {e}")));
    }
    let code = if summary.interrupted {
        130
    } else {
        summary.exit_code()
    };
    print!("{}", summary_table(&summary));
    if summary.interrupted {
        println!("interrupted before the end of the input: run the same command again to resume");
    }
    if let Some(w) = report {
        w.finish(&summary, code)?;
    }
    Ok(u8::try_from(code).unwrap_or(1))
}

async fn journal(a: JournalArgs) -> Result<u8, Fatal> {
    let url = match a.journal {
        Some(u) => u,
        None => Config::load(&a.config)?.journal_url().to_owned(),
    };
    let journal = open_journal(&url).await?;
    let order = a.order.map(OrderId::new).transpose()?;
    let records = journal.amendments(order.as_ref()).await?;
    let dead = journal.messages(true).await?;
    if a.json {
        let v = serde_json::json!({
            "amendments": records,
            "dead_letters": dead,
            "acknowledged_unconfirmed": records.iter()
                .filter(|r| r.state == order_domain::AmendmentState::Acknowledged)
                .map(|r| r.intent.key.to_string()).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    print!(
        "{}",
        order_app::report::journal_text(&records, &dead, a.limit)
    );
    Ok(0)
}

async fn run_sandbox(a: SandboxArgs) -> Result<u8, Fatal> {
    let mut shops = sandbox::default_shops();
    if let Some(path) = &a.orders {
        let found = sandbox::scan_shops(path)
            .await
            .map_err(|e| Fatal(format!("cannot read {}: {e}", path.display())))?;
        shops.extend(found);
    }
    let run = SandboxRun::start_on(&shops, a.seed, a.port).await?;
    if let Some(path) = &a.orders {
        let n = run.seed_from_file(path).await?;
        println!("seeded {n} orders from {}", path.display());
    }
    print!("{}", run.describe());
    println!("running; press Ctrl-C to stop");
    std::io::stdout().flush()?;
    tokio::signal::ctrl_c().await?;
    Ok(0)
}
