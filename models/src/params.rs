//! The committed training parameters (`models/default-params.toml`): what
//! the validation search chose, written by `cove-train train --tune-only
//! --write-params FILE` (`cargo xtask tune`) and read by `cove-train train
//! --params FILE` (`cargo xtask build`), so a build trains without searching.
//!
//! The file also records the validation figures that chose the values and
//! the test figures the published model had with them; a test
//! (`models/tests/params_file.rs`) trains from the file and checks that it
//! reproduces them. Unknown or missing fields are refused with the field's
//! name, so a file that no longer matches the trainer's options cannot be
//! read as something else.

use std::path::Path;

use anyhow::Context;
use cove_engine::bundle::{BlendWeights, SessionWeights};
use serde::{Deserialize, Serialize};

use crate::als::{AlsParams, Confidence};
use crate::neighbours::NeighbourMix;
use crate::pipeline::{EngineWeights, TrainConfig};

/// The sha256 (hex) of a file's bytes: what `orders_sha256` records.
pub fn file_sha256(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(cove_engine::bundle::sha256_hex(&bytes))
}

/// The file's layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamsFile {
    /// What chose these values, in words.
    pub provenance: String,
    /// The sha256 of the orders file the values were chosen and figured on.
    /// The test figures are checked only when training on that file: with
    /// another shop's data the same parameters give other figures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orders_sha256: Option<String>,
    /// The ALS factor model.
    pub als: AlsSection,
    /// The blend of the "for you" and "discover" slots (tasks A and B).
    pub blend: BlendSection,
    /// The in-session terms (tasks C, D and E).
    pub session: SessionSection,
    /// The sources of the bundle's neighbour lists (tasks C, D and E).
    pub neighbours: NeighbourMix,
    /// The validation figures that chose them (NDCG@10), by task letter.
    pub validation_ndcg_at_10: std::collections::BTreeMap<String, f64>,
    /// The test figures the model trained with them gave (NDCG@10, through
    /// the engine), by task letter: what a rebuild must reproduce.
    pub test_ndcg_at_10: std::collections::BTreeMap<String, f64>,
}

/// `[als]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlsSection {
    /// Latent dimension.
    pub factors: usize,
    /// L2 regularisation λ.
    pub regularization: f32,
    /// Confidence base b in c = b + α·ln(1 + x/ε).
    pub confidence_base: f32,
    /// Confidence slope α.
    pub confidence_alpha: f32,
    /// Confidence scale ε.
    pub confidence_epsilon: f32,
    /// Alternations.
    pub iterations: usize,
    /// Conjugate-gradient steps.
    pub cg_steps: usize,
    /// Half-life of a purchase line's weight in days (0: no decay).
    pub half_life_days: f32,
}

/// `[blend]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlendSection {
    /// The bundle's α relative to one fresh purchase line's confidence.
    pub alpha_scale: f64,
    /// "Discover" slot: neighbour weight.
    pub weight_neighbors: f32,
    /// "Discover" slot: trending weight.
    pub weight_trending: f32,
    /// "Discover" slot: buy-again weight.
    pub weight_repeat: f32,
    /// "For you" slot (bought items kept): neighbour weight.
    pub keep_purchased_neighbors: f32,
    /// "For you" slot: trending weight.
    pub keep_purchased_trending: f32,
    /// "For you" slot: buy-again weight.
    pub keep_purchased_repeat: f32,
    /// Items in the `*` trending list.
    pub n_trending: usize,
    /// The device profile's half-life in days.
    pub profile_half_life_days: f64,
}

/// `[session]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSection {
    /// Weight of the session's neighbours in a "for you" slot.
    pub weight_session: f32,
    /// Position decay of the session's items.
    pub session_decay: f32,
    /// Trending among a context's neighbours.
    pub context_trending: f32,
    /// Personal score among a context's neighbours.
    pub context_personal: f32,
}

