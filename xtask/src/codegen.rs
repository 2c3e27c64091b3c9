//! `cargo xtask codegen [--check]`: `docs/platforms/*.md` → `crates/transport-*/src/generated/`.

use crate::{render, table};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Every reference page and the crate it feeds, sorted by page: each `docs/platforms/*.md`
/// but `README.md`, with the crate its `Crate: `name`` line names. A new page needs no code
/// here; a page without that line is an error.
pub fn pages(root: &Path) -> Result<Vec<(String, String)>, String> {
    let dir = root.join("docs").join("platforms");
    let entries =
        std::fs::read_dir(&dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut pages = Vec::new();
    let mut errors = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
            .path();
        let (Some(stem), Some("md")) = (
            path.file_stem().and_then(|s| s.to_str()),
            path.extension().and_then(|s| s.to_str()),
        ) else {
            continue;
        };
        if stem == "README" {
            continue;
        }
        let file = format!("docs/platforms/{stem}.md");
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{file}: cannot read: {e}"))?;
        match crate_of_page(&text) {
            Some(krate) => pages.push((stem.to_owned(), krate.to_owned())),
            None => errors.push(format!(
                "{file}: no `Crate: `crate-name`` line naming the crate it feeds"
            )),
        }
    }
    if !errors.is_empty() {
        errors.sort();
        return Err(errors.join("\n"));
    }
    pages.sort();
    Ok(pages)
}

/// The crate a page names on its `Crate: `name`` line (the first such line), when the name is
/// a plausible crate directory (lower-case ASCII letters, digits and `-`).
fn crate_of_page(text: &str) -> Option<&str> {
    let rest = text.lines().find_map(|l| l.split_once("Crate: `"))?.1;
    let name = &rest[..rest.find('`')?];
    let plausible = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    plausible.then_some(name)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Write every file whose content changed.
    Write,
    /// Write nothing; fail when a file on disk differs from what would be generated.
    Check,
}

/// One file the generator produces.
#[derive(Debug)]
pub struct Generated {
    /// Workspace-relative path, with `/` separators.
    pub path: String,
    pub text: String,
}

/// What one crate gets.
struct CrateOutput {
    krate: String,
    files: Vec<Generated>,
}

