//! `cove-train sentiment`: the on-device review sentiment model.
//!
//! Reads review text with star ratings ([`reviews`]), splits it once by a
//! seeded hash of each row id (20% held out for the test, 10% of the rest
//! for validation), turns every text into features with the engine's own
//! featurizer (`cove_engine::sentiment::featurize`, so training and scoring
//! cannot drift), fits an L2-regularised logistic or softmax regression
//! ([`linear`]) for each λ of a grid on the training part, keeps the λ with
//! the lowest validation log-loss, refits on training and validation, and
//! writes the bundle through the engine's `SentimentBundleBuilder`. With
//! committed parameters (`--params`) there is no search: the committed λ is
//! fitted on training and validation at once, the same bundle. The
//! reported figures ([`metrics`]) are the written bundle's, scored by the
//! engine on the held-out part: what a browser computes.
//!
//! Two variants: two classes (1–2 stars negative, 4–5 positive, 3 left out)
//! and three (3 stars neutral).

pub mod linear;
pub mod metrics;
pub mod reviews;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;

use cove_engine::bundle::{layout, BuiltBundle};
use cove_engine::sentiment::{
    featurize, Features, FeaturizerSpec, SentimentBundleBuilder, SentimentModel, SentimentTraining,
};

use crate::export::{
    bundle_pointer, gzip_len, pointed_manifest, read_parts, read_pointer, write_atomic,
};
use linear::{fit, FitConfig};
use metrics::{class_metrics, ClassMetrics};
use reviews::{part_of, read_reviews, Part, ReadCounts, Review};

/// The pointer file naming the published sentiment bundles.
pub const POINTER_FILE: &str = cove_engine::bundle::layout::SENTIMENT_POINTER;

/// The data set's name, for the manifest.
const SOURCE: &str = "Women's E-Commerce Clothing Reviews (Kaggle nicapotato, CC0)";

/// Options of `cove-train sentiment`.
#[derive(Debug, Clone, clap::Args)]
pub struct SentimentArgs {
    /// The reviews CSV (plain or gzip), Women's E-Commerce Clothing Reviews layout.
    #[arg(long)]
    pub reviews: PathBuf,
    /// Output directory for `sentiment-report.json` and `split.csv`.
    #[arg(long)]
    pub out: PathBuf,
    /// Also write both bundles and `sentiment.json` (the pointer) here.
    #[arg(long)]
    pub publish: Option<PathBuf>,
    /// The seed of the held-out split.
    #[arg(long, default_value_t = reviews::SPLIT_SEED)]
    pub seed: u64,
    /// Hash buckets: 2^BITS.
    #[arg(long, default_value_t = 17)]
    pub hash_bits: u32,
    /// Word n-grams of 1 to this many tokens.
    #[arg(long, default_value_t = 2)]
    pub word_ngrams: usize,
    /// Shortest character n-gram (0: none).
    #[arg(long, default_value_t = 3)]
    pub char_ngram_min: usize,
    /// Longest character n-gram.
    #[arg(long, default_value_t = 5)]
    pub char_ngram_max: usize,
    /// The λ grid (comma-separated), chosen on validation log-loss.
    #[arg(long, value_delimiter = ',', default_value = "3e-6,1e-5,3e-5")]
    pub l2: Vec<f64>,
    /// The most L-BFGS iterations per fit.
    #[arg(long, default_value_t = 200)]
    pub max_iterations: usize,
    /// Take each variant's λ from this file (`models/sentiment-params.toml`,
    /// written by `cargo xtask tune`) instead of searching `--l2`.
    #[arg(long, conflicts_with = "write_params")]
    pub params: Option<PathBuf>,
    /// Write each variant's chosen λ and its validation figures here.
    #[arg(long)]
    pub write_params: Option<PathBuf>,
}

/// The committed sentiment parameters: each variant's λ, chosen on
/// validation log-loss by `cargo xtask tune`, with the figures that chose it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentimentParams {
    /// The two-class variant.
    pub two_class: VariantParams,
    /// The three-class variant.
    pub three_class: VariantParams,
}

