//! What the configuration loaders of the three binaries share: the app and the `kiosk` CLI
//! (`kiosk_core::config`) and the server (`access_server::config`). Each loader stacks
//! [`Layer`]s in a [`figment::Figment`], lowest first, and extracts its config type from it;
//! this crate owns the pieces they have in common, so the rules are the same everywhere:
//!
//! - **The environment is data** ([`Environment`]): read once from the process (only the
//!   names a loader lists) or given as a map by a test, so no test ever sets a process
//!   variable while other threads read the environment. A variable set to the empty string
//!   counts as unset.
//! - **Values from the environment stay text** until the config type asks for a number or a
//!   boolean (the loaders extract with [`figment::Figment::extract_lossy`]): `KIOSK_PROJECT=123`
//!   stays the project id "123", `KIOSK_IDLE_RESET_S=90` becomes a number, and booleans are
//!   `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off` (any case; [`parse_bool`] is the same rule).
//! - **Every layer names where its values came from**, so an error says which file or which
//!   variable is wrong (`... for key "KIOSK_IDLE_RESET_S" in environment variable`).

pub mod docs;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use figment;
use figment::providers::Format as _;
use figment::value::{Dict, Map, Value};
use figment::{Metadata, Profile, Provider};

/// The environment variables a loader reads, as data: names to values, empty values left
/// out (unset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment(BTreeMap<String, String>);

impl Environment {
    /// The process environment's values of exactly `names` (not Unicode: replaced lossily).
    pub fn process(names: &[&str]) -> Self {
        Self::from_pairs(names.iter().filter_map(|name| {
            std::env::var_os(name).map(|v| (name.to_string(), v.to_string_lossy().into_owned()))
        }))
    }

    /// An environment given as pairs (tests); empty values are left out, as from the process.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .filter(|(_, v)| !v.is_empty())
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// figment's error, boxed (it is over 200 bytes).
pub type Error = Box<figment::Error>;

/// How a layer's errors spell a key.
#[derive(Clone, Copy)]
enum KeyNames {
    /// `smtp.password`.
    Dotted,
    /// The environment variable the key came from (`ACCESS_SMTP_PASSWORD`).
    Env(&'static [(&'static str, &'static str)]),
}

/// One layer of configuration: values keyed like the config type's fields (dotted for nested
/// ones), with the name of where they came from. A figment [`Provider`].
#[derive(Clone)]
pub struct Layer {
    name: Cow<'static, str>,
    file: Option<PathBuf>,
    keys: KeyNames,
    dict: Dict,
}

impl Layer {
    /// An empty layer named `name` ("defaults", "command-line flags", ...).
    pub fn named(name: impl Into<Cow<'static, str>>) -> Self {
        Self {
            name: name.into(),
            file: None,
            keys: KeyNames::Dotted,
            dict: Dict::new(),
        }
    }

    /// `value` (a struct of the config's fields) as a layer; fields that are `None` are left
    /// out, so they keep the value of the layers below.
    pub fn serialized(
        name: impl Into<Cow<'static, str>>,
        value: &impl serde::Serialize,
    ) -> Result<Self, Error> {
        let mut layer = Self::named(name);
        match Value::serialize(value)? {
            Value::Dict(_, dict) => layer.dict = without_empty(dict),
            other => {
                let e = format!("a layer must be a table of keys, not {}", other.to_actual());
                return Err(Box::new(e.into()));
            }
        }
        Ok(layer)
    }

    /// The variables of `vars` (name, dotted key) that `env` sets, as text; errors name the
    /// variable.
    pub fn env(env: &Environment, vars: &'static [(&'static str, &'static str)]) -> Self {
        let mut layer = Self::env_named(vars);
        for (name, key) in vars {
            if let Some(v) = env.get(name) {
                layer.set(key, Value::from(v.to_string()));
            }
        }
        layer
    }

    /// An empty layer whose errors name the variables of `vars` (name, dotted key): for
    /// values a loader converts itself before [`Layer::set`].
    pub fn env_named(vars: &'static [(&'static str, &'static str)]) -> Self {
        Self {
            keys: KeyNames::Env(vars),
            ..Self::named("environment variable")
        }
    }

