//! Where a published bundle's files live: the one place the layout is stated.
//!
//! A site serves its bundles under [`URL_PREFIX`] (the folder
//! `www/v1/bundles/`, [`SITE_DIR`]). There, a *pointer* file names the
//! current bundle of each kind ([`DEFAULT_POINTER`], [`SHARDED_POINTER`],
//! [`SENTIMENT_POINTER`]) and each bundle has a folder named by its model id
//! holding its parts: [`MANIFEST_FILE`], [`TENSORS_FILE`], [`CATALOGUE_FILE`]
//! and, for a head, [`shard_file_name`] and [`item_index_file_name`]:
//!
//! ```text
//! /v1/bundles/default.json
//! /v1/bundles/<model_id>/manifest.json
//! /v1/bundles/<model_id>/tensors.safetensors
//! /v1/bundles/<model_id>/catalogue.json
//! /v1/bundles/<model_id>/shard-<i>.safetensors
//! /v1/bundles/<model_id>/items-<b>.json
//! ```
//!
//! The trainer writes there, xtask publishes and measures there, the edge
//! worker and the simulator read from there, all through this module. It is
//! plain constants and string functions with no imports and no I/O, so that
//! xtask, which links no engine, compiles this same file in (`#[path]`).
//! The browser's JavaScript keeps its own few strings, which a test in
//! `xtask/src/tidy.rs` checks against these.

/// The URL path under which a site serves its bundles (no trailing slash).
pub const URL_PREFIX: &str = "/v1/bundles";

/// The folder of the bundles under a site's root, one path component each
/// (`www/v1/bundles/`): the same as [`URL_PREFIX`].
pub const SITE_DIR: [&str; 2] = ["v1", "bundles"];

/// The bundles' folder under a site's root folder (`<site>/v1/bundles`);
/// a path only, nothing is read.
pub fn site_dir(site: &std::path::Path) -> std::path::PathBuf {
    SITE_DIR
        .iter()
        .fold(site.to_path_buf(), |dir, part| dir.join(part))
}

/// The pointer to the default recommendation bundle: the one a storefront
/// names unless told otherwise.
pub const DEFAULT_POINTER: &str = "default.json";

/// The pointer to the same model published as a head and shards (the demo's
/// `?bundle=sharded`).
pub const SHARDED_POINTER: &str = "sharded.json";

/// The pointer to the sentiment bundles, one entry per variant.
pub const SENTIMENT_POINTER: &str = "sentiment.json";

/// A bundle's manifest, in its model id's folder.
pub const MANIFEST_FILE: &str = "manifest.json";

/// A bundle's tensor file, beside its manifest.
pub const TENSORS_FILE: &str = "tensors.safetensors";

/// A recommendation bundle's catalogue (the items as the engine loads them),
/// beside its manifest.
pub const CATALOGUE_FILE: &str = "catalogue.json";

/// The file name of shard `index`, beside its head's manifest: the trainer
/// writes it there and every host fetches it from there.
pub fn shard_file_name(index: usize) -> String {
    format!("shard-{index}.safetensors")
}

/// The file name of bucket `bucket` of a head's item index, beside its
/// manifest: a JSON object from each of the bucket's item ids (outside the
/// head) to the index of the shard that holds it.
pub fn item_index_file_name(bucket: u32) -> String {
    format!("items-{bucket}.json")
}

/// The most characters in a pointer's name (the file name without `.json`).
pub const MAX_POINTER_NAME: usize = 64;

/// Whether `name` may name a pointer: 1 to [`MAX_POINTER_NAME`] characters
/// of `[a-z0-9_-]`, without `.json`. The one rule for the trainer's
/// `--pointer` and a shop's `bundle` at the edge, so that whatever the trainer
/// publishes a shop can name, and no name reaches outside the bundles' folder.
pub fn is_pointer_name(name: &str) -> bool {
    (1..=MAX_POINTER_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// The pointer file of a pointer name: `<name>.json`.
pub fn pointer_file(name: &str) -> String {
    format!("{name}.json")
}

/// The pointer name of a pointer file (`sharded.json` → `sharded`), if the
/// file is `<name>.json` with a name [`is_pointer_name`] accepts.
pub fn pointer_name_of_file(file: &str) -> Option<&str> {
    file.strip_suffix(".json")
        .filter(|name| is_pointer_name(name))
}

/// The URL path of a pointer file: `/v1/bundles/<name>`.
pub fn pointer_url(name: &str) -> String {
    format!("{URL_PREFIX}/{name}")
}

/// The URL path of one of a bundle's files: `/v1/bundles/<model_id>/<file>`.
pub fn bundle_url(model_id: &str, file: &str) -> String {
    format!("{URL_PREFIX}/{model_id}/{file}")
}

/// The part of a URL path below [`URL_PREFIX`] (`<model_id>/<file>` or a
/// pointer's name), or `None` for a path outside it.
pub fn below_prefix(path: &str) -> Option<&str> {
    path.strip_prefix(URL_PREFIX)?.strip_prefix('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_the_prefix_then_the_files() {
        assert_eq!(pointer_url(DEFAULT_POINTER), "/v1/bundles/default.json");
        assert_eq!(
            bundle_url("cove-0123", MANIFEST_FILE),
            "/v1/bundles/cove-0123/manifest.json"
        );
        assert_eq!(
            bundle_url("cove-0123", &shard_file_name(2)),
            "/v1/bundles/cove-0123/shard-2.safetensors"
        );
        assert_eq!(item_index_file_name(7), "items-7.json");
        assert_eq!(format!("/{}", SITE_DIR.join("/")), URL_PREFIX);
        assert_eq!(
            site_dir(std::path::Path::new("www")),
            std::path::Path::new("www").join("v1").join("bundles")
        );
    }

    #[test]
    fn below_prefix_takes_only_paths_under_the_bundles() {
        assert_eq!(
            below_prefix("/v1/bundles/cove-1/tensors.safetensors"),
            Some("cove-1/tensors.safetensors")
        );
        assert_eq!(below_prefix("/v1/bundles/"), Some(""));
        assert_eq!(below_prefix("/v1/bundles"), None);
        assert_eq!(below_prefix("/v1/bundlesx/a"), None);
        assert_eq!(below_prefix("/v1/admin/shops"), None);
        assert_eq!(below_prefix(""), None);
    }

    #[test]
    fn a_pointer_name_is_one_plain_lowercase_word() {
        for pointer in [DEFAULT_POINTER, SHARDED_POINTER, SENTIMENT_POINTER] {
            let name = pointer_name_of_file(pointer).expect(pointer);
            assert_eq!(pointer_file(name), pointer);
        }
        assert!(is_pointer_name("shop-2_head"));
        assert!(is_pointer_name(&"a".repeat(MAX_POINTER_NAME)));
        for bad in [
            "",
            "Sharded",
            "../sharded",
            "a/b",
            "sharded.json",
            ".hidden",
            "naïve",
            "a b",
            &"a".repeat(MAX_POINTER_NAME + 1),
        ] {
            assert!(!is_pointer_name(bad), "{bad:?}");
        }
        for bad in [
            "default",
            "default.JSON",
            ".json",
            "../x.json",
            "x.json.json",
        ] {
            assert_eq!(pointer_name_of_file(bad), None, "{bad:?}");
        }
    }
}
