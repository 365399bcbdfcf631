//! The shop's catalogue as its pages browse it: products by id, by category
//! and by search, and pages of results. Plain Rust, tested natively; the
//! engine never reads the catalogue (it has the bundle's items), the pages do.
//!
//! Search matches the words of a product's title, case-insensitively: a
//! query word matches a title word it starts (`tea` finds `TEACUP`), or that
//! starts it with at most two letters more (`teacups` finds `TEACUP`); a
//! one-character word only matches itself (`x` does not find `XMAS`).
//! Products matching every query word come first (those holding the query as
//! a phrase before the others), then those matching fewer; common words
//! (`and`, `of`, …) alone never make a product a match. Ties are in title
//! order, so results are stable across catalogue versions.

use serde::Deserialize;

/// How many products a page of results or of a category lists.
pub const PAGE_SIZE: usize = 24;

/// The label of products whose `category` is empty or missing.
pub const OTHER_CATEGORY: &str = "Other";

/// The most query words read (the rest of a pasted paragraph is ignored).
const MAX_QUERY_WORDS: usize = 16;

/// How many title words the shop is browsed by when the catalogue has no
/// categories (see [`Catalogue::new`]).
pub const BROWSE_WORDS: usize = 60;

/// Title words too generic to browse by ("set of 3", "small", "assorted").
const GENERIC_WORDS: &[&str] = &[
    "set", "pack", "design", "assorted", "small", "large", "mini", "colour", "colours",
];

/// Words that never make a product a match on their own.
const COMMON_WORDS: &[&str] = &[
    "a", "an", "and", "the", "of", "with", "for", "in", "on", "to", "&",
];

/// One product of the catalogue, as the trainer publishes it beside the
/// bundle (`catalogue.json`).
#[derive(Debug, Clone, Deserialize)]
pub struct Product {
    /// The product id (stock code).
    pub id: String,
    /// Its title.
    pub title: String,
    /// Its unit price.
    pub price: f64,
    /// Its category, as the trainer labels it; may be empty or missing
    /// (such products are listed under [`OTHER_CATEGORY`]).
    #[serde(default)]
    pub category: String,
    /// Whether it can be bought.
    pub in_stock: bool,
    /// The title word it is browsed under when the catalogue has no
    /// categories (set by [`Catalogue::new`]).
    #[serde(skip)]
    pub browse_word: Option<String>,
}

impl Product {
    /// The category the shop lists this product under: its own, trimmed;
    /// else the title word it is browsed by; else [`OTHER_CATEGORY`].
    pub fn category_label(&self) -> &str {
        match (self.category.trim(), &self.browse_word) {
            ("", Some(word)) => word,
            ("", None) => OTHER_CATEGORY,
            (label, _) => label,
        }
    }
}

/// A category and how many products it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    /// Its label ([`Product::category_label`]).
    pub name: String,
    /// Its number of products.
    pub count: usize,
}

/// What a search found.
#[derive(Debug)]
pub struct SearchResults<'a> {
    /// The query's words as they were matched (lower case, no repeats).
    pub words: Vec<String>,
    /// The matching products, best first.
    pub products: Vec<&'a Product>,
    /// How many of them (the first ones) match every word.
    pub n_complete: usize,
}

/// A page of `n_items` results: the range of items it shows, or why it
/// cannot be shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageOf {
    /// The page exists: items `start..end` of `n_pages` pages.
    Items {
        /// The first item shown (from 0).
        start: usize,
        /// One past the last item shown.
        end: usize,
        /// How many pages there are.
        n_pages: u32,
    },
    /// Page 0, or past the last page.
    OutOfRange {
        /// How many pages there are.
        n_pages: u32,
    },
}

