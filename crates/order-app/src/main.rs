//! `ordermod`: change orders on commerce platforms in bulk, resumably.
//!
//! Exit codes: 0 everything applied (now or by an earlier run); 1 some amendments were rejected,
//! failed at the platform, or their lines could not be read (every other line still ran);
//! 2 the run could not start or continue (usage, configuration, unreadable input file, journal
//! failure); 130 `apply` was interrupted by Ctrl-C, 143 by SIGTERM (the amendments in flight
//! were finished and recorded; running it again resumes); 141 standard output was closed (for
//! example `ordermod apply … | head -1`): taken as the end of output, `apply` stopped reading,
//! finished and recorded the amendments in flight, like an interruption.
//!
//! Results go to standard output; progress goes to standard error when standard output is not
//! a terminal. Control characters (and so ANSI escapes) coming from the input are escaped in
//! what is printed.

use std::borrow::Cow;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use order_app::report::{ReportWriter, summary_table};
#[cfg(feature = "sandbox")]
use order_app::sandbox::{self, SandboxRun};
use order_app::{App, BatchOptions, Config, DEFAULT_CONCURRENCY, InDoubt, LineStatus, SystemEnv};
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
    /// Apply queued amendments (`apply --enqueue`) from a PostgreSQL journal; run any number,
    /// on any machines.
    Worker(order_app::worker::WorkerArgs),
    /// Show the queue per shop (queued, in flight, done, in doubt, failed) and the live
    /// workers with the credentials each holds; on SQLite, the journal's counts per shop.
    Status(order_app::worker::StatusArgs),
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
    /// (`wechat-`, `vvtool-`, `em-`, `icbu-`, `1688-`, `channels-`).
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
    /// `verify` reads the order back (WeChat Channels, the 1688 open platform and every
    /// platform with a read): showing the target, it is recorded `confirmed_by_read` and not
    /// resent; showing the state before, it is resent; else it is held `in_doubt` with the
    /// difference. Platforms without a read (vv-tool, EM) fall back to `resend` under
    /// `verify`. `resend` sends them again (prices end as one send leaves them; a platform
    /// that counts revisions may count one more); `hold` reports them `in_doubt` for an
    /// operator to check.
    #[arg(long, value_enum, default_value_t = InDoubtArg::Verify)]
    in_doubt: InDoubtArg,
    /// Read every order from its platform even when the line carries a snapshot; plan on the
    /// read and report the lines whose snapshot was stale (and in which fields).
    #[arg(long)]
    refresh: bool,
    /// After each acknowledged send, read the order back and record `confirmed`, or `flagged`
    /// when it does not show the target (platforms with a read).
    #[arg(long)]
    confirm: bool,
    /// Check every line and record it as queued in the PostgreSQL journal, then return:
    /// `ordermod worker` processes apply them. Prints `enqueued: N`, `already_queued: M`,
    /// `input_errors: K`.
    #[arg(long, conflicts_with_all = ["sandbox", "report", "refresh", "confirm"])]
    enqueue: bool,
}

/// `--in-doubt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum InDoubtArg {
    Verify,
    Resend,
    Hold,
}

