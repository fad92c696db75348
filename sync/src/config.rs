//! Where remotes are configured: the user config file (`remotes.json` in the directory `directories` gives for
//! runlog, or `$RUNLOG_CONFIG_DIR`), and the environment (`RUNLOG_REMOTE` + `RUNLOG_TOKEN`).
//!
//! The file holds tokens, so it is written with mode 0600. This module knows nothing about HTTP or the agent.

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

/// A configured remote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteConfig {
    /// The name sync bookkeeping is kept under.
    pub name: String,
    /// `http://host:port` or `https://...` (runlog workspace server), `mlflow+http://...` or `mlflow+https://...`
    /// (MLflow tracking server).
    pub url: String,
    /// The bearer token. For MLflow: empty for none, or `basic:USER:PASSWORD` for basic auth.
    pub token: String,
    /// A PEM certificate to trust (self-signed or private CA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<PathBuf>,
}

/// The config file's content.
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

/// The config file's path.
pub fn config_file() -> Result<PathBuf> {
    Ok(config_dir()?.join("remotes.json"))
}

impl Config {
    /// Reads the config file (an absent file is an empty configuration).
    pub fn load() -> Result<Config> {
        let path = config_file()?;
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::Config(format!("{} is not a valid runlog remotes file: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(Error::Config(format!("cannot read {}: {e}", path.display()))),
        }
    }

    /// Writes the config file atomically, readable by the owner only.
    pub fn save(&self) -> Result<()> {
        let path = config_file()?;
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d).map_err(|e| Error::Config(format!("cannot create {}: {e}", d.display())))?;
        }
        let tmp = path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| Error::Config(e.to_string()))?;
        write_private(&tmp, &bytes).map_err(|e| Error::Config(format!("cannot write {}: {e}", tmp.display())))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::Config(format!("cannot write {}: {e}", path.display())))
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
            .ok_or_else(|| Error::Config(format!("no remote named {name:?}")))?;
        Ok(self.remotes.remove(i))
    }

    /// The remotes to sync to: `RUNLOG_REMOTE` (a URL with `RUNLOG_TOKEN`, or a configured name) if set, else all
    /// configured remotes.
    pub fn active() -> Result<Vec<RemoteConfig>> {
        let cfg = Config::load()?;
        match std::env::var(ENV_REMOTE).ok().filter(|s| !s.is_empty()) {
            None => Ok(cfg.remotes),
            Some(r) if r.contains("://") => {
                let token = std::env::var(ENV_TOKEN).ok().filter(|t| !t.is_empty());
                // An MLflow server may need no credentials; a runlog workspace always does.
                let token = match token {
                    Some(t) => t,
                    None if r.starts_with("mlflow+") => String::new(),
                    None => {
                        return Err(Error::Config(format!(
                            "{ENV_REMOTE} is a URL, so {ENV_TOKEN} must hold its token"
                        )));
                    }
                };
                let url = r.trim_end_matches('/').to_string();
                // The same server configured under a name keeps its bookkeeping under that name.
                let name = cfg
                    .remotes
                    .iter()
                    .find(|x| x.url.trim_end_matches('/') == url)
                    .map_or(url.clone(), |x| x.name.clone());
                Ok(vec![RemoteConfig { name, url, token, ca_cert: None }])
            }
            Some(name) => cfg
                .remotes
                .into_iter()
                .find(|x| x.name == name)
                .map(|x| vec![x])
                .ok_or_else(|| Error::Config(format!("{ENV_REMOTE}={name:?} names no configured remote"))),
        }
    }
}

/// Remote names: 1 to 64 characters of letters, digits, `-`, `_`, `.`.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 64 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
        return Err(Error::Config(format!("remote name {name:?} must be 1 to 64 letters, digits, '-', '_' or '.'")));
    }
    Ok(())
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
