//! `cargo xtask tidy`: the architecture invariants of `docs/architecture.md` that the
//! dependency graph can show, checked on `cargo metadata` (rust-analyzer's `tidy` style).
//! The `#[test]` below runs the same check, so `cargo test` fails when one breaks.
//!
//! - **Invariant 1:** `order-domain` has no IO crate among its normal dependencies, direct or
//!   transitive ([`IO_CRATES`], [`IO_PREFIXES`]), and its sources name no `std::fs`,
//!   `std::net` or `std::process`.
//! - **Invariant 4:** no workspace crate but `order-app` has more than one transport crate
//!   (`transport-*` except `transport-core`) among its direct normal dependencies.
//!   [`HARNESS_CRATES`] are exempt by name: they measure every platform on purpose and nothing
//!   ships them. Dev-dependencies do not count (the root `tests` crate uses only those).
//! - **Invariant 6:** `order-sandbox` depends on no `order-domain`, `transport-*` or `rules-*`
//!   crate: not directly in any kind (normal, dev, build), not transitively through normal
//!   dependencies.
//!
//! Invariant 5 (generated files carry their header and are fresh) is `codegen --check`.
//!
//! Note: `cargo metadata` resolves features for the whole workspace at once, so a feature that
//! another member turns on in a shared dependency counts against `order-domain` too. That is
//! deliberate: in a workspace build the unified feature set is what gets compiled.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

/// Crates that do IO (network, files, processes, async runtimes and their IO layers).
pub const IO_CRATES: [&str; 22] = [
    "tokio",
    "mio",
    "socket2",
    "reqwest",
    "hyper",
    "hyper-util",
    "h2",
    "h3",
    "axum",
    "tower-http",
    "sqlx",
    "sqlx-core",
    "rusqlite",
    "libsqlite3-sys",
    "async-std",
    "async-io",
    "smol",
    "ureq",
    "curl",
    "native-tls",
    "rustls",
    "tempfile",
];

/// Name prefixes of IO crates (`tokio-util`, `tokio-rustls`, `sqlx-sqlite`, …).
pub const IO_PREFIXES: [&str; 3] = ["tokio-", "sqlx-", "hyper-"];

/// Source text that means `order-domain` does IO itself.
const IO_PATHS: [&str; 3] = ["std::fs", "std::net", "std::process"];

/// Workspace crates allowed to depend on several transports: benchmark harnesses that measure
/// every platform and ship in no binary.
pub const HARNESS_CRATES: [&str; 1] = ["order-bench"];

/// The one crate that knows every platform.
const APP: &str = "order-app";
const DOMAIN: &str = "order-domain";
const SANDBOX: &str = "order-sandbox";

/// Runs `$CARGO metadata --format-version 1` in `root` and checks it; `Ok` with a summary, or
/// every violation, one a line.
pub fn run(root: &Path) -> Result<String, String> {
    let metadata = metadata(root)?;
    let mut problems = check(&metadata)?;
    problems.extend(check_domain_sources(
        &root.join("crates").join(DOMAIN).join("src"),
    ));
    if problems.is_empty() {
        Ok("tidy: architecture invariants 1, 4 and 6 hold\n".to_owned())
    } else {
        Err(format!(
            "architecture invariants broken (docs/architecture.md):\n  {}",
            problems.join("\n  ")
        ))
    }
}

/// `cargo metadata --format-version 1`, parsed.
pub fn metadata(root: &Path) -> Result<Value, String> {
    let out = crate::bench::cargo()
        .current_dir(root)
        .args(["metadata", "--format-version", "1"])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata: not JSON: {e}"))
}

/// One dependency edge of the resolve graph.
#[derive(Debug, Clone)]
struct Edge {
    to: String,
    /// `"normal"`, `"dev"` or `"build"` (each kind the edge has).
    kinds: Vec<String>,
}

/// The resolved graph: package id → name, and package id → edges.
struct Graph {
    names: BTreeMap<String, String>,
    edges: BTreeMap<String, Vec<Edge>>,
    members: BTreeSet<String>,
}

