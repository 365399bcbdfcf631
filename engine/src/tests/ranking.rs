//! Ranking, segments and the rescue decision on a synthetic bundle.

use crate::abandonment::{self, RescueOutcome};
use crate::bundle::LogisticModel;
use crate::bundle::{Model, RescueAction};
use crate::events::{Event, EventKind, PageKind, PurchaseLine};
use crate::features::SessionFeatures;
use crate::profile::{Profile, ProfileConfig};
use crate::ranking::{self, Boost, Pin, RankRequest, Reason};
use crate::segments;
use crate::testing::{synthetic_builder, synthetic_bundle, SyntheticSpec};

const T0: i64 = 1_700_000_000;

fn model() -> Model {
    let built = synthetic_bundle(&SyntheticSpec::default());
    Model::from_bytes(&built.manifest, &built.tensors).unwrap()
}

fn profile_of(events: &[(i64, EventKind)]) -> Profile {
    let config = ProfileConfig::default();
    let mut profile = Profile::new();
    for (at, kind) in events {
        profile
            .apply(
                &Event {
                    at: *at,
                    kind: kind.clone(),
                },
                &config,
            )
            .unwrap();
    }
    profile
}

fn viewed(item: &str) -> EventKind {
    EventKind::View {
        page: PageKind::Product,
        item: Some(item.into()),
        price: Some(30.0),
    }
}

fn bought(item: &str, price: f64) -> EventKind {
    EventKind::Purchase {
        lines: vec![PurchaseLine {
            item: item.into(),
            quantity: 1,
            price,
        }],
    }
}

fn rank(model: &Model, profile: &Profile, request: RankRequest) -> ranking::Ranking {
    ranking::recommend(model, profile, &ProfileConfig::default(), &request).unwrap()
}

fn ids(ranking: &ranking::Ranking) -> Vec<String> {
    ranking.items.iter().map(|r| r.item.clone()).collect()
}

#[test]
fn cold_start_ranks_what_is_trending_in_the_country() {
    let model = model();
    let request = RankRequest {
        k: 5,
        now: T0,
        ..RankRequest::default()
    };
    let ranking = rank(&model, &Profile::new(), request.clone());
    assert!(!ranking.personalised);
    assert_eq!(ranking.items.len(), 5);
    let (_, trending) = model.trending(None);
    let expected: Vec<String> = trending
        .iter()
        .filter(|(row, _)| model.item(*row).unwrap().in_stock)
        .take(5)
        .map(|(row, _)| model.item(*row).unwrap().id.clone())
        .collect();
    assert_eq!(ids(&ranking), expected);
    for item in &ranking.items {
        assert_eq!(
            item.reason,
            Reason::Trending {
                country: "*".into()
            }
        );
    }
    let in_gb = rank(
        &model,
        &Profile::new(),
        RankRequest {
            country: Some("GB".into()),
            ..request.clone()
        },
    );
    assert_eq!(
        in_gb.items[0].reason,
        Reason::Trending {
            country: "GB".into()
        }
    );
    let in_fr = rank(
        &model,
        &Profile::new(),
        RankRequest {
            country: Some("FR".into()),
            ..request
        },
    );
    assert_eq!(
        ids(&in_fr),
        expected,
        "a country without a list falls back to *"
    );
}

#[test]
fn the_item_on_screen_brings_its_neighbours() {
    let model = model();
    let ranking = rank(
        &model,
        &Profile::new(),
        RankRequest {
            k: 3,
            now: T0,
            context_item: Some("item-0".into()),
            ..RankRequest::default()
        },
    );
    let neighbours: Vec<u32> = model.neighbors(0).map(|(row, _)| row).collect();
    assert_eq!(ranking.items[0].row, neighbours[0]);
    assert_eq!(
        ranking.items[0].reason,
        Reason::Similar {
            to: "item-0".into()
        }
    );
}

