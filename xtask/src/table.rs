//! Parser for the machine-read tables of `docs/platforms/*.md`.
//!
//! The grammar is documented in `docs/platforms/README.md`. In short: a table is machine-read
//! when the line right before its header row is a marker comment
//! (`<!-- table: errors enum=Name -->`, `<!-- table: fields -->`, `<!-- table: fields mod=name -->`
//! or `<!-- table: constants -->`); its header row is fixed per kind; every row has exactly as
//! many cells as the header. Everything else on the page is prose and is ignored.

use std::fmt;

/// Header of an error table.
pub const ERROR_HEADER: [&str; 7] = [
    "code",
    "match",
    "name",
    "meaning",
    "kind",
    "retryable",
    "merchant action",
];
/// Header of a field table (request parameters, headers, reply fields).
pub const FIELD_HEADER: [&str; 6] = [
    "field",
    "wire type",
    "required",
    "unit",
    "constraints",
    "meaning",
];
/// Header of a constants table.
pub const CONSTANT_HEADER: [&str; 4] = ["constant", "type", "value", "meaning"];

/// The kinds of `order_domain::PlatformErrorKind`, in the contract's order.
pub const KINDS: [&str; 10] = [
    "RejectedByRule",
    "InvalidRequest",
    "NotFound",
    "WrongState",
    "Unauthorised",
    "RateLimited",
    "QuotaExhausted",
    "Transient",
    "Conflict",
    "Protocol",
];
/// Kinds whose `retryable()` is true (the contract: `Transient` and `RateLimited` only).
pub const RETRYABLE_KINDS: [&str; 2] = ["Transient", "RateLimited"];

/// Types a constant may have.
pub const CONSTANT_TYPES: [&str; 16] = [
    "u8", "u16", "u32", "u64", "usize", "i32", "i64", "bool", "&str", "&[u8]", "&[u16]", "&[u32]",
    "&[u64]", "&[i32]", "&[i64]", "&[&str]",
];

