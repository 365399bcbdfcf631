//! Writes seed corpora for the fuzz targets from the engine's own fixtures,
//! so the fuzzers start from valid inputs: `cargo run --bin seeds`.

use cove_engine::bundle::Manifest;
use cove_engine::profile::{Profile, ProfileConfig};
use cove_engine::testing::{synthetic_bundle, synthetic_events, SyntheticSpec};

fn main() -> std::io::Result<()> {
    let bundle_dir = "corpus/bundle_load";
    let profile_dir = "corpus/profile_decode";
    std::fs::create_dir_all(bundle_dir)?;
    std::fs::create_dir_all(profile_dir)?;
    for (n, spec) in [
        SyntheticSpec { n_items: 6, dim: 3, n_neighbors: 2, n_trending: 3, n_categories: 2, seed: 1 },
        SyntheticSpec { n_items: 12, dim: 4, n_neighbors: 3, n_trending: 4, n_categories: 3, seed: 2 },
    ]
    .iter()
    .enumerate()
    {
        let built = synthetic_bundle(spec);
        let manifest = Manifest::from_json(&built.manifest).expect("fixture parses");
        let compact = serde_json::to_vec(&manifest).expect("serializes");
        for reseal in [0u8, 1] {
            let mut input = vec![reseal];
            input.extend_from_slice(&(compact.len() as u16).to_le_bytes());
            input.extend_from_slice(&compact);
            input.extend_from_slice(&built.tensors);
            std::fs::write(format!("{bundle_dir}/seed-{n}-{reseal}"), input)?;
        }
    }
    let config = ProfileConfig::default();
    let mut profile = Profile::new();
    for (n, event) in synthetic_events(40, 30, 1_700_000_000, 1).iter().enumerate() {
        let _ = profile.apply(event, &config);
        if n % 10 == 0 {
            std::fs::write(format!("{profile_dir}/binary-{n}"), profile.to_bytes())?;
            std::fs::write(format!("{profile_dir}/json-{n}"), profile.to_json())?;
            std::fs::write(
                format!("{profile_dir}/event-{n}"),
                serde_json::to_vec(event).expect("serializes"),
            )?;
        }
    }
    Ok(())
}