/// Page `page` (from 1) of `n_items` results, [`PAGE_SIZE`] to a page. No
/// results are one empty page.
pub fn page_of(n_items: usize, page: u32) -> PageOf {
    let n_pages = u32::try_from(n_items.div_ceil(PAGE_SIZE).max(1)).unwrap_or(u32::MAX);
    if page == 0 || page > n_pages {
        return PageOf::OutOfRange { n_pages };
    }
    let start = (page as usize - 1) * PAGE_SIZE;
    PageOf::Items {
        start,
        end: (start + PAGE_SIZE).min(n_items),
        n_pages,
    }
}

/// The catalogue, with each title's words read once.
pub struct Catalogue {
    products: Vec<Product>,
    /// The lower-case words of each product's title, by position in `products`.
    title_words: Vec<Vec<String>>,
    /// When the catalogue has no categories: the title words it is browsed
    /// by, lower case.
    browse_words: Vec<String>,
}

impl Catalogue {
    /// The catalogue of `products`, in the order published.
    ///
    /// A shop whose export has no category column, and whose taste clusters
    /// the trainer could not label honestly, publishes no categories. Its
    /// catalogue is then browsed by title word, as a shop's "shop by" pages
    /// are: the [`BROWSE_WORDS`] words (three letters or more, not generic
    /// or common) that the most titles hold; a word's page lists every
    /// product whose title holds it, and a product's own link is the most
    /// specific of its browse words (held by the fewest products: "Mug"
    /// rather than "Pink").
    pub fn new(mut products: Vec<Product>) -> Catalogue {
        let title_words: Vec<Vec<String>> = products.iter().map(|p| words_of(&p.title)).collect();
        let mut browse_words = Vec::new();
        if products.iter().all(|p| p.category.trim().is_empty()) {
            let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
            for words in &title_words {
                let mut seen: Vec<&str> = Vec::new();
                for word in words {
                    let browsable = word.chars().count() >= 3
                        && word.chars().all(char::is_alphabetic)
                        && !is_common(word)
                        && !GENERIC_WORDS.contains(&word.as_str());
                    if browsable && !seen.contains(&word.as_str()) {
                        seen.push(word);
                        *counts.entry(word).or_default() += 1;
                    }
                }
            }
            let mut ranked: Vec<(&str, usize)> = counts.into_iter().collect();
            ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
            ranked.truncate(BROWSE_WORDS);
            for (product, words) in products.iter_mut().zip(&title_words) {
                product.browse_word = ranked
                    .iter()
                    .rev()
                    .find(|(word, _)| words.iter().any(|w| w == word))
                    .map(|(word, _)| title_case(word));
            }
            browse_words = ranked.into_iter().map(|(w, _)| w.to_owned()).collect();
        }
        Catalogue {
            products,
            title_words,
            browse_words,
        }
    }

    /// Whether `index`'s product is listed under category `label`.
    fn lists(&self, index: usize, label: &str) -> bool {
        let lower = label.to_lowercase();
        if self.browse_words.contains(&lower) {
            self.title_words[index].contains(&lower)
        } else {
            self.products[index].category_label() == label
        }
    }

    /// Every product, in the order published.
    pub fn products(&self) -> &[Product] {
        &self.products
    }

    /// The product with id `id`.
    pub fn product(&self, id: &str) -> Option<&Product> {
        self.products.iter().find(|product| product.id == id)
    }

    /// Every category with its number of products, by name
    /// ([`OTHER_CATEGORY`] last).
    pub fn categories(&self) -> Vec<Category> {
        let mut categories: Vec<Category> = Vec::new();
        if !self.browse_words.is_empty() {
            categories = self
                .browse_words
                .iter()
                .map(|word| Category {
                    name: title_case(word),
                    count: self.title_words.iter().filter(|w| w.contains(word)).count(),
                })
                .collect();
            let others = self
                .products
                .iter()
                .filter(|p| p.browse_word.is_none())
                .count();
            if others > 0 {
                categories.push(Category {
                    name: OTHER_CATEGORY.to_owned(),
                    count: others,
                });
            }
        }
        let published = categories.is_empty();
        for product in self.products.iter().filter(|_| published) {
            let name = product.category_label();
            match categories.iter_mut().find(|c| c.name == name) {
                Some(category) => category.count += 1,
                None => categories.push(Category {
                    name: name.to_owned(),
                    count: 1,
                }),
            }
        }
        categories.sort_by(|a, b| {
            (a.name == OTHER_CATEGORY, a.name.to_lowercase())
                .cmp(&(b.name == OTHER_CATEGORY, b.name.to_lowercase()))
        });
        categories
    }

