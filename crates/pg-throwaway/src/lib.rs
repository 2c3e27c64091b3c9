//! # pg-throwaway
//!
//! A throwaway PostgreSQL cluster for tests and benchmarks, started from the server binaries
//! on the machine (Debian's `postgresql` package: `/usr/lib/postgresql/<version>/bin`).
//!
//! ```no_run
//! let cluster = pg_throwaway::shared();
//! let url = cluster.fresh_database(); // postgres://postgres@127.0.0.1:PORT/t_1
//! ```
//!
//! - **Never a silent skip.** When no server binaries are found, [`shared`] and
//!   [`Cluster::start`] panic with a message that says how to install them (a test that needs
//!   PostgreSQL fails on a machine without it, it does not pass).
//! - **Not as root.** The server refuses to run as root: when this process is root, `initdb`
//!   and `pg_ctl` run as the `postgres` user (`runuser -u postgres --`); otherwise as this user.
//! - **Throwaway.** The cluster lives in a fresh directory under the system's temporary
//!   directory, listens on `127.0.0.1` on a free port (and a Unix socket in its own directory),
//!   trusts local connections, and is stopped and deleted when the process that started it
//!   ends, however it ends (a watcher holds a pipe to this process; its end of file, at exit
//!   or on a kill, stops the server and removes the directory; the watcher runs in its own
//!   process group, so a signal to this process's group does not take it down too).
//! - Binaries: `$ORDERMOD_PG_BIN` when set, else `pg_config --bindir`, else the newest
//!   `/usr/lib/postgresql/*/bin`.
#![warn(missing_docs)]

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// How a cluster is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// `fsync` and `synchronous_commit` on, as a production server runs (for benchmarks);
    /// off for tests, which check semantics, not power loss.
    pub durable: bool,
    /// `max_connections`.
    pub max_connections: u32,
}

impl Options {
    /// For tests: not durable, 500 connections.
    pub const TESTS: Options = Options {
        durable: false,
        max_connections: 500,
    };
    /// For benchmarks: durable (every commit flushed), 500 connections.
    pub const DURABLE: Options = Options {
        durable: true,
        max_connections: 500,
    };
}

/// A running cluster. Stopped and deleted when the process ends.
#[derive(Debug)]
pub struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    databases: AtomicU32,
    /// The watcher's stdin: closed when this process ends, which stops the cluster.
    _watcher: Child,
}

/// The cluster shared by every test of this process ([`Options::TESTS`]), started on first use.
///
/// # Panics
/// When the cluster cannot be started (no server binaries, `initdb` or `pg_ctl` failing): the
/// message says why.
pub fn shared() -> &'static Cluster {
    static SHARED: OnceLock<Cluster> = OnceLock::new();
    SHARED.get_or_init(|| Cluster::start(Options::TESTS))
}

impl Cluster {
    /// Starts a new cluster.
    ///
    /// # Panics
    /// When the cluster cannot be started; the message says why and how to fix it.
    pub fn start(options: Options) -> Cluster {
        match try_start(options) {
            Ok(c) => c,
            Err(e) => panic!("cannot start a throwaway PostgreSQL cluster: {e}"),
        }
    }

