//! Output stamps: what makes a second `pymodgen generate` of an unchanged module not emit
//! again. The manifest cache spares the introspection; emitting numpy with its submodules
//! as Rust still takes a second of CPU (syn, prettyplease), so the CLI also records, per
//! output directory, what it wrote from what: a key (the module version hashes of the
//! manifests, the language and options, and this pymodgen executable) and each file's
//! size and modification time. When the key and every file still match, the bindings are
//! up to date and nothing is emitted; a file edited, removed or added to the package by
//! hand, another pymodgen build, other options or a changed module emits (and writes what
//! differs) as before.
//!
//! Stamps live in the manifest cache directory (`<cache>/.outputs/<digest of the output
//! directory>.json`), not in the package, so the package holds only generated code; with
//! `--no-cache` none is read or written.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::emit::{EmitOptions, Lang, Output};
use crate::manifest::Manifest;

/// The stamps of one cache directory.
#[derive(Clone, Debug)]
pub struct Stamps {
    dir: PathBuf,
}

#[derive(Serialize, Deserialize, PartialEq, Eq, Debug)]
struct Stamp {
    key: String,
    files: Vec<StampedFile>,
}

#[derive(Serialize, Deserialize, PartialEq, Eq, Debug)]
struct StampedFile {
    path: PathBuf,
    len: u64,
    mtime_ns: u128,
}

impl Stamps {
    /// The stamps kept in the manifest cache directory `cache_dir`.
    pub fn new(cache_dir: &Path) -> Stamps {
        Stamps { dir: cache_dir.join(".outputs") }
    }

    fn path(&self, out_dir: &Path) -> PathBuf {
        let canonical = std::fs::canonicalize(out_dir).unwrap_or_else(|_| out_dir.to_owned());
        let digest = Sha256::digest(canonical.to_string_lossy().as_bytes());
        let name: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{name}.json"))
    }

    /// Whether `out_dir` holds exactly what an earlier run wrote there for `key`.
    pub fn up_to_date(&self, out_dir: &Path, key: &str) -> bool {
        let Ok(text) = std::fs::read_to_string(self.path(out_dir)) else { return false };
        let Ok(stamp) = serde_json::from_str::<Stamp>(&text) else { return false };
        stamp.key == key
            && !stamp.files.is_empty()
            && stamp
                .files
                .iter()
                .all(|f| stamped(&out_dir.join(&f.path)).is_some_and(|(len, t)| len == f.len && t == f.mtime_ns))
    }

    /// Records that `out_dir` now holds `output`, made for `key`. A stamp that can't be
    /// written only costs the next run its shortcut, so failures are ignored.
    pub fn record(&self, out_dir: &Path, key: &str, output: &Output) {
        let mut files = Vec::with_capacity(output.files.len());
        for (rel, _) in &output.files {
            let Some((len, mtime_ns)) = stamped(&out_dir.join(rel)) else { return };
            files.push(StampedFile { path: rel.clone(), len, mtime_ns });
        }
        let stamp = Stamp { key: key.to_owned(), files };
        let path = self.path(out_dir);
        let Ok(text) = serde_json::to_string(&stamp) else { return };
        if std::fs::create_dir_all(&self.dir).is_err() {
            return;
        }
        if let Ok(mut tmp) = tempfile::NamedTempFile::new_in(&self.dir)
            && std::io::Write::write_all(&mut tmp, text.as_bytes()).is_ok()
        {
            let _ = tmp.persist(&path);
        }
    }

    /// Forgets what `out_dir` holds (before writing into it).
    pub fn forget(&self, out_dir: &Path) {
        let _ = std::fs::remove_file(self.path(out_dir));
    }
}

fn stamped(path: &Path) -> Option<(u64, u128)> {
    let meta = std::fs::metadata(path).ok()?;
    let t = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?.as_nanos();
    Some((meta.len(), t))
}

/// The key of one output: the manifests' module version hashes (which cover the module,
/// the interpreter and pymodgen's version), `source` (the text of a manifest file the
/// manifests were read from, whose hash a hand edit leaves alone; empty for a module), the
/// language and emit options, and this executable (its path, size and modification time:
/// a rebuilt pymodgen emits anew).
pub fn output_key(manifests: &[Manifest], source: &[u8], lang: Lang, options: &EmitOptions) -> String {
    let mut h = Sha256::new();
    h.update(Sha256::digest(source));
    h.update(crate::hash::generator_tag().as_bytes());
    if let Ok(exe) = std::env::current_exe() {
        h.update(exe.to_string_lossy().as_bytes());
        if let Some((len, t)) = stamped(&exe) {
            h.update(format!("\0{len}\0{t}").as_bytes());
        }
    }
    h.update(format!("\0{lang:?}\0{options:?}").as_bytes());
    for m in manifests {
        h.update(format!("\0{}\0{}", m.module, m.hash).as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}
