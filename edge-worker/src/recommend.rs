//! `POST /v1/recommend`: first-paint scoring at the edge.
//!
//! When a shop turns it on, a page may send a *minimised* profile — item ids
//! with weights, nothing else: no events, no times, no identifier — and get
//! ranked items back before its own engine has started. The body is scored
//! with the engine's own fold-in and ranking and forgotten: it is never logged
//! or stored.

use cove_engine::bundle::Model;
use cove_engine::profile::Profile;
use cove_engine::ranking::foldin::{self, WeightedInteractions};
use cove_engine::ranking::{rank_with_vector, RankRequest, Reason};
use serde::{Deserialize, Serialize};

use crate::api_error::{json_error, ApiError};
use crate::http::Answer;

/// The largest body this route reads.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The most items a minimised profile may name.
pub const MAX_PROFILE_ITEMS: usize = 64;

/// The most items one answer holds.
pub const MAX_K: usize = 50;

/// What a page sends.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecommendRequest {
    /// How many items (1 to [`MAX_K`]).
    pub k: usize,
    /// The shopper's country, for trending lists and availability.
    #[serde(default)]
    pub country: Option<String>,
    /// The item on screen, if any.
    #[serde(default)]
    pub context_item: Option<String>,
    /// The minimised profile: item ids and their interaction weights.
    #[serde(default)]
    pub items: Vec<WeightedItem>,
    /// Items not to show (for example those in the cart).
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// One item of a minimised profile.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightedItem {
    /// The item id.
    pub id: String,
    /// The interaction weight (as the device's profile holds it), in (0, 10000].
    pub weight: f64,
}

/// One ranked item of the answer.
#[derive(Debug, Serialize)]
pub struct RankedItem {
    /// The item id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Its unit price.
    pub price: f64,
    /// Its category.
    pub category: String,
    /// The blended score.
    pub score: f32,
    /// Why it is here.
    pub reason: Reason,
}

/// The answer.
#[derive(Debug, Serialize)]
pub struct RecommendResponse {
    /// The model that scored it.
    pub model_id: String,
    /// Whether a shopper vector was folded in (false: cold start).
    pub personalised: bool,
    /// Ids of the request the model does not know (ignored).
    pub unknown_items: usize,
    /// The ranked items, best first.
    pub items: Vec<RankedItem>,
}

/// Parses and scores the body of a request: the route without HTTP.
pub fn answer(model: &Model, body: &[u8], now: i64) -> Result<Answer, ApiError> {
    let request: RecommendRequest =
        serde_json::from_slice(body).map_err(|e| json_error("recommend request", &e))?;
    Answer::json(200, &recommend(model, &request, now)?)
}