/// A problem in a page, reported as `file:line: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Everything the generator reads from one page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    pub errors: Vec<ErrorTable>,
    pub fields: Vec<FieldTable>,
    pub constants: Vec<Constant>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorTable {
    pub line: usize,
    pub enum_name: String,
    pub rows: Vec<ErrorRow>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorRow {
    pub line: usize,
    pub code: String,
    pub matcher: Matcher,
    pub name: String,
    pub meaning: String,
    pub kind: String,
    pub retryable: bool,
    pub action: String,
}

/// How a row's message must look for the row to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matcher {
    /// Any message.
    Any,
    /// The message contains this text.
    Contains(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldTable {
    pub line: usize,
    /// The module of `params.rs` the constants go into; `None` for the top level.
    pub module: Option<String>,
    pub rows: Vec<Field>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub line: usize,
    /// The path as written, e.g. `change_order_infos[].sku_id`.
    pub path: String,
    /// The last segment of the path, e.g. `sku_id`.
    pub wire_name: String,
    pub wire_type: String,
    pub required: String,
    pub unit: String,
    pub constraints: String,
    pub meaning: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constant {
    pub line: usize,
    pub name: String,
    pub ty: String,
    /// The value as written (a Rust literal; lists as `[a, b]`).
    pub value: String,
    pub meaning: String,
}

/// Parses one page. `file` is the name used in error messages (a workspace-relative path).
pub fn parse_page(file: &str, text: &str) -> Result<Page, ParseError> {
    let lines: Vec<&str> = text.lines().collect();
    let mut page = Page::default();
    let err = |line: usize, message: String| ParseError {
        file: file.to_owned(),
        line,
        message,
    };
    let mut i = 0;
    while i < lines.len() {
        let line_no = i + 1;
        let trimmed = lines[i].trim();
        if !trimmed.starts_with("<!--") || !trimmed.contains("table:") {
            i += 1;
            continue;
        }
        let marker = parse_marker(trimmed).map_err(|m| err(line_no, m))?;
        let kind = table_kind(&marker).map_err(|m| err(line_no, m))?;
        let table = read_table(&lines, i + 1).map_err(|(l, m)| err(l, m))?;
        match kind {
            TableKind::Errors(enum_name) => {
                if page.errors.iter().any(|e| e.enum_name == enum_name) {
                    return Err(err(line_no, format!("enum `{enum_name}` is defined twice")));
                }
                let t = error_table(line_no, &enum_name, &table).map_err(|(l, m)| err(l, m))?;
                page.errors.push(t);
            }
            TableKind::Fields(module) => {
                let t = field_table(line_no, module, &table).map_err(|(l, m)| err(l, m))?;
                page.fields.push(t);
            }
            TableKind::Constants => {
                let rows = constant_table(&table).map_err(|(l, m)| err(l, m))?;
                page.constants.extend(rows);
            }
        }
        i = table.end;
    }
    check_page(&page).map_err(|(l, m)| err(l, m))?;
    Ok(page)
}

enum TableKind {
    Errors(String),
    Fields(Option<String>),
    Constants,
}

/// Validates a marker completely before its table is read.
fn table_kind(marker: &Marker) -> Result<TableKind, String> {
    match marker.kind.as_str() {
        "errors" => {
            let enum_name = marker
                .attr("enum")
                .ok_or_else(|| "errors marker needs `enum=Name`".to_owned())?;
            if !is_camel_ident(enum_name) {
                return Err(format!(
                    "enum name `{enum_name}` is not an UpperCamelCase identifier"
                ));
            }
            marker.only_attrs(&["enum"])?;
            Ok(TableKind::Errors(enum_name.to_owned()))
        }
        "fields" => {
            marker.only_attrs(&["mod"])?;
            match marker.attr("mod") {
                Some(m) if is_snake_ident(m) => Ok(TableKind::Fields(Some(m.to_owned()))),
                Some(m) => Err(format!("module name `{m}` is not a snake_case identifier")),
                None => Ok(TableKind::Fields(None)),
            }
        }
        "constants" => {
            marker.only_attrs(&[])?;
            Ok(TableKind::Constants)
        }
        other => Err(format!(
            "unknown table kind `{other}` (expected errors, fields or constants)"
        )),
    }
}

struct Marker {
    kind: String,
    attrs: Vec<(String, String)>,
}

impl Marker {
    fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn only_attrs(&self, allowed: &[&str]) -> Result<(), String> {
        match self
            .attrs
            .iter()
            .find(|(k, _)| !allowed.contains(&k.as_str()))
        {
            Some((k, _)) => Err(format!("unknown attribute `{k}` for a {} table", self.kind)),
            None => Ok(()),
        }
    }
}

fn parse_marker(line: &str) -> Result<Marker, String> {
    let inner = line
        .strip_prefix("<!--")
        .and_then(|s| s.strip_suffix("-->"))
        .ok_or_else(|| "table marker must be a one-line comment `<!-- table: ... -->`".to_owned())?
        .trim();
    let rest = inner
        .strip_prefix("table:")
        .ok_or_else(|| "table marker must start with `table:`".to_owned())?;
    let mut words = rest.split_whitespace();
    let kind = words
        .next()
        .ok_or_else(|| "table marker names no table kind".to_owned())?
        .to_owned();
    let mut attrs: Vec<(String, String)> = Vec::new();
    for word in words {
        let Some((k, v)) = word.split_once('=') else {
            return Err(format!("marker attribute `{word}` is not `key=value`"));
        };
        if v.is_empty() {
            return Err(format!("marker attribute `{k}` has an empty value"));
        }
        if attrs.iter().any(|(seen, _)| seen == k) {
            return Err(format!("marker attribute `{k}` is given twice"));
        }
        attrs.push((k.to_owned(), v.to_owned()));
    }
    Ok(Marker { kind, attrs })
}

/// A table as rows of trimmed cells, with line numbers.
struct RawTable {
    header_line: usize,
    header: Vec<String>,
    rows: Vec<(usize, Vec<String>)>,
    /// Index of the first line after the table.
    end: usize,
}

type LineError = (usize, String);

fn read_table(lines: &[&str], start: usize) -> Result<RawTable, LineError> {
    let header_line = start + 1;
    let Some(header_text) = lines.get(start) else {
        return Err((
            start,
            "table marker is the last line; the header row must follow on the next line".to_owned(),
        ));
    };
    if !header_text.trim_start().starts_with('|') {
        return Err((
            header_line,
            "expected the table's header row right after the marker".to_owned(),
        ));
    }
    let header = split_row(header_text).map_err(|m| (header_line, m))?;
    let sep_line = header_line + 1;
    let sep = lines
        .get(start + 1)
        .filter(|l| l.trim_start().starts_with('|'))
        .ok_or_else(|| {
            (
                sep_line,
                "expected the delimiter row (`|---|---|`)".to_owned(),
            )
        })?;
    let sep = split_row(sep).map_err(|m| (sep_line, m))?;
    if sep.len() != header.len() {
        return Err((
            sep_line,
            format!(
                "delimiter row has {} cells, header has {}",
                sep.len(),
                header.len()
            ),
        ));
    }
    if !sep.iter().all(|c| is_delimiter_cell(c)) {
        return Err((
            sep_line,
            "delimiter row cells must be dashes (`---`, optionally with `:`)".to_owned(),
        ));
    }
    let mut rows = Vec::new();
    let mut i = start + 2;
    while let Some(text) = lines.get(i) {
        if !text.trim_start().starts_with('|') {
            break;
        }
        let cells = split_row(text).map_err(|m| (i + 1, m))?;
        rows.push((i + 1, cells));
        i += 1;
    }
    if rows.is_empty() {
        return Err((sep_line, "table has no rows".to_owned()));
    }
    Ok(RawTable {
        header_line,
        header,
        rows,
        end: i,
    })
}

fn is_delimiter_cell(cell: &str) -> bool {
    let inner = cell.strip_prefix(':').unwrap_or(cell);
    let inner = inner.strip_suffix(':').unwrap_or(inner);
    !inner.is_empty() && inner.chars().all(|c| c == '-')
}

/// Splits `| a | b |` into trimmed cells. As in GitHub-flavoured Markdown, every unescaped `|`
/// separates cells (also inside backticks); write `\|` for a literal bar.
pub fn split_row(line: &str) -> Result<Vec<String>, String> {
    let t = line.trim();
    let Some(inner) = t.strip_prefix('|') else {
        return Err("table row must start with `|`".to_owned());
    };
    if !inner.ends_with('|') || inner.ends_with("\\|") {
        return Err("table row must end with `|`".to_owned());
    }
    let inner = &inner[..inner.len() - 1];
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cell.push('|');
                chars.next();
            }
            '|' => cells.push(std::mem::take(&mut cell).trim().to_owned()),
            _ => cell.push(c),
        }
    }
    cells.push(cell.trim().to_owned());
    Ok(cells)
}