#[test]
fn history_personalises_and_rules_apply() {
    let model = model();
    let profile = profile_of(&[
        (T0, viewed("item-3")),
        (T0 + 60, viewed("item-9")),
        (T0 + 120, bought("item-9", 40.0)),
        (T0 + 180, viewed("item-unknown-to-the-bundle")),
    ]);
    let base = RankRequest {
        k: 20,
        now: T0 + 600,
        int8: false,
        ..RankRequest::default()
    };
    let ranking = rank(&model, &profile, base.clone());
    assert!(ranking.personalised);
    assert_eq!(ranking.items.len(), 20);
    let listed = ids(&ranking);
    assert!(
        !listed.contains(&"item-9".to_string()),
        "purchased items are excluded"
    );
    for item in &ranking.items {
        assert!(model.item(item.row).unwrap().in_stock, "{item:?}");
        assert!(
            model.item(item.row).unwrap().countries.is_none(),
            "no country: only unrestricted items"
        );
    }
    let scores: Vec<f32> = ranking.items.iter().map(|r| r.score).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    let again = rank(&model, &profile, base.clone());
    assert_eq!(again, ranking, "deterministic");

    let mut with_cart = profile.clone();
    with_cart
        .apply(
            &Event {
                at: T0 + 200,
                kind: EventKind::AddToCart {
                    item: listed[0].clone(),
                    quantity: 1,
                    price: 5.0,
                },
            },
            &ProfileConfig::default(),
        )
        .unwrap();
    assert!(
        !ids(&rank(&model, &with_cart, base.clone())).contains(&listed[0]),
        "cart items are excluded"
    );
    let keep_cart = RankRequest {
        exclude_in_cart: false,
        k: 200,
        ..base.clone()
    };
    assert!(ids(&rank(&model, &with_cart, keep_cart)).contains(&listed[0]));

    let with_purchased = rank(
        &model,
        &profile,
        RankRequest {
            exclude_purchased: false,
            k: 200,
            ..base.clone()
        },
    );
    assert!(ids(&with_purchased).contains(&"item-9".to_string()));

    let filtered = rank(
        &model,
        &profile,
        RankRequest {
            exclude_categories: vec!["cat-0".into(), "cat-1".into()],
            exclude_items: vec![listed[0].clone(), "nope".into()],
            ..base.clone()
        },
    );
    assert_eq!(filtered.unknown_ids, vec!["nope".to_string()]);
    for item in &filtered.items {
        let meta = model.item(item.row).unwrap();
        assert!(meta.category != "cat-0" && meta.category != "cat-1");
        assert_ne!(meta.id, listed[0]);
    }

    let pinned = rank(
        &model,
        &profile,
        RankRequest {
            pins: vec![
                Pin {
                    item: "item-100".into(),
                    position: 1,
                },
                Pin {
                    item: "item-16".into(),
                    position: 0,
                },
                Pin {
                    item: "ghost".into(),
                    position: 0,
                },
            ],
            ..base.clone()
        },
    );
    // item-16 is out of stock (i % 17 == 16), so it is not placed.
    assert_eq!(pinned.items[1].item, "item-100");
    assert_eq!(pinned.items[1].reason, Reason::Pinned);
    assert_eq!(pinned.items.len(), 20);
    assert_eq!(
        pinned.items.iter().filter(|r| r.item == "item-100").count(),
        1
    );
    assert!(pinned.unknown_ids.contains(&"ghost".to_string()));

    let capped = rank(
        &model,
        &profile,
        RankRequest {
            max_per_category: Some(2),
            k: 12,
            ..base.clone()
        },
    );
    assert_eq!(capped.items.len(), 12);
    for category in &model.categories {
        let n = capped
            .items
            .iter()
            .filter(|r| &model.item(r.row).unwrap().category == category)
            .count();
        assert!(n <= 2, "{category}: {n}");
    }

    let boosted = rank(
        &model,
        &profile,
        RankRequest {
            boost_categories: vec![Boost {
                key: "cat-5".into(),
                amount: 100.0,
            }],
            ..base.clone()
        },
    );
    assert!(boosted
        .items
        .iter()
        .take(5)
        .all(|r| model.item(r.row).unwrap().category == "cat-5"));

    let everything = RankRequest { k: 1000, ..base };
    let limited = |ranking: &ranking::Ranking| {
        ranking
            .items
            .iter()
            .filter(|r| model.item(r.row).unwrap().countries.is_some())
            .count()
    };
    assert_eq!(
        limited(&rank(&model, &profile, everything.clone())),
        0,
        "no country: no limited items"
    );
    let in_de = rank(
        &model,
        &profile,
        RankRequest {
            country: Some("DE".into()),
            ..everything.clone()
        },
    );
    assert_eq!(limited(&in_de), 0, "GB-only items are not shown in DE");
    let in_gb = rank(
        &model,
        &profile,
        RankRequest {
            country: Some("GB".into()),
            ..everything
        },
    );
    assert_eq!(
        limited(&in_gb),
        4,
        "the four GB-only items (49, 99, 149, 199) are shown in GB"
    );
}

