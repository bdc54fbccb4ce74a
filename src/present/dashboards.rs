//! Dashboard definitions: the files of `dashboards/` and the named queries
//! of `queries/` their panels run.
//!
//! A dashboard is data, not code: a TOML file gives its titles in both
//! languages, the parameters it takes and its panels, each naming a query
//! and how to draw the result. The repository's files are compiled in;
//! a directory given at start-up adds files or replaces them by name, so a
//! new dashboard needs no rebuild. Every definition is checked when loaded
//! and a broken one stops the start with its file and the reason.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::present::i18n::Lang;

/// Text in both languages.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Text {
    pub vi: String,
    pub en: String,
}

impl Text {
    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::Vi => &self.vi,
            Lang::En => &self.en,
        }
    }
}

/// The parameters a dashboard can take. Queries see them as named
/// placeholders (`$period`), bound as values, never pasted into the text.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Param {
    /// A month, quarter or year (default: the last whole quarter).
    Period,
    /// One of the 34 province codes.
    Province,
}

/// Placeholders every query may use besides the dashboard's parameters.
pub const IMPLICIT_PARAMS: [&str; 2] = ["prev_period", "as_of"];

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The league table: ranks, intervals, tiers, change on the previous
    /// period.
    League,
    /// A plain table.
    Table,
    /// Lines over periods: `x` the period column, `y` the value columns.
    Line,
    /// Bars: `x` the category column, `y` one value column.
    Bar,
    /// Funnel plot: `label`, `n`, `rate`, `mean` columns.
    Funnel,
    /// The 34 provinces as tiles, roughly north to south, coloured by tier.
    Tiles,
    /// Plain-language reasons for a province's tier.
    Reasons,
    /// Why the province's composite moved since the previous period, by
    /// indicator, in words and as a waterfall (computed, not queried: the
    /// panel's query only has to plan).
    Change,
}

impl Kind {
    /// Columns a query must return for this kind (beyond those named in
    /// the panel).
    pub fn required_columns(self) -> &'static [&'static str] {
        match self {
            Kind::League => &[
                "province_code",
                "province_name",
                "composite",
                "tier",
                "reception_score",
                "deadlines_score",
                "data_entry_score",
                "rank",
                "rank_lo",
                "rank_hi",
                "prev_composite",
            ],
            Kind::Tiles => &[
                "province_code",
                "province_name",
                "tier",
                "composite",
                "tile_row",
                "tile_col",
            ],
            Kind::Reasons => &[
                "indicator",
                "value",
                "national_value",
                "numerator",
                "denominator",
                "composite",
                "tier",
            ],
            Kind::Funnel => &["province_name", "n", "rate", "mean"],
            Kind::Table | Kind::Line | Kind::Bar | Kind::Change => &[],
        }
    }

    pub fn is_chart(self) -> bool {
        matches!(self, Kind::Line | Kind::Bar | Kind::Funnel)
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::League => "league",
            Kind::Table => "table",
            Kind::Line => "line",
            Kind::Bar => "bar",
            Kind::Funnel => "funnel",
            Kind::Tiles => "tiles",
            Kind::Reasons => "reasons",
            Kind::Change => "change",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Panel {
    /// Unique within the dashboard; names its downloads.
    pub id: String,
    pub title: Text,
    /// A query of `queries/`, by its path without `.sql`.
    pub query: String,
    pub kind: Kind,
    /// Category or period column of a chart.
    #[serde(default)]
    pub x: Option<String>,
    /// Value columns of a chart (one series each).
    #[serde(default)]
    pub y: Vec<String>,
    /// Axis title of a chart's values.
    #[serde(default)]
    pub y_label: Option<Text>,
    /// For tables: the columns to show, in order (default: all).
    #[serde(default)]
    pub columns: Vec<String>,
    /// For funnel plots: the province to highlight comes from `$province`.
    #[serde(default)]
    pub highlight_province: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Dashboard {
    /// The URL name (`/d/<name>`): the file name without `.toml`.
    #[serde(skip_deserializing)]
    pub name: String,
    #[serde(skip)]
    pub file: String,
    pub title: Text,
    /// Position in the navigation; dashboards without one are listed
    /// under "Dashboards" only.
    #[serde(default)]
    pub nav: Option<i32>,
    #[serde(default)]
    pub params: Vec<Param>,
    /// How many periods of the same kind before the chosen one line charts
    /// show.
    #[serde(default)]
    pub history: usize,
    pub panels: Vec<Panel>,
}

impl Dashboard {
    pub fn takes(&self, p: Param) -> bool {
        self.params.contains(&p)
    }
}

/// The dashboards and the named queries they use.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub dashboards: BTreeMap<String, Dashboard>,
    pub queries: BTreeMap<String, String>,
}

macro_rules! bundled {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../dashboards/", $name, ".toml")))),*]
    };
}