fn check_header(table: &RawTable, expected: &[&str], what: &str) -> Result<(), LineError> {
    if table.header != expected {
        return Err((
            table.header_line,
            format!(
                "{what} table header must be `| {} |`, found `| {} |`",
                expected.join(" | "),
                table.header.join(" | ")
            ),
        ));
    }
    for (line, cells) in &table.rows {
        if cells.len() != expected.len() {
            return Err((
                *line,
                format!(
                    "{what} table row has {} cells, expected {}",
                    cells.len(),
                    expected.len()
                ),
            ));
        }
    }
    Ok(())
}

/// The text of a cell that must be exactly one code span: `` `text` ``.
fn code_span(cell: &str, column: &str) -> Result<String, String> {
    let inner = cell
        .strip_prefix('`')
        .and_then(|s| s.strip_suffix('`'))
        .filter(|s| !s.is_empty() && !s.contains('`'))
        .ok_or_else(|| format!("{column} `{cell}` must be written in backticks, e.g. `` `x` ``"))?;
    if inner.trim() != inner {
        return Err(format!("{column} `{inner}` has leading or trailing spaces"));
    }
    Ok(inner.to_owned())
}

fn non_empty(cell: &str, column: &str) -> Result<String, String> {
    if cell.is_empty() {
        Err(format!(
            "{column} cell is empty (write `—` when there is nothing to say)"
        ))
    } else {
        Ok(cell.to_owned())
    }
}

fn error_table(
    marker_line: usize,
    enum_name: &str,
    table: &RawTable,
) -> Result<ErrorTable, LineError> {
    check_header(table, &ERROR_HEADER, "error")?;
    let mut rows: Vec<ErrorRow> = Vec::new();
    for (line, cells) in &table.rows {
        let line = *line;
        let at = |m: String| (line, m);
        let code = code_span(&cells[0], "code").map_err(at)?;
        let matcher = parse_matcher(&cells[1]).map_err(at)?;
        let name = code_span(&cells[2], "name").map_err(at)?;
        if !is_camel_ident(&name) {
            return Err(at(format!(
                "name `{name}` is not an UpperCamelCase identifier"
            )));
        }
        if name == "Unknown" {
            return Err(at(
                "name `Unknown` is reserved for undocumented codes".to_owned()
            ));
        }
        let meaning = non_empty(&cells[3], "meaning").map_err(at)?;
        let kind = code_span(&cells[4], "kind").map_err(at)?;
        if !KINDS.contains(&kind.as_str()) {
            return Err(at(format!(
                "kind `{kind}` is not one of {}",
                KINDS.join(", ")
            )));
        }
        let retryable = match cells[5].as_str() {
            "yes" => true,
            "no" => false,
            other => {
                return Err(at(format!(
                    "retryable must be `yes` or `no`, found `{other}`"
                )));
            }
        };
        if retryable != RETRYABLE_KINDS.contains(&kind.as_str()) {
            return Err(at(format!(
                "retryable `{}` contradicts kind `{kind}` (only {} are retryable)",
                cells[5],
                RETRYABLE_KINDS.join(" and ")
            )));
        }
        let action = non_empty(&cells[6], "merchant action").map_err(at)?;
        if let Some(prev) = rows.iter().find(|r| r.name == name) {
            return Err(at(format!(
                "name `{name}` is already used on line {}",
                prev.line
            )));
        }
        for prev in rows.iter().filter(|r| r.code == code) {
            match (&prev.matcher, &matcher) {
                (Matcher::Any, _) => {
                    return Err(at(format!(
                        "code `{code}` already matches any message on line {}; \
                         put rows with `contains` first",
                        prev.line
                    )));
                }
                (Matcher::Contains(a), Matcher::Contains(b)) if a == b => {
                    return Err(at(format!(
                        "code `{code}` with the same match is already on line {}",
                        prev.line
                    )));
                }
                _ => {}
            }
        }
        rows.push(ErrorRow {
            line,
            code,
            matcher,
            name,
            meaning,
            kind,
            retryable,
            action,
        });
    }
    Ok(ErrorTable {
        line: marker_line,
        enum_name: enum_name.to_owned(),
        rows,
    })
}

