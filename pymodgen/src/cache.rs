//! The manifest cache: `<dir>/<module>/<hash>[-submodules].json`, one file per module
//! version hash, written through a temporary file and a rename so a crash never leaves a
//! half-written entry. Entries are compact JSON with each distinct type tree written once
//! (`{"types": [...], "body": [manifest, ...]}`, see `manifest::interned`).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::manifest::Manifest;
use crate::track::Tracked;
use crate::{Error, Result};

/// A manifest cache directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cache {
    dir: PathBuf,
}

/// One cached entry, as `pymodgen cache list` shows it.
#[derive(Clone, Debug)]
pub struct Entry {
    pub module: String,
    pub hash: String,
    pub submodules: bool,
    pub path: PathBuf,
    pub bytes: u64,
    pub modified: Option<SystemTime>,
}

impl Cache {
    /// The cache in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Cache { dir: dir.into() }
    }

    /// `PYMODGEN_CACHE_DIR`, else `$XDG_CACHE_HOME/pymodgen`, else `~/.cache/pymodgen`.
    pub fn default_dir(tracked: &mut Tracked) -> Result<PathBuf> {
        if let Some(dir) = tracked.env_var("PYMODGEN_CACHE_DIR") {
            return Ok(PathBuf::from(dir));
        }
        if let Some(dir) = tracked.env_var("XDG_CACHE_HOME") {
            return Ok(PathBuf::from(dir).join("pymodgen"));
        }
        if let Some(home) = tracked.env_var("HOME") {
            return Ok(PathBuf::from(home).join(".cache").join("pymodgen"));
        }
        Err(Error::Invalid("no cache directory: set PYMODGEN_CACHE_DIR (or XDG_CACHE_HOME or HOME)".into()))
    }

    /// The directory this cache lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, module: &str, hash: &str, submodules: bool) -> PathBuf {
        let suffix = if submodules { "-submodules" } else { "" };
        self.dir.join(module).join(format!("{hash}{suffix}.json"))
    }

    /// The cached manifests for this key, if present and readable by this pymodgen.
    /// A corrupt or outdated entry counts as a miss (it will be overwritten).
    pub fn get(&self, module: &str, hash: &str, submodules: bool) -> Option<Vec<Manifest>> {
        let text = std::fs::read_to_string(self.path(module, hash, submodules)).ok()?;
        crate::manifest::interned::from_json::<Vec<Manifest>>(&text)
            .ok()
            .filter(|ms| ms.first().is_some_and(|m| m.schema == crate::manifest::SCHEMA && m.hash == hash))
    }

    /// Stores manifests under this key; older entries of the module are removed.
    pub fn put(&self, module: &str, hash: &str, submodules: bool, manifests: &[Manifest]) -> Result<PathBuf> {
        let path = self.path(module, hash, submodules);
        let dir = path.parent().expect("cache paths have a parent");
        std::fs::create_dir_all(dir).map_err(|e| Error::io("creating cache directory", dir, e))?;
        // Compact, each type tree once (see `manifest::interned`): this copy is pymodgen's own.
        let text = crate::manifest::interned::to_json(&manifests).expect("manifests always serialize");
        let mut tmp =
            tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io("writing to cache directory", dir, e))?;
        std::io::Write::write_all(&mut tmp, text.as_bytes())
            .map_err(|e| Error::io("writing", tmp.path().to_owned(), e))?;
        tmp.persist(&path).map_err(|e| Error::io("writing", &path, e.error))?;
        // Entries of other hashes of this module are stale: the module changed.
        let suffix = if submodules { "-submodules.json" } else { ".json" };
        if let Ok(read) = std::fs::read_dir(dir) {
            for entry in read.flatten() {
                let p = entry.path();
                let name = entry.file_name().to_string_lossy().into_owned();
                let same_kind = name.ends_with(suffix) && (submodules || !name.ends_with("-submodules.json"));
                if p != path && same_kind {
                    let _ = std::fs::remove_file(p);
                }
            }
        }
        Ok(path)
    }

    /// Every entry, sorted by module then hash.
    pub fn list(&self) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        let modules = match std::fs::read_dir(&self.dir) {
            Ok(read) => read,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(Error::io("reading", &self.dir, e)),
        };
        for module in modules.flatten() {
            // (`.outputs`: the CLI's output stamps, see `stamp`; no module name starts with a dot)
            if module.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let Ok(files) = std::fs::read_dir(module.path()) else { continue };
            for file in files.flatten() {
                let name = file.file_name().to_string_lossy().into_owned();
                let Some(stem) = name.strip_suffix(".json") else { continue };
                let (hash, submodules) = match stem.strip_suffix("-submodules") {
                    Some(h) => (h.to_owned(), true),
                    None => (stem.to_owned(), false),
                };
                let meta = file.metadata().ok();
                out.push(Entry {
                    module: module.file_name().to_string_lossy().into_owned(),
                    hash,
                    submodules,
                    path: file.path(),
                    bytes: meta.as_ref().map_or(0, |m| m.len()),
                    modified: meta.and_then(|m| m.modified().ok()),
                });
            }
        }
        out.sort_by(|a, b| (&a.module, &a.hash, a.submodules).cmp(&(&b.module, &b.hash, b.submodules)));
        Ok(out)
    }

    /// Removes every entry; returns how many there were.
    pub fn clear(&self) -> Result<usize> {
        let n = self.list()?.len();
        match std::fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(Error::io("removing", &self.dir, e)),
        }
    }
}