/// A "for you" request at `now`: bought items kept, f32 scores, 200 items.
fn keep_bought_at(now: i64) -> RankRequest {
    RankRequest {
        k: 200,
        now,
        exclude_purchased: false,
        int8: false,
        ..RankRequest::default()
    }
}

#[test]
fn bought_items_come_back_through_the_buy_again_term_when_kept() {
    let with_repeat = |weight_repeat: f32| {
        let mut builder = synthetic_builder(&SyntheticSpec::default());
        builder.ranking(crate::bundle::RankingParams {
            weight_repeat,
            ..crate::testing::ranking_params()
        });
        let built = builder.build().unwrap();
        Model::from_bytes(&built.manifest, &built.tensors).unwrap()
    };
    let profile = profile_of(&[
        (T0, viewed("item-3")),
        (T0 + 60, bought("item-9", 40.0)),
        (T0 + 90, viewed("item-9")),
    ]);
    let keep_bought = keep_bought_at(T0 + 100);
    let score_of = |ranking: &ranking::Ranking, id: &str| {
        ranking.items.iter().find(|r| r.item == id).map(|r| r.score)
    };
    let none = rank(&with_repeat(0.0), &profile, keep_bought.clone());
    let strong = rank(&with_repeat(1000.0), &profile, keep_bought.clone());
    assert_eq!(strong.items[0].item, "item-9", "{:?}", strong.items[0]);
    assert_eq!(strong.items[0].reason, Reason::BuyAgain);
    // The term is w_repeat · ln(1 + decayed weight), nothing else moves.
    let gain = score_of(&strong, "item-9").unwrap() - score_of(&none, "item-9").unwrap();
    let interactions = ranking::foldin::interactions(
        &with_repeat(0.0),
        &profile,
        &ProfileConfig::default(),
        T0 + 100,
    );
    let weight = interactions
        .iter()
        .find(|(row, _)| *row == with_repeat(0.0).item_row("item-9").unwrap())
        .unwrap()
        .1;
    let want = 1000.0 * weight.ln_1p() as f32;
    assert!((gain - want).abs() <= 1e-3 * want, "{gain} vs {want}");
    assert_eq!(score_of(&strong, "item-3"), score_of(&none, "item-3"));
    // Viewed-only items get no repeat term, and excluding bought items wins.
    assert_ne!(strong.items[0].item, "item-3");
    let excluded = rank(
        &with_repeat(1000.0),
        &profile,
        RankRequest {
            exclude_purchased: true,
            ..keep_bought
        },
    );
    assert!(score_of(&excluded, "item-9").is_none());
}

#[test]
fn requests_that_keep_bought_items_use_the_keep_purchased_weights() {
    // Top level: no buy-again term, strong trending. Second set: a strong
    // buy-again term and no trending.
    let kept = crate::bundle::BlendWeights {
        weight_personal: 1.0,
        weight_neighbors: 0.5,
        weight_trending: 0.0,
        weight_repeat: 1000.0,
    };
    let model_with = |keep_purchased| {
        let mut builder = synthetic_builder(&SyntheticSpec::default());
        builder.ranking(crate::bundle::RankingParams {
            weight_repeat: 0.0,
            keep_purchased,
            ..crate::testing::ranking_params()
        });
        let built = builder.build().unwrap();
        Model::from_bytes(&built.manifest, &built.tensors).unwrap()
    };
    let one_set = model_with(None);
    let two_sets = model_with(Some(kept));
    let profile = profile_of(&[(T0, viewed("item-3")), (T0 + 60, bought("item-9", 40.0))]);
    let keep_bought = keep_bought_at(T0 + 100);
    let with_two = rank(&two_sets, &profile, keep_bought.clone());
    assert_eq!(with_two.items[0].item, "item-9");
    assert_eq!(with_two.items[0].reason, Reason::BuyAgain);
    let with_one = rank(&one_set, &profile, keep_bought.clone());
    assert_ne!(with_one.items[0].reason, Reason::BuyAgain);
    // The second set is exactly rank_with_params with those weights at the
    // top level.
    let flat = crate::bundle::RankingParams {
        weight_personal: kept.weight_personal,
        weight_neighbors: kept.weight_neighbors,
        weight_trending: kept.weight_trending,
        weight_repeat: kept.weight_repeat,
        keep_purchased: None,
        ..two_sets.manifest().ranking.clone()
    };
    let interactions =
        ranking::foldin::interactions(&two_sets, &profile, &ProfileConfig::default(), T0 + 100);
    let user = ranking::foldin::fold_in(&two_sets, &interactions).unwrap();
    let by_flat = ranking::rank_with_params(
        &two_sets,
        &flat,
        &profile,
        &keep_bought,
        user.as_deref(),
        &interactions,
    )
    .unwrap();
    assert_eq!(by_flat, with_two);
    // A request that excludes bought items ignores the second set.
    let exclude = RankRequest {
        exclude_purchased: true,
        ..keep_bought
    };
    assert_eq!(
        rank(&two_sets, &profile, exclude.clone()),
        rank(&one_set, &profile, exclude)
    );
}