fn parse_matcher(cell: &str) -> Result<Matcher, String> {
    if cell == "any" {
        return Ok(Matcher::Any);
    }
    if let Some(rest) = cell.strip_prefix("contains ") {
        return code_span(rest.trim(), "match text").map(Matcher::Contains);
    }
    Err(format!(
        "match must be `any` or ``contains `text` ``, found `{cell}`"
    ))
}

fn field_table(
    marker_line: usize,
    module: Option<String>,
    table: &RawTable,
) -> Result<FieldTable, LineError> {
    check_header(table, &FIELD_HEADER, "field")?;
    let mut rows = Vec::new();
    for (line, cells) in &table.rows {
        let line = *line;
        let at = |m: String| (line, m);
        let path = code_span(&cells[0], "field").map_err(at)?;
        let wire_name = wire_name(&path).map_err(at)?;
        let wire_type = non_empty(&cells[1], "wire type").map_err(at)?;
        let required = cells[2].clone();
        if !["yes", "no", "conditional"].contains(&required.as_str()) {
            return Err(at(format!(
                "required must be `yes`, `no` or `conditional`, found `{required}`"
            )));
        }
        rows.push(Field {
            line,
            path,
            wire_name,
            wire_type,
            required,
            unit: non_empty(&cells[3], "unit").map_err(at)?,
            constraints: non_empty(&cells[4], "constraints").map_err(at)?,
            meaning: non_empty(&cells[5], "meaning").map_err(at)?,
        });
    }
    Ok(FieldTable {
        line: marker_line,
        module,
        rows,
    })
}

/// The wire name of a field path: its last `.` segment without `[]`.
fn wire_name(path: &str) -> Result<String, String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '[' | ']');
    if !path.chars().all(ok) {
        return Err(format!(
            "field `{path}` may only use letters, digits, `_`, `-`, `.` and `[]`"
        ));
    }
    let last = path.rsplit('.').next().unwrap_or(path);
    let name = last.strip_suffix("[]").unwrap_or(last);
    if name.is_empty()
        || !name.starts_with(|c: char| c.is_ascii_alphabetic())
        || name.contains(['[', ']'])
    {
        return Err(format!("field `{path}` does not end in a name"));
    }
    Ok(name.to_owned())
}

fn constant_table(table: &RawTable) -> Result<Vec<Constant>, LineError> {
    check_header(table, &CONSTANT_HEADER, "constants")?;
    let mut out = Vec::new();
    for (line, cells) in &table.rows {
        let line = *line;
        let at = |m: String| (line, m);
        let name = code_span(&cells[0], "constant").map_err(at)?;
        if !is_screaming_ident(&name) {
            return Err(at(format!(
                "constant `{name}` is not a SCREAMING_SNAKE_CASE identifier"
            )));
        }
        let ty = code_span(&cells[1], "type").map_err(at)?;
        if !CONSTANT_TYPES.contains(&ty.as_str()) {
            return Err(at(format!(
                "type `{ty}` is not one of {}",
                CONSTANT_TYPES.join(", ")
            )));
        }
        let value = code_span(&cells[2], "value").map_err(at)?;
        check_value(&ty, &value).map_err(at)?;
        out.push(Constant {
            line,
            name,
            ty,
            value,
            meaning: non_empty(&cells[3], "meaning").map_err(at)?,
        });
    }
    Ok(out)
}

