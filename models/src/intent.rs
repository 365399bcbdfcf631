//! The purchase-intent / abandonment-risk classifier, trained on the UCI Online
//! Shoppers Purchasing Intention sessions with only features the device can
//! compute from the session's own events ([`session_features`]).

use std::io::Read;
use std::path::Path;

use serde::Serialize;

use crate::calibration::{self, CalibrationQuality, Platt, RescueShare};
use crate::classify::{ClassifierQuality, LinearClassifier};
use crate::data::MalformedFile;

/// The session features, one function from a session to a vector.
///
/// The order of [`session_features::NAMES`] must match the engine's
/// `SessionFeatures` struct field by field: the classifier's weights are
/// applied positionally on the device. This module is the only place the
/// trainer defines that order, so switching to the engine's struct is a change
/// here alone.
pub mod session_features {
    /// Feature names, in the order the engine's `SessionFeatures` must use.
    pub const NAMES: [&str; 14] = [
        "ln(1 + admin_pages)",
        "ln(1 + admin_seconds)",
        "ln(1 + info_pages)",
        "ln(1 + info_seconds)",
        "ln(1 + product_pages)",
        "ln(1 + product_seconds)",
        "ln(1 + total_pages)",
        "ln(1 + total_seconds)",
        "ln(1 + seconds_per_product_page)",
        "is_returning_visitor",
        "is_new_visitor",
        "is_weekend",
        "is_single_page (bounce proxy)",
        "product_pages / total_pages",
    ];

    /// What the device counts in one session: page views and seconds per page
    /// type, whether it has seen this shopper before, and the weekday.
    #[derive(Debug, Clone, Copy, PartialEq, Default)]
    pub struct SessionCounts {
        /// Account / administrative pages viewed.
        pub admin_pages: f64,
        /// Seconds on them.
        pub admin_seconds: f64,
        /// Informational pages (shipping, about, FAQ) viewed.
        pub info_pages: f64,
        /// Seconds on them.
        pub info_seconds: f64,
        /// Product pages viewed.
        pub product_pages: f64,
        /// Seconds on them.
        pub product_seconds: f64,
        /// A returning visitor (the device has an earlier session).
        pub returning: bool,
        /// A first visit.
        pub new_visitor: bool,
        /// The session falls on a Saturday or Sunday.
        pub weekend: bool,
    }

    /// The feature vector, in [`NAMES`] order. Negative counts or durations
    /// (a known quirk of the source data) count as zero.
    pub fn vector(s: &SessionCounts) -> Vec<f64> {
        let c = |v: f64| v.max(0.0);
        let total_pages = c(s.admin_pages) + c(s.info_pages) + c(s.product_pages);
        let total_seconds = c(s.admin_seconds) + c(s.info_seconds) + c(s.product_seconds);
        let per_product = if s.product_pages > 0.0 {
            c(s.product_seconds) / s.product_pages
        } else {
            0.0
        };
        vec![
            c(s.admin_pages).ln_1p(),
            c(s.admin_seconds).ln_1p(),
            c(s.info_pages).ln_1p(),
            c(s.info_seconds).ln_1p(),
            c(s.product_pages).ln_1p(),
            c(s.product_seconds).ln_1p(),
            total_pages.ln_1p(),
            total_seconds.ln_1p(),
            per_product.ln_1p(),
            f64::from(u8::from(s.returning)),
            f64::from(u8::from(s.new_visitor)),
            f64::from(u8::from(s.weekend)),
            f64::from(u8::from(total_pages <= 1.0)),
            if total_pages > 0.0 {
                c(s.product_pages) / total_pages
            } else {
                0.0
            },
        ]
    }
}

use session_features::SessionCounts;

/// Sessions read from the Online Shoppers file.
#[derive(Debug, Clone, Default)]
pub struct Sessions {
    /// Parsed sessions.
    pub sessions: Vec<SessionCounts>,
    /// Whether each session bought (`Revenue`).
    pub bought: Vec<u32>,
    /// Each session's month, 1 (January) to 12, from the `Month` column (the
    /// data covers one year; 0 when the name is not a month).
    pub month: Vec<u8>,
    /// Per session, the site-analytics aggregates `BounceRates`, `ExitRates`
    /// and `PageValues` (NaN if missing). The device cannot compute them from
    /// its own events; they feed only the reference model in the report.
    pub analytics: Vec<[f64; 3]>,
    /// Rows skipped because a used value was empty or not a number.
    pub rows_skipped: usize,
    /// Rows with a negative duration (kept, clamped to zero).
    pub rows_negative_duration: usize,
}