/// Runs the generator from the workspace `root`. Returns a summary on success and a message
/// naming every problem on failure.
pub fn run(root: &Path, mode: Mode) -> Result<String, String> {
    let outputs = generate_all(root)?;
    let mut summary = String::new();
    let mut problems: Vec<String> = Vec::new();
    for out in &outputs {
        let crate_dir = root.join("crates").join(&out.krate);
        if !crate_dir.join("Cargo.toml").is_file() {
            // A directory under crates/ without a manifest would break every cargo command in the
            // workspace (`members = ["crates/*"]`), so nothing is written until the crate exists.
            let _ = writeln!(
                summary,
                "skipped crates/{}: the crate has no Cargo.toml yet",
                out.krate
            );
            continue;
        }
        let generated_dir = crate_dir.join("src").join("generated");
        for file in &out.files {
            let path = root.join(&file.path);
            let on_disk = std::fs::read_to_string(&path).ok();
            match (mode, on_disk) {
                (_, Some(text)) if text == file.text => {}
                (Mode::Check, Some(_)) => problems.push(format!("stale:   {}", file.path)),
                (Mode::Check, None) => problems.push(format!("missing: {}", file.path)),
                (Mode::Write, _) => {
                    std::fs::create_dir_all(&generated_dir)
                        .map_err(|e| format!("cannot create {}: {e}", generated_dir.display()))?;
                    std::fs::write(&path, &file.text)
                        .map_err(|e| format!("cannot write {}: {e}", file.path))?;
                    let _ = writeln!(summary, "wrote {}", file.path);
                }
            }
        }
        for extra in unexpected_files(root, &generated_dir, &out.files)? {
            match mode {
                Mode::Check => problems.push(format!("unexpected: {extra}")),
                Mode::Write => {
                    std::fs::remove_file(root.join(&extra))
                        .map_err(|e| format!("cannot remove {extra}: {e}"))?;
                    let _ = writeln!(summary, "removed {extra}");
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(format!(
            "generated files are out of date with docs/platforms/*.md:\n  {}\n\
             run `cargo xtask codegen` and commit the result",
            problems.join("\n  ")
        ));
    }
    let _ = writeln!(
        summary,
        "{}",
        match mode {
            Mode::Write => "codegen: done",
            Mode::Check => "codegen: generated files are up to date",
        }
    );
    Ok(summary)
}

/// Files in `generated_dir` that the generator does not produce (left over from a removed table).
fn unexpected_files(
    root: &Path,
    generated_dir: &Path,
    files: &[Generated],
) -> Result<Vec<String>, String> {
    let Ok(entries) = std::fs::read_dir(generated_dir) else {
        return Ok(Vec::new());
    };
    let mut extra = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot list {}: {e}", generated_dir.display()))?;
        let rel = relative(root, &entry.path());
        if !files.iter().any(|f| f.path == rel) {
            extra.push(rel);
        }
    }
    extra.sort();
    Ok(extra)
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// Parses every page and renders every file, formatted, in memory.
fn generate_all(root: &Path) -> Result<Vec<CrateOutput>, String> {
    let mut outputs = Vec::new();
    let mut errors = Vec::new();
    for (page, krate) in pages(root)? {
        match generate_page(root, &page, &krate) {
            Ok(files) => outputs.push(CrateOutput { krate, files }),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(outputs)
    } else {
        Err(errors.join("\n"))
    }
}

fn generate_page(root: &Path, page: &str, krate: &str) -> Result<Vec<Generated>, String> {
    let page_file = format!("docs/platforms/{page}.md");
    let text = std::fs::read_to_string(root.join(&page_file))
        .map_err(|e| format!("{page_file}: cannot read: {e}"))?;
    let parsed = table::parse_page(&page_file, &text).map_err(|e| e.to_string())?;
    let dir = format!("crates/{krate}/src/generated");
    let mut files = vec![
        (format!("{dir}/mod.rs"), render::mod_rs(&page_file, &parsed)),
        (
            format!("{dir}/params.rs"),
            render::params_rs(&page_file, &parsed),
        ),
    ];
    if !parsed.errors.is_empty() {
        files.push((
            format!("{dir}/errors.rs"),
            render::errors_rs(&page_file, &parsed),
        ));
    }
    files
        .into_iter()
        .map(|(path, text)| {
            let text =
                rustfmt(root, &text).map_err(|e| format!("{path} (from {page_file}): {e}"))?;
            Ok(Generated { path, text })
        })
        .collect()
}

/// Formats `source` with the workspace's rustfmt configuration, so `cargo fmt --check` agrees.
fn rustfmt(root: &Path, source: &str) -> Result<String, String> {
    let config: PathBuf = root.join("rustfmt.toml");
    let mut cmd = Command::new("rustfmt");
    cmd.current_dir(root)
        .args(["--edition", "2024", "--emit", "stdout"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if config.is_file() {
        cmd.arg("--config-path").arg(&config);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run rustfmt (is the rustfmt component installed?): {e}"))?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = source.to_owned();
    // Write from another thread so a large output cannot dead-lock against a full stdin pipe.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child
        .wait_with_output()
        .map_err(|e| format!("rustfmt failed: {e}"))?;
    writer
        .join()
        .map_err(|_| "rustfmt input thread panicked".to_owned())?
        .map_err(|e| format!("cannot feed rustfmt: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "rustfmt rejected the generated code:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    String::from_utf8(output.stdout).map_err(|e| format!("rustfmt wrote invalid UTF-8: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails `cargo test` when the generated files drift from docs/platforms (rust-analyzer's
    /// pattern: the test runs the same check as `cargo xtask codegen --check`).
    #[test]
    fn generated_files_are_fresh() {
        if let Err(e) = run(&crate::workspace_root(), Mode::Check) {
            panic!("{e}");
        }
    }

    #[test]
    fn every_page_parses() {
        let root = crate::workspace_root();
        let pages = pages(&root).unwrap();
        assert!(pages.len() >= 5, "{pages:?}");
        for (page, krate) in pages {
            let files = generate_page(&root, &page, &krate).unwrap_or_else(|e| panic!("{e}"));
            assert!(files.iter().all(|f| {
                f.text
                    .starts_with(&render::header(&format!("docs/platforms/{page}.md")))
            }));
        }
    }

    /// Every code the platform documents (seeds and platform facts) has a row, with the agreed
    /// kind, in the agreed enum.
    #[test]
    fn pages_cover_every_documented_code() {
        use crate::table::parse_page;
        /// (page, enum, [(code, kind)]); an empty enum name means "no error table".
        type Expected = (
            &'static str,
            &'static str,
            &'static [(&'static str, &'static str)],
        );
        let expected: [Expected; 7] = [
            (
                "wechat-shop",
                "ChangeOrderPriceError",
                &[
                    ("-1", "Transient"),
                    ("-2", "InvalidRequest"),
                    ("9401020", "InvalidRequest"),
                    ("9401021", "Unauthorised"),
                    ("101100", "WrongState"),
                    ("108021", "RejectedByRule"),
                    ("108022", "RejectedByRule"),
                    ("108023", "RejectedByRule"),
                    ("100002", "NotFound"),
                    ("40001", "Unauthorised"),
                    ("42001", "Unauthorised"),
                    ("40014", "Unauthorised"),
                    ("45009", "QuotaExhausted"),
                    ("45011", "RateLimited"),
                ],
            ),
            (
                "vvtool-1688",
                "ModifyOrderPriceError",
                &[
                    ("100", "InvalidRequest"),
                    ("101", "Transient"),
                    ("103", "NotFound"),
                    ("200", "Protocol"),
                    ("202", "Transient"),
                    ("203", "Protocol"),
                    ("204", "Unauthorised"),
                    ("204", "Unauthorised"),
                    ("204", "QuotaExhausted"),
                    ("302", "Unauthorised"),
                ],
            ),
            (
                "vvtool-1688",
                "ModifyOrderPriceResultError",
                &[
                    ("FAIL_BIZ_TRADING_INVALID_PARAM", "InvalidRequest"),
                    ("FAIL_BIZ_TRADING_ORDER_NOT_EXIST", "NotFound"),
                    ("FAIL_BIZ_TRADING_ORDER_STATUS_ERROR", "WrongState"),
                    ("FAIL_BIZ_TRADING_MODIFY_PRICE_ERROR", "RejectedByRule"),
                    ("FAIL_BIZ_TRADING_SYSTEM_ERROR", "Transient"),
                    ("FAIL_BIZ_TRADING_ORDER_ENTRY_STATUS_ERROR", "Conflict"),
                ],
            ),
            (
                "em-franchiser",
                "TradeModifyError",
                &[
                    ("1002", "InvalidRequest"),
                    ("-10", "RejectedByRule"),
                    // Assumed codes (marked so on the page), shared with the sandbox.
                    ("-1", "Transient"),
                    ("1001", "Unauthorised"),
                    ("1003", "Unauthorised"),
                    ("1004", "InvalidRequest"),
                    ("1005", "InvalidRequest"),
                    ("1006", "NotFound"),
                    ("1008", "RateLimited"),
                ],
            ),
            (
                "alibaba-icbu",
                "OrderModifyGatewayError",
                &[
                    ("25", "Unauthorised"),
                    ("27", "Unauthorised"),
                    ("7", "RateLimited"),
                    ("15", "RejectedByRule"),
                    ("50", "InvalidRequest"),
                    ("22", "InvalidRequest"),
                    ("26", "Unauthorised"),
                    ("29", "Unauthorised"),
                    ("31", "InvalidRequest"),
                    ("40", "InvalidRequest"),
                    ("41", "InvalidRequest"),
                ],
            ),
            (
                "alibaba-icbu",
                "OrderModifyResultError",
                &[
                    ("400", "InvalidRequest"),
                    // Assumed codes (marked so on the page), shared with the sandbox.
                    ("ORDER_VERSION_CONFLICT", "Conflict"),
                    ("ORDER_NOT_EXIST", "NotFound"),
                    ("ORDER_STATUS_NOT_MODIFIABLE", "WrongState"),
                    ("TOTAL_AMOUNT_MISMATCH", "RejectedByRule"),
                    ("PRODUCT_AMOUNT_MISMATCH", "RejectedByRule"),
                    ("INITIAL_AMOUNT_EXCEEDS_TOTAL", "RejectedByRule"),
                ],
            ),
            ("1688-push", "", &[]),
        ];
        let root = crate::workspace_root();
        for (page, enum_name, codes) in expected {
            let file = format!("docs/platforms/{page}.md");
            let text = std::fs::read_to_string(root.join(&file)).unwrap();
            let parsed = parse_page(&file, &text).unwrap();
            if enum_name.is_empty() {
                assert!(
                    parsed.errors.is_empty(),
                    "{file} should have no error table"
                );
                continue;
            }
            let table = parsed
                .errors
                .iter()
                .find(|t| t.enum_name == enum_name)
                .unwrap_or_else(|| panic!("{file} has no enum {enum_name}"));
            let mut found: Vec<(&str, &str)> = table
                .rows
                .iter()
                .map(|r| (r.code.as_str(), r.kind.as_str()))
                .collect();
            let mut want = codes.to_vec();
            found.sort_unstable();
            want.sort_unstable();
            assert_eq!(found, want, "{file} {enum_name}");
        }
    }

    #[test]
    fn pages_name_their_crates() {
        let pages = pages(&crate::workspace_root()).unwrap();
        for (page, krate) in [
            ("wechat-shop", "transport-wechat-shop"),
            ("vvtool-1688", "transport-vvtool"),
            ("em-franchiser", "transport-em"),
            ("alibaba-icbu", "transport-icbu"),
            ("1688-push", "transport-1688-push"),
        ] {
            assert!(
                pages.contains(&(page.to_owned(), krate.to_owned())),
                "{page} -> {krate} not in {pages:?}"
            );
        }
        assert!(!pages.iter().any(|(p, _)| p == "README"));
        assert_eq!(
            crate_of_page("Direction: outbound. Crate: `transport-wechat-channels`. Source"),
            Some("transport-wechat-channels")
        );
        assert_eq!(crate_of_page("Crate: `../etc`"), None);
        assert_eq!(crate_of_page("no crate here"), None);
    }

    /// A page added under docs/platforms is generated with no code change; a page that names
    /// no crate stops the generator with its file name.
    #[test]
    fn a_new_page_is_picked_up_by_its_crate_line() {
        let dir = std::env::temp_dir().join(format!("xtask-pages-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let real = crate::workspace_root();
        std::fs::create_dir_all(dir.join("docs/platforms")).unwrap();
        std::fs::copy(real.join("rustfmt.toml"), dir.join("rustfmt.toml")).unwrap();
        let push = std::fs::read_to_string(real.join("docs/platforms/1688-push.md")).unwrap();
        let page = push.replace("Crate: `transport-1688-push`", "Crate: `transport-new-one`");
        std::fs::write(dir.join("docs/platforms/new-one.md"), page).unwrap();
        std::fs::write(dir.join("docs/platforms/README.md"), "# pages\n").unwrap();
        std::fs::create_dir_all(dir.join("crates/transport-new-one/src")).unwrap();
        std::fs::write(dir.join("crates/transport-new-one/Cargo.toml"), "").unwrap();

        let summary = run(&dir, Mode::Write).unwrap();
        assert!(
            summary.contains("wrote crates/transport-new-one/src/generated/params.rs"),
            "{summary}"
        );
        run(&dir, Mode::Check).unwrap();

        std::fs::write(dir.join("docs/platforms/other.md"), "# a page\n").unwrap();
        let e = run(&dir, Mode::Check).unwrap_err();
        assert_eq!(
            e,
            "docs/platforms/other.md: no `Crate: `crate-name`` line naming the crate it feeds"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn rustfmt_formats_and_reports_invalid_code() {
        let root = crate::workspace_root();
        assert_eq!(
            rustfmt(&root, "pub const   A: u32=1;").unwrap(),
            "pub const A: u32 = 1;\n"
        );
        let e = rustfmt(&root, "pub const A: = ;").unwrap_err();
        assert!(e.starts_with("rustfmt rejected the generated code"), "{e}");
    }

    #[test]
    fn check_names_stale_missing_and_unexpected_files() {
        let dir = std::env::temp_dir().join(format!("xtask-codegen-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let real = crate::workspace_root();
        std::fs::create_dir_all(dir.join("docs/platforms")).unwrap();
        for (page, _) in pages(&real).unwrap() {
            let name = format!("docs/platforms/{page}.md");
            std::fs::copy(real.join(&name), dir.join(&name)).unwrap();
        }
        std::fs::copy(real.join("rustfmt.toml"), dir.join("rustfmt.toml")).unwrap();
        // Only the WeChat crate exists; the others are skipped, not failed.
        std::fs::create_dir_all(dir.join("crates/transport-wechat-shop/src")).unwrap();
        std::fs::write(dir.join("crates/transport-wechat-shop/Cargo.toml"), "").unwrap();

        let e = run(&dir, Mode::Check).unwrap_err();
        assert!(
            e.contains("missing: crates/transport-wechat-shop/src/generated/errors.rs"),
            "{e}"
        );
        assert!(
            e.contains("missing: crates/transport-wechat-shop/src/generated/params.rs"),
            "{e}"
        );

        let summary = run(&dir, Mode::Write).unwrap();
        assert!(summary.contains("wrote crates/transport-wechat-shop/src/generated/mod.rs"));
        assert!(summary.contains("skipped crates/transport-em: the crate has no Cargo.toml yet"));
        assert!(!dir.join("crates/transport-em").exists());
        run(&dir, Mode::Check).unwrap();

        let params = dir.join("crates/transport-wechat-shop/src/generated/params.rs");
        std::fs::write(&params, "// edited by hand\n").unwrap();
        let extra = dir.join("crates/transport-wechat-shop/src/generated/old.rs");
        std::fs::write(&extra, "").unwrap();
        let e = run(&dir, Mode::Check).unwrap_err();
        assert!(
            e.contains("stale:   crates/transport-wechat-shop/src/generated/params.rs"),
            "{e}"
        );
        assert!(
            e.contains("unexpected: crates/transport-wechat-shop/src/generated/old.rs"),
            "{e}"
        );
        assert!(e.contains("run `cargo xtask codegen`"), "{e}");

        run(&dir, Mode::Write).unwrap();
        assert!(!extra.exists());
        run(&dir, Mode::Check).unwrap();

        // A broken page names file and line.
        let page = dir.join("docs/platforms/em-franchiser.md");
        let text = std::fs::read_to_string(&page).unwrap();
        let broken = text.replacen("| `1002` |", "| 1002 |", 1);
        let line = 1 + text[..text.find("| `1002` |").unwrap()]
            .matches('\n')
            .count();
        std::fs::write(&page, broken).unwrap();
        let e = run(&dir, Mode::Check).unwrap_err();
        assert_eq!(
            e,
            format!(
                "docs/platforms/em-franchiser.md:{line}: code `1002` must be written in backticks, e.g. `` `x` ``"
            )
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