const BUNDLED_DASHBOARDS: &[(&str, &str)] =
    bundled!("league", "province", "national", "status", "indicators");

macro_rules! queries {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../queries/", $name, ".sql")))),*]
    };
}

const BUNDLED_QUERIES: &[(&str, &str)] = queries!(
    "dashboards/league",
    "dashboards/province_history",
    "dashboards/province_indicator_history",
    "dashboards/province_indicators",
    "dashboards/funnel_d2",
    "dashboards/funnel_flags",
    "dashboards/composite_distribution",
    "dashboards/tiles",
    "dashboards/extracts",
    "dashboards/quarantine_reasons",
    "dashboards/current_rows",
    "dashboards/indicators_long",
);

/// The `$name` placeholders of a query, in order of first use.
pub fn placeholders(sql: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let b = sql.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' {
            let start = i + 1;
            let mut j = start;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                j += 1;
            }
            if j > start && !b[start].is_ascii_digit() {
                let name = &sql[start..j];
                if !out.iter().any(|n| n == name) {
                    out.push(name.to_string());
                }
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

fn param_name(p: Param) -> &'static str {
    match p {
        Param::Period => "period",
        Param::Province => "province",
    }
}

impl Catalog {
    /// The compiled-in dashboards and queries, then any files of the given
    /// directories (replacing compiled-in ones of the same name).
    pub fn load(dashboards_dir: Option<&Path>, queries_dir: Option<&Path>) -> Result<Catalog> {
        let mut queries: BTreeMap<String, String> = BUNDLED_QUERIES
            .iter()
            .map(|(n, s)| (n.to_string(), s.to_string()))
            .collect();
        if let Some(dir) = queries_dir {
            for (name, path) in files_with_ext(dir, "sql")? {
                let sql = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?;
                queries.insert(name, sql);
            }
        }
        let mut sources: Vec<(String, String, String)> = BUNDLED_DASHBOARDS
            .iter()
            .map(|(n, s)| (n.to_string(), format!("dashboards/{n}.toml"), s.to_string()))
            .collect();
        if let Some(dir) = dashboards_dir {
            for (name, path) in files_with_ext(dir, "toml")? {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?;
                sources.retain(|(n, _, _)| *n != name);
                sources.push((name, path.display().to_string(), text));
            }
        }
        let mut dashboards = BTreeMap::new();
        let mut problems = Vec::new();
        for (name, file, text) in sources {
            match parse(&name, &file, &text, &queries) {
                Ok(d) => {
                    dashboards.insert(name, d);
                }
                Err(e) => problems.push(format!("{file}: {e:#}")),
            }
        }
        if !problems.is_empty() {
            bail!("broken dashboard definitions:\n  {}", problems.join("\n  "));
        }
        Ok(Catalog {
            dashboards,
            queries,
        })
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.queries.get(name).map(String::as_str)
    }
}

/// `name → path` of the files with an extension under `dir`, recursively;
/// the name is the relative path without the extension.
fn files_with_ext(dir: &Path, ext: &str) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries =
            std::fs::read_dir(&d).with_context(|| format!("reading the folder {}", d.display()))?;
        for e in entries {
            let path = e?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == ext) {
                let rel = path
                    .strip_prefix(dir)
                    .expect("under dir")
                    .with_extension("");
                let name = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                out.push((name, path));
            }
        }
    }
    out.sort();
    Ok(out)
}