#[test]
fn int8_and_f32_rank_alike() {
    let built = synthetic_bundle(&SyntheticSpec {
        n_items: 2000,
        dim: 32,
        ..SyntheticSpec::default()
    });
    let model = Model::from_bytes(&built.manifest, &built.tensors).unwrap();
    let profile = profile_of(&[
        (T0, viewed("item-3")),
        (T0 + 60, viewed("item-500")),
        (T0 + 90, viewed("item-1500")),
    ]);
    let request = RankRequest {
        k: 20,
        now: T0 + 100,
        ..RankRequest::default()
    };
    let int8 = rank(&model, &profile, request.clone());
    let f32 = rank(
        &model,
        &profile,
        RankRequest {
            int8: false,
            ..request
        },
    );
    let common = ids(&int8)
        .iter()
        .filter(|id| ids(&f32).contains(id))
        .count();
    assert!(common >= 16, "only {common} of 20 in common");
}

#[test]
fn bad_requests_get_typed_errors() {
    let model = model();
    let check = |request: RankRequest| {
        let error =
            ranking::recommend(&model, &Profile::new(), &ProfileConfig::default(), &request)
                .unwrap_err();
        assert_eq!(error.code(), "invalid_parameter", "{error}");
    };
    check(RankRequest {
        k: 0,
        ..RankRequest::default()
    });
    check(RankRequest {
        k: 5000,
        ..RankRequest::default()
    });
    check(RankRequest {
        boost_items: vec![Boost {
            key: "item-1".into(),
            amount: f32::NAN,
        }],
        ..RankRequest::default()
    });
    let error = ranking::rank_with_vector(
        &model,
        &Profile::new(),
        &RankRequest::default(),
        Some(&[1.0]),
        &[],
    )
    .unwrap_err();
    assert_eq!(error.code(), "dimension_mismatch");
}

#[test]
fn segments_follow_the_bundle_definitions() {
    let model = model();
    let config = ProfileConfig::default();
    let fresh = segments::classify(&model, &Profile::new(), &config, T0);
    assert_eq!(fresh.lifecycle.name, "new");
    assert!(
        fresh.price_tier.is_none() && fresh.taste_cluster.is_none() && fresh.loyalty_tier.is_none()
    );

    // Six orders of 100 over the last days: r = 3 (≤ 30 days), f = 3 (≥ 5),
    // m = 2 (≥ 100, < 1000) → "champion" by the first rule.
    let events: Vec<(i64, EventKind)> = (0..6)
        .map(|i| (T0 + i * 86_400, bought(&format!("item-{i}"), 100.0)))
        .collect();
    let profile = profile_of(&events);
    let now = T0 + 10 * 86_400;
    let segments = segments::classify(&model, &profile, &config, now);
    assert_eq!(segments.lifecycle.name, "champion");
    assert_eq!(segments.lifecycle.reason, "rule=0;r=3;f=3;m=2");
    assert_eq!(segments.price_tier.unwrap().name, "premium");
    assert_eq!(segments.loyalty_tier.unwrap().name, "silver");
    assert!(segments.taste_cluster.is_some());
    assert!((0.0..=1.0).contains(&segments.propensity.probability));

    // The same shopper 200 days later has lapsed.
    let later = segments::classify(&model, &profile, &config, now + 200 * 86_400);
    assert_eq!(later.lifecycle.name, "lapsed");
}