/// One variant's committed λ and its validation figures.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantParams {
    /// The L2 penalty λ.
    pub l2: f64,
    /// Validation log-loss with it (unquantised model).
    pub validation_log_loss: f64,
    /// Validation ROC-AUC with it.
    pub validation_roc_auc: f64,
}

impl SentimentParams {
    /// Reads the file, refusing unknown or missing fields by name.
    pub fn read(path: &std::path::Path) -> anyhow::Result<SentimentParams> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "{} does not match the sentiment trainer's parameters (regenerate it with \
                 `cargo xtask tune`): {e}",
                path.display()
            )
        })
    }

    /// The chosen λ of each variant of a report.
    pub fn from_report(report: &SentimentReport) -> anyhow::Result<SentimentParams> {
        let of = |variant: Variant| -> anyhow::Result<VariantParams> {
            let v = report
                .variants
                .iter()
                .find(|v| v.variant == variant)
                .with_context(|| format!("the report has no {} variant", variant.name()))?;
            let point = v
                .grid
                .iter()
                .find(|p| p.l2 == v.l2)
                .context("the chosen λ is not in the grid")?;
            Ok(VariantParams {
                l2: v.l2,
                validation_log_loss: point.validation.log_loss,
                validation_roc_auc: point.validation.roc_auc,
            })
        };
        Ok(SentimentParams {
            two_class: of(Variant::ALL[0])?,
            three_class: of(Variant::ALL[1])?,
        })
    }

    /// Writes the file with a header.
    pub fn write(&self, path: &std::path::Path) -> anyhow::Result<()> {
        let text = format!(
            "# The review sentiment models' λ, chosen on validation log-loss by `cargo xtask tune`\n\
             # and read by `cargo xtask build` (which does not search). Reviewed like code.\n\n{}",
            toml::to_string_pretty(self)?
        );
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
    }
}

/// Options of `cove-train sentiment-score`.
#[derive(Debug, Clone, clap::Args)]
pub struct ScoreArgs {
    /// A publish directory (its sentiment.json) or a sentiment manifest.json.
    #[arg(long)]
    pub bundle: PathBuf,
    /// With a publish directory: which bundle (two_class or three_class).
    #[arg(long, default_value = "two_class")]
    pub variant: String,
    /// The reviews CSV (plain or gzip).
    #[arg(long)]
    pub reviews: PathBuf,
    /// The seed of the held-out split.
    #[arg(long, default_value_t = reviews::SPLIT_SEED)]
    pub seed: u64,
    /// Score at most this many held-out reviews (in file order).
    #[arg(long, default_value_t = 1000)]
    pub limit: usize,
}

/// One scored review of `cove-train sentiment-score`.
#[derive(Debug, Clone, Serialize)]
pub struct ScoredReview {
    /// The data set's row id.
    pub row_id: u64,
    /// The text scored.
    pub text: String,
    /// The engine's answer.
    pub sentiment: cove_engine::sentiment::Sentiment,
}

/// Reads a published sentiment bundle: `DIR/sentiment.json`'s entry for the
/// variant, or a manifest path with `tensors.safetensors` beside it.
pub fn load_published(path: &Path, variant: &str) -> anyhow::Result<SentimentModel> {
    let manifest_path = if path.is_dir() {
        let pointer = path.join(POINTER_FILE);
        let entries = read_pointer(&pointer)?;
        let entry = entries
            .get(variant)
            .with_context(|| format!("{} names no {variant:?} bundle", pointer.display()))?;
        pointed_manifest(path, &pointer, entry)?
    } else {
        path.to_owned()
    };
    let (manifest, tensors) = read_parts(&manifest_path)?;
    SentimentModel::from_bytes(&manifest, &tensors).map_err(|e| {
        anyhow::anyhow!(
            "{} is not a valid sentiment bundle: {e}",
            manifest_path.display()
        )
    })
}