impl From<InDoubtArg> for InDoubt {
    fn from(a: InDoubtArg) -> Self {
        match a {
            InDoubtArg::Verify => InDoubt::Verify,
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
    /// Listen on fixed ports: WeChat Shop on PORT, vv-tool PORT+1, EM PORT+2, ICBU PORT+3,
    /// the 1688 open platform PORT+4, WeChat Channels PORT+5
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
        Command::Worker(a) => worker(a).await,
        Command::Status(a) => {
            let mut out = PipeOut(std::io::stdout().lock());
            let code = order_app::worker::status_command(a, &mut out).await?;
            out.flush()?;
            Ok(code)
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
        #[cfg(not(feature = "sandbox"))]
        return Err(Fatal(NO_SANDBOX.to_owned()));
        #[cfg(feature = "sandbox")]
        Resolver::Sandbox
    } else {
        Resolver::Config(Box::new(Config::load(&a.source.config)?))
    };
    let mut reader = order_app::input::LineReader::new(open_input(&a.file).await?);
    let (mut ok, mut refused, mut bad) = (0u64, 0u64, 0u64);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(PipeOut(stdout.lock()));
    while let Some(item) = reader.next().await? {
        if output_closed() {
            break;
        }
        match item {
            order_app::input::InputItem::Invalid(e) => {
                bad += 1;
                writeln!(out, "{}", printable(&e.to_string()))?;
            }
            order_app::input::InputItem::Amendment { line, amendment } => {
                let head = printable(&format!(
                    "line {line} {} order {}",
                    amendment.shop,
                    amendment.order_id()
                ))
                .into_owned();
                let Some(order) = amendment.snapshot() else {
                    bad += 1;
                    writeln!(
                        out,
                        "{head}: input error: the line gives only the order id; `plan` reads \
                         nothing (use `apply`, which reads the order)"
                    )?;
                    continue;
                };
                let policy = match resolver.policy(&amendment) {
                    Ok(p) => p,
                    Err(m) => {
                        bad += 1;
                        writeln!(out, "{head}: input error: {}", printable(&m))?;
                        continue;
                    }
                };
                match order_domain::plan(order, &amendment.set, &policy) {
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
                            writeln!(out, "  {}: {} ({})", v.field, printable(&v.message), v.code)?;
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
    if output_closed() {
        return Ok(EXIT_OUTPUT_CLOSED);
    }
    Ok(if refused + bad == 0 { 0 } else { 1 })
}

/// Waits for Ctrl-C or (on Unix) SIGTERM; returns the exit code it calls for (130 or 143).
async fn next_stop_signal() -> u8 {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = tokio::signal::ctrl_c() => 130,
                _ = term.recv() => 143,
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    130
}

/// A multi-line table with the control characters of each line escaped.
fn printable_table(table: &str) -> String {
    table
        .split_inclusive('\n')
        .map(|l| match l.strip_suffix('\n') {
            Some(body) => format!("{}\n", printable(body)),
            None => printable(l).into_owned(),
        })
        .collect()
}

/// Set once standard output turned out to be closed (a broken pipe).
static OUTPUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// The exit code of a run whose standard output was closed.
const EXIT_OUTPUT_CLOSED: u8 = 141;

/// A writer that treats a broken pipe as the end of output: from then on it writes nothing,
/// reports success, and [`output_closed`] is true, so the caller can stop cleanly.
struct PipeOut<W>(W);

impl<W: Write> Write for PipeOut<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if output_closed() {
            return Ok(buf.len());
        }
        match self.0.write(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                OUTPUT_CLOSED.store(true, Ordering::SeqCst);
                Ok(buf.len())
            }
            other => other,
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if output_closed() {
            return Ok(());
        }
        match self.0.flush() {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                OUTPUT_CLOSED.store(true, Ordering::SeqCst);
                Ok(())
            }
            other => other,
        }
    }
}

fn output_closed() -> bool {
    OUTPUT_CLOSED.load(Ordering::SeqCst)
}

/// Writes one line to standard output (nothing once it is closed).
fn say(line: &str) -> std::io::Result<()> {
    let mut out = PipeOut(std::io::stdout().lock());
    writeln!(out, "{line}")?;
    out.flush()
}

/// `text` with control characters escaped (`\u{1b}`, `\n`, ...), so input cannot move the
/// cursor, colour the terminal or fake lines of output.
fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
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
    #[cfg(feature = "sandbox")]
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
            #[cfg(feature = "sandbox")]
            Resolver::Sandbox => sandbox::platform_of(&line.shop, line.platform.as_deref())?,
        };
        Ok(kind.policy())
    }
}