#[test]
fn the_rescue_decision_is_seeded_and_holds_out_a_share() {
    // A purchase-intent model that predicts no purchase: every cart is at risk.
    let mut builder = synthetic_builder(&SyntheticSpec::default());
    let n = SessionFeatures::NAMES.len();
    builder.purchase_intent(LogisticModel {
        mean: vec![0.0; n],
        scale: vec![1.0; n],
        coef: vec![0.0; n],
        intercept: -5.0,
    });
    let built = builder.build().unwrap();
    let model = Model::from_bytes(&built.manifest, &built.tensors).unwrap();
    let empty = abandonment::decide(&model, &Profile::new(), "new", 1);
    assert_eq!(empty.outcome, RescueOutcome::EmptyCart);
    let profile = profile_of(&[
        (T0, viewed("item-1")),
        (
            T0 + 30,
            EventKind::AddToCart {
                item: "item-1".into(),
                quantity: 1,
                price: 20.0,
            },
        ),
    ]);
    let risk = abandonment::decide(&model, &profile, "new", 1).risk;
    assert!(risk > 0.99, "{risk}");
    assert_eq!(
        abandonment::decide(&model, &profile, "new", 7),
        abandonment::decide(&model, &profile, "new", 7),
        "the same seed gives the same decision"
    );
    let mut holdouts = 0;
    let mut offers = 0;
    for seed in 0..2000 {
        match abandonment::decide(&model, &profile, "at_risk", seed).outcome {
            RescueOutcome::Holdout { action } | RescueOutcome::Offer { action }
                if action != RescueAction::Discount { percent: 10.0 } =>
            {
                panic!("wrong action {action:?}")
            }
            RescueOutcome::Holdout { .. } => holdouts += 1,
            RescueOutcome::Offer { .. } => offers += 1,
            other => panic!("{other:?}"),
        }
    }
    // Binomial(2000, 0.2): sd ≈ 18, so ±100 is over five sd.
    assert_eq!(holdouts + offers, 2000);
    assert!((holdouts as i64 - 400).abs() < 100, "{holdouts} holdouts");
    let champion = abandonment::decide(&model, &profile, "champion", 3);
    assert_eq!(champion.outcome, RescueOutcome::NoAction);
    // Only an eligible shopper joins the rescue campaign's audience, and the
    // campaign's variant then decides: 0 is the holdout, any other the offer.
    assert_eq!(champion.audience, None);
    assert_eq!(empty.audience, None);
    assert_eq!(champion.clone().in_campaign(1), champion);
    let eligible = abandonment::decide(&model, &profile, "at_risk", 5);
    assert_eq!(eligible.audience, Some(abandonment::RESCUE_CAMPAIGN));
    let discount = RescueAction::Discount { percent: 10.0 };
    let held_out = eligible.clone().in_campaign(0);
    assert_eq!(
        held_out.outcome,
        RescueOutcome::Holdout {
            action: discount.clone()
        }
    );
    assert_eq!(held_out.assignment.as_ref().map(|a| a.variant), Some(0));
    assert_eq!(
        eligible.clone().in_campaign(2).outcome,
        RescueOutcome::Offer { action: discount }
    );
    let json = serde_json::to_value(eligible.in_campaign(2)).unwrap();
    assert_eq!(json["campaign"], "rescue-cart");
    assert_eq!(json["variant"], 2);
    assert_eq!(json["audience"], "rescue-cart");
    let other = abandonment::decide(&model, &profile, "new", 3);
    assert!(matches!(
        other.outcome,
        RescueOutcome::Offer {
            action: RescueAction::Reminder
        } | RescueOutcome::Holdout {
            action: RescueAction::Reminder
        }
    ));
}

#[test]
fn extreme_profile_weights_still_rank() {
    let model = model();
    let mut profile = profile_of(&[(T0, viewed("item-3")), (T0 + 60, viewed("item-5"))]);
    profile.items[0].weight = f32::MAX;
    profile.check(&ProfileConfig::default()).unwrap();
    let ranking = rank(
        &model,
        &profile,
        RankRequest {
            k: 5,
            now: T0 + 100,
            ..RankRequest::default()
        },
    );
    assert!(ranking.personalised);
    assert!(ranking.items.iter().all(|r| r.score.is_finite()));
    let error = ranking::rank_with_vector(
        &model,
        &profile,
        &RankRequest::default(),
        None,
        &[(9999, 1.0)],
    )
    .unwrap_err();
    assert_eq!(error.code(), "bundle_reference");
    let error = ranking::rank_with_vector(
        &model,
        &profile,
        &RankRequest::default(),
        None,
        &[(1, f64::NAN)],
    )
    .unwrap_err();
    assert_eq!(error.code(), "non_finite");
}