    /// The category a shopper means by `name`: the one spelled so, else the
    /// one spelled so in another case (a URL typed by hand); its products by
    /// title. `None` for a category the catalogue does not have.
    pub fn category(&self, name: &str) -> Option<(String, Vec<&Product>)> {
        let name = name.trim();
        let label = self
            .categories()
            .into_iter()
            .map(|c| c.name)
            .find(|label| label == name)
            .or_else(|| {
                let lower = name.to_lowercase();
                self.categories()
                    .into_iter()
                    .map(|c| c.name)
                    .find(|label| label.to_lowercase() == lower)
            })?;
        let mut products: Vec<&Product> = (0..self.products.len())
            .filter(|&index| self.lists(index, &label))
            .map(|index| &self.products[index])
            .collect();
        products.sort_by(|a, b| a.title.cmp(&b.title).then_with(|| a.id.cmp(&b.id)));
        Some((label, products))
    }

    /// The products matching `query`, best first (see the module's docs).
    pub fn search(&self, query: &str) -> SearchResults<'_> {
        let mut words = words_of(query);
        let mut seen = Vec::new();
        words.retain(|word| {
            let new = !seen.contains(word);
            seen.push(word.clone());
            new
        });
        words.truncate(MAX_QUERY_WORDS);
        // With only common words in the query ("the"), they are all it has.
        let significant: Vec<bool> = if words.iter().all(|w| is_common(w)) {
            vec![true; words.len()]
        } else {
            words.iter().map(|w| !is_common(w)).collect()
        };
        let phrase = words.join(" ");
        let query_id = query.trim().to_lowercase();
        struct Hit {
            index: usize,
            is_id: bool,
            matched: usize,
            exact: usize,
            phrase: bool,
        }
        let mut hits: Vec<Hit> = Vec::new();
        for (index, title_words) in self.title_words.iter().enumerate() {
            let product = &self.products[index];
            let is_id = !query_id.is_empty() && product.id.to_lowercase() == query_id;
            let (mut matched, mut exact, mut any_significant) = (0, 0, false);
            for (word, &significant) in words.iter().zip(&significant) {
                match word_match(word, title_words) {
                    Match::None => continue,
                    Match::Exact => exact += 1,
                    Match::Partial => {}
                }
                matched += 1;
                any_significant |= significant;
            }
            if is_id || any_significant {
                hits.push(Hit {
                    index,
                    is_id,
                    matched,
                    exact,
                    phrase: words.len() > 1 && title_words.join(" ").contains(&phrase),
                });
            }
        }
        let products = &self.products;
        hits.sort_by(|a, b| {
            (b.is_id, b.matched, b.phrase, b.exact)
                .cmp(&(a.is_id, a.matched, a.phrase, a.exact))
                .then_with(|| products[a.index].title.cmp(&products[b.index].title))
                .then_with(|| products[a.index].id.cmp(&products[b.index].id))
        });
        let n_complete = hits
            .iter()
            .filter(|hit| hit.is_id || hit.matched == words.len())
            .count();
        SearchResults {
            products: hits.iter().map(|hit| &products[hit.index]).collect(),
            words,
            n_complete,
        }
    }
}

/// "christmas" → "Christmas".
fn title_case(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn is_common(word: &str) -> bool {
    COMMON_WORDS.contains(&word)
}

/// The lower-case words of `text`: runs of letters and digits.
fn words_of(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric() && c != '&')
        .filter(|word| !word.is_empty())
        .map(str::to_owned)
        .collect()
}