impl Graph {
    fn from_metadata(m: &Value) -> Result<Graph, String> {
        let str_of = |v: &Value, what: &str| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("cargo metadata: {what} is not a string"))
        };
        let mut names = BTreeMap::new();
        for p in m["packages"]
            .as_array()
            .ok_or("cargo metadata: no packages")?
        {
            names.insert(str_of(&p["id"], "package id")?, str_of(&p["name"], "name")?);
        }
        let members = m["workspace_members"]
            .as_array()
            .ok_or("cargo metadata: no workspace_members")?
            .iter()
            .map(|v| str_of(v, "workspace member"))
            .collect::<Result<_, _>>()?;
        let mut edges = BTreeMap::new();
        let nodes = m["resolve"]["nodes"]
            .as_array()
            .ok_or("cargo metadata: no resolve graph")?;
        for n in nodes {
            let mut out = Vec::new();
            for d in n["deps"].as_array().map_or(&[][..], Vec::as_slice) {
                let kinds = d["dep_kinds"]
                    .as_array()
                    .map_or(&[][..], Vec::as_slice)
                    .iter()
                    .map(|k| k["kind"].as_str().unwrap_or("normal").to_owned())
                    .collect();
                out.push(Edge {
                    to: str_of(&d["pkg"], "dependency pkg")?,
                    kinds,
                });
            }
            edges.insert(str_of(&n["id"], "node id")?, out);
        }
        Ok(Graph {
            names,
            edges,
            members,
        })
    }

    /// The package's name (every resolved id has one; an unknown id names itself).
    fn name<'a>(&'a self, id: &'a str) -> &'a str {
        self.names.get(id).map_or(id, String::as_str)
    }

    fn member(&self, name: &str) -> Option<&str> {
        self.members
            .iter()
            .find(|id| self.name(id) == name)
            .map(String::as_str)
    }

    fn normal_edges<'a>(&'a self, id: &str) -> impl Iterator<Item = &'a Edge> + 'a {
        self.edges
            .get(id)
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .filter(|e| e.kinds.iter().any(|k| k == "normal"))
    }

    /// Every package reachable from `from` through normal edges, each with the shortest path
    /// of names that reaches it (`from` first).
    fn normal_closure(&self, from: &str) -> BTreeMap<String, Vec<String>> {
        let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut queue = VecDeque::from([(from.to_owned(), vec![self.name(from).to_owned()])]);
        while let Some((id, path)) = queue.pop_front() {
            for e in self.normal_edges(&id) {
                if seen.contains_key(&e.to) || e.to == from {
                    continue;
                }
                let mut p = path.clone();
                p.push(self.name(&e.to).to_owned());
                seen.insert(e.to.clone(), p.clone());
                queue.push_back((e.to.clone(), p));
            }
        }
        seen
    }
}

fn is_io_crate(name: &str) -> bool {
    IO_CRATES.contains(&name) || IO_PREFIXES.iter().any(|p| name.starts_with(p))
}

fn is_transport(name: &str) -> bool {
    name.starts_with("transport-") && name != "transport-core"
}

/// The crates `order-sandbox` must not reach: the domain, transports, platform rules.
fn is_forbidden_for_sandbox(name: &str) -> bool {
    name == DOMAIN || name.starts_with("transport-") || name.starts_with("rules-")
}