/// Scores the first `limit` held-out reviews with a published bundle, through
/// the engine (the native side of the browser parity test).
pub fn score(args: &ScoreArgs) -> anyhow::Result<Vec<ScoredReview>> {
    let model = load_published(&args.bundle, &args.variant)?;
    let variant = if model.classes().len() == 2 {
        Variant::TwoClass
    } else {
        Variant::ThreeClass
    };
    let (reviews, _) = read_reviews(&args.reviews)?;
    let mut scored = Vec::new();
    for review in reviews {
        if scored.len() == args.limit {
            break;
        }
        if part_of(review.row_id, args.seed) != Part::Test || variant.label(review.rating).is_none()
        {
            continue;
        }
        scored.push(ScoredReview {
            row_id: review.row_id,
            sentiment: model.sentiment(&review.text)?,
            text: review.text,
        });
    }
    Ok(scored)
}

/// The two models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// Negative (1–2 stars) and positive (4–5); 3 stars left out.
    TwoClass,
    /// Negative, neutral (3 stars), positive.
    ThreeClass,
}

impl Variant {
    /// Both variants.
    pub const ALL: [Variant; 2] = [Variant::TwoClass, Variant::ThreeClass];

    /// The class labels, most negative first.
    pub fn classes(self) -> Vec<String> {
        let labels: &[&str] = match self {
            Variant::TwoClass => &["negative", "positive"],
            Variant::ThreeClass => &["negative", "neutral", "positive"],
        };
        labels.iter().map(|s| s.to_string()).collect()
    }

    /// The class of a star rating, or `None` when the variant leaves it out.
    pub fn label(self, rating: u8) -> Option<u8> {
        match (self, rating) {
            (_, 1 | 2) => Some(0),
            (Variant::TwoClass, 4 | 5) => Some(1),
            (Variant::ThreeClass, 3) => Some(1),
            (Variant::ThreeClass, 4 | 5) => Some(2),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Variant::TwoClass => "two_class",
            Variant::ThreeClass => "three_class",
        }
    }

    fn labels_description(self) -> &'static str {
        match self {
            Variant::TwoClass => "negative = 1-2 stars, positive = 4-5 stars; 3 stars left out",
            Variant::ThreeClass => "negative = 1-2 stars, neutral = 3 stars, positive = 4-5 stars",
        }
    }
}

/// One λ tried on validation.
#[derive(Debug, Clone, Serialize)]
pub struct GridPoint {
    /// The penalty.
    pub l2: f64,
    /// Validation figures of the unquantised model.
    pub validation: ClassMetrics,
    /// L-BFGS iterations run.
    pub iterations: usize,
}

/// What training one variant gave.
#[derive(Debug, Clone, Serialize)]
pub struct VariantReport {
    /// Which variant.
    pub variant: Variant,
    /// The published model id.
    pub model_id: String,
    /// Training, validation and test texts.
    pub n_train: usize,
    /// Validation texts.
    pub n_validation: usize,
    /// Held-out texts.
    pub n_test: usize,
    /// The λ grid on validation; empty with `--params` (see `committed`).
    pub grid: Vec<GridPoint>,
    /// With `--params`: the committed λ and the validation figures the file
    /// records for it (from `cargo xtask tune`'s search, not recomputed).
    pub committed: Option<VariantParams>,
    /// The λ kept.
    pub l2: f64,
    /// The bundle as written, scored by the engine on the held-out part.
    pub test: ClassMetrics,
    /// The unquantised fitted model on the held-out part (the int8 weights'
    /// cost is the difference to `test`).
    pub test_unquantised: ClassMetrics,
    /// Manifest bytes.
    pub manifest_bytes: usize,
    /// Tensor file bytes.
    pub tensors_bytes: usize,
    /// gzip -9 of manifest plus tensor file.
    pub gzip_bytes: usize,
    /// Seconds spent on this variant.
    pub seconds: f64,
}

/// The report of `cove-train sentiment`.
#[derive(Debug, Clone, Serialize)]
pub struct SentimentReport {
    /// The reviews file.
    pub reviews: String,
    /// What reading dropped.
    pub read: ReadCounts,
    /// The split's seed.
    pub split_seed: u64,
    /// The featurizer used.
    pub featurizer: FeaturizerSpec,
    /// One entry per variant.
    pub variants: Vec<VariantReport>,
}

/// A review's features, class and part, for one variant.
struct Example<'a> {
    review: &'a Review,
    features: &'a Features,
    label: u8,
    part: Part,
}

