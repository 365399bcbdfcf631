//! The real public data the build trains and the tests evaluate on: three
//! gzip-compressed CSV files committed under `data/` (credits and licences in
//! `data/README.md`), or under `COVE_DATA_DIR` when it is set.
//!
//! Every file is checked against `data/SHA256SUMS` before it is used, so a
//! corrupted or truncated copy is named with its expected digest instead of
//! training a wrong model; the digest is also what the model caches are keyed
//! on (never a path or a modification time).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use crate::fingerprint::sha256_file;
use crate::paths;

/// The transactions the default model is trained on.
pub const ORDERS: &str = "online-retail/online_retail.csv.gz";
/// The sessions the purchase-intent model is trained on.
pub const SESSIONS: &str = "online-shoppers/online_shoppers_intention.csv.gz";
/// The reviews the sentiment models are trained on.
pub const REVIEWS: &str = "clothing-reviews/womens_clothing_ecommerce_reviews.csv.gz";

/// Where the data lives: `COVE_DATA_DIR`, else the repository's `data/`.
pub fn data_dir() -> PathBuf {
    std::env::var_os("COVE_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| paths::root().join("data"))
}

/// A data file that exists and matches its committed digest.
pub struct DataFile {
    /// Where it is.
    pub path: PathBuf,
    /// Its sha256, hex.
    pub sha256: String,
}

/// Finds `name` (one of the constants above) under [`data_dir`] and checks
/// it against `data/SHA256SUMS`.
pub fn checked(name: &str) -> Result<DataFile> {
    checked_in(&data_dir(), name)
}

/// [`checked`] in the folder `dir`.
fn checked_in(dir: &std::path::Path, name: &str) -> Result<DataFile> {
    let path = dir.join(name);
    if !path.is_file() {
        bail!(
            "data file {} is missing (looked in {}{}). The repository carries it under data/; \
             unset COVE_DATA_DIR or point it at a folder with the same layout",
            name,
            dir.display(),
            if std::env::var_os("COVE_DATA_DIR").is_some() {
                ", from COVE_DATA_DIR"
            } else {
                ""
            }
        );
    }
    let expected = expected_sha256(name)?;
    let found = sha256_file(&path)?;
    if found != expected {
        bail!(
            "data file {} does not match data/SHA256SUMS: expected sha256 {expected}, found \
             {found}. Restore it with `git checkout -- data/{name}` (or fix COVE_DATA_DIR)",
            path.display()
        );
    }
    Ok(DataFile {
        path,
        sha256: found,
    })
}

fn expected_sha256(name: &str) -> Result<String> {
    let sums = paths::root().join("data").join("SHA256SUMS");
    let text =
        std::fs::read_to_string(&sums).with_context(|| format!("reading {}", sums.display()))?;
    text.lines()
        .filter_map(|line| line.split_once("  "))
        .find(|(_, file)| *file == name)
        .map(|(digest, _)| digest.to_owned())
        .with_context(|| format!("{} lists no digest for {name}", sums.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = paths::root().join("target").join("xtask-tests").join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn issue_19_an_empty_data_folder_names_the_missing_file() {
        let dir = scratch("empty data dir");
        let error = checked_in(&dir, ORDERS).err().expect("refused").to_string();
        assert!(
            error.contains(ORDERS) && error.contains("missing"),
            "{error}"
        );
    }

    #[test]
    fn issue_19_a_corrupted_data_file_names_its_expected_digest() {
        let dir = scratch("corrupted data");
        let path = dir.join(SESSIONS);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut bytes = std::fs::read(paths::root().join("data").join(SESSIONS)).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x55;
        std::fs::write(&path, bytes).unwrap();
        let error = checked_in(&dir, SESSIONS)
            .err()
            .expect("refused")
            .to_string();
        let expected = expected_sha256(SESSIONS).unwrap();
        assert!(
            error.contains(&expected) && error.contains("does not match"),
            "{error}"
        );
    }

    #[test]
    fn issue_19_the_committed_data_matches_its_digests() {
        for name in [ORDERS, SESSIONS, REVIEWS] {
            checked_in(&paths::root().join("data"), name).unwrap();
        }
    }
}