fn parse(
    name: &str,
    file: &str,
    text: &str,
    queries: &BTreeMap<String, String>,
) -> Result<Dashboard> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        bail!("the file name must be letters, digits, '-' or '_' (it becomes the URL /d/{name})");
    }
    let mut d: Dashboard = toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
    d.name = name.to_string();
    d.file = file.to_string();
    if d.panels.is_empty() {
        bail!("a dashboard needs at least one [[panels]]");
    }
    let mut ids = std::collections::BTreeSet::new();
    for p in &d.panels {
        let at = format!("panel '{}'", p.id);
        if p.id.is_empty() || !p.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            bail!("{at}: id must be letters, digits or '_'");
        }
        if !ids.insert(p.id.clone()) {
            bail!("{at}: two panels have this id");
        }
        let Some(sql) = queries.get(&p.query) else {
            bail!("{at}: no query 'queries/{}.sql'", p.query);
        };
        for ph in placeholders(sql) {
            let known = IMPLICIT_PARAMS.contains(&ph.as_str())
                || d.params.iter().any(|x| param_name(*x) == ph);
            if !known {
                bail!(
                    "{at}: query '{}' uses ${ph}, which this dashboard does not take (params = {:?})",
                    p.query,
                    d.params.iter().map(|x| param_name(*x)).collect::<Vec<_>>()
                );
            }
        }
        match p.kind {
            Kind::Line | Kind::Bar => {
                if p.x.is_none() || p.y.is_empty() {
                    bail!("{at}: a {} chart needs x and y", p.kind.name());
                }
                if p.kind == Kind::Bar && p.y.len() != 1 {
                    bail!("{at}: a bar chart takes one y column");
                }
            }
            Kind::Funnel if p.highlight_province && !d.takes(Param::Province) => {
                bail!("{at}: highlight_province needs params = [\"province\", ...]");
            }
            _ => {}
        }
    }
    Ok(d)
}

/// The columns a panel needs from its query's result.
pub fn needed_columns(p: &Panel) -> Vec<String> {
    let mut cols: Vec<String> = p
        .kind
        .required_columns()
        .iter()
        .map(|s| s.to_string())
        .collect();
    cols.extend(p.x.iter().cloned());
    cols.extend(p.y.iter().cloned());
    cols.extend(p.columns.iter().cloned());
    cols
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_dashboards_load() {
        let c = Catalog::load(None, None).unwrap();
        for name in ["league", "province", "national", "status"] {
            assert!(c.dashboards.contains_key(name), "{name}");
        }
    }

    #[test]
    fn placeholders_are_found() {
        assert_eq!(
            placeholders("SELECT $period, $1, '$x' FROM t WHERE a = $province AND b = $period"),
            ["period", "x", "province"]
        );
    }

    fn load_one(text: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("broken.toml"), text).unwrap();
        format!("{:#}", Catalog::load(Some(dir.path()), None).unwrap_err())
    }

    #[test]
    fn broken_definitions_name_the_file_and_the_reason() {
        let e = load_one("title = { vi = \"x\" }\n");
        assert!(e.contains("broken.toml") && e.contains("en"), "{e}");
        let e = load_one(
            "title = { vi = \"x\", en = \"x\" }\n[[panels]]\nid = \"a\"\ntitle = { vi = \"x\", en = \"x\" }\nquery = \"nope\"\nkind = \"table\"\n",
        );
        assert!(e.contains("no query 'queries/nope.sql'"), "{e}");
        let e = load_one(
            "title = { vi = \"x\", en = \"x\" }\nparams = [\"period\"]\n[[panels]]\nid = \"a\"\ntitle = { vi = \"x\", en = \"x\" }\nquery = \"dashboards/province_history\"\nkind = \"table\"\n",
        );
        assert!(e.contains("$province"), "{e}");
        let e = load_one(
            "title = { vi = \"x\", en = \"x\" }\n[[panels]]\nid = \"a\"\ntitle = { vi = \"x\", en = \"x\" }\nquery = \"dashboards/league\"\nkind = \"pie\"\n",
        );
        assert!(e.contains("pie"), "{e}");
    }

    #[test]
    fn a_new_file_adds_a_dashboard() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("mine.toml"),
            "title = { vi = \"Của tôi\", en = \"Mine\" }\nparams = [\"period\"]\n[[panels]]\nid = \"t\"\ntitle = { vi = \"Bảng\", en = \"Table\" }\nquery = \"dashboards/league\"\nkind = \"table\"\n",
        )
        .unwrap();
        let c = Catalog::load(Some(dir.path()), None).unwrap();
        assert_eq!(c.dashboards["mine"].title.en, "Mine");
        assert!(c.dashboards.contains_key("league"));
    }
}