/// Runs the command: trains both variants, writes the report and the split,
/// and publishes the bundles when asked.
pub fn run(args: &SentimentArgs) -> anyhow::Result<SentimentReport> {
    let (reviews, read) = read_reviews(&args.reviews)?;
    anyhow::ensure!(
        !reviews.is_empty(),
        "{}: no review with text",
        args.reviews.display()
    );
    let spec = FeaturizerSpec {
        hash_bits: args.hash_bits,
        word_ngrams: args.word_ngrams,
        char_ngram_min: args.char_ngram_min,
        char_ngram_max: args.char_ngram_max,
        ..FeaturizerSpec::default()
    };
    spec.validate()
        .map_err(|e| anyhow::anyhow!("the featurizer options: {e}"))?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let parts: Vec<Part> = reviews
        .iter()
        .map(|r| part_of(r.row_id, args.seed))
        .collect();
    write_split(&args.out.join("split.csv"), &reviews, &parts)?;
    tracing::info!("sentiment: featurizing {} reviews", reviews.len());
    let features: Vec<Features> = reviews.iter().map(|r| featurize(&spec, &r.text)).collect();

    let mut variants = Vec::new();
    let mut published = serde_json::Map::new();
    for variant in Variant::ALL {
        let examples: Vec<Example> = reviews
            .iter()
            .zip(&features)
            .zip(&parts)
            .filter_map(|((review, features), part)| {
                Some(Example {
                    review,
                    features,
                    label: variant.label(review.rating)?,
                    part: *part,
                })
            })
            .collect();
        let (report, bundle) = train_variant(variant, &examples, &spec, args)?;
        tracing::info!(
            "sentiment {}: test ROC-AUC {:.4}, macro-F1 {:.4}, {} bytes gzipped",
            variant.name(),
            report.test.roc_auc,
            report.test.macro_f1,
            report.gzip_bytes
        );
        if let Some(dir) = &args.publish {
            publish_bundle(&bundle, dir)?;
            published.insert(variant.name().to_string(), bundle_pointer(&bundle.model_id));
        }
        variants.push(report);
    }
    if let Some(dir) = &args.publish {
        let mut text = serde_json::to_string_pretty(&published)?;
        text.push('\n');
        write_atomic(&dir.join(POINTER_FILE), text.as_bytes())?;
    }
    let report = SentimentReport {
        reviews: args.reviews.display().to_string(),
        read,
        split_seed: args.seed,
        featurizer: spec,
        variants,
    };
    let path = args.out.join("sentiment-report.json");
    write_atomic(&path, serde_json::to_string_pretty(&report)?.as_bytes())?;
    if let Some(params) = &args.write_params {
        SentimentParams::from_report(&report)?.write(params)?;
        println!("Wrote each variant's λ to {}", params.display());
    }
    Ok(report)
}