/// `ordermod apply FILE --enqueue`: queue the checked lines for workers.
async fn enqueue(a: ApplyArgs) -> Result<u8, Fatal> {
    let mut config = Config::load(&a.source.config)?;
    if let Some(j) = &a.journal {
        config.journal_url = Some(j.clone());
    }
    let input = open_input(&a.file).await?;
    let mut out = PipeOut(std::io::stdout().lock());
    let url = config.journal_url().to_owned();
    let code = order_app::worker::enqueue_command(&config, &url, input, a.quiet, &mut out).await?;
    out.flush()?;
    Ok(code)
}

/// `ordermod worker`: the first Ctrl-C or SIGTERM stops claiming and lets the amendments in
/// flight finish (then leases are given back, exit 0); a second one exits at once.
async fn worker(a: order_app::worker::WorkerArgs) -> Result<u8, Fatal> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        next_stop_signal().await;
        eprintln!("stopping: finishing the amendments in flight (interrupt again to quit now)");
        let _ = stop.send(true);
        let again = next_stop_signal().await;
        std::process::exit(i32::from(again));
    });
    let mut out = PipeOut(std::io::stdout());
    let code = order_app::worker::worker_command(a, &SystemEnv, stopped, &mut out).await?;
    out.flush()?;
    Ok(code)
}