enum Match {
    None,
    Partial,
    Exact,
}

/// How query `word` matches a title's words.
fn word_match(word: &str, title_words: &[String]) -> Match {
    let mut best = Match::None;
    for title_word in title_words {
        if title_word == word {
            return Match::Exact;
        }
        // A single letter or digit ("x", "3") is a whole word, not every word it starts.
        let starts_it = word.chars().count() >= 2 && title_word.starts_with(word);
        // "teacups" for "TEACUP", "boxes" for "BOX": a plural, not "cupcake" for "cup".
        let plural = word.starts_with(title_word.as_str())
            && word.chars().count() - title_word.chars().count() <= 2
            && title_word.chars().count() >= 3;
        if starts_it || plural {
            best = Match::Partial;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(id: &str, title: &str, category: &str) -> Product {
        Product {
            id: id.into(),
            title: title.into(),
            price: 1.0,
            category: category.into(),
            in_stock: true,
            browse_word: None,
        }
    }

    #[test]
    fn a_catalogue_without_categories_is_browsed_by_its_commonest_title_words() {
        let catalogue = Catalogue::new(vec![
            product("1", "RED HEART CANDLE", ""),
            product("2", "WHITE HEART HOLDER", ""),
            product("3", "HEART SET OF 3 CANDLES", ""),
            product("4", "CANDLE IN A JAR", ""),
            product("5", "X", ""),
        ]);
        let categories = catalogue.categories();
        let heart = categories.iter().find(|c| c.name == "Heart").unwrap();
        assert_eq!(heart.count, 3);
        // "set" is generic, "of" common, "3" a number, "x" too short.
        for never in ["Set", "Of", "3", "X"] {
            assert!(categories.iter().all(|c| c.name != never), "{never}");
        }
        // A product's own link is its word held by the fewest products.
        // (ties: the later name).
        assert_eq!(catalogue.products()[0].category_label(), "Red");
        assert_eq!(catalogue.products()[2].category_label(), "Candles");
        assert_eq!(catalogue.products()[3].category_label(), "Jar");
        assert_eq!(catalogue.products()[4].category_label(), OTHER_CATEGORY);
        let (label, products) = catalogue.category("heart").unwrap();
        assert_eq!(label, "Heart");
        assert_eq!(products.len(), 3);
        let (_, other) = catalogue.category("Other").unwrap();
        assert_eq!(other.len(), 1);
        // A catalogue with categories keeps them.
        let labelled = Catalogue::new(vec![product("1", "RED HEART CANDLE", "Lights")]);
        assert_eq!(labelled.products()[0].category_label(), "Lights");
        assert_eq!(labelled.categories().len(), 1);
    }

    fn catalogue() -> Catalogue {
        Catalogue::new(vec![
            product(
                "22699",
                "ROSES REGENCY TEACUP AND SAUCER",
                "VINTAGE, JUMBO, KNOB",
            ),
            product(
                "22697",
                "GREEN REGENCY TEACUP AND SAUCER",
                "VINTAGE, JUMBO, KNOB",
            ),
            product("22423", "REGENCY CAKESTAND 3 TIER", "VINTAGE, JUMBO, KNOB"),
            product("23170", "REGENCY TEA PLATE ROSES", ""),
            product("22072", "RED RETROSPOT TEA CUP AND SAUCER", "  "),
            product(
                "84029G",
                "KNITTED UNION FLAG HOT WATER BOTTLE",
                "HEART, HANGING",
            ),
            product("21212", "PACK OF 72 RETROSPOT CAKE CASES", "HEART, HANGING"),
        ])
    }

    fn ids<'a>(products: &[&'a Product]) -> Vec<&'a str> {
        products.iter().map(|p| p.id.as_str()).collect()
    }

    fn check_search(query: &str, want: &[&str], want_complete: usize) {
        let catalogue = catalogue();
        let results = catalogue.search(query);
        assert_eq!(ids(&results.products), want, "{query}");
        assert_eq!(results.n_complete, want_complete, "{query}");
    }

    #[test]
    fn search_ranks_every_word_matched_first() {
        check_search("regency teacup", &["22697", "22699", "22423", "23170"], 2);
        check_search("Regency TEACUP", &["22697", "22699", "22423", "23170"], 2);
        check_search("roses regency", &["22699", "23170", "22697", "22423"], 2);
        check_search("teacups", &["22697", "22699"], 2);
        check_search("tea", &["22072", "23170", "22697", "22699"], 4);
        check_search("cup", &["22072"], 1);
        check_search("84029g", &["84029G"], 1);
        check_search(
            "retrospot and saucer",
            &["22072", "22697", "22699", "21212"],
            1,
        );
    }

    #[test]
    fn search_without_words_or_matches_finds_nothing() {
        check_search("", &[], 0);
        check_search("   ", &[], 0);
        check_search("!!! ???", &[], 0);
        check_search("<img src=x onerror=alert(1)>", &[], 0);
        check_search("zebra", &[], 0);
        // Only common words: they are all the query has, so they count.
        check_search("and the", &["22697", "22072", "22699"], 0);
        check_search("c", &[], 0);
        check_search("of", &["21212"], 1);
    }

    #[test]
    fn categories_count_products_and_name_the_uncategorised_other() {
        let catalogue = catalogue();
        let names: Vec<(String, usize)> = catalogue
            .categories()
            .into_iter()
            .map(|c| (c.name, c.count))
            .collect();
        assert_eq!(
            names,
            [
                ("HEART, HANGING".to_owned(), 2),
                ("VINTAGE, JUMBO, KNOB".to_owned(), 3),
                (OTHER_CATEGORY.to_owned(), 2),
            ]
        );
        let (label, products) = catalogue.category("vintage, jumbo, knob").unwrap();
        assert_eq!(label, "VINTAGE, JUMBO, KNOB");
        assert_eq!(ids(&products), ["22697", "22423", "22699"]);
        let (_, other) = catalogue.category("Other").unwrap();
        assert_eq!(ids(&other), ["22072", "23170"]);
        assert!(catalogue.category("NO SUCH THING").is_none());
        assert!(catalogue.category("").is_none());
    }

    #[test]
    fn a_missing_category_reads_as_empty() {
        let products: Vec<Product> = serde_json::from_str(
            r#"[{"id": "1", "title": "A", "price": 1.5, "in_stock": true},
                {"id": "2", "title": "B", "price": 2, "category": "C", "in_stock": false, "countries": ["GB"]}]"#,
        )
        .unwrap();
        assert_eq!(products[0].category_label(), OTHER_CATEGORY);
        assert_eq!(products[1].category_label(), "C");
    }

    #[test]
    fn pages_cover_the_results_and_refuse_the_rest() {
        let items = |start, end, n_pages| PageOf::Items {
            start,
            end,
            n_pages,
        };
        assert_eq!(page_of(0, 1), items(0, 0, 1));
        assert_eq!(page_of(1, 1), items(0, 1, 1));
        assert_eq!(page_of(24, 1), items(0, 24, 1));
        assert_eq!(page_of(25, 2), items(24, 25, 2));
        assert_eq!(page_of(464, 20), items(456, 464, 20));
        assert_eq!(page_of(464, 21), PageOf::OutOfRange { n_pages: 20 });
        assert_eq!(page_of(464, 0), PageOf::OutOfRange { n_pages: 20 });
        assert_eq!(page_of(0, 2), PageOf::OutOfRange { n_pages: 1 });
        assert_eq!(page_of(10, u32::MAX), PageOf::OutOfRange { n_pages: 1 });
    }
}