/// Reads the Online Shoppers CSV (plain or gzip). Columns are found by name.
pub fn read_sessions(reader: impl Read) -> Result<Sessions, MalformedFile> {
    let mut csv_reader = csv::ReaderBuilder::new().from_reader(reader);
    let header = csv_reader
        .headers()
        .map_err(|e| MalformedFile {
            line: Some(1),
            column: None,
            message: e.to_string(),
            ..MalformedFile::default()
        })?
        .clone();
    let names = [
        "Administrative",
        "Administrative_Duration",
        "Informational",
        "Informational_Duration",
        "ProductRelated",
        "ProductRelated_Duration",
        "VisitorType",
        "Weekend",
        "Revenue",
        "BounceRates",
        "ExitRates",
        "PageValues",
        "Month",
    ];
    let mut pos = [0usize; 13];
    for (slot, name) in pos.iter_mut().zip(names) {
        *slot = header
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| MalformedFile {
                line: Some(1),
                column: Some(name.into()),
                message: format!("required column '{name}' is not in the header"),
                ..MalformedFile::default()
            })?;
    }
    let mut out = Sessions::default();
    for record in csv_reader.records() {
        let record = record.map_err(|e| MalformedFile {
            line: e.position().map(|p| p.line()),
            column: None,
            message: e.to_string(),
            ..MalformedFile::default()
        })?;
        let number = |k: usize| record[pos[k]].trim().parse::<f64>().ok();
        let values: Option<Vec<f64>> = (0..6).map(number).collect();
        let Some(v) = values else {
            out.rows_skipped += 1;
            continue;
        };
        if v.iter().any(|x| *x < 0.0) {
            out.rows_negative_duration += 1;
        }
        let visitor = record[pos[6]].trim();
        out.sessions.push(SessionCounts {
            admin_pages: v[0],
            admin_seconds: v[1],
            info_pages: v[2],
            info_seconds: v[3],
            product_pages: v[4],
            product_seconds: v[5],
            returning: visitor == "Returning_Visitor",
            new_visitor: visitor == "New_Visitor",
            weekend: record[pos[7]].trim().eq_ignore_ascii_case("true"),
        });
        out.bought.push(u32::from(
            record[pos[8]].trim().eq_ignore_ascii_case("true"),
        ));
        out.analytics
            .push([9, 10, 11].map(|k| number(k).unwrap_or(f64::NAN)));
        out.month.push(month_number(record[pos[12]].trim()));
    }
    Ok(out)
}

/// The month number of a `Month` value ("Feb", "June", "Sept", "December"),
/// or 0 when it names no month.
pub fn month_number(name: &str) -> u8 {
    const PREFIXES: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let lower = name.to_ascii_lowercase();
    PREFIXES
        .iter()
        .position(|p| lower.len() >= 3 && lower.starts_with(p))
        .map_or(0, |i| i as u8 + 1)
}

/// Sessions of this month and later are held out: the data's last two
/// months (November and December), trained on February to October.
pub const FIRST_TEST_MONTH: u8 = 11;

/// The intent classifier and its held-out quality.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IntentModel {
    /// The classifier, on [`session_features::NAMES`].
    pub classifier: LinearClassifier,
    /// Quality on the held-out sessions.
    pub test_quality: ClassifierQuality,
    /// For reference only, the same split and model with the data set's
    /// site-analytics columns (BounceRates, ExitRates, ln(1 + PageValues))
    /// added: what the on-device restriction costs. Not shipped.
    pub reference_with_analytics_quality: ClassifierQuality,
    /// Training sessions.
    pub n_train: usize,
    /// How the split was made.
    pub split: String,
    /// Rows skipped and clamped while reading.
    pub rows_skipped: usize,
    /// Rows whose negative values were clamped to zero.
    pub rows_negative_duration: usize,
    /// The model refitted, on the same split, on the engine's own vectoriser
    /// (`cove_engine::features::SessionFeatures::to_vector`, 8 inputs): the one
    /// the bundle ships, since the device computes exactly those inputs.
    pub engine_classifier: LinearClassifier,
    /// Its quality on the held-out sessions.
    pub engine_test_quality: ClassifierQuality,
    /// Its calibration on the held-out sessions and the rescue threshold.
    pub calibration: RiskCalibration,
    /// `engine_classifier` with [`RiskCalibration::platt`] folded in: the
    /// classifier the bundle ships.
    pub calibrated_classifier: LinearClassifier,
}