    /// The TCP port the server listens on (`127.0.0.1`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// The URL of database `name` (as the `postgres` superuser, trusted).
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates a new, empty database and returns its URL. Each call gives a different one, so
    /// tests running side by side never see each other's rows.
    ///
    /// # Panics
    /// When `createdb` fails.
    pub fn fresh_database(&self) -> String {
        let n = self.databases.fetch_add(1, Ordering::Relaxed) + 1;
        let name = format!("t_{n}");
        let out = Command::new(self.bin.join("createdb"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .arg(&name)
            .output();
        match out {
            Ok(o) if o.status.success() => self.url(&name),
            Ok(o) => panic!(
                "createdb {name} failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(e) => panic!("cannot run createdb: {e}"),
        }
    }
}

/// Why a cluster could not be started.
#[derive(Debug)]
struct StartError(String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn err(text: impl Into<String>) -> StartError {
    StartError(text.into())
}

/// The directory holding `initdb`, `pg_ctl`, `postgres` and `createdb`.
fn find_bin() -> Result<PathBuf, StartError> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os("ORDERMOD_PG_BIN") {
        let dir = PathBuf::from(dir);
        return if has_server(&dir) {
            Ok(dir)
        } else {
            Err(err(format!(
                "ORDERMOD_PG_BIN={} holds no initdb and pg_ctl",
                dir.display()
            )))
        };
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if has_server(&dir) {
            return Ok(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            has_server(&bin).then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).ok_or_else(|| {
        err(
            "no PostgreSQL server binaries (initdb, pg_ctl) found in $ORDERMOD_PG_BIN, \
             `pg_config --bindir` or /usr/lib/postgresql/*/bin; install them \
             (Debian: `apt-get install postgresql`)",
        )
    })
}

/// Whether this process runs as root (the server refuses to).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A command that runs `program` as the cluster's owner: `postgres` when this process is root.
fn as_owner(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn run(what: &str, mut command: Command) -> Result<(), StartError> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| err(format!("cannot run {what}: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(err(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        )))
    }
}

/// A port nobody listens on now (the kernel's choice for an ephemeral bind).
fn free_port() -> Result<u16, StartError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| err(format!("cannot find a free port: {e}")))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| err(format!("cannot find a free port: {e}")))
}

fn try_start(options: Options) -> Result<Cluster, StartError> {
    static STARTED: AtomicU32 = AtomicU32::new(0);
    let bin = find_bin()?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let data = std::env::temp_dir().join(format!(
        "ordermod-pg-{}-{}-{nanos}",
        std::process::id(),
        STARTED.fetch_add(1, Ordering::Relaxed)
    ));
    // initdb creates the directory itself, as the owner (the temporary directory is writable
    // by everyone).
    let mut initdb = as_owner(&bin.join("initdb"));
    initdb.arg("-D").arg(&data).args([
        "-U",
        "postgres",
        "--auth=trust",
        "-E",
        "UTF8",
        "--locale=C",
        "--no-sync",
    ]);
    run("initdb", initdb)?;
    let durable = if options.durable { "on" } else { "off" };
    let settings = format!(
        "-c listen_addresses=127.0.0.1 -c unix_socket_directories={dir} \
         -c max_connections={max} -c fsync={durable} -c synchronous_commit={durable} \
         -c full_page_writes={durable}",
        dir = data.display(),
        max = options.max_connections,
    );
    // A port can be taken between our probe and the server's bind: try a few.
    let mut last = None;
    for _ in 0..5 {
        let port = free_port()?;
        let mut pg_ctl = as_owner(&bin.join("pg_ctl"));
        pg_ctl
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(data.join("server.log"))
            .args(["-w", "-t", "60", "-o"])
            .arg(format!("-p {port} {settings}"))
            .arg("start");
        match run("pg_ctl start", pg_ctl) {
            Ok(()) => {
                let watcher = watch(&bin, &data)?;
                return Ok(Cluster {
                    bin,
                    data,
                    port,
                    databases: AtomicU32::new(0),
                    _watcher: watcher,
                });
            }
            Err(e) => last = Some(e),
        }
    }
    let log = std::fs::read_to_string(data.join("server.log")).unwrap_or_default();
    Err(err(format!(
        "{}; server log:\n{log}",
        last.map(|e| e.0).unwrap_or_default()
    )))
}

/// A watcher that waits for end of file on its stdin (this process ending, however it ends),
/// then stops the server and deletes its directory.
fn watch(bin: &Path, data: &Path) -> Result<Child, StartError> {
    let script = format!(
        "read _unused; '{pg_ctl}' -D '{data}' -m immediate -w stop >/dev/null 2>&1; rm -rf '{data}'",
        pg_ctl = bin.join("pg_ctl").display(),
        data = data.display(),
    );
    let mut sh = as_owner(Path::new("/bin/sh"));
    // Its own process group: a signal to this process's group (a shell's job control, `kill --
    // -PGID`) must not take the watcher down with it and leave the server running.
    sh.process_group(0);
    sh.arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| err(format!("cannot start the cluster's watcher: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_database_is_reachable_and_distinct() {
        let cluster = shared();
        let a = cluster.fresh_database();
        let b = cluster.fresh_database();
        assert_ne!(a, b);
        let out = Command::new(cluster.bin.join("psql"))
            .args([&b, "-tAc", "SELECT current_database()"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            b.rsplit('/').next().unwrap()
        );
    }
}