#[test]
fn extreme_times_never_overflow() {
    let model = model();
    let config = ProfileConfig::default();
    let profile = profile_of(&[(T0, viewed("item-3")), (T0 + 30, bought("item-4", 3.0))]);
    for now in [i64::MIN, -1, 0, i64::MAX] {
        let _ = segments::classify(&model, &profile, &config, now);
        let request = RankRequest {
            k: 5,
            now,
            ..RankRequest::default()
        };
        let ranking = rank(&model, &profile, request);
        assert_eq!(ranking.items.len(), 5, "now = {now}");
    }
    // A profile assembled by hand (its fields are public) with absurd times.
    let mut odd = profile.clone();
    odd.latest_at = Some(i64::MIN);
    odd.items[0].at = i64::MAX;
    let mut applied = odd.clone();
    let _ = applied.apply(
        &Event {
            at: T0,
            kind: viewed("item-1"),
        },
        &config,
    );
    let _ = segments::classify(&model, &odd, &config, T0);
}

#[test]
fn bad_weights_and_fold_in_inputs_get_typed_errors() {
    use crate::ranking::foldin::FoldInSystem;
    let model = model();
    let profile = profile_of(&[(T0, viewed("item-3"))]);
    let request = RankRequest {
        k: 5,
        now: T0 + 10,
        ..RankRequest::default()
    };
    let interactions =
        ranking::foldin::interactions(&model, &profile, &ProfileConfig::default(), T0 + 10);
    for bad in [-0.1f32, f32::NAN, f32::INFINITY] {
        let params = crate::bundle::RankingParams {
            weight_repeat: bad,
            ..model.manifest().ranking.clone()
        };
        let err =
            ranking::rank_with_params(&model, &params, &profile, &request, None, &interactions)
                .unwrap_err();
        assert_eq!(err.code(), "invalid_parameter", "{bad}: {err}");
        let params = crate::bundle::RankingParams {
            keep_purchased: Some(crate::bundle::BlendWeights {
                weight_personal: 1.0,
                weight_neighbors: bad,
                weight_trending: 0.0,
                weight_repeat: 0.0,
            }),
            ..model.manifest().ranking.clone()
        };
        let keep = RankRequest {
            exclude_purchased: false,
            ..request.clone()
        };
        let err = ranking::rank_with_params(&model, &params, &profile, &keep, None, &interactions)
            .unwrap_err();
        assert_eq!(err.code(), "invalid_parameter", "{bad}: {err}");
    }
    let dim = model.dim();
    let gram = model.gram();
    let cases: [(&[f32], f64, f64); 4] = [
        (&gram[..gram.len() - 1], 0.1, 1.0),
        (gram, 0.0, 1.0),
        (gram, 0.1, -1.0),
        (gram, 0.1, f64::NAN),
    ];
    for (g, lambda, alpha) in cases {
        assert!(
            FoldInSystem::new(g, dim, lambda, alpha).is_err(),
            "{lambda} {alpha}"
        );
    }
    let negative: Vec<f32> = gram.iter().map(|g| -g * 100.0).collect();
    assert_eq!(
        FoldInSystem::new(&negative, dim, 0.1, 1.0)
            .unwrap_err()
            .code(),
        "bundle_tensor_value"
    );
    let system = FoldInSystem::new(gram, dim, 0.1, 1.0).unwrap();
    let factors = model.all_item_factors();
    let out_of_range = system.fold_in(factors, &[(model.n_items() as u32, 1.0)]);
    assert_eq!(out_of_range.unwrap_err().code(), "bundle_reference");
    let negative_weight = system.fold_in(factors, &[(0, -1.0)]);
    assert!(negative_weight.is_err());
    assert_eq!(system.fold_in(factors, &[]).unwrap(), None);
}