/// Scores a minimised profile: the whole route without HTTP, so it can be
/// tested and measured natively.
pub fn recommend(
    model: &Model,
    request: &RecommendRequest,
    now: i64,
) -> Result<RecommendResponse, ApiError> {
    if request.k == 0 || request.k > MAX_K {
        return Err(ApiError::Engine(cove_engine::Error::InvalidParameter {
            name: "k",
            reason: "must be 1 to 50",
        }));
    }
    if request.items.len() > MAX_PROFILE_ITEMS {
        return Err(ApiError::Engine(cove_engine::Error::InvalidParameter {
            name: "items",
            reason: "at most 64 items",
        }));
    }
    if request.exclude.len() > 256 {
        return Err(ApiError::Engine(cove_engine::Error::InvalidParameter {
            name: "exclude",
            reason: "at most 256 items",
        }));
    }
    // The engine turns the weight list into interactions (order, duplicates,
    // cap) exactly as the device does with its profile.
    let WeightedInteractions {
        interactions,
        unknown_items,
    } = foldin::interactions_from_weights(
        model,
        request
            .items
            .iter()
            .map(|item| (item.id.as_str(), item.weight)),
    )?;
    let user = foldin::fold_in(model, &interactions)?;
    let rank_request = RankRequest {
        k: request.k,
        now,
        country: request.country.clone(),
        context_item: request.context_item.clone(),
        exclude_items: request.exclude.clone(),
        ..RankRequest::default()
    };
    let ranking = rank_with_vector(
        model,
        &Profile::new(),
        &rank_request,
        user.as_deref(),
        &interactions,
    )?;
    let items = ranking
        .items
        .into_iter()
        .filter_map(|entry| {
            let meta = model.item(entry.row)?;
            Some(RankedItem {
                id: meta.id.clone(),
                title: meta.title.clone(),
                price: meta.price,
                category: meta.category.clone(),
                score: entry.score,
                reason: entry.reason,
            })
        })
        .collect();
    Ok(RecommendResponse {
        model_id: model.model_id().to_string(),
        personalised: ranking.personalised,
        unknown_items,
        items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cove_engine::testing::{synthetic_bundle, SyntheticSpec};

    fn model() -> Model {
        let built = synthetic_bundle(&SyntheticSpec::default());
        Model::from_bytes(&built.manifest, &built.tensors).unwrap()
    }

    fn request(items: &[(&str, f64)], k: usize) -> RecommendRequest {
        RecommendRequest {
            k,
            country: None,
            context_item: None,
            items: items
                .iter()
                .map(|(id, weight)| WeightedItem {
                    id: id.to_string(),
                    weight: *weight,
                })
                .collect(),
            exclude: Vec::new(),
        }
    }

    #[test]
    fn a_minimised_profile_is_folded_in_and_ranked() {
        let model = model();
        let first = model.item(0).unwrap().id.clone();
        let second = model.item(1).unwrap().id.clone();
        let answer = recommend(
            &model,
            &request(&[(&first, 3.0), (&second, 1.0), ("no-such-item", 1.0)], 10),
            0,
        )
        .unwrap();
        assert!(answer.personalised);
        assert_eq!(answer.unknown_items, 1);
        assert_eq!(answer.items.len(), 10);
        let mut ids: Vec<&str> = answer.items.iter().map(|item| item.id.as_str()).collect();
        assert!(ids.iter().all(|id| model.item_row(id).is_some()));
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 10, "no item twice");
        // The same profile scored twice gives the same answer.
        let again = recommend(
            &model,
            &request(&[(&first, 3.0), (&second, 1.0), ("no-such-item", 1.0)], 10),
            0,
        )
        .unwrap();
        let order =
            |a: &RecommendResponse| a.items.iter().map(|i| i.id.clone()).collect::<Vec<_>>();
        assert_eq!(order(&answer), order(&again));
    }

    #[test]
    fn the_answer_does_not_depend_on_the_order_of_the_items() {
        // Issue 21 (S3): the edge ranked in request order while the device
        // sorts; shuffled lists must give the same answer, bit for bit.
        let model = model();
        let weighted: Vec<(String, f64)> = (0..12)
            .map(|i| {
                let id = model
                    .item(i * 7 % model.n_items() as u32)
                    .unwrap()
                    .id
                    .clone();
                (id, 1.0 + f64::from(i % 5) * 0.75)
            })
            .collect();
        let mut seen = std::collections::HashSet::new();
        let weighted: Vec<(&str, f64)> = weighted
            .iter()
            .filter(|(id, _)| seen.insert(id.clone()))
            .map(|(id, w)| (id.as_str(), *w))
            .collect();
        let reference =
            serde_json::to_string(&recommend(&model, &request(&weighted, 10), 0).unwrap()).unwrap();
        let mut shuffled = weighted.clone();
        for round in 0..20 {
            // A seeded Fisher–Yates shuffle.
            let mut state = 0x2545_F491_4F6C_DD1Du64 ^ round;
            for i in (1..shuffled.len()).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                shuffled.swap(i, (state % (i as u64 + 1)) as usize);
            }
            let answer =
                serde_json::to_string(&recommend(&model, &request(&shuffled, 10), 0).unwrap())
                    .unwrap();
            assert_eq!(answer, reference, "round {round}");
        }
    }

    #[test]
    fn an_item_named_twice_is_refused() {
        let model = model();
        let id = model.item(0).unwrap().id.clone();
        for items in [
            vec![(id.as_str(), 3.0), (id.as_str(), 1.0)],
            vec![("nope", 1.0), ("nope", 2.0)],
        ] {
            match recommend(&model, &request(&items, 5), 0) {
                Err(ApiError::Engine(error)) => assert_eq!(error.code(), "invalid_parameter"),
                other => panic!("expected a refusal, got {other:?}"),
            }
        }
    }

    #[test]
    fn an_empty_profile_is_a_cold_start() {
        let answer = recommend(&model(), &request(&[], 5), 0).unwrap();
        assert!(!answer.personalised);
        assert_eq!(answer.items.len(), 5);
    }

    #[test]
    fn bad_requests_are_refused_with_a_code() {
        let model = model();
        let id = model.item(0).unwrap().id.clone();
        let cases: Vec<(RecommendRequest, &str)> = vec![
            (request(&[], 0), "invalid_parameter"),
            (request(&[], 51), "invalid_parameter"),
            (request(&[(&id, f64::NAN)], 5), "invalid_parameter"),
            (request(&[(&id, -1.0)], 5), "invalid_parameter"),
            (
                request(&vec![(id.as_str(), 1.0); 65], 5),
                "invalid_parameter",
            ),
        ];
        for (bad, code) in cases {
            match recommend(&model, &bad, 0) {
                Err(ApiError::Engine(error)) => assert_eq!(error.code(), code),
                other => panic!("expected an engine error, got {other:?}"),
            }
        }
    }
}