/// The abandonment risk's calibration and the rescue threshold, on the
/// held-out months split in two by a seeded draw per session: a validation
/// part, on which the Platt scaling and the threshold are chosen, and a test
/// part, on which they are reported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RiskCalibration {
    /// The scaling of the logit, fitted on the validation part.
    pub platt: Platt,
    /// Sessions in the validation part.
    pub n_validation: usize,
    /// Sessions in the test part.
    pub n_test: usize,
    /// The engine classifier's risk on the test part, as trained.
    pub test_before: CalibrationQuality,
    /// The same after Platt scaling.
    pub test_after: CalibrationQuality,
    /// The share of carts the rescue is meant for (`--rescue-share`).
    pub rescue_share: f64,
    /// The rescue threshold: offer when the calibrated risk is at least this.
    pub rescue_threshold: f64,
    /// Carts (sessions with a product page) in the validation part.
    pub validation_carts: usize,
    /// The share of them at or above the threshold.
    pub validation_offer_share: f64,
    /// Carts in the test part.
    pub test_carts: usize,
    /// The share of them at or above the threshold: what a shop would see.
    pub test_offer_share: f64,
    /// The calibrated risk of one product page viewed and nothing else
    /// (a new visitor on a weekday): one item put in the cart at once.
    pub one_page_risk: f64,
}

/// Seed of the draw that splits the held-out sessions into validation and
/// test parts.
pub const CALIBRATION_SPLIT_SEED: u64 = 20;

/// Whether held-out session `index` is in the validation part (half of them).
fn in_validation(index: usize) -> bool {
    cove_engine::abandonment::unit_interval((CALIBRATION_SPLIT_SEED << 32) | index as u64) < 0.5
}

/// Calibrates `engine` on the held-out sessions (`rows`, `bought`,
/// `product_pages` per session) and sets the rescue threshold for `share`.
fn calibrate(
    engine: &LinearClassifier,
    rows: &[Vec<f64>],
    bought: &[u32],
    product_pages: &[f64],
    share: RescueShare,
) -> anyhow::Result<(RiskCalibration, LinearClassifier)> {
    let (mut val, mut test) = (Vec::new(), Vec::new());
    for index in 0..rows.len() {
        if in_validation(index) {
            val.push(index);
        } else {
            test.push(index);
        }
    }
    let logits: Vec<f64> = rows.iter().map(|r| calibration::logit(engine, r)).collect();
    let platt = calibration::platt(
        &val.iter().map(|&i| logits[i]).collect::<Vec<_>>(),
        &val.iter().map(|&i| bought[i]).collect::<Vec<_>>(),
    )?;
    let calibrated = calibration::fold(engine, platt);
    let risk_before: Vec<f64> = rows.iter().map(|r| 1.0 - engine.probability(r)).collect();
    let risk_after: Vec<f64> = rows
        .iter()
        .map(|r| 1.0 - calibrated.probability(r))
        .collect();
    let pick = |part: &[usize], values: &[f64]| part.iter().map(|&i| values[i]).collect::<Vec<_>>();
    let test_bought: Vec<u32> = test.iter().map(|&i| bought[i]).collect();
    let carts = |part: &[usize]| -> Vec<f64> {
        part.iter()
            .filter(|&&i| product_pages[i] > 0.0)
            .map(|&i| risk_after[i])
            .collect()
    };
    let (val_carts, test_carts) = (carts(&val), carts(&test));
    anyhow::ensure!(
        !val_carts.is_empty() && !test_carts.is_empty(),
        "purchase intent: the held-out sessions have no carts (sessions with a product page) in \
         the validation or the test part, so no rescue threshold can be set"
    );
    let threshold = calibration::threshold_for_share(&val_carts, share);
    let one_page = engine_session_row(&SessionCounts {
        product_pages: 1.0,
        new_visitor: true,
        ..SessionCounts::default()
    });
    Ok((
        RiskCalibration {
            platt,
            n_validation: val.len(),
            n_test: test.len(),
            test_before: CalibrationQuality::of(&pick(&test, &risk_before), &test_bought),
            test_after: CalibrationQuality::of(&pick(&test, &risk_after), &test_bought),
            rescue_share: share.get(),
            rescue_threshold: threshold,
            validation_carts: val_carts.len(),
            validation_offer_share: calibration::share_at_or_above(&val_carts, threshold),
            test_carts: test_carts.len(),
            test_offer_share: calibration::share_at_or_above(&test_carts, threshold),
            one_page_risk: 1.0 - calibrated.probability(&one_page),
        },
        calibrated,
    ))
}