/// The synthetic bundle has 5 neighbours per item: an item page of 8 ranks
/// them first and fills the rest, saying so.
#[test]
fn issue_20_an_item_page_ranks_its_neighbours_first_then_fills_and_says_so() {
    let model = model();
    let request = RankRequest {
        k: 8,
        now: T0,
        slot: Some(ranking::Slot::ItemPage),
        context_item: Some("item-0".into()),
        ..RankRequest::default()
    };
    let ranking = rank(&model, &Profile::new(), request.clone());
    assert_eq!(ranking.items.len(), 8);
    let neighbours: Vec<u32> = model
        .neighbors(0)
        .map(|(row, _)| row)
        .filter(|row| model.in_stock[*row as usize])
        .collect();
    for (position, item) in ranking.items.iter().enumerate() {
        if position < neighbours.len() {
            assert!(neighbours.contains(&item.row), "{position}: {item:?}");
            assert_eq!(
                item.reason,
                Reason::Similar {
                    to: "item-0".into()
                }
            );
        } else {
            assert!(!neighbours.contains(&item.row));
            assert!(
                !matches!(
                    item.reason,
                    Reason::Similar { .. } | Reason::Trending { .. }
                ),
                "a filler is not passed off as related or as plain trending: {item:?}"
            );
        }
    }
    // An unknown context item: the whole slot is filled, and the id reported.
    let unknown = rank(
        &model,
        &Profile::new(),
        RankRequest {
            context_item: Some("no-such-item".into()),
            ..request
        },
    );
    assert_eq!(unknown.items.len(), 8);
    assert_eq!(unknown.unknown_ids, vec!["no-such-item".to_string()]);
    assert!(unknown
        .items
        .iter()
        .all(|item| !matches!(item.reason, Reason::Similar { .. })));
}

#[test]
fn issue_20_a_session_leads_for_you_to_its_neighbours_without_repeating_it() {
    let model = model();
    let session = profile_of(&[(T0, viewed("item-3")), (T0 + 60, viewed("item-4"))]);
    let request = RankRequest {
        k: 10,
        now: T0 + 120,
        ..RankRequest::default()
    };
    let ranking = rank(&model, &session, request.clone());
    let shown = ids(&ranking);
    assert!(!shown.contains(&"item-3".to_string()) && !shown.contains(&"item-4".to_string()));
    let related: Vec<u32> = model
        .neighbors(3)
        .chain(model.neighbors(4))
        .map(|(row, _)| row)
        .collect();
    let from_session = ranking
        .items
        .iter()
        .filter(|item| related.contains(&item.row))
        .count();
    assert!(from_session >= 3, "{ranking:?}");
    assert!(ranking.items.iter().any(|item| matches!(
        &item.reason,
        Reason::Similar { to } if to == "item-3" || to == "item-4"
    )));
    // A day later the session is over: its items may come back, and no
    // longer steer the slot as a session.
    let later = rank(
        &model,
        &session,
        RankRequest {
            now: T0 + 86_400,
            ..request
        },
    );
    assert_eq!(later.items.len(), 10);
}

#[test]
fn issue_20_the_basket_slot_ranks_from_the_cart_and_never_shows_it() {
    let model = model();
    let cart = profile_of(&[(
        T0,
        EventKind::AddToCart {
            item: "item-10".into(),
            quantity: 1,
            price: 5.0,
        },
    )]);
    let ranking = rank(
        &model,
        &cart,
        RankRequest {
            k: 6,
            now: T0 + 60,
            slot: Some(ranking::Slot::Basket),
            ..RankRequest::default()
        },
    );
    assert!(!ids(&ranking).contains(&"item-10".to_string()));
    assert!(matches!(
        &ranking.items[0].reason,
        Reason::Similar { to } if to == "item-10"
    ));
}

