//! Reading review text with star ratings (the Women's E-Commerce Clothing
//! Reviews layout), labelling it, and the fixed, seeded held-out split.

use std::path::Path;

use anyhow::{bail, Context};

use crate::data::open_maybe_gzip;
use crate::random::mix;

/// One review with text.
#[derive(Debug, Clone, PartialEq)]
pub struct Review {
    /// The data set's own row index (its unnamed first column).
    pub row_id: u64,
    /// The reviewed item's id.
    pub item_id: String,
    /// The item's category (the data set's `Class Name`).
    pub category: String,
    /// Title and review text as the model reads them: the title, a newline,
    /// the text (either alone when the other is empty).
    pub text: String,
    /// Stars, 1 to 5.
    pub rating: u8,
}

/// What reading dropped, by reason.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ReadCounts {
    /// Rows read.
    pub rows: u64,
    /// Rows with neither a title nor a text.
    pub no_text: u64,
    /// Rows whose rating is not a whole number from 1 to 5.
    pub bad_rating: u64,
}

/// The text the model reads for a title and a review text.
pub fn review_text(title: &str, text: &str) -> String {
    match (title.trim(), text.trim()) {
        ("", text) => text.to_string(),
        (title, "") => title.to_string(),
        (title, text) => format!("{title}\n{text}"),
    }
}

/// Reads a reviews CSV (plain or gzip). Columns are found by header name:
/// the unnamed first column (the row id), `Clothing ID`, `Title`,
/// `Review Text`, `Rating` and `Class Name`.
pub fn read_reviews(path: &Path) -> anyhow::Result<(Vec<Review>, ReadCounts)> {
    let reader = open_maybe_gzip(path).with_context(|| format!("opening {}", path.display()))?;
    let mut csv = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(reader);
    let headers = csv.headers()?.clone();
    let column = |name: &str| -> anyhow::Result<usize> {
        headers
            .iter()
            .position(|h| h == name)
            .with_context(|| format!("{}: no column {name:?}", path.display()))
    };
    let (id_col, item_col, title_col, text_col, rating_col, category_col) = (
        column("")?,
        column("Clothing ID")?,
        column("Title")?,
        column("Review Text")?,
        column("Rating")?,
        column("Class Name")?,
    );
    let mut reviews = Vec::new();
    let mut counts = ReadCounts::default();
    for (line, record) in csv.records().enumerate() {
        let record = record.with_context(|| format!("{}: record {}", path.display(), line + 1))?;
        counts.rows += 1;
        let field = |col: usize| record.get(col).unwrap_or("");
        let Ok(row_id) = field(id_col).trim().parse::<u64>() else {
            bail!("{}: record {} has no row id", path.display(), line + 1);
        };
        let text = review_text(field(title_col), field(text_col));
        if text.is_empty() {
            counts.no_text += 1;
            continue;
        }
        let rating = match field(rating_col).trim().parse::<u8>() {
            Ok(rating @ 1..=5) => rating,
            _ => {
                counts.bad_rating += 1;
                continue;
            }
        };
        reviews.push(Review {
            row_id,
            item_id: field(item_col).trim().to_string(),
            category: field(category_col).trim().to_string(),
            text,
            rating,
        });
    }
    Ok((reviews, counts))
}

/// Which part of the data a review belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// Fits the model.
    Train,
    /// Chooses the regularisation (a part of the training reviews).
    Validation,
    /// Held out: scored once, for the reported figures.
    Test,
}

/// The default seed of the split.
pub const SPLIT_SEED: u64 = 20_260_923;

/// The share of reviews held out for the test, in percent.
pub const TEST_PERCENT: u64 = 20;

/// The share of the remaining reviews used for validation, in percent.
pub const VALIDATION_PERCENT: u64 = 10;

/// The part of a review, from its row id and the seed alone: the test part is
/// the rows whose hash falls in the lowest [`TEST_PERCENT`] of a hundred; of
/// the others, the upper bits of the same hash choose the validation part.
pub fn part_of(row_id: u64, seed: u64) -> Part {
    let hash = mix(seed ^ mix(row_id));
    if hash % 100 < TEST_PERCENT {
        Part::Test
    } else if (hash >> 32) % 100 < VALIDATION_PERCENT {
        Part::Validation
    } else {
        Part::Train
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_joins_title_and_review() {
        assert_eq!(review_text(" Nice ", "Fits well"), "Nice\nFits well");
        assert_eq!(review_text("", " Fits "), "Fits");
        assert_eq!(review_text("Nice", ""), "Nice");
        assert_eq!(review_text(" ", ""), "");
    }

    #[test]
    fn the_split_is_fixed_by_the_seed_and_has_the_stated_shares() {
        let parts: Vec<Part> = (0..20_000).map(|id| part_of(id, SPLIT_SEED)).collect();
        let test = parts.iter().filter(|p| **p == Part::Test).count();
        let validation = parts.iter().filter(|p| **p == Part::Validation).count();
        assert!((3_700..4_300).contains(&test), "{test}");
        assert!((1_400..1_800).contains(&validation), "{validation}");
        assert_eq!(part_of(17, SPLIT_SEED), part_of(17, SPLIT_SEED));
        let other: Vec<Part> = (0..20_000).map(|id| part_of(id, SPLIT_SEED + 1)).collect();
        assert_ne!(parts, other);
    }

    #[test]
    fn reading_counts_what_it_drops() {
        let dir = std::env::temp_dir().join(format!("cove-reviews-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("reviews.csv");
        std::fs::write(
            &path,
            ",Clothing ID,Age,Title,Review Text,Rating,Class Name\n\
             0,767,33,,\"Lovely, \"\"soft\"\"\nfabric\",5,Intimates\n\
             1,1080,34,,,4,Dresses\n\
             2,1077,60,Bad,Torn,x,Dresses\n\
             3,1049,50,Meh,,3,Pants\n",
        )
        .unwrap();
        let (reviews, counts) = read_reviews(&path).unwrap();
        assert_eq!(
            counts,
            ReadCounts {
                rows: 4,
                no_text: 1,
                bad_rating: 1
            }
        );
        assert_eq!(reviews.len(), 2);
        assert_eq!(reviews[0].text, "Lovely, \"soft\"\nfabric");
        assert_eq!((reviews[1].row_id, reviews[1].rating), (3, 3));
        assert_eq!(reviews[1].category, "Pants");
        std::fs::write(&path, "a,b\n1,2\n").unwrap();
        assert!(read_reviews(&path).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