/// The engine's purchase-intent inputs for one session, in
/// `cove_engine::features::SessionFeatures::NAMES` order.
pub fn engine_session_row(s: &SessionCounts) -> Vec<f64> {
    let features = cove_engine::features::SessionFeatures {
        administrative: s.admin_pages,
        administrative_duration: s.admin_seconds,
        informational: s.info_pages,
        informational_duration: s.info_seconds,
        product_related: s.product_pages,
        product_related_duration: s.product_seconds,
        returning_visitor: s.returning,
        weekend: s.weekend,
    };
    features.to_vector().iter().map(|v| *v as f64).collect()
}

/// Fits on the sessions before [`FIRST_TEST_MONTH`] and measures on the
/// later ones: a held-out split in time, as the model is used (trained on
/// the past, applied to later shoppers). Sessions whose month does not parse
/// are left out of both. The held-out sessions then calibrate the engine's
/// classifier and set the rescue threshold for `rescue_share` of carts
/// ([`RiskCalibration`]).
pub fn train_intent(sessions: &Sessions, rescue_share: RescueShare) -> anyhow::Result<IntentModel> {
    let (mut train_x, mut train_y, mut test_x, mut test_y) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut train_ref, mut test_ref) = (Vec::new(), Vec::new());
    let (mut train_engine, mut test_engine) = (Vec::new(), Vec::new());
    let mut test_product_pages = Vec::new();
    let mut rows_without_month = 0;
    for (i, &class) in sessions.bought.iter().enumerate() {
        let month = sessions.month.get(i).copied().unwrap_or(0);
        if month == 0 {
            rows_without_month += 1;
            continue;
        }
        let row = session_features::vector(&sessions.sessions[i]);
        let mut with_analytics = row.clone();
        let [bounce, exit, page_value] = sessions.analytics[i];
        with_analytics.extend([
            if bounce.is_finite() { bounce } else { 0.0 },
            if exit.is_finite() { exit } else { 0.0 },
            if page_value.is_finite() {
                page_value.max(0.0).ln_1p()
            } else {
                0.0
            },
        ]);
        let engine_row = engine_session_row(&sessions.sessions[i]);
        if month >= FIRST_TEST_MONTH {
            test_product_pages.push(sessions.sessions[i].product_pages);
            test_engine.push(engine_row);
            test_x.push(row);
            test_ref.push(with_analytics);
            test_y.push(class);
        } else {
            train_engine.push(engine_row);
            train_x.push(row);
            train_ref.push(with_analytics);
            train_y.push(class);
        }
    }
    anyhow::ensure!(
        !train_y.is_empty() && !test_y.is_empty(),
        "purchase intent: the months do not give both a training part (before month {FIRST_TEST_MONTH}) \
         and a held-out part"
    );
    for (what, labels) in [("training", &train_y), ("held-out", &test_y)] {
        let n_bought = labels.iter().filter(|&&b| b == 1).count();
        anyhow::ensure!(
            n_bought > 0 && n_bought < labels.len(),
            "purchase intent: {n_bought} of the {} {what} sessions bought; the abandonment risk \
             needs sessions that bought and sessions that did not",
            labels.len()
        );
    }
    let classifier = LinearClassifier::fit(&session_features::NAMES, &train_x, &train_y, 1.0)?;
    let scores: Vec<f64> = test_x.iter().map(|r| classifier.probability(r)).collect();
    let mut reference_names: Vec<&str> = session_features::NAMES.to_vec();
    reference_names.extend(["BounceRates", "ExitRates", "ln(1 + PageValues)"]);
    let reference = LinearClassifier::fit(&reference_names, &train_ref, &train_y, 1.0)?;
    let reference_scores: Vec<f64> = test_ref.iter().map(|r| reference.probability(r)).collect();
    let engine_classifier = LinearClassifier::fit(
        &cove_engine::features::SessionFeatures::NAMES,
        &train_engine,
        &train_y,
        1.0,
    )?;
    let engine_scores: Vec<f64> = test_engine
        .iter()
        .map(|r| engine_classifier.probability(r))
        .collect();
    let (calibration, calibrated_classifier) = calibrate(
        &engine_classifier,
        &test_engine,
        &test_y,
        &test_product_pages,
        rescue_share,
    )?;
    Ok(IntentModel {
        calibration,
        calibrated_classifier,
        engine_test_quality: ClassifierQuality::of(&engine_scores, &test_y),
        engine_classifier,
        test_quality: ClassifierQuality::of(&scores, &test_y),
        reference_with_analytics_quality: ClassifierQuality::of(&reference_scores, &test_y),
        n_train: train_y.len(),
        split: format!(
            "in time: trained on February to October, held out November and December \
             ({} sessions, {} without a month left out)",
            test_y.len(),
            rows_without_month
        ),
        rows_skipped: sessions.rows_skipped,
        rows_negative_duration: sessions.rows_negative_duration,
        classifier,
    })
}