#[test]
fn issue_20_slot_names_and_session_weights_are_checked() {
    let error = RankRequest::from_json(br#"{"slot": "sidebar"}"#).unwrap_err();
    assert!(error.to_string().contains("for_you"), "{error}");
    let request = RankRequest::from_json(br#"{"slot": "basket", "k": 3}"#).unwrap();
    assert_eq!(request.slot_kind(), ranking::Slot::Basket);
    for (field, value) in [
        ("session_decay", 0.0f32),
        ("session_decay", 1.5),
        ("weight_session", -1.0),
        ("context_trending", f32::NAN),
    ] {
        let mut builder = synthetic_builder(&SyntheticSpec::default());
        let mut weights = crate::bundle::SessionWeights::default();
        match field {
            "session_decay" => weights.session_decay = value,
            "weight_session" => weights.weight_session = value,
            _ => weights.context_trending = value,
        }
        builder.ranking(crate::bundle::RankingParams {
            session: Some(weights),
            ..crate::testing::ranking_params()
        });
        let refused = builder
            .build()
            .map_err(|e| e.to_string())
            .and_then(|b| Model::from_bytes(&b.manifest, &b.tensors).map_err(|e| e.to_string()));
        let message = refused.err().unwrap_or_default();
        assert!(
            message.contains(&format!("ranking.session.{field}")) || message.contains("finite"),
            "{field} = {value}: {message}"
        );
    }
}

#[test]
fn issue_20_odd_sessions_still_fill_the_slot() {
    let model = model();
    let config = ProfileConfig::default();
    let request = |now| RankRequest {
        k: 8,
        now,
        ..RankRequest::default()
    };
    // 500 views of one item: a session of one seed, the item not shown again.
    let mut profile = Profile::new();
    for i in 0..500 {
        profile
            .apply(
                &Event {
                    at: T0 + i,
                    kind: viewed("item-7"),
                },
                &config,
            )
            .unwrap();
    }
    let ranking = rank(&model, &profile, request(T0 + 500));
    assert_eq!(ranking.items.len(), 8);
    assert!(!ids(&ranking).contains(&"item-7".to_string()));
    // A session of one unknown id: reported, and the slot filled.
    let unknown = profile_of(&[(T0, viewed("no-such-item"))]);
    let ranking = rank(&model, &unknown, request(T0 + 60));
    assert_eq!(ranking.items.len(), 8);
    // An event far in the future is refused with a typed error; one long
    // ago is kept but its session is over.
    let future = Event {
        at: crate::events::MAX_TIME + 1,
        kind: viewed("item-7"),
    };
    assert!(Profile::new().apply(&future, &config).is_err());
    let old = profile_of(&[(1, viewed("item-7"))]);
    let ranking = rank(&model, &old, request(T0));
    assert_eq!(ranking.items.len(), 8);
}

/// A cart holding every item of one category: the basket slot still fills,
/// shows nothing from the cart, and every card has a reason.
#[test]
fn issue_20_a_cart_holding_a_whole_category_still_fills_the_basket_slot() {
    let model = model();
    let category = model.item(0).expect("item 0").category.clone();
    let in_category: Vec<String> = (0..model.n_items() as u32)
        .filter_map(|row| model.item(row))
        .filter(|meta| meta.category == category)
        .map(|meta| meta.id.clone())
        .collect();
    assert!(in_category.len() > 1, "the fixture's category has one item");
    let events: Vec<(i64, EventKind)> = in_category
        .iter()
        .enumerate()
        .map(|(i, id)| {
            (
                T0 + i as i64,
                EventKind::AddToCart {
                    item: id.clone(),
                    quantity: 1,
                    price: 5.0,
                },
            )
        })
        .collect();
    let cart = profile_of(&events);
    let ranking = rank(
        &model,
        &cart,
        RankRequest {
            k: 8,
            now: T0 + 3_600,
            slot: Some(ranking::Slot::Basket),
            ..RankRequest::default()
        },
    );
    assert_eq!(ranking.items.len(), 8);
    for shown in ids(&ranking) {
        assert!(!in_category.contains(&shown), "{shown} is in the cart");
    }
    assert!(ranking
        .items
        .iter()
        .all(|item| !matches!(item.reason, Reason::Fallback)));
}

#[test]
fn issue_24_withdrawn_items_rank_exactly_as_excluded_ones() {
    let model = model();
    let profile = profile_of(&[(T0, viewed("item-3")), (T0 + 60, viewed("item-7"))]);
    let withdrawn: Vec<u32> = (0..model.n_items() as u32).filter(|r| r % 3 == 0).collect();
    let excluding = RankRequest {
        k: 40,
        now: T0 + 120,
        exclude_items: withdrawn
            .iter()
            .map(|&row| model.item(row).unwrap().id.clone())
            .collect(),
        ..RankRequest::default()
    };
    let by_request = rank(&model, &profile, excluding);
    let mut restricted = model.clone();
    restricted.withdraw_items(&withdrawn);
    // Rows past the catalogue are ignored, not a panic.
    restricted.withdraw_items(&[u32::MAX, model.n_items() as u32]);
    let plain = RankRequest {
        k: 40,
        now: T0 + 120,
        ..RankRequest::default()
    };
    let by_model = rank(&restricted, &profile, plain.clone());
    assert!(!by_model.items.is_empty());
    assert!(by_model.items.iter().all(|item| item.row % 3 != 0));
    assert_eq!(format!("{by_model:?}"), format!("{by_request:?}"));
    // The original model is untouched.
    let unrestricted = rank(&model, &profile, plain);
    assert!(unrestricted.items.iter().any(|item| item.row % 3 == 0));
}