async fn apply(mut a: ApplyArgs) -> Result<u8, Fatal> {
    if a.enqueue {
        return enqueue(a).await;
    }
    // --sandbox reads the input twice (its shops first), so standard input is copied to a
    // temporary file, streamed, never held in memory.
    // The copy is a file of unpredictable name created exclusively (no symlink followed),
    // private to the user, and removed when `_spool` drops.
    let mut _spool: Option<tempfile::NamedTempFile> = None;
    if a.source.sandbox && a.file == Path::new("-") {
        let spool = tempfile::Builder::new()
            .prefix("ordermod-stdin-")
            .suffix(".jsonl")
            .tempfile()?;
        let mut f = tokio::fs::File::from_std(spool.reopen()?);
        tokio::io::copy(&mut tokio::io::stdin(), &mut f).await?;
        tokio::io::AsyncWriteExt::flush(&mut f).await?;
        a.file = spool.path().to_owned();
        _spool = Some(spool);
    }
    let total = count_lines(&a.file);
    let mut _sandbox: Option<SandboxGuard> = None;
    let app = if a.source.sandbox {
        let (app, run) = sandbox_app(&a.file, a.journal.as_deref()).await?;
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
    // Ctrl-C or SIGTERM (or a closed standard output): stop reading, let the amendments in
    // flight finish and be recorded, print the summary. A second signal exits at once (safe
    // too: the journal makes the rerun resume).
    let stop = Arc::new(AtomicBool::new(false));
    let signalled: Arc<std::sync::OnceLock<u8>> = Arc::default();
    {
        let stop = stop.clone();
        let signalled = signalled.clone();
        tokio::spawn(async move {
            let code = next_stop_signal().await;
            let _ = signalled.set(code);
            eprintln!(
                "interrupted: finishing the amendments in flight (interrupt again to quit now)"
            );
            stop.store(true, Ordering::SeqCst);
            let again = next_stop_signal().await;
            std::process::exit(i32::from(again));
        });
    }
    let stop_on_closed_output = stop.clone();
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
                refresh: a.refresh,
                confirm: a.confirm,
            },
            |r| {
                done += 1;
                if let Some(w) = report.as_mut()
                    && let Err(e) = w.line(r)
                {
                    report_error.get_or_insert(e);
                }
                let problem = !matches!(
                    r.status,
                    LineStatus::Applied
                        | LineStatus::AlreadyDone
                        | LineStatus::Confirmed
                        | LineStatus::ConfirmedByRead
                );
                match &bar {
                    Some(pb) => {
                        if problem && !a.quiet {
                            pb.println(printable(&r.human()));
                        }
                        pb.inc(1);
                    }
                    None => {
                        // Results to standard output, progress to standard error.
                        if problem && !a.quiet {
                            let _ = say(&printable(&r.human()));
                        }
                        if done.is_multiple_of(step) {
                            match total {
                                Some(t) => eprintln!("progress: {done}/{t}"),
                                None => eprintln!("progress: {done}"),
                            }
                        }
                    }
                }
                if output_closed() {
                    stop_on_closed_output.store(true, Ordering::SeqCst);
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
    let code = if output_closed() {
        i32::from(EXIT_OUTPUT_CLOSED)
    } else if summary.interrupted {
        signalled.get().copied().map_or(130, i32::from)
    } else {
        summary.exit_code()
    };
    {
        let mut out = PipeOut(std::io::stdout().lock());
        write!(out, "{}", printable_table(&summary_table(&summary)))?;
        if summary.interrupted {
            writeln!(
                out,
                "interrupted before the end of the input: run the same command again to resume"
            )?;
        }
        out.flush()?;
    }
    if let Some(w) = report {
        w.finish(&summary, code)?;
    }
    Ok(u8::try_from(code).unwrap_or(1))
}

/// Rows read from the journal at a time by `ordermod journal`: memory stays flat whatever the
/// journal's size.
const JOURNAL_PAGE: u32 = 500;

/// `ordermod journal`: reads the journal beside any process that writes it (a SQLite file
/// without its lock, a PostgreSQL database without migrating), page by page in SQL; `--json`
/// streams one amendment per line.
async fn journal(a: JournalArgs) -> Result<u8, Fatal> {
    use order_domain::AmendmentState;
    use order_journal::AnyJournal;
    let url = match a.journal {
        Some(u) => u,
        None => Config::load(&a.config)?.journal_url().to_owned(),
    };
    let journal = AnyJournal::open_read_only(&url).await.map_err(|e| {
        Fatal(format!(
            "cannot open journal {}: {e}",
            order_journal::redact_url(&url)
        ))
    })?;
    let order = a.order.map(OrderId::new).transpose()?;
    /// Every row of `order` (or all) in `state` (or any), newest first, a page at a time, up
    /// to `limit` (0 = all), handed to `f`.
    async fn each(
        journal: &AnyJournal,
        order: Option<&OrderId>,
        state: Option<AmendmentState>,
        limit: usize,
        mut f: impl FnMut(&order_domain::AmendmentRecord) -> std::io::Result<()>,
    ) -> Result<(), Fatal> {
        let mut after = None;
        let mut left = if limit == 0 { usize::MAX } else { limit };
        while left > 0 {
            let n = u32::try_from(left)
                .unwrap_or(JOURNAL_PAGE)
                .min(JOURNAL_PAGE);
            let page = journal
                .amendments_page(order, state, after.as_ref(), n)
                .await?;
            for r in &page {
                f(r)?;
                if output_closed() {
                    // Nobody reads any more: stop reading the journal too.
                    return Ok(());
                }
            }
            left = left.saturating_sub(page.len());
            match page.into_iter().last() {
                Some(last) if left > 0 => after = Some(last),
                _ => break,
            }
        }
        Ok(())
    }
    let dead = order_domain::Journal::messages(&journal, true).await?;
    let stdout = std::io::stdout();
    // A closed stdout (`ordermod journal --json | head -1`) is the end of output, not an error.
    let mut out = std::io::BufWriter::new(PipeOut(stdout.lock()));
    let done = || {
        if output_closed() {
            EXIT_OUTPUT_CLOSED
        } else {
            0
        }
    };
    if a.json {
        // {"amendments": [...], "dead_letters": [...], "acknowledged_unconfirmed": [...]},
        // written as it is read: one amendment per line.
        out.write_all(b"{\"amendments\":[")?;
        let mut first = true;
        each(&journal, order.as_ref(), None, 0, |r| {
            out.write_all(if first { b"\n" } else { b",\n" })?;
            first = false;
            serde_json::to_writer(&mut out, r)?;
            Ok(())
        })
        .await?;
        out.write_all(b"\n],\n\"dead_letters\":")?;
        serde_json::to_writer(&mut out, &dead)?;
        out.write_all(b",\n\"acknowledged_unconfirmed\":[")?;
        let mut first = true;
        each(
            &journal,
            order.as_ref(),
            Some(AmendmentState::Acknowledged),
            0,
            |r| {
                if !first {
                    out.write_all(b",")?;
                }
                first = false;
                serde_json::to_writer(&mut out, r.intent.key.as_str())?;
                Ok(())
            },
        )
        .await?;
        out.write_all(b"]}\n")?;
        out.flush()?;
        return Ok(done());
    }
    let counts = if order.is_some() {
        // Counts of one order: its rows are few (one per amendment of that order).
        let mut by_state: Vec<(AmendmentState, u64)> =
            AmendmentState::ALL.iter().map(|s| (*s, 0)).collect();
        each(&journal, order.as_ref(), None, 0, |r| {
            if let Some(slot) = by_state.iter_mut().find(|(s, _)| *s == r.state) {
                slot.1 += 1;
            }
            Ok(())
        })
        .await?;
        by_state
    } else {
        journal.counts_by_state().await?
    };
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    out.write_all(order_app::report::journal_counts(&counts).as_bytes())?;
    let mut shown: u64 = 0;
    each(&journal, order.as_ref(), None, a.limit, |r| {
        shown += 1;
        out.write_all(order_app::report::amendment_text(r).as_bytes())
    })
    .await?;
    if shown < total {
        writeln!(
            out,
            "... {} older amendments not shown (--limit 0 shows all)",
            total - shown
        )?;
    }
    let unconfirmed_total = counts
        .iter()
        .find(|(s, _)| *s == AmendmentState::Acknowledged)
        .map_or(0, |(_, n)| *n);
    let mut unconfirmed = Vec::new();
    each(
        &journal,
        order.as_ref(),
        Some(AmendmentState::Acknowledged),
        a.limit,
        |r| {
            unconfirmed.push(r.clone());
            Ok(())
        },
    )
    .await?;
    out.write_all(
        order_app::report::journal_tail(unconfirmed_total, &unconfirmed, &dead).as_bytes(),
    )?;
    out.flush()?;
    Ok(done())
}

/// What `--sandbox` says in an `ordermod` built without the emulators.
#[cfg(not(feature = "sandbox"))]
const NO_SANDBOX: &str = "this ordermod was built without the sandbox emulators: --sandbox needs the cargo feature `sandbox` (on by default), e.g. `cargo install --path crates/order-app` or `cargo build -p order-app`";

/// What keeps a `--sandbox` run's emulators alive.
#[cfg(feature = "sandbox")]
type SandboxGuard = SandboxRun;
#[cfg(not(feature = "sandbox"))]
type SandboxGuard = std::convert::Infallible;

/// The app over emulators seeded for the shops `file` names.
#[cfg(feature = "sandbox")]
async fn sandbox_app(file: &Path, journal: Option<&str>) -> Result<(App, SandboxGuard), Fatal> {
    let shops = sandbox::scan_shops(file)
        .await
        .map_err(|e| Fatal(format!("cannot read {}: {e}", file.display())))?;
    let run = SandboxRun::start(&shops, 0).await?;
    // Before anything is read: orders given by id get their deterministic sandbox order.
    run.seed_from_file(file)
        .await
        .map_err(|e| Fatal(format!("cannot read {}: {e}", file.display())))?;
    let journal = order_app::open_journal(journal.unwrap_or("sqlite::memory:")).await?;
    let app = run.app(journal)?;
    Ok((app, run))
}

#[cfg(not(feature = "sandbox"))]
async fn sandbox_app(_: &Path, _: Option<&str>) -> Result<(App, SandboxGuard), Fatal> {
    Err(Fatal(NO_SANDBOX.to_owned()))
}

#[cfg(not(feature = "sandbox"))]
async fn run_sandbox(_: SandboxArgs) -> Result<u8, Fatal> {
    Err(Fatal(NO_SANDBOX.to_owned()))
}

#[cfg(feature = "sandbox")]
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
    println!("running; press Ctrl-C (or send SIGTERM) to stop");
    std::io::stdout().flush()?;
    order_app::serve::shutdown_signal().await;
    Ok(0)
}