/// Checks that `value` is a literal of type `ty` (one of [`CONSTANT_TYPES`]).
fn check_value(ty: &str, value: &str) -> Result<(), String> {
    if let Some(elem) = ty.strip_prefix("&[").and_then(|t| t.strip_suffix(']')) {
        let inner = value
            .strip_prefix('[')
            .and_then(|v| v.strip_suffix(']'))
            .ok_or_else(|| format!("value `{value}` of type `{ty}` must be a list `[a, b]`"))?;
        if inner.trim().is_empty() {
            return Ok(());
        }
        // String elements never contain commas or quotes (see `check_scalar`), so a split is exact.
        for item in inner.split(',') {
            check_scalar(elem, item.trim()).map_err(|m| format!("in list `{value}`: {m}"))?;
        }
        return Ok(());
    }
    check_scalar(ty, value)
}

fn check_scalar(ty: &str, value: &str) -> Result<(), String> {
    let fits = match ty {
        "u8" => value.parse::<u8>().is_ok(),
        "u16" => value.parse::<u16>().is_ok(),
        "u32" => value.parse::<u32>().is_ok(),
        "u64" => value.parse::<u64>().is_ok(),
        "usize" => value.parse::<usize>().is_ok(),
        "i32" => value.parse::<i32>().is_ok(),
        "i64" => value.parse::<i64>().is_ok(),
        "bool" => value == "true" || value == "false",
        "&str" => value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .is_some_and(|v| !v.contains(['"', '\\', ','])),
        _ => false,
    };
    if fits {
        Ok(())
    } else if ty == "&str" {
        Err(format!(
            "value `{value}` is not a double-quoted string without `\"`, `\\` or `,`"
        ))
    } else {
        Err(format!("value `{value}` is not a `{ty}`"))
    }
}

/// Cross-table checks: one name per constant in each module of `params.rs`.
fn check_page(page: &Page) -> Result<(), LineError> {
    // (module, constant name, wire value or None for a constant, line)
    let mut seen: Vec<(Option<&str>, String, Option<&str>, usize)> = Vec::new();
    for c in &page.constants {
        if let Some(prev) = seen.iter().find(|s| s.0.is_none() && s.1 == c.name) {
            return Err((
                c.line,
                format!(
                    "constant `{}` is already defined on line {}",
                    c.name, prev.3
                ),
            ));
        }
        seen.push((None, c.name.clone(), None, c.line));
    }
    for table in &page.fields {
        let module = table.module.as_deref();
        for f in &table.rows {
            let name = const_name(&f.wire_name);
            match seen.iter().find(|s| s.0 == module && s.1 == name) {
                // The same wire name again (e.g. `currency` at two levels) shares one constant.
                Some(prev) if prev.2 == Some(f.wire_name.as_str()) => {}
                Some(prev) => {
                    return Err((
                        f.line,
                        format!(
                            "field `{}` would define constant `{name}`, already defined on line {}",
                            f.path, prev.3
                        ),
                    ));
                }
                None => seen.push((module, name, Some(f.wire_name.as_str()), f.line)),
            }
        }
    }
    Ok(())
}

/// `subItemIDString` → `SUB_ITEM_ID_STRING`, `access-key` → `ACCESS_KEY`, `order_id` → `ORDER_ID`.
pub fn const_name(wire: &str) -> String {
    let chars: Vec<char> = wire.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c == '-' || c == '_' {
            if !out.ends_with('_') {
                out.push('_');
            }
            continue;
        }
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(char::is_ascii_lowercase);
            let boundary = prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower);
            if boundary && !out.ends_with('_') {
                out.push('_');
            }
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

fn is_camel_ident(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_uppercase()) && s.chars().all(|c| c.is_ascii_alphanumeric())
}

