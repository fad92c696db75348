//! Where remotes are configured, as git's are: in the store itself (`runlog remote add`, append-only records, so a
//! copied or bundled store knows where it syncs), user-wide (`remotes.json` in the directory `directories` gives
//! for runlog, or `$RUNLOG_CONFIG_DIR`: `runlog remote add --global`, and the files of earlier runlogs), and in the
//! environment (`RUNLOG_REMOTE` + `RUNLOG_TOKEN`), which overrides both.
//!
//! Secrets never go into a store: tokens live in `credentials.json` beside `remotes.json`, keyed by URL, written
//! with mode 0600. This module knows nothing about HTTP or the agent.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Environment variable naming the remote to sync to: a URL, or the name of a configured remote.
pub const ENV_REMOTE: &str = "RUNLOG_REMOTE";
/// Environment variable holding the token for a `RUNLOG_REMOTE` URL.
pub const ENV_TOKEN: &str = "RUNLOG_TOKEN";
/// Environment variable overriding the configuration directory.
pub const ENV_CONFIG_DIR: &str = "RUNLOG_CONFIG_DIR";
/// Environment variable setting the in-process agent's grace period at the end of a run, in milliseconds.
pub const ENV_GRACE_MS: &str = "RUNLOG_SYNC_GRACE_MS";
/// Environment variable turning the in-process agent off (`0`).
pub const ENV_SYNC: &str = "RUNLOG_SYNC";

/// Where a remote that applies to a store comes from (`runlog remote list` shows it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Recorded in the store itself (`runlog remote add`): it travels with the file, without its token.
    Store,
    /// The user-wide default (`runlog remote add --global`, and remotes files of earlier runlogs).
    #[default]
    Global,
    /// `RUNLOG_REMOTE` (and `RUNLOG_TOKEN`), which overrides both.
    Environment,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Source::Store => "store",
            Source::Global => "global",
            Source::Environment => "environment",
        })
    }
}

/// A configured remote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteConfig {
    /// The name sync bookkeeping is kept under.
    pub name: String,
    /// `http://host:port` or `https://...` (runlog workspace server), `mlflow+http://...` or `mlflow+https://...`
    /// (MLflow tracking server).
    pub url: String,
    /// The bearer token. For MLflow: empty for none, or `basic:USER:PASSWORD` for basic auth. In the global file
    /// only for files written by earlier runlogs; tokens now live in the credential file.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub token: String,
    /// A PEM certificate to trust (self-signed or private CA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<PathBuf>,
    /// Where it comes from (not stored).
    #[serde(skip)]
    pub source: Source,
}

/// The global config file's content: the user-wide remotes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Remotes by name.
    #[serde(default)]
    pub remotes: Vec<RemoteConfig>,
}

/// The configuration directory: `$RUNLOG_CONFIG_DIR`, else the platform's config directory for runlog.
pub fn config_dir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os(ENV_CONFIG_DIR).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    directories::ProjectDirs::from("", "", "runlog")
        .map(|p| p.config_dir().to_path_buf())
        .ok_or_else(|| Error::Config(format!("no home directory to keep the configuration in; set {ENV_CONFIG_DIR}")))
}

/// The global remotes file's path.
pub fn config_file() -> Result<PathBuf> {
    Ok(config_dir()?.join("remotes.json"))
}

/// The credential file's path: tokens by remote URL, readable by the owner only.
pub fn credentials_file() -> Result<PathBuf> {
    Ok(config_dir()?.join("credentials.json"))
}

fn read_json<T: Default + serde::de::DeserializeOwned>(path: &std::path::Path, what: &str) -> Result<T> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| Error::Config(format!("{} is not a valid runlog {what} file: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(Error::Config(format!("cannot read {}: {e}", path.display()))),
    }
}