/// Reads the sessions file and trains the intent model.
pub fn train_intent_file(path: &Path, rescue_share: RescueShare) -> anyhow::Result<IntentModel> {
    use anyhow::Context;
    let reader = crate::data::open_maybe_gzip(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let sessions = read_sessions(reader).with_context(|| format!("reading {}", path.display()))?;
    train_intent(&sessions, rescue_share)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "Administrative,Administrative_Duration,Informational,Informational_Duration,ProductRelated,ProductRelated_Duration,BounceRates,ExitRates,PageValues,SpecialDay,Month,OperatingSystems,Browser,Region,TrafficType,VisitorType,Weekend,Revenue\n";

    #[test]
    fn reads_sessions_and_counts_quirks() {
        let text = format!(
            "{HEADER}0,0,0,0,1,0,0.2,0.2,0,0,Feb,1,1,1,1,Returning_Visitor,FALSE,FALSE\n\
             ,,,,,,,,0,0,Mar,1,1,1,1,New_Visitor,FALSE,FALSE\n\
             2,-1,0,-1,10,300,0,0.1,0,0,Mar,1,1,1,1,New_Visitor,TRUE,TRUE"
        );
        let s = read_sessions(text.as_bytes()).unwrap();
        assert_eq!(s.sessions.len(), 2);
        assert_eq!(s.rows_skipped, 1);
        assert_eq!(s.rows_negative_duration, 1);
        assert_eq!(s.bought, vec![0, 1]);
        assert!(s.sessions[0].returning && !s.sessions[0].weekend);
        let v = session_features::vector(&s.sessions[1]);
        assert_eq!(v.len(), session_features::NAMES.len());
        assert_eq!(v[1], 0.0, "a -1 duration counts as zero");
        assert!((v[8] - 31f64.ln()).abs() < 1e-12, "30 s per product page");
    }

    #[test]
    fn months_parse_and_split_the_sessions_in_time() {
        for (name, want) in [
            ("Feb", 2),
            ("June", 6),
            ("Sep", 9),
            ("Sept", 9),
            ("Nov", 11),
            ("December", 12),
            ("", 0),
            ("Fe", 0),
            ("Spring", 0),
        ] {
            assert_eq!(month_number(name), want, "{name}");
        }
        // Two classes in each part; the split is by month only.
        let mut text = HEADER.to_string();
        for (i, month) in ["Mar", "May", "Oct", "Nov", "Dec", "Nope"]
            .iter()
            .enumerate()
        {
            for j in 0..4 {
                let bought = if (i + j) % 2 == 0 { "TRUE" } else { "FALSE" };
                text.push_str(&format!(
                    "{j},{},0,0,{},{},0,0.1,0,0,{month},1,1,1,1,Returning_Visitor,FALSE,{bought}\n",
                    10 * j,
                    3 + j,
                    30 * (i + j)
                ));
            }
        }
        let sessions = read_sessions(text.as_bytes()).unwrap();
        assert_eq!(
            sessions.month,
            [3, 3, 3, 3, 5, 5, 5, 5, 10, 10, 10, 10, 11, 11, 11, 11, 12, 12, 12, 12, 0, 0, 0, 0]
        );
        let model = train_intent(&sessions, calibration::DEFAULT_RESCUE_SHARE).unwrap();
        assert_eq!(model.n_train, 12, "March, May and October");
        assert_eq!(model.test_quality.n_rows, 8, "November and December");
        assert!(model.split.contains("4 without a month"), "{}", model.split);
    }

    #[test]
    fn sessions_that_all_buy_are_refused_with_a_message() {
        let mut text = HEADER.to_string();
        for (i, month) in ["Mar", "May", "Nov", "Dec"].iter().enumerate() {
            for j in 0..5 {
                text.push_str(&format!(
                    "{j},{},0,0,{},{},0,0.1,0,0,{month},1,1,1,1,Returning_Visitor,FALSE,TRUE\n",
                    10 * j,
                    3 + j,
                    30 * (i + j)
                ));
            }
        }
        let sessions = read_sessions(text.as_bytes()).unwrap();
        let err = train_intent(&sessions, calibration::DEFAULT_RESCUE_SHARE).unwrap_err();
        assert!(
            err.to_string()
                .contains("10 of the 10 training sessions bought"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_column_is_named() {
        let err = read_sessions("Administrative,Revenue\n1,TRUE\n".as_bytes()).unwrap_err();
        assert_eq!(err.column.as_deref(), Some("Administrative_Duration"));
    }
}