fn is_snake_ident(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn is_screaming_ident(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_uppercase())
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
# A page

Prose with a table that is not machine-read:

| a | b |
|---|---|
| 1 | 2 |

<!-- table: errors enum=ChangePriceError -->
| code | match | name | meaning | kind | retryable | merchant action |
|---|---|---|---|---|---|---|
| `-1` | any | `SystemBusy` | Busy. | `Transient` | yes | Wait. |
| `204` | contains `无该接口权限` | `NoPermission` | No permission. | `Unauthorised` | no | Open it. |
| `204` | contains `次数不足` | `QuotaGone` | Quota \\| gone. | `QuotaExhausted` | no | Buy more. |

<!-- table: fields -->
| field | wire type | required | unit | constraints | meaning |
| :--- | --- | --- | --- | --- | --- |
| `order_id` | number | yes | — | — | The order. |
| `items[].subItemIDString` | string | no | — | — | Entry id. |
| `a.currency` | string | no | — | — | Currency. |
| `b.currency` | string | no | — | — | Currency again. |

<!-- table: fields mod=headers -->
| field | wire type | required | unit | constraints | meaning |
|---|---|---|---|---|---|
| `access-key` | string | yes | — | — | Key. |

<!-- table: constants -->
| constant | type | value | meaning |
|---|---|---|---|
| `REVISION_LIMIT` | `u32` | `50` | At most 50. |
| `TRADE_TYPES` | `&[u32]` | `[6, 8, 9, 10]` | Types. |
| `PATH` | `&str` | `\"/a/b\"` | Path. |
| `EMPTY` | `&[&str]` | `[]` | Nothing. |
";

    fn parse(text: &str) -> Result<Page, String> {
        parse_page("docs/platforms/x.md", text).map_err(|e| e.to_string())
    }

    fn error_of(text: &str) -> String {
        match parse(text) {
            Ok(page) => panic!("expected an error, parsed {page:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn parses_a_good_page() {
        let page = parse(GOOD).unwrap();
        assert_eq!(page.errors.len(), 1);
        let t = &page.errors[0];
        assert_eq!(t.enum_name, "ChangePriceError");
        assert_eq!(t.line, 9);
        assert_eq!(t.rows.len(), 3);
        assert_eq!(t.rows[0].code, "-1");
        assert_eq!(t.rows[0].matcher, Matcher::Any);
        assert!(t.rows[0].retryable);
        assert_eq!(
            t.rows[1].matcher,
            Matcher::Contains("无该接口权限".to_owned())
        );
        assert_eq!(t.rows[2].meaning, "Quota | gone.");
        assert_eq!(t.rows[2].line, 14);
        assert_eq!(page.fields.len(), 2);
        assert_eq!(page.fields[0].module, None);
        assert_eq!(page.fields[0].rows[1].wire_name, "subItemIDString");
        assert_eq!(page.fields[1].module.as_deref(), Some("headers"));
        assert_eq!(page.constants.len(), 4);
        assert_eq!(page.constants[1].value, "[6, 8, 9, 10]");
    }

    #[test]
    fn ignores_unmarked_tables_and_other_comments() {
        let page = parse("<!-- just a note -->\n| a |\n|---|\n| 1 |\n").unwrap();
        assert_eq!(page, Page::default());
    }

    #[test]
    fn const_names() {
        assert_eq!(const_name("order_id"), "ORDER_ID");
        assert_eq!(const_name("subItemIDString"), "SUB_ITEM_ID_STRING");
        assert_eq!(const_name("productID"), "PRODUCT_ID");
        assert_eq!(const_name("idOfStr"), "ID_OF_STR");
        assert_eq!(const_name("access-key"), "ACCESS_KEY");
        assert_eq!(const_name("Authorization"), "AUTHORIZATION");
        assert_eq!(const_name("_aop_timestamp"), "_AOP_TIMESTAMP");
    }

    fn errors_table(row: &str) -> String {
        format!(
            "<!-- table: errors enum=E -->\n\
             | code | match | name | meaning | kind | retryable | merchant action |\n\
             |---|---|---|---|---|---|---|\n{row}\n"
        )
    }

    #[test]
    fn reports_wrong_cell_count_with_file_and_line() {
        let text = errors_table("| `1` | any | `A` | m | `Transient` | yes |");
        assert_eq!(
            error_of(&text),
            "docs/platforms/x.md:4: error table row has 6 cells, expected 7"
        );
    }

    #[test]
    fn reports_wrong_header() {
        let text = "<!-- table: fields -->\n| field | type | required | unit | constraints | meaning |\n|---|---|---|---|---|---|\n| `a` | x | yes | — | — | m |\n";
        let e = error_of(text);
        assert!(
            e.starts_with("docs/platforms/x.md:2: field table header must be"),
            "{e}"
        );
    }

    #[test]
    fn reports_marker_problems() {
        assert_eq!(
            error_of("<!-- table: errors -->\n| x |\n"),
            "docs/platforms/x.md:1: errors marker needs `enum=Name`"
        );
        assert_eq!(
            error_of("<!-- table: stuff -->\n| x |\n|---|\n| 1 |\n"),
            "docs/platforms/x.md:1: unknown table kind `stuff` (expected errors, fields or constants)"
        );
        assert_eq!(
            error_of("<!-- table: fields x=1 -->\n| x |\n|---|\n| 1 |\n"),
            "docs/platforms/x.md:1: unknown attribute `x` for a fields table"
        );
        assert_eq!(
            error_of("<!-- table: errors enum=lower -->\n"),
            "docs/platforms/x.md:1: enum name `lower` is not an UpperCamelCase identifier"
        );
        assert_eq!(
            error_of("<!-- table: fields mod=Bad -->\n"),
            "docs/platforms/x.md:1: module name `Bad` is not a snake_case identifier"
        );
        assert_eq!(
            error_of("<!-- table: fields\n"),
            "docs/platforms/x.md:1: table marker must be a one-line comment `<!-- table: ... -->`"
        );
    }

    #[test]
    fn reports_missing_table_parts() {
        assert_eq!(
            error_of("<!-- table: constants -->\n\n| x |\n"),
            "docs/platforms/x.md:2: expected the table's header row right after the marker"
        );
        assert_eq!(
            error_of("<!-- table: constants -->"),
            "docs/platforms/x.md:1: table marker is the last line; the header row must follow on the next line"
        );
        assert_eq!(
            error_of("<!-- table: constants -->\n| constant | type | value | meaning |\n"),
            "docs/platforms/x.md:3: expected the delimiter row (`|---|---|`)"
        );
        assert_eq!(
            error_of(
                "<!-- table: constants -->\n| constant | type | value | meaning |\n|---|---|\n"
            ),
            "docs/platforms/x.md:3: delimiter row has 2 cells, header has 4"
        );
        assert_eq!(
            error_of(
                "<!-- table: constants -->\n| constant | type | value | meaning |\n|---|---|x|---|\n"
            ),
            "docs/platforms/x.md:3: delimiter row cells must be dashes (`---`, optionally with `:`)"
        );
        assert_eq!(
            error_of(
                "<!-- table: constants -->\n| constant | type | value | meaning |\n|---|---|---|---|\n\ntext\n"
            ),
            "docs/platforms/x.md:3: table has no rows"
        );
        assert_eq!(
            error_of(
                "<!-- table: constants -->\n| constant | type | value | meaning |\n|---|---|---|---|\n| `A` | `u32` | `1` | m\n"
            ),
            "docs/platforms/x.md:4: table row must end with `|`"
        );
    }

    #[test]
    fn reports_bad_error_rows() {
        let cases = [
            (
                "| 1 | any | `A` | m | `Transient` | yes | a |",
                "code `1` must be written in backticks, e.g. `` `x` ``",
            ),
            (
                "| `1` | sometimes | `A` | m | `Transient` | yes | a |",
                "match must be `any` or ``contains `text` ``, found `sometimes`",
            ),
            (
                "| `1` | any | `a_b` | m | `Transient` | yes | a |",
                "name `a_b` is not an UpperCamelCase identifier",
            ),
            (
                "| `1` | any | `Unknown` | m | `Transient` | yes | a |",
                "name `Unknown` is reserved for undocumented codes",
            ),
            (
                "| `1` | any | `A` |  | `Transient` | yes | a |",
                "meaning cell is empty (write `—` when there is nothing to say)",
            ),
            (
                "| `1` | any | `A` | m | `Busy` | yes | a |",
                "kind `Busy` is not one of RejectedByRule, InvalidRequest, NotFound, WrongState, Unauthorised, RateLimited, QuotaExhausted, Transient, Conflict, Protocol",
            ),
            (
                "| `1` | any | `A` | m | `Transient` | maybe | a |",
                "retryable must be `yes` or `no`, found `maybe`",
            ),
            (
                "| `1` | any | `A` | m | `NotFound` | yes | a |",
                "retryable `yes` contradicts kind `NotFound` (only Transient and RateLimited are retryable)",
            ),
            (
                "| `1` | any | `A` | m | `Transient` | no | a |",
                "retryable `no` contradicts kind `Transient` (only Transient and RateLimited are retryable)",
            ),
            (
                "| `1` | any | `A` | m | `Transient` | yes |  |",
                "merchant action cell is empty (write `—` when there is nothing to say)",
            ),
        ];
        for (row, message) in cases {
            assert_eq!(
                error_of(&errors_table(row)),
                format!("docs/platforms/x.md:4: {message}"),
                "row {row}"
            );
        }
    }

    #[test]
    fn reports_ambiguous_codes_and_names() {
        let twice_any = "| `1` | any | `A` | m | `NotFound` | no | a |\n| `1` | contains `x` | `B` | m | `NotFound` | no | a |";
        assert_eq!(
            error_of(&errors_table(twice_any)),
            "docs/platforms/x.md:5: code `1` already matches any message on line 4; put rows with `contains` first"
        );
        let same_match = "| `1` | contains `x` | `A` | m | `NotFound` | no | a |\n| `1` | contains `x` | `B` | m | `NotFound` | no | a |";
        assert_eq!(
            error_of(&errors_table(same_match)),
            "docs/platforms/x.md:5: code `1` with the same match is already on line 4"
        );
        let same_name = "| `1` | any | `A` | m | `NotFound` | no | a |\n| `2` | any | `A` | m | `NotFound` | no | a |";
        assert_eq!(
            error_of(&errors_table(same_name)),
            "docs/platforms/x.md:5: name `A` is already used on line 4"
        );
        let fallback_last = "| `1` | contains `x` | `A` | m | `NotFound` | no | a |\n| `1` | any | `B` | m | `NotFound` | no | a |";
        assert!(parse(&errors_table(fallback_last)).is_ok());
        let two_enums = format!(
            "{}\n{}",
            errors_table(fallback_last),
            errors_table(fallback_last)
        );
        assert_eq!(
            error_of(&two_enums),
            "docs/platforms/x.md:7: enum `E` is defined twice"
        );
    }

    fn fields_table(row: &str) -> String {
        format!(
            "<!-- table: fields -->\n\
             | field | wire type | required | unit | constraints | meaning |\n\
             |---|---|---|---|---|---|\n{row}\n"
        )
    }

    #[test]
    fn reports_bad_field_rows() {
        let cases = [
            (
                "| `a b` | x | yes | — | — | m |",
                "field `a b` may only use letters, digits, `_`, `-`, `.` and `[]`",
            ),
            (
                "| `a.` | x | yes | — | — | m |",
                "field `a.` does not end in a name",
            ),
            (
                "| `a` | x | sometimes | — | — | m |",
                "required must be `yes`, `no` or `conditional`, found `sometimes`",
            ),
            (
                "| `a` |  | yes | — | — | m |",
                "wire type cell is empty (write `—` when there is nothing to say)",
            ),
            (
                "| `a` | x | yes | — | — |  |",
                "meaning cell is empty (write `—` when there is nothing to say)",
            ),
        ];
        for (row, message) in cases {
            assert_eq!(
                error_of(&fields_table(row)),
                format!("docs/platforms/x.md:4: {message}"),
                "row {row}"
            );
        }
        let clash =
            "| `subItemID` | x | yes | — | — | m |\n| `sub_item_id` | x | yes | — | — | m |";
        assert_eq!(
            error_of(&fields_table(clash)),
            "docs/platforms/x.md:5: field `sub_item_id` would define constant `SUB_ITEM_ID`, already defined on line 4"
        );
    }

    fn constants_table(row: &str) -> String {
        format!(
            "<!-- table: constants -->\n| constant | type | value | meaning |\n|---|---|---|---|\n{row}\n"
        )
    }

    #[test]
    fn reports_bad_constants() {
        let cases = [
            (
                "| `lower` | `u32` | `1` | m |",
                "constant `lower` is not a SCREAMING_SNAKE_CASE identifier",
            ),
            (
                "| `A` | `f64` | `1` | m |",
                "type `f64` is not one of u8, u16, u32, u64, usize, i32, i64, bool, &str, &[u8], &[u16], &[u32], &[u64], &[i32], &[i64], &[&str]",
            ),
            ("| `A` | `u8` | `300` | m |", "value `300` is not a `u8`"),
            (
                "| `A` | `&[u32]` | `6, 8` | m |",
                "value `6, 8` of type `&[u32]` must be a list `[a, b]`",
            ),
            (
                "| `A` | `&[u32]` | `[6, x]` | m |",
                "in list `[6, x]`: value `x` is not a `u32`",
            ),
            (
                "| `A` | `&str` | `abc` | m |",
                "value `abc` is not a double-quoted string without `\"`, `\\` or `,`",
            ),
        ];
        for (row, message) in cases {
            assert_eq!(
                error_of(&constants_table(row)),
                format!("docs/platforms/x.md:4: {message}"),
                "row {row}"
            );
        }
        let twice = "| `A` | `u32` | `1` | m |\n| `A` | `u32` | `2` | m |";
        assert_eq!(
            error_of(&constants_table(twice)),
            "docs/platforms/x.md:5: constant `A` is already defined on line 4"
        );
        let clash = format!(
            "{}\n{}",
            constants_table("| `ORDER_ID` | `u32` | `1` | m |"),
            fields_table("| `order_id` | x | yes | — | — | m |")
        );
        assert_eq!(
            error_of(&clash),
            "docs/platforms/x.md:9: field `order_id` would define constant `ORDER_ID`, already defined on line 4"
        );
    }
}