/// Checks invariants 1, 4 and 6 on parsed `cargo metadata`; one message per broken edge.
pub fn check(metadata: &Value) -> Result<Vec<String>, String> {
    let g = Graph::from_metadata(metadata)?;
    let mut problems = Vec::new();

    // Invariant 1.
    match g.member(DOMAIN) {
        None => problems.push(format!("invariant 1: workspace has no `{DOMAIN}` crate")),
        Some(domain) => {
            for path in g.normal_closure(domain).values() {
                let name = path.last().map_or("", String::as_str);
                // Only the first IO crate on a path: `tokio -> mio` is `tokio`'s problem.
                let through_io = path[..path.len() - 1].iter().any(|n| is_io_crate(n));
                if is_io_crate(name) && !through_io {
                    problems.push(format!(
                        "invariant 1 (order-domain has no IO dependency): {} \
                         (`{name}` does IO; normal dependencies, transitively)",
                        path.join(" -> ")
                    ));
                }
            }
        }
    }

    // Invariant 4.
    for id in &g.members {
        let name = g.name(id);
        if name == APP || HARNESS_CRATES.contains(&name) {
            continue;
        }
        let transports: BTreeSet<&str> = g
            .normal_edges(id)
            .map(|e| g.name(&e.to))
            .filter(|n| is_transport(n))
            .collect();
        if transports.len() > 1 {
            problems.push(format!(
                "invariant 4 (only order-app knows every platform): {name} depends on {} \
                 transport crates: {}",
                transports.len(),
                transports
                    .iter()
                    .map(|t| format!("{name} -> {t}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }

    // Invariant 6.
    match g.member(SANDBOX) {
        None => problems.push(format!("invariant 6: workspace has no `{SANDBOX}` crate")),
        Some(sandbox) => {
            let mut offending: BTreeMap<String, String> = BTreeMap::new();
            for e in g.edges.get(sandbox).map_or(&[][..], Vec::as_slice) {
                let to = g.name(&e.to);
                if is_forbidden_for_sandbox(to) {
                    offending.insert(
                        to.to_owned(),
                        format!("{SANDBOX} -> {to} ({})", e.kinds.join(", ")),
                    );
                }
            }
            for path in g.normal_closure(sandbox).values() {
                let to = path.last().map_or("", String::as_str);
                if is_forbidden_for_sandbox(to) {
                    offending
                        .entry(to.to_owned())
                        .or_insert_with(|| format!("{} (normal, transitively)", path.join(" -> ")));
                }
            }
            for edge in offending.values() {
                problems.push(format!(
                    "invariant 6 (order-sandbox shares no code with the domain or a \
                     transport): {edge}"
                ));
            }
        }
    }
    Ok(problems)
}

/// Invariant 1's source half: `order-domain`'s `.rs` files name no IO module of `std`.
fn check_domain_sources(dir: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            problems.push(format!("invariant 1: cannot list {}", d.display()));
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let Ok(text) = std::fs::read_to_string(&path) else {
                    continue;
                };
                for (n, line) in text.lines().enumerate() {
                    let code = line.split("//").next().unwrap_or("");
                    for io in IO_PATHS.iter().filter(|io| code.contains(*io)) {
                        problems.push(format!(
                            "invariant 1 (order-domain does no IO): {}:{}: uses `{io}`",
                            path.display(),
                            n + 1
                        ));
                    }
                }
            }
        }
    }
    problems.sort();
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The workspace as it is: `cargo test -p xtask` fails when an invariant breaks.
    #[test]
    fn architecture_invariants_hold() {
        if let Err(e) = run(&crate::workspace_root()) {
            panic!("{e}");
        }
    }

    /// A small metadata document: `(name, [(dep, kind)])` per package; every package is a
    /// workspace member.
    fn graph(packages: &[(&str, &[(&str, &str)])]) -> Value {
        let id = |n: &str| format!("path+file:///ws/{n}#0.1.0");
        json!({
            "packages": packages.iter().map(|(n, _)| json!({"id": id(n), "name": n})).collect::<Vec<_>>(),
            "workspace_members": packages.iter().map(|(n, _)| id(n)).collect::<Vec<_>>(),
            "resolve": {"nodes": packages.iter().map(|(n, deps)| json!({
                "id": id(n),
                "deps": deps.iter().map(|(d, k)| json!({
                    "name": d.replace('-', "_"),
                    "pkg": id(d),
                    "dep_kinds": [{"kind": if *k == "normal" { Value::Null } else { json!(k) }, "target": null}],
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>()},
        })
    }

    const CLEAN: &[(&str, &[(&str, &str)])] = &[
        ("order-domain", &[("serde", "normal")]),
        ("serde", &[]),
        ("tokio", &[]),
        (
            "transport-core",
            &[("order-domain", "normal"), ("tokio", "normal")],
        ),
        ("transport-a", &[("transport-core", "normal")]),
        ("transport-b", &[("transport-core", "normal")]),
        (
            "order-app",
            &[("transport-a", "normal"), ("transport-b", "normal")],
        ),
        (
            "order-bench",
            &[("transport-a", "normal"), ("transport-b", "normal")],
        ),
        ("tests", &[("transport-a", "dev"), ("transport-b", "dev")]),
        ("order-sandbox", &[("tokio", "normal")]),
    ];

    fn with(extra: &[(&str, (&str, &str))]) -> Value {
        let mut packages: Vec<(&str, Vec<(&str, &str)>)> =
            CLEAN.iter().map(|(n, d)| (*n, d.to_vec())).collect();
        for (to, dep) in extra {
            if let Some(p) = packages.iter_mut().find(|(n, _)| n == to) {
                p.1.push(*dep);
            } else {
                packages.push((to, vec![*dep]));
            }
        }
        let refs: Vec<(&str, &[(&str, &str)])> =
            packages.iter().map(|(n, d)| (*n, d.as_slice())).collect();
        graph(&refs)
    }

    #[test]
    fn a_clean_graph_passes() {
        assert_eq!(check(&with(&[])).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn domain_reaching_an_io_crate_names_invariant_1_and_the_path() {
        let p = check(&with(&[("serde", ("tokio", "normal"))])).unwrap();
        assert_eq!(
            p,
            vec![
                "invariant 1 (order-domain has no IO dependency): order-domain -> serde -> \
                 tokio (`tokio` does IO; normal dependencies, transitively)"
            ]
        );
        // A dev-dependency is not shipped and does not count.
        assert!(
            check(&with(&[("order-domain", ("tokio", "dev"))]))
                .unwrap()
                .is_empty()
        );
        // Prefixes: tokio-util is IO too.
        let p = check(&with(&[
            ("order-domain", ("tokio-util", "normal")),
            ("tokio-util", ("serde", "normal")),
        ]))
        .unwrap();
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("order-domain -> tokio-util"), "{p:?}");
    }

    #[test]
    fn a_second_transport_outside_the_app_names_invariant_4_and_the_edges() {
        let p = check(&with(&[("transport-a", ("transport-b", "normal"))])).unwrap();
        // transport-a now has transport-core and transport-b: only one transport.
        assert!(p.is_empty(), "{p:?}");
        let p = check(&with(&[
            ("order-journal", ("transport-a", "normal")),
            ("order-journal", ("transport-b", "normal")),
        ]))
        .unwrap();
        assert_eq!(
            p,
            vec![
                "invariant 4 (only order-app knows every platform): order-journal depends on \
                 2 transport crates: order-journal -> transport-a, order-journal -> transport-b"
            ]
        );
    }

    #[test]
    fn sandbox_reaching_domain_transport_or_rules_names_invariant_6() {
        let p = check(&with(&[("order-sandbox", ("transport-a", "dev"))])).unwrap();
        assert_eq!(
            p,
            vec![
                "invariant 6 (order-sandbox shares no code with the domain or a transport): \
                 order-sandbox -> transport-a (dev)"
            ]
        );
        let p = check(&with(&[
            ("order-sandbox", ("helper", "normal")),
            ("helper", ("rules-1688", "normal")),
            ("rules-1688", ("order-domain", "normal")),
        ]))
        .unwrap();
        assert_eq!(
            p,
            vec![
                "invariant 6 (order-sandbox shares no code with the domain or a transport): \
                 order-sandbox -> helper -> rules-1688 -> order-domain (normal, transitively)",
                "invariant 6 (order-sandbox shares no code with the domain or a transport): \
                 order-sandbox -> helper -> rules-1688 (normal, transitively)",
            ]
        );
    }

    #[test]
    fn domain_sources_naming_std_io_are_reported_with_file_and_line() {
        let dir = std::env::temp_dir().join(format!("xtask-tidy-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("ports")).unwrap();
        std::fs::write(dir.join("lib.rs"), "// std::fs in a comment is fine\n").unwrap();
        std::fs::write(
            dir.join("ports/x.rs"),
            "fn f() {}\nfn g() { let _ = std::fs::read(\"x\"); }\n",
        )
        .unwrap();
        let p = check_domain_sources(&dir);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with("invariant 1 (order-domain does no IO): ")
                && p[0].ends_with("x.rs:2: uses `std::fs`"),
            "{p:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