/// Writes a file atomically, readable by the owner only.
fn write_json<T: Serialize>(path: &std::path::Path, value: &T) -> Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(|e| Error::Config(format!("cannot create {}: {e}", d.display())))?;
    }
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| Error::Config(e.to_string()))?;
    write_private(&tmp, &bytes).map_err(|e| Error::Config(format!("cannot write {}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::Config(format!("cannot write {}: {e}", path.display())))
}

/// Tokens by remote URL (`credentials.json`, mode 0600): the secrets a store never holds, so copying a store never
/// leaks one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// Token by URL (without a trailing slash).
    #[serde(default)]
    pub tokens: std::collections::BTreeMap<String, String>,
}

impl Credentials {
    /// Reads the credential file (an absent file holds no token).
    pub fn load() -> Result<Credentials> {
        read_json(&credentials_file()?, "credentials")
    }

    /// Writes the credential file, readable by the owner only.
    pub fn save(&self) -> Result<()> {
        write_json(&credentials_file()?, self)
    }

    /// The token of a URL, if one is kept.
    pub fn get(&self, url: &str) -> Option<&str> {
        self.tokens.get(url.trim_end_matches('/')).map(String::as_str)
    }

    /// Keeps `token` for `url` (an empty token forgets it).
    pub fn set(&mut self, url: &str, token: &str) {
        let url = url.trim_end_matches('/').to_string();
        if token.is_empty() {
            self.tokens.remove(&url);
        } else {
            self.tokens.insert(url, token.to_string());
        }
    }
}

impl Config {
    /// Reads the global remotes file (an absent file is an empty configuration).
    pub fn load() -> Result<Config> {
        read_json(&config_file()?, "remotes")
    }

    /// Writes the global remotes file atomically, readable by the owner only.
    pub fn save(&self) -> Result<()> {
        write_json(&config_file()?, self)
    }

    /// Adds a remote; names are unique.
    pub fn add(&mut self, r: RemoteConfig) -> Result<()> {
        check_name(&r.name)?;
        if self.remotes.iter().any(|x| x.name == r.name) {
            return Err(Error::Config(format!("a remote named {:?} exists; remove it first", r.name)));
        }
        self.remotes.push(r);
        Ok(())
    }

    /// Removes a remote by name.
    pub fn remove(&mut self, name: &str) -> Result<RemoteConfig> {
        let i = self
            .remotes
            .iter()
            .position(|r| r.name == name)
            .ok_or_else(|| Error::Config(format!("no global remote named {name:?}")))?;
        Ok(self.remotes.remove(i))
    }
}

/// Every remote configured for a store, environment aside: the store's own (shadowing global ones of the same name),
/// then the global ones, each with its token from the credential file (or, for old global files, the file itself).
pub fn configured(store: Option<&runlog_core::Reader>) -> Result<Vec<RemoteConfig>> {
    let creds = Credentials::load()?;
    let mut out: Vec<RemoteConfig> = Vec::new();
    if let Some(r) = store {
        for sr in r.remotes()? {
            let token = creds.get(&sr.url).unwrap_or_default().to_string();
            out.push(RemoteConfig {
                name: sr.name,
                url: sr.url,
                token,
                ca_cert: sr.ca_cert.map(PathBuf::from),
                source: Source::Store,
            });
        }
    }
    for mut g in Config::load()?.remotes {
        if out.iter().any(|x| x.name == g.name) {
            continue;
        }
        if let Some(t) = creds.get(&g.url) {
            g.token = t.to_string();
        }
        g.source = Source::Global;
        out.push(g);
    }
    Ok(out)
}

/// The remotes a store syncs to: `RUNLOG_REMOTE` if set (a URL with `RUNLOG_TOKEN`, or the name of a configured
/// remote), else [`configured`]. `store` is the store's read API (`None`: global remotes only).
pub fn remotes_for(store: Option<&runlog_core::Reader>) -> Result<Vec<RemoteConfig>> {
    let all = configured(store)?;
    match std::env::var(ENV_REMOTE).ok().filter(|s| !s.is_empty()) {
        None => Ok(all),
        Some(r) if r.contains("://") => {
            let url = r.trim_end_matches('/').to_string();
            let known = all.into_iter().find(|x| x.url.trim_end_matches('/') == url);
            let token = match std::env::var(ENV_TOKEN).ok().filter(|t| !t.is_empty()) {
                Some(t) => t,
                None => match &known {
                    Some(k) if !k.token.is_empty() => k.token.clone(),
                    // An MLflow server may need no credentials; a runlog workspace always does.
                    _ if url.starts_with("mlflow+") => String::new(),
                    _ => {
                        return Err(Error::Config(format!(
                            "{ENV_REMOTE} is a URL, so {ENV_TOKEN} must hold its token"
                        )));
                    }
                },
            };
            // The same server configured under a name keeps its bookkeeping under that name.
            let (name, ca_cert) = known.map_or((url.clone(), None), |k| (k.name, k.ca_cert));
            Ok(vec![RemoteConfig { name, url, token, ca_cert, source: Source::Environment }])
        }
        Some(name) => all
            .into_iter()
            .find(|x| x.name == name)
            .map(|mut x| {
                x.source = Source::Environment;
                vec![x]
            })
            .ok_or_else(|| Error::Config(format!("{ENV_REMOTE}={name:?} names no configured remote"))),
    }
}

/// Remote names: 1 to 64 characters of letters, digits, `-`, `_`, `.` (the store's rule, one definition).
pub fn check_name(name: &str) -> Result<()> {
    runlog_core::check_remote_name(name).map_err(|e| Error::Config(e.to_string()))
}

#[cfg(unix)]
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}