impl ParamsFile {
    /// Reads and checks a parameters file.
    pub fn read(path: &Path) -> anyhow::Result<ParamsFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the parameters file {}", path.display()))?;
        let file: ParamsFile = toml::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "{} does not match the trainer's parameters (regenerate it with `cargo xtask \
                 tune`): {e}",
                path.display()
            )
        })?;
        Ok(file)
    }

    /// Writes the file as TOML, with a header saying how it was made.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let body = toml::to_string_pretty(self)?;
        let text = format!(
            "# Cove's default training parameters, chosen on the validation split by\n\
             # `cargo xtask tune` and read by `cargo xtask build` (which does not search).\n\
             # Reviewed like code: a change here changes the published model.\n\n{body}"
        );
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
    }

    /// The parameters of `config` (after a search), with the figures.
    pub fn from_config(
        config: &TrainConfig,
        provenance: String,
        orders_sha256: String,
        validation: std::collections::BTreeMap<String, f64>,
        test: std::collections::BTreeMap<String, f64>,
    ) -> ParamsFile {
        let als = &config.als;
        let engine = &config.engine;
        let kept = engine.keep_purchased.unwrap_or(BlendWeights {
            weight_personal: 1.0,
            weight_neighbors: engine.weight_neighbors,
            weight_trending: engine.weight_trending,
            weight_repeat: engine.weight_repeat,
        });
        let session = engine.session.unwrap_or_default();
        ParamsFile {
            provenance,
            orders_sha256: Some(orders_sha256),
            als: AlsSection {
                factors: als.factors,
                regularization: als.regularization,
                confidence_base: als.confidence.base,
                confidence_alpha: als.confidence.alpha,
                confidence_epsilon: als.confidence.epsilon,
                iterations: als.iterations,
                cg_steps: als.cg_steps,
                half_life_days: config.half_life_days.unwrap_or(0.0),
            },
            blend: BlendSection {
                alpha_scale: engine.alpha_scale,
                weight_neighbors: engine.weight_neighbors,
                weight_trending: engine.weight_trending,
                weight_repeat: engine.weight_repeat,
                keep_purchased_neighbors: kept.weight_neighbors,
                keep_purchased_trending: kept.weight_trending,
                keep_purchased_repeat: kept.weight_repeat,
                n_trending: engine.n_trending,
                profile_half_life_days: engine
                    .profile_half_life_days
                    .unwrap_or(cove_engine::profile::ProfileParams::default().half_life_days),
            },
            session: SessionSection {
                weight_session: session.weight_session,
                session_decay: session.session_decay,
                context_trending: session.context_trending,
                context_personal: session.context_personal,
            },
            neighbours: config.neighbour_mix,
            validation_ndcg_at_10: validation,
            test_ndcg_at_10: test,
        }
    }

    /// Sets `config`'s ALS and engine parameters from the file; the seed and
    /// the thread count stay the command line's. Refuses values the trainer
    /// would refuse.
    pub fn apply(&self, config: &mut TrainConfig) -> anyhow::Result<()> {
        let a = &self.als;
        config.als = AlsParams {
            factors: a.factors,
            regularization: a.regularization,
            confidence: Confidence {
                base: a.confidence_base,
                alpha: a.confidence_alpha,
                epsilon: a.confidence_epsilon,
            },
            iterations: a.iterations,
            cg_steps: a.cg_steps,
            ..config.als
        };
        config.als.validate()?;
        config.half_life_days = (a.half_life_days > 0.0).then_some(a.half_life_days);
        let b = &self.blend;
        let default_days = cove_engine::profile::ProfileParams::default().half_life_days;
        config.engine = EngineWeights {
            alpha_scale: b.alpha_scale,
            weight_neighbors: b.weight_neighbors,
            weight_trending: b.weight_trending,
            weight_repeat: b.weight_repeat,
            keep_purchased: Some(BlendWeights {
                weight_personal: 1.0,
                weight_neighbors: b.keep_purchased_neighbors,
                weight_trending: b.keep_purchased_trending,
                weight_repeat: b.keep_purchased_repeat,
            }),
            n_trending: b.n_trending,
            profile_half_life_days: (b.profile_half_life_days != default_days)
                .then_some(b.profile_half_life_days),
            session: Some(SessionWeights {
                weight_session: self.session.weight_session,
                session_decay: self.session.session_decay,
                context_trending: self.session.context_trending,
                context_personal: self.session.context_personal,
            }),
        };
        anyhow::ensure!(
            b.alpha_scale > 0.0 && b.alpha_scale.is_finite(),
            "blend.alpha_scale must be positive"
        );
        anyhow::ensure!(b.n_trending > 0, "blend.n_trending must be positive");
        self.neighbours.validate()?;
        config.neighbour_mix = self.neighbours;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ParamsFile {
        ParamsFile::from_config(
            &TrainConfig::default(),
            "test".into(),
            "0".repeat(64),
            [("A".to_owned(), 0.3)].into_iter().collect(),
            [("A".to_owned(), 0.36)].into_iter().collect(),
        )
    }

    #[test]
    fn a_written_file_reads_back_to_the_same_configuration() {
        let dir = std::env::temp_dir().join(format!("cove-params-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("params.toml");
        sample().write(&path).unwrap();
        let read = ParamsFile::read(&path).unwrap();
        assert_eq!(read, sample());
        let mut config = TrainConfig::default();
        read.apply(&mut config).unwrap();
        assert_eq!(config.als.factors, TrainConfig::default().als.factors);
        assert!(config.engine.session.is_some());
    }

    #[test]
    fn issue_19_a_stale_file_is_refused_with_the_fields_name() {
        let text = toml::to_string(&sample()).unwrap();
        let dir = std::env::temp_dir().join(format!("cove-params-stale-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let renamed = dir.join("renamed.toml");
        std::fs::write(&renamed, text.replace("weight_session", "session_weight")).unwrap();
        let error = ParamsFile::read(&renamed).unwrap_err().to_string();
        assert!(error.contains("session_weight"), "{error}");
        let missing = dir.join("missing.toml");
        let without: String = text
            .lines()
            .filter(|line| !line.starts_with("n_trending"))
            .map(|line| format!("{line}\n"))
            .collect();
        std::fs::write(&missing, without).unwrap();
        let error = ParamsFile::read(&missing).unwrap_err().to_string();
        assert!(error.contains("n_trending"), "{error}");
    }
}