    /// A TOML file, which must exist; its errors name it.
    pub fn toml_file(path: &Path) -> Result<Self, FileError> {
        let text = std::fs::read_to_string(path).map_err(|source| FileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let dict =
            figment::providers::Toml::from_str::<Dict>(&text).map_err(|e| FileError::Parse {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        Ok(Self {
            file: Some(path.to_path_buf()),
            dict,
            ..Self::named("config file")
        })
    }

    /// The file this layer was read from, if any.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// Sets the dotted `key` (`smtp.password`) to `value`.
    pub fn set(&mut self, key: &str, value: Value) {
        let mut parts: Vec<&str> = key.split('.').collect();
        let last = parts.pop().expect("split yields one part at least");
        let mut dict = &mut self.dict;
        for part in parts {
            let entry = dict
                .entry(part.to_string())
                .or_insert_with(|| Value::from(Dict::new()));
            if !matches!(entry, Value::Dict(..)) {
                *entry = Value::from(Dict::new());
            }
            let Value::Dict(_, inner) = entry else {
                unreachable!("made a table just above")
            };
            dict = inner;
        }
        dict.insert(last.to_string(), value);
    }

    /// Whether this layer gives a value for the top-level `key`.
    pub fn contains(&self, key: &str) -> bool {
        self.dict.contains_key(key)
    }
}

/// Drops `None` fields (figment serialises them as empty values, which would override the
/// layers below with nothing).
fn without_empty(dict: Dict) -> Dict {
    dict.into_iter()
        .filter_map(|(k, v)| match v {
            Value::Empty(..) => None,
            Value::Dict(tag, d) => Some((k, Value::Dict(tag, without_empty(d)))),
            v => Some((k, v)),
        })
        .collect()
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        let md = Metadata::named(self.name.clone());
        let md = match &self.file {
            Some(path) => md.source(path.as_path()),
            None => md,
        };
        match self.keys {
            KeyNames::Dotted => md.interpolater(|_: &Profile, keys: &[&str]| keys.join(".")),
            KeyNames::Env(vars) => md.interpolater(move |_: &Profile, keys: &[&str]| {
                let key = keys.join(".");
                vars.iter()
                    .find(|(_, k)| *k == key)
                    .map_or(key, |(name, _)| name.to_string())
            }),
        }
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

/// The one boolean rule: `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`, any case (figment's
/// lossy booleans, which `extract_lossy` applies to every boolean field). For a value a loader
/// turns into something else (`ACCESS_NO_VISION` into `vision.enabled`).
pub fn parse_bool(name: &str, value: &str) -> Result<bool, Error> {
    Value::from(value.to_string())
        .to_bool_lossy()
        .ok_or_else(|| {
            let e =
                format!("{name}={value:?} is not a boolean (1, true, yes, on; 0, false, no, off)");
            Box::new(e.into())
        })
}

/// A config file that cannot be read or is not TOML.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("reading config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {} is not valid: {message}", path.display())]
    Parse { path: PathBuf, message: String },
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::Figment;

    #[derive(serde::Deserialize, serde::Serialize, Default, Debug, PartialEq)]
    struct Cfg {
        name: Option<String>,
        seconds: Option<u64>,
        on: Option<bool>,
        nested: Option<Nested>,
    }

    #[derive(serde::Deserialize, serde::Serialize, Default, Debug, PartialEq)]
    struct Nested {
        secret: Option<String>,
    }

    const VARS: &[(&str, &str)] = &[
        ("T_NAME", "name"),
        ("T_SECONDS", "seconds"),
        ("T_ON", "on"),
        ("T_SECRET", "nested.secret"),
    ];

    #[test]
    fn env_values_stay_text_until_a_number_or_boolean_is_asked_for() {
        let env = Environment::from_pairs([
            ("T_NAME", "123"),
            ("T_SECONDS", "90"),
            ("T_ON", "Off"),
            ("T_SECRET", "s"),
            ("T_UNLISTED", "x"),
        ]);
        let c: Cfg = Figment::from(Layer::env(&env, VARS))
            .extract_lossy()
            .unwrap();
        assert_eq!(c.name.as_deref(), Some("123"));
        assert_eq!(c.seconds, Some(90));
        assert_eq!(c.on, Some(false));
        assert_eq!(c.nested.unwrap().secret.as_deref(), Some("s"));
    }

    #[test]
    fn an_empty_variable_is_unset_and_none_fields_keep_the_layer_below() {
        let below = Layer::serialized(
            "defaults",
            &Cfg {
                name: Some("default".into()),
                seconds: Some(60),
                ..Default::default()
            },
        )
        .unwrap();
        let env = Environment::from_pairs([("T_NAME", "")]);
        let flags = Layer::serialized(
            "flags",
            &Cfg {
                seconds: Some(5),
                ..Default::default()
            },
        )
        .unwrap();
        let c: Cfg = Figment::from(below)
            .merge(Layer::env(&env, VARS))
            .merge(flags)
            .extract_lossy()
            .unwrap();
        assert_eq!(c.name.as_deref(), Some("default"));
        assert_eq!(c.seconds, Some(5));
    }

    #[test]
    fn errors_name_the_variable_or_the_file() {
        let env = Environment::from_pairs([("T_SECONDS", "soon")]);
        let e = Figment::from(Layer::env(&env, VARS))
            .extract_lossy::<Cfg>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("T_SECONDS") && e.contains("soon"), "{e}");

        let dir = std::env::temp_dir().join(format!("config-layers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("x.toml");
        std::fs::write(&f, "seconds = \"later\"\n").unwrap();
        let e = Figment::from(Layer::toml_file(&f).unwrap())
            .extract_lossy::<Cfg>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.toml") && e.contains("seconds"), "{e}");
        std::fs::write(&f, "seconds = [").unwrap();
        let e = Layer::toml_file(&f).err().unwrap().to_string();
        assert!(e.contains("x.toml") && e.contains("not valid"), "{e}");
        let e = Layer::toml_file(&dir.join("absent.toml")).err().unwrap();
        assert!(matches!(e, FileError::Read { .. }), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn booleans_have_one_spelling_rule() {
        for (v, b) in [
            ("1", true),
            ("TRUE", true),
            ("yes", true),
            ("on", true),
            ("0", false),
            ("false", false),
            ("No", false),
            ("off", false),
        ] {
            assert_eq!(parse_bool("X", v).unwrap(), b, "{v}");
        }
        let e = parse_bool("X", "maybe").unwrap_err().to_string();
        assert!(e.contains("X=\"maybe\""), "{e}");
    }

    #[test]
    fn the_process_environment_is_read_by_exact_names() {
        let read = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let e = Environment::process(&["PATH", "path", "CONFIG_LAYERS_NEVER_SET"]);
        assert_eq!(e.get("PATH"), read("PATH").as_deref());
        assert_eq!(e.get("path"), read("path").as_deref());
        assert_eq!(e.get("CONFIG_LAYERS_NEVER_SET"), None);
    }

    #[test]
    fn dotted_keys_nest() {
        let mut l = Layer::named("t");
        l.set("nested.secret", Value::from("s".to_string()));
        assert!(l.contains("nested"));
        let c: Cfg = Figment::from(l).extract().unwrap();
        assert_eq!(c.nested.unwrap().secret.as_deref(), Some("s"));
    }
}