fn train_variant(
    variant: Variant,
    examples: &[Example],
    spec: &FeaturizerSpec,
    args: &SentimentArgs,
) -> anyhow::Result<(VariantReport, BuiltBundle)> {
    let started = Instant::now();
    let n_classes = variant.classes().len();
    let buckets = spec.n_buckets();
    let count = |part: Part| examples.iter().filter(|e| e.part == part).count();
    let (n_train, n_validation) = (count(Part::Train), count(Part::Validation));
    anyhow::ensure!(
        n_train > 0 && n_validation > 0,
        "too few reviews to train and validate"
    );
    let committed = match &args.params {
        Some(path) => {
            let params = SentimentParams::read(path)?;
            Some(if variant == Variant::ALL[0] {
                params.two_class
            } else {
                params.three_class
            })
        }
        None => None,
    };
    // Committed parameters skip the search: fitting their λ on the training
    // part would only recompute the validation figures the file records, and
    // the bundle does not depend on that fit (which took about half of the
    // command's CPU time, 2026-12-05).
    let (grid, best) = match committed {
        Some(chosen) => (Vec::new(), chosen.l2),
        None => {
            let grid = search_l2(variant, examples, buckets, args);
            let best = grid
                .iter()
                .min_by(|a, b| a.validation.log_loss.total_cmp(&b.validation.log_loss))
                .context("the λ grid is empty")?
                .l2;
            (grid, best)
        }
    };
    let (fit_x, fit_y) = select(examples, |p| p != Part::Test);
    let config = FitConfig {
        l2: best,
        max_iterations: args.max_iterations,
        ..FitConfig::default()
    };
    let (model, _) = fit(&fit_x, &fit_y, n_classes, buckets, config);

    let test: Vec<&Example> = examples.iter().filter(|e| e.part == Part::Test).collect();
    let truth: Vec<usize> = test.iter().map(|e| e.label as usize).collect();
    let unquantised: Vec<Vec<f64>> = test
        .iter()
        .map(|e| model.probabilities(e.features))
        .collect();
    let test_unquantised = class_metrics(&unquantised, &truth, n_classes);

    let mut builder = SentimentBundleBuilder::new(spec.clone(), variant.classes());
    builder.training(SentimentTraining {
        source: SOURCE.to_string(),
        labels: variant.labels_description().to_string(),
        n_train: fit_x.len() as u64,
        n_test: test.len() as u64,
        split_seed: args.seed,
    });
    // The metrics go into the manifest, so they are computed on a first build
    // of the same weights (the metrics do not change the weights).
    let weights: Vec<f32> = model.weights.iter().map(|w| *w as f32).collect();
    let bias: Vec<f32> = model.bias.iter().map(|b| *b as f32).collect();
    let draft = builder.build(&weights, &bias)?;
    let engine = SentimentModel::from_bytes(&draft.manifest, &draft.tensors)?;
    let mut scored = Vec::with_capacity(test.len());
    for example in &test {
        scored.push(engine.sentiment(&example.review.text)?.probabilities);
    }
    let test_metrics = class_metrics(&scored, &truth, n_classes);
    builder
        .metric("test_roc_auc", test_metrics.roc_auc)
        .metric("test_macro_f1", test_metrics.macro_f1)
        .metric("test_accuracy", test_metrics.accuracy)
        .metric("l2", best);
    let bundle = builder.build(&weights, &bias)?;
    let report = VariantReport {
        variant,
        model_id: bundle.model_id.clone(),
        n_train,
        n_validation,
        n_test: test.len(),
        grid,
        committed,
        l2: best,
        test: test_metrics,
        test_unquantised,
        manifest_bytes: bundle.manifest.len(),
        tensors_bytes: bundle.tensors.len(),
        gzip_bytes: gzip_len(&bundle.manifest) + gzip_len(&bundle.tensors),
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok((report, bundle))
}

/// The features and classes of the examples in the parts `keep` keeps.
fn select(examples: &[Example], keep: impl Fn(Part) -> bool) -> (Vec<Features>, Vec<u8>) {
    examples
        .iter()
        .filter(|e| keep(e.part))
        .map(|e| (e.features.clone(), e.label))
        .unzip()
}

/// The λ search of `--l2`: each λ fitted on the training part and scored on
/// validation (the unquantised model).
fn search_l2(
    variant: Variant,
    examples: &[Example],
    buckets: usize,
    args: &SentimentArgs,
) -> Vec<GridPoint> {
    let n_classes = variant.classes().len();
    let (train_x, train_y) = select(examples, |p| p == Part::Train);
    let (validation_x, validation_y) = select(examples, |p| p == Part::Validation);
    let truth: Vec<usize> = validation_y.iter().map(|y| *y as usize).collect();
    let mut grid = Vec::new();
    for l2 in &args.l2 {
        let config = FitConfig {
            l2: *l2,
            max_iterations: args.max_iterations,
            ..FitConfig::default()
        };
        let (model, iterations) = fit(&train_x, &train_y, n_classes, buckets, config);
        let probabilities: Vec<Vec<f64>> = validation_x
            .iter()
            .map(|x| model.probabilities(x))
            .collect();
        let validation = class_metrics(&probabilities, &truth, n_classes);
        tracing::info!(
            "sentiment {}: λ {l2:e}: validation log-loss {:.4}, ROC-AUC {:.4} ({iterations} iterations)",
            variant.name(),
            validation.log_loss,
            validation.roc_auc
        );
        grid.push(GridPoint {
            l2: *l2,
            validation,
            iterations,
        });
    }
    grid
}

/// Writes `row_id,part,rating` for every review with text, so the peers read
/// exactly the same rows.
fn write_split(path: &Path, reviews: &[Review], parts: &[Part]) -> anyhow::Result<()> {
    let mut text = String::from("row_id,part,rating\n");
    for (review, part) in reviews.iter().zip(parts) {
        let part = match part {
            Part::Train => "train",
            Part::Validation => "validation",
            Part::Test => "test",
        };
        text.push_str(&format!("{},{part},{}\n", review.row_id, review.rating));
    }
    write_atomic(path, text.as_bytes())
}

/// Writes `DIR/<model_id>/manifest.json` and `tensors.safetensors`.
fn publish_bundle(bundle: &BuiltBundle, dir: &Path) -> anyhow::Result<()> {
    let bundle_dir = dir.join(&bundle.model_id);
    std::fs::create_dir_all(&bundle_dir)
        .with_context(|| format!("creating {}", bundle_dir.display()))?;
    write_atomic(&bundle_dir.join(layout::TENSORS_FILE), &bundle.tensors)?;
    write_atomic(&bundle_dir.join(layout::MANIFEST_FILE), &bundle.manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratings_map_to_the_stated_classes() {
        let two: Vec<Option<u8>> = (1..=5).map(|r| Variant::TwoClass.label(r)).collect();
        assert_eq!(two, [Some(0), Some(0), None, Some(1), Some(1)]);
        let three: Vec<Option<u8>> = (1..=5).map(|r| Variant::ThreeClass.label(r)).collect();
        assert_eq!(three, [Some(0), Some(0), Some(1), Some(2), Some(2)]);
    }

    #[test]
    fn committed_parameters_publish_what_a_search_of_their_lambda_does() {
        let dir = std::env::temp_dir().join(format!("cove-sentiment-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let reviews = dir.join("reviews.csv");
        let mut csv = String::from(",Clothing ID,Title,Review Text,Rating,Class Name\n");
        let texts = [
            "Awful, it tore",
            "Returned it, poor fabric",
            "Just okay",
            "Lovely and soft",
            "Love it, fits well",
        ];
        for row in 0..300 {
            let rating = row % 5 + 1;
            let text = texts[row % 5];
            csv.push_str(&format!(
                "{row},{},,\"{text} {row}\",{rating},Dresses\n",
                row % 7
            ));
        }
        std::fs::write(&reviews, csv).unwrap();
        let l2 = 1e-3;
        let params = dir.join("params.toml");
        let chosen = VariantParams {
            l2,
            validation_log_loss: 0.5,
            validation_roc_auc: 0.5,
        };
        SentimentParams {
            two_class: chosen,
            three_class: chosen,
        }
        .write(&params)
        .unwrap();
        let searched = SentimentArgs {
            reviews,
            out: dir.join("searched"),
            publish: Some(dir.join("searched")),
            seed: reviews::SPLIT_SEED,
            hash_bits: 10,
            word_ngrams: 2,
            char_ngram_min: 3,
            char_ngram_max: 5,
            l2: vec![l2],
            max_iterations: 50,
            params: None,
            write_params: None,
        };
        let committed = SentimentArgs {
            out: dir.join("committed"),
            publish: Some(dir.join("committed")),
            l2: vec![],
            params: Some(params),
            ..searched.clone()
        };
        let (searched, committed) = (run(&searched).unwrap(), run(&committed).unwrap());
        for (s, c) in searched.variants.iter().zip(&committed.variants) {
            assert_eq!(s.model_id, c.model_id);
            assert_eq!((s.grid.len(), s.committed), (1, None));
            assert_eq!((c.grid.len(), c.committed), (0, Some(chosen)));
            assert_eq!(
                (c.l2, c.n_train, c.n_validation),
                (l2, s.n_train, s.n_validation)
            );
        }
        let pointer = |name: &str| std::fs::read(dir.join(name).join(POINTER_FILE)).unwrap();
        assert_eq!(pointer("searched"), pointer("committed"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
