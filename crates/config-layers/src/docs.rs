//! Every setting documented once: a config struct's doc comments, read through its JSON Schema
//! (`schemars`), become the settings reference (Markdown), the commented example file a package
//! ships, and `config show` (each effective value with the layer it came from).
//!
//! A loader builds a [`Reference`] from `schema_for!(ItsConfig)`, its defaults and its
//! environment variables; the doc comment of each field is the one text a person reads, in
//! all three places. Keys are listed in sorted order, table by table, so the output does not
//! depend on how cargo unified `serde_json`'s features in a given build.
//!
//! A field marked `#[schemars(extend("x-secret" = true))]` is a secret: `config show` says
//! whether it is set, never its value, and the example file never carries one.

use std::fmt::Write as _;

use figment::{Figment, Profile};
use serde_json::Value;

/// One key of a config file.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    /// Dotted key: `smtp.password`.
    pub key: String,
    /// The field's doc comment (paragraphs separated by a blank line).
    pub doc: String,
    /// What a value is: `integer`, `string`, `boolean`, `list of integer`, `one of: a, b`, ...
    pub kind: String,
    /// The value when nothing sets it; `None`: unset by default.
    pub default: Option<Value>,
    /// The environment variable that sets it, if any.
    pub env: Option<&'static str>,
    pub secret: bool,
}

/// A TOML table (`[smtp]`), or the top level (key `""`).
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub key: String,
    pub doc: String,
    /// Absent unless configured (an `Option` table such as `[smtp]`): the example file shows
    /// it commented out.
    pub optional: bool,
    pub settings: Vec<Setting>,
}

/// The settings of one config file.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    pub tables: Vec<Table>,
}

