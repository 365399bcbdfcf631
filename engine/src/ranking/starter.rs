//! What a first visit sees before the engine has loaded: the "for you"
//! ranking of a shopper with no profile, in each country the bundle has a
//! trending list for. It depends on the bundle alone, so the trainer computes
//! it once, with this function, when it publishes the bundle, and the
//! storefront shows it while the engine's wasm and tensors are still on the
//! way; the engine's own answer for the empty profile is the same list.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::bundle::Model;
use crate::profile::Profile;
use crate::ranking::{recommend, RankRequest, Reason, Slot};
use crate::Error;

/// How many items each starter list holds (a slot asking for more waits
/// for the engine).
pub const STARTER_K: usize = 16;

/// One item of a starter list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StarterEntry {
    /// The item id.
    pub item: String,
    /// The blended score, as the engine ranks it.
    pub score: f32,
    /// Why it is there (a trending list, mostly).
    pub reason: Reason,
}

/// What the storefront renders a slot's items with.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StarterItem {
    /// Display title.
    pub title: String,
    /// Unit price.
    pub price: f64,
    /// Category name.
    pub category: String,
}

/// The starter lists of a bundle: per country key (an ISO code of the
/// bundle's trending lists, or `"*"` for a request without a country), the
/// ranking; and the display fields of every item they name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StarterLists {
    /// Items named by the lists, by id.
    pub items: BTreeMap<String, StarterItem>,
    /// The rankings, by country key.
    pub lists: BTreeMap<String, Vec<StarterEntry>>,
}

/// The "for you" ranking of an empty profile, `k` items, for a request
/// without a country (`"*"`) and for each country with a trending list.
pub fn starter_lists(model: &Model, k: usize) -> Result<StarterLists, Error> {
    let profile = Profile::new();
    let mut starter = StarterLists {
        items: BTreeMap::new(),
        lists: BTreeMap::new(),
    };
    for key in &model.manifest().trending_countries {
        let country = (key != "*").then(|| key.clone());
        let request = RankRequest {
            k,
            country,
            slot: Some(Slot::ForYou),
            ..RankRequest::default()
        };
        let ranking = recommend(model, &profile, model.profile_config(), &request)?;
        let mut list = Vec::with_capacity(ranking.items.len());
        for entry in ranking.items {
            if let Some(meta) = model.item(entry.row) {
                starter
                    .items
                    .entry(entry.item.clone())
                    .or_insert_with(|| StarterItem {
                        title: meta.title.clone(),
                        price: meta.price,
                        category: meta.category.clone(),
                    });
            }
            list.push(StarterEntry {
                item: entry.item,
                score: entry.score,
                reason: entry.reason,
            });
        }
        starter.lists.insert(key.clone(), list);
    }
    Ok(starter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{synthetic_bundle, SyntheticSpec};

    #[test]
    fn each_list_is_the_engines_answer_for_an_empty_profile_at_any_time() {
        let built = synthetic_bundle(&SyntheticSpec::default());
        let model = Model::from_bytes(&built.manifest, &built.tensors).unwrap();
        let starter = starter_lists(&model, 5).unwrap();
        assert!(starter.lists.contains_key("*"));
        for (key, list) in &starter.lists {
            for now in [0, 1_700_000_000, 2_000_000_000] {
                let request = RankRequest {
                    k: 5,
                    now,
                    country: (key != "*").then(|| key.clone()),
                    ..RankRequest::default()
                };
                let ranking =
                    recommend(&model, &Profile::new(), model.profile_config(), &request).unwrap();
                let ids: Vec<&str> = ranking.items.iter().map(|e| e.item.as_str()).collect();
                let listed: Vec<&str> = list.iter().map(|e| e.item.as_str()).collect();
                assert_eq!(ids, listed, "country {key} at {now}");
            }
            for entry in list {
                assert!(starter.items.contains_key(&entry.item));
            }
        }
    }
}
