//! Content fingerprints for the build's caches: a sha256 over files' paths
//! relative to the workspace root and their bytes, so a fresh clone in another
//! folder, or a `git checkout` that rewrites modification times, hits the same
//! cache as long as the content is the same.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::paths;

/// The sha256 of one file, hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = file
            .read(&mut buffer)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// A fingerprint being built: add sources, digests and settings, then
/// [`Fingerprint::finish`].
#[derive(Default)]
pub struct Fingerprint {
    hasher: Sha256,
}

impl Fingerprint {
    /// Adds every file under each of `sources` (folders or files, relative to
    /// the root) except those under `skipped`, by relative path and content.
    pub fn sources(mut self, sources: &[&str], skipped: &[&str]) -> Result<Self> {
        let root = paths::root();
        for source in sources {
            let mut files = Vec::new();
            let path = root.join(source);
            if path.is_dir() {
                collect_files(&path, &mut files)?;
            } else {
                files.push(path);
            }
            files.sort();
            for file in files {
                let relative = file.strip_prefix(&root).unwrap_or(&file);
                if skipped.iter().any(|s| relative.starts_with(s)) {
                    continue;
                }
                let bytes =
                    std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
                self = self.text(&relative.to_string_lossy()).bytes(&bytes);
            }
        }
        Ok(self)
    }

    /// Adds a labelled value (a data file's digest, a tool's version, a flag).
    pub fn text(mut self, text: &str) -> Self {
        self.hasher.update((text.len() as u64).to_le_bytes());
        self.hasher.update(text.as_bytes());
        self
    }

    /// Adds raw bytes, length first.
    pub fn bytes(mut self, bytes: &[u8]) -> Self {
        self.hasher.update((bytes.len() as u64).to_le_bytes());
        self.hasher.update(bytes);
        self
    }

    /// The fingerprint, hex.
    pub fn finish(self) -> String {
        hex(&self.hasher.finalize())
    }
}

/// A stamp file holding the fingerprint an output was made from.
pub struct Stamp {
    path: PathBuf,
}

impl Stamp {
    /// The stamp at `path`.
    pub fn at(path: PathBuf) -> Stamp {
        Stamp { path }
    }

    /// Whether the stamp holds `fingerprint`.
    pub fn matches(&self, fingerprint: &str) -> bool {
        std::fs::read_to_string(&self.path).ok().as_deref() == Some(fingerprint)
    }

    /// Records `fingerprint`.
    pub fn write(&self, fingerprint: &str) -> Result<()> {
        if let Some(parent) = self.path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&self.path, fingerprint)
            .with_context(|| format!("writing {}", self.path.display()))
    }
}

/// Every file under `dir`, at any depth, in no particular order.
pub fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect_files(&path, files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