impl Reference {
    /// The settings of `schema` (a config struct's JSON Schema), with `defaults` (the values the
    /// loader starts from, serialised; else the schema's own `default`s) and
    /// `env` (variable name, dotted key).
    pub fn new(schema: &schemars::Schema, defaults: &Value, env: &[(&'static str, &str)]) -> Self {
        let root = schema.as_value();
        let mut tables = Vec::new();
        walk(root, root, "", "", false, defaults, env, &mut tables);
        tables.sort_by(|a, b| a.key.cmp(&b.key));
        Reference { tables }
    }

    /// Every setting, table by table.
    pub fn settings(&self) -> impl Iterator<Item = &Setting> {
        self.tables.iter().flat_map(|t| t.settings.iter())
    }

    /// Keys whose field has no doc comment (a test keeps this empty).
    pub fn undocumented(&self) -> Vec<&str> {
        self.settings()
            .filter(|s| s.doc.trim().is_empty())
            .map(|s| s.key.as_str())
            .collect()
    }

    /// The settings reference: one Markdown table per TOML table.
    pub fn markdown(&self, title: &str, intro: &str) -> String {
        let mut out = format!("# {title}\n\n{}\n", intro.trim_end());
        for t in &self.tables {
            if t.key.is_empty() {
                out.push_str("\n## Top level\n\n");
            } else {
                let _ = write!(out, "\n## `[{}]`\n\n", t.key);
                if !t.doc.is_empty() {
                    let _ = writeln!(out, "{}\n", one_paragraph(&t.doc));
                }
                if t.optional {
                    out.push_str("Absent unless the file has this table.\n\n");
                }
            }
            out.push_str("| Key | Type | Default | Environment | Meaning |\n");
            out.push_str("|---|---|---|---|---|\n");
            for s in &t.settings {
                let default = match &s.default {
                    Some(v) if !v.is_null() => format!("`{}`", toml_literal(v)),
                    _ => "unset".into(),
                };
                let env = s.env.map_or(String::new(), |e| format!("`{e}`"));
                let secret = if s.secret { " **Secret.**" } else { "" };
                let _ = writeln!(
                    out,
                    "| `{}` | {} | {} | {} | {}{} |",
                    s.key,
                    s.kind,
                    default.replace('|', "\\|"),
                    env,
                    one_paragraph(&s.doc).replace('|', "\\|"),
                    secret
                );
            }
        }
        out
    }

    /// A commented example file: every setting with its doc comment, commented out at its
    /// default, except the keys of `set` (dotted key, TOML literal), written as given.
    pub fn example_toml(&self, header: &str, set: &[(&str, &str)]) -> String {
        let mut out = String::new();
        for line in header.trim_end().lines() {
            let _ = writeln!(out, "# {line}");
        }
        let out = &mut out;
        for t in &self.tables {
            let table_set = set.iter().any(|(k, _)| in_table(k, &t.key));
            // An optional table nobody set is shown commented out (its keys always are).
            let hash = if t.optional && !table_set { "# " } else { "" };
            out.push('\n');
            if !t.key.is_empty() {
                comment(out, &t.doc, "");
                let _ = writeln!(out, "{hash}[{}]", t.key);
            }
            for s in &t.settings {
                out.push('\n');
                let mut doc = s.doc.clone();
                if let Some(e) = s.env {
                    doc.push_str(&format!(" [env: {e}]"));
                }
                comment(out, &doc, "");
                let name = &s.key[t.key.len() + usize::from(!t.key.is_empty())..];
                match set.iter().find(|(k, _)| *k == s.key) {
                    Some((_, v)) => {
                        let _ = writeln!(out, "{name} = {v}");
                    }
                    None => {
                        let value = match &s.default {
                            _ if s.secret => "\"…\"".to_string(),
                            Some(v) if !v.is_null() => toml_literal(v),
                            _ => "…".to_string(),
                        };
                        let _ = writeln!(out, "# {name} = {value}");
                    }
                }
            }
        }
        std::mem::take(out)
    }

    /// The effective configuration, one `key = value   # source` line per setting: `effective`
    /// is the loaded config serialised; `figment` the layers it was extracted from (a key no
    /// layer gives is a default). Secrets show only whether they are set.
    pub fn show(&self, effective: &Value, figment: &Figment) -> String {
        let rows: Vec<(String, String)> = self
            .settings()
            .map(|s| {
                let v = lookup(effective, &s.key);
                let value = match v {
                    None | Some(Value::Null) => "(unset)".to_string(),
                    Some(Value::String(t)) if s.secret && t.is_empty() => "(unset)".to_string(),
                    Some(_) if s.secret => "(set, hidden)".to_string(),
                    Some(v) => toml_literal(v),
                };
                (format!("{} = {value}", s.key), source(figment, &s.key))
            })
            .collect();
        let width = rows
            .iter()
            .map(|(l, _)| l.chars().count())
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        for (line, src) in rows {
            let pad = width - line.chars().count();
            let _ = writeln!(out, "{line}{:pad$}  # {src}", "");
        }
        out
    }
}

/// Checks that each generated file under `root` (path, text) holds what its generator makes
/// now; with the environment variable `regenerate` set, writes them first. Returns the paths
/// that differ (for a test's assertion).
pub fn stale_generated_files(
    root: &std::path::Path,
    files: &[(&str, String)],
    regenerate: &str,
) -> Vec<String> {
    files
        .iter()
        .filter(|(path, text)| {
            let file = root.join(path);
            if std::env::var_os(regenerate).is_some() {
                let written = file
                    .parent()
                    .map_or(Ok(()), std::fs::create_dir_all)
                    .and_then(|()| std::fs::write(&file, text));
                if written.is_err() {
                    return true;
                }
            }
            std::fs::read_to_string(&file).ok().as_deref() != Some(text.as_str())
        })
        .map(|(path, _)| path.to_string())
        .collect()
}

/// Where `key`'s value came from: the layer's name with its file or variable, or `default`.
pub fn source(figment: &Figment, key: &str) -> String {
    let Some(md) = figment.find_metadata(key) else {
        return "default".into();
    };
    let keys: Vec<&str> = key.split('.').collect();
    let name = md.name.to_string();
    if name == "defaults" {
        return "default".into();
    }
    match &md.source {
        Some(figment::Source::File(path)) => format!("{name} {}", path.display()),
        _ if name == "environment variable" => {
            format!("{name} {}", md.interpolate(&Profile::Default, &keys))
        }
        _ => name,
    }
}

fn in_table(key: &str, table: &str) -> bool {
    !table.is_empty() && key.strip_prefix(table).is_some_and(|r| r.starts_with('.'))
}

fn lookup<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    key.split('.').try_fold(v, |v, k| v.get(k))
}

/// Doc text as `# ` lines wrapped at 96 columns, after `prefix` (`# ` for a commented table).
fn comment(out: &mut String, doc: &str, prefix: &str) {
    for (i, para) in doc.split("\n\n").enumerate() {
        if i > 0 {
            let _ = writeln!(out, "{prefix}#");
        }
        let mut line = String::new();
        for word in para.split_whitespace() {
            if !line.is_empty() && line.len() + word.len() + 1 > 94 {
                let _ = writeln!(out, "{prefix}# {line}");
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        if !line.is_empty() {
            let _ = writeln!(out, "{prefix}# {line}");
        }
    }
}

fn one_paragraph(doc: &str) -> String {
    doc.split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("<br>")
}

/// A JSON value as a TOML literal (strings, numbers, booleans, lists and tables of them).
pub fn toml_literal(v: &Value) -> String {
    match v {
        // JSON's string escapes are TOML's basic-string escapes.
        Value::String(_) | Value::Bool(_) => v.to_string(),
        Value::Number(n) if n.is_f64() => float_literal(n.as_f64().unwrap_or_default()),
        Value::Number(_) => v.to_string(),
        Value::Null => "…".into(),
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(toml_literal)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{} = {}", Value::from(k.as_str()), toml_literal(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A float as people write it: an `f32` setting's 0.6 is stored as 0.6000000238418579 in JSON,
/// so the shortest text that reads back as the same `f32` is used when there is one; a whole
/// number keeps its `.0` (TOML reads `72` as an integer).
fn float_literal(f: f64) -> String {
    let short = f as f32;
    let text = if f64::from(short) == f {
        short.to_string()
    } else {
        f.to_string()
    };
    if text.contains(['.', 'e', 'E', 'n', 'i']) {
        text
    } else {
        format!("{text}.0")
    }
}

fn resolve<'a>(root: &'a Value, s: &'a Value) -> &'a Value {
    match s
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/$defs/"))
    {
        Some(name) => root
            .get("$defs")
            .and_then(|d| d.get(name))
            .map_or(s, |d| resolve(root, d)),
        None => s,
    }
}

/// `Option<T>`'s schema (`anyOf: [T, null]`) as T's, with whether it was optional.
fn without_null<'a>(root: &'a Value, s: &'a Value) -> (&'a Value, bool) {
    for key in ["anyOf", "oneOf"] {
        if let Some(arr) = s.get(key).and_then(Value::as_array) {
            let non_null: Vec<&Value> = arr
                .iter()
                .filter(|x| x.get("type").and_then(Value::as_str) != Some("null"))
                .collect();
            if non_null.len() == 1 && non_null.len() < arr.len() {
                return (resolve(root, non_null[0]), true);
            }
        }
    }
    (resolve(root, s), false)
}

fn doc_of(s: &Value) -> String {
    let title = s.get("title").and_then(Value::as_str).unwrap_or("");
    let desc = s.get("description").and_then(Value::as_str).unwrap_or("");
    match (title.is_empty(), desc.is_empty()) {
        (false, false) => format!("{title}\n\n{desc}"),
        (false, true) => title.to_string(),
        _ => desc.to_string(),
    }
}

fn kind(root: &Value, s: &Value) -> String {
    let (s, _) = without_null(root, s);
    if let Some(values) = s.get("enum").and_then(Value::as_array) {
        let names: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        return format!("one of {}", names.join(", "));
    }
    if let Some(arr) = s.get("oneOf").and_then(Value::as_array)
        && arr.iter().all(|v| v.get("const").is_some())
    {
        let names: Vec<String> = arr.iter().map(|v| v["const"].to_string()).collect();
        return format!("one of {}", names.join(", "));
    }
    let ty = match s.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("value")
            .to_string(),
        _ => "value".into(),
    };
    match ty.as_str() {
        "array" => match s.get("items") {
            Some(items) => format!("list of {}", kind(root, items)),
            None => "list".into(),
        },
        "object" => match s.get("additionalProperties") {
            Some(v) if v.is_object() => format!("table of {}", kind(root, v)),
            _ => "table".into(),
        },
        "number" => "number".into(),
        _ => ty,
    }
}

#[allow(clippy::too_many_arguments)]
fn walk(
    root: &Value,
    schema: &Value,
    prefix: &str,
    doc: &str,
    optional: bool,
    defaults: &Value,
    env: &[(&'static str, &str)],
    tables: &mut Vec<Table>,
) {
    let mut table = Table {
        key: prefix.to_string(),
        doc: doc.to_string(),
        optional,
        settings: Vec::new(),
    };
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    let mut names: Vec<&String> = props.keys().collect();
    names.sort();
    for name in names {
        let prop = &props[name];
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        let (inner, is_option) = without_null(root, prop);
        let mut doc = doc_of(prop);
        if doc.is_empty() {
            doc = doc_of(inner);
        }
        if inner.get("properties").is_some() {
            let nested_defaults = defaults.get(name.as_str()).unwrap_or(&Value::Null);
            walk(
                root,
                inner,
                &key,
                &doc,
                is_option || optional,
                nested_defaults,
                env,
                tables,
            );
            continue;
        }
        let default = defaults
            .get(name.as_str())
            .or_else(|| prop.get("default"))
            .filter(|v| !v.is_null())
            .cloned();
        table.settings.push(Setting {
            env: env.iter().find(|(_, k)| *k == key).map(|(e, _)| *e),
            secret: prop.get("x-secret").and_then(Value::as_bool) == Some(true),
            kind: kind(root, prop),
            key,
            doc,
            default,
        });
    }
    tables.push(table);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Layer;
    use figment::value::Value as FValue;

    /// The shape of a server-like config.
    #[derive(schemars::JsonSchema, serde::Serialize, serde::Deserialize, Default)]
    #[serde(default, deny_unknown_fields)]
    struct Cfg {
        /// Where to listen.
        addr: String,
        /// Per minute.
        ///
        /// A second paragraph.
        sends: u32,
        mail: Option<Mail>,
        /// Hosts allowed.
        allow: Vec<String>,
    }

    /// `[mail]`: email codes.
    #[derive(schemars::JsonSchema, serde::Serialize, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Mail {
        /// The relay.
        host: String,
        /// Its password.
        #[schemars(extend("x-secret" = true))]
        password: Option<String>,
        /// Port.
        #[serde(default = "port")]
        port: u16,
    }

    fn port() -> u16 {
        587
    }

    fn reference() -> Reference {
        let defaults = serde_json::to_value(Cfg {
            addr: "127.0.0.1:1".into(),
            sends: 5,
            ..Default::default()
        })
        .unwrap();
        Reference::new(
            &schemars::schema_for!(Cfg),
            &defaults,
            &[("T_ADDR", "addr"), ("T_PW", "mail.password")],
        )
    }

    #[test]
    fn every_field_with_its_doc_default_and_variable() {
        let r = reference();
        let keys: Vec<&str> = r.settings().map(|s| s.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "addr",
                "allow",
                "sends",
                "mail.host",
                "mail.password",
                "mail.port"
            ]
        );
        let get = |k: &str| r.settings().find(|s| s.key == k).unwrap().clone();
        assert_eq!(get("addr").doc, "Where to listen.");
        assert_eq!(get("addr").env, Some("T_ADDR"));
        assert_eq!(get("sends").default, Some(Value::from(5)));
        assert!(
            get("sends").doc.contains("second paragraph"),
            "{:?}",
            get("sends")
        );
        assert_eq!(get("allow").kind, "list of string");
        assert_eq!(get("mail.port").default, Some(Value::from(587)));
        assert!(get("mail.password").secret && !get("mail.host").secret);
        assert!(r.tables.iter().any(|t| t.key == "mail" && t.optional));
        assert!(r.undocumented().is_empty(), "{:?}", r.undocumented());
    }

    #[test]
    fn the_example_comments_every_key_and_sets_only_what_it_is_told() {
        let r = reference();
        let toml = r.example_toml("An example.", &[("addr", "\"0.0.0.0:9\"")]);
        assert!(toml.starts_with("# An example.\n"));
        assert!(toml.contains("# Where to listen. [env: T_ADDR]\naddr = \"0.0.0.0:9\"\n"));
        assert!(toml.contains("# sends = 5\n"));
        assert!(toml.contains("# [mail]\n"), "{toml}");
        assert!(toml.contains("\n# password = \"…\"\n"), "{toml}");
        // What it sets parses, and is what was set.
        let parsed: Cfg = Figment::from(figment::providers::Serialized::defaults(Cfg::default()))
            .merge(<figment::providers::Toml as figment::providers::Format>::string(&toml))
            .extract()
            .unwrap();
        assert_eq!(parsed.addr, "0.0.0.0:9");
        let md = r.markdown("Settings", "Intro.");
        assert!(
            md.contains(
                "| `mail.password` | string | unset | `T_PW` | Its password. **Secret.** |"
            ),
            "{md}"
        );
        assert!(md.contains("Per minute.<br>A second paragraph."), "{md}");
    }

    #[test]
    fn floats_read_as_people_write_them() {
        let f = |x: f64| toml_literal(&serde_json::json!(x));
        assert_eq!(f(f64::from(0.6f32)), "0.6");
        assert_eq!(f(72.0), "72.0");
        assert_eq!(f(0.1), "0.1");
        assert_eq!(f(1e-4), "0.0001");
    }

    #[test]
    fn show_names_each_value_s_source_and_hides_secrets() {
        let r = reference();
        let mut file = Layer::named("config file");
        file.set("sends", FValue::from(9));
        file.set("mail.host", FValue::from("relay".to_string()));
        let env = crate::Environment::from_pairs([("T_PW", "hunter2")]);
        let fig = Figment::new().merge(file).merge(Layer::env(
            &env,
            &[("T_ADDR", "addr"), ("T_PW", "mail.password")],
        ));
        let effective = serde_json::json!({
            "addr": "127.0.0.1:1", "sends": 9, "allow": [],
            "mail": {"host": "relay", "password": "hunter2", "port": 587}
        });
        let out = r.show(&effective, &fig);
        assert!(!out.contains("hunter2"), "{out}");
        let line = |k: &str| {
            out.lines()
                .find(|l| l.starts_with(&format!("{k} =")))
                .unwrap()
                .to_string()
        };
        assert!(line("mail.password").contains("(set, hidden)"), "{out}");
        assert!(
            line("mail.password").ends_with("# environment variable T_PW"),
            "{out}"
        );
        assert!(line("sends").ends_with("# config file"), "{out}");
        assert!(line("addr").ends_with("# default"), "{out}");
        assert!(line("mail.port").contains("587"), "{out}");
    }
}
