//! Property tests (proptest): the invariants issue 3 lists.

use proptest::prelude::*;

use crate::bundle::Model;
use crate::events::{Event, EventKind, PageKind, PurchaseLine};
use crate::linalg::dense_solve;
use crate::profile::{Profile, ProfileParams};
use crate::ranking::foldin::{
    fold_in, solve, solve_direct, solve_portable, solve_woodbury, SystemRef,
};
use crate::score::{select_top_k, ScoredItem};
use crate::testing::{synthetic_bundle, SyntheticSpec};

fn full_sort(mut items: Vec<ScoredItem>, k: usize) -> Vec<ScoredItem> {
    items.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.index.cmp(&b.index)));
    items.truncate(k);
    items
}

/// Candidates with few distinct scores, so ties are common.
fn candidates() -> impl Strategy<Value = Vec<ScoredItem>> {
    prop::collection::vec(-4i8..4, 0..200).prop_map(|scores| {
        scores
            .into_iter()
            .enumerate()
            .map(|(i, s)| ScoredItem {
                index: i as u32,
                score: s as f32 * 0.5,
            })
            .collect()
    })
}

fn item_id() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u32..40).prop_map(|i| format!("item-{i}")),
        "[a-zA-Z0-9_ é\"\\\\\n-]{0,70}",
    ]
}

fn event_kind() -> impl Strategy<Value = EventKind> {
    let price = prop_oneof![0.0f64..500.0, Just(f64::NAN), Just(-1.0), Just(1e12)];
    prop_oneof![
        (item_id(), price.clone(), 0u8..3).prop_map(|(item, price, page)| EventKind::View {
            page: [
                PageKind::Administrative,
                PageKind::Informational,
                PageKind::Product
            ][page as usize],
            item: Some(item),
            price: Some(price),
        }),
        (item_id(), 0u32..5, price.clone()).prop_map(|(item, quantity, price)| {
            EventKind::AddToCart {
                item,
                quantity,
                price,
            }
        }),
        (item_id(), 1u32..5)
            .prop_map(|(item, quantity)| EventKind::RemoveFromCart { item, quantity }),
        prop::collection::vec((item_id(), 1u32..3, price), 0..4).prop_map(|lines| {
            EventKind::Purchase {
                lines: lines
                    .into_iter()
                    .map(|(item, quantity, price)| PurchaseLine {
                        item,
                        quantity,
                        price,
                    })
                    .collect(),
            }
        }),
        "\\PC{0,100}".prop_map(|query| EventKind::Search { query }),
        (item_id(), 0u8..7).prop_map(|(item, stars)| EventKind::Rating {
            item,
            stars,
            text: None
        }),
    ]
}

fn event_stream() -> impl Strategy<Value = Vec<Event>> {
    prop::collection::vec((-400i64..4000, event_kind()), 0..120).prop_map(|steps| {
        let mut at = 1_700_000_000i64;
        steps
            .into_iter()
            .map(|(step, kind)| {
                at += step;
                Event { at, kind }
            })
            .collect()
    })
}

fn json_value(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}

/// Equal JSON trees, numbers equal to within 2⁻⁵⁰ relative.
fn json_close(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            x == y || (x - y).abs() <= x.abs().max(y.abs()) * 2f64.powi(-50)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_close(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((kx, vx), (ky, vy))| kx == ky && json_close(vx, vy))
        }
        _ => a == b,
    }
}

proptest! {
    /// The loader's id sort (prefix integers first, whole ids on a tie) is
    /// the ids' byte order, for ids short and long, with NUL bytes and shared
    /// prefixes.
    #[test]
    fn the_id_prefix_order_is_the_byte_order(
        a in "[\\x00AB\\u{e9}]{0,10}",
        b in "[\\x00AB\\u{e9}]{0,10}",
    ) {
        use crate::bundle::items::id_prefix;
        let by_prefix = id_prefix(&a).cmp(&id_prefix(&b)).then_with(|| a.cmp(&b));
        prop_assert_eq!(by_prefix, a.cmp(&b));
    }

    #[test]
    fn top_k_equals_a_full_sort(items in candidates(), k in 0usize..220) {
        prop_assert_eq!(select_top_k(items.clone(), k), full_sort(items, k));
    }

    #[test]
    fn ranking_does_not_depend_on_candidate_order(
        (items, shuffled) in candidates().prop_flat_map(|items| (Just(items.clone()), Just(items).prop_shuffle())),
        k in 0usize..50,
    ) {
        prop_assert_eq!(select_top_k(items, k), select_top_k(shuffled, k));
    }

    #[test]
    fn the_profile_bound_holds_for_any_event_stream(events in event_stream(), small in any::<bool>()) {
        let params = if small {
            ProfileParams { max_items: 6, max_cart_lines: 3, max_queries: 2, max_query_len: 16, max_bytes: 4096, ..ProfileParams::default() }
        } else {
            ProfileParams::default()
        };
        let max_bytes = params.max_bytes;
        let config = params.validate().unwrap();
        let mut profile = Profile::new();
        for event in &events {
            let before = profile.clone();
            if profile.apply(event, &config).is_err() {
                prop_assert_eq!(&profile, &before, "a refused event changed the profile");
            }
            prop_assert!(profile.check(&config).is_ok(), "{:?}", profile.check(&config));
            prop_assert!(profile.items.len() <= config.max_items());
        }
        let bytes = profile.to_bytes();
        let json = profile.to_json();
        prop_assert!(bytes.len() <= max_bytes, "binary {} > {}", bytes.len(), max_bytes);
        prop_assert!(json.len() <= max_bytes, "json {} > {}", json.len(), max_bytes);
        prop_assert_eq!(&Profile::from_bytes(&bytes, &config).unwrap(), &profile);
        // JSON keeps every f64 to within a unit in the last place (the
        // engine's JSON reader does not round-trip floats of 16 or 17 digits
        // exactly); the binary form the stores keep is exact.
        let restored = Profile::from_json(&json, &config).unwrap();
        let (a, b) = (json_value(&restored.to_json()), json_value(&json));
        prop_assert!(json_close(&a, &b), "{} vs {}", a, b);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let config = crate::profile::ProfileConfig::default();
        let _ = Profile::from_bytes(&bytes, &config);
        let mut framed = b"CVPF\x01".to_vec();
        framed.extend_from_slice(&bytes);
        let _ = Profile::from_bytes(&framed, &config);
        let _ = Profile::from_json(&String::from_utf8_lossy(&bytes), &config);
        let _ = Event::from_json(&bytes, &config.event_limits());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn fold_in_matches_a_dense_reference_solve(
        seed in any::<u64>(),
        dim in 1usize..10,
        n_items in 3usize..40,
        raw in prop::collection::vec((any::<u32>(), 0.0f64..30.0), 1..12),
    ) {
        let built = synthetic_bundle(&SyntheticSpec { n_items, dim, seed, n_neighbors: 2, n_trending: 3, n_categories: 2 });
        let model = Model::from_bytes(&built.manifest, &built.tensors).unwrap();
        let interactions: Vec<(u32, f64)> = raw.iter().map(|(r, w)| (r % n_items as u32, *w)).collect();
        let u = fold_in(&model, &interactions).unwrap().unwrap();

        let lambda = model.manifest().ranking.lambda;
        let alpha = model.manifest().ranking.alpha;
        let mut a: Vec<f64> = model.gram().iter().map(|g| *g as f64).collect();
        let mut b = vec![0.0f64; dim];
        for i in 0..dim {
            a[i * dim + i] += lambda;
        }
        for (row, weight) in &interactions {
            let y = model.item_factors(*row).unwrap();
            for i in 0..dim {
                b[i] += (1.0 + alpha * weight) * y[i] as f64;
                for j in 0..dim {
                    a[i * dim + j] += alpha * weight * y[i] as f64 * y[j] as f64;
                }
            }
        }
        let reference = dense_solve(a, dim, b).unwrap();
        let scale = reference.iter().fold(1e-6f64, |m, x| m.max(x.abs()));
        // Both methods, whichever `fold_in` chose for this size.
        let rows: Vec<&[f32]> = interactions.iter().map(|(r, _)| model.item_factors(*r).unwrap()).collect();
        let direct = solve_direct(SystemRef::of_model(&model), &interactions, &rows).unwrap();
        let woodbury = solve_woodbury(SystemRef::of_model(&model), &interactions, &rows).unwrap();
        // The run-time dispatched build (AVX2 where present) gives the same bits.
        prop_assert_eq!(solve(SystemRef::of_model(&model), &interactions, &rows), solve_portable(SystemRef::of_model(&model), &interactions, &rows));
        for solved in [&u, &direct, &woodbury] {
            for (got, want) in solved.iter().zip(&reference) {
                prop_assert!((*got as f64 - want).abs() <= 1e-4 * scale, "{:?} vs {:?}", solved, reference);
            }
        }
    }
}

/// Rebuilds `model` with its items in the order `order` (new row i holds old
/// row `order[i]`), remapping neighbour and trending indices.
fn permuted(model: &Model, order: &[u32]) -> Model {
    use crate::bundle::BundleBuilder;
    let manifest = model.manifest();
    let mut new_row = vec![0u32; order.len()];
    for (new, old) in order.iter().enumerate() {
        new_row[*old as usize] = new as u32;
    }
    let mut builder = BundleBuilder::new(
        model.dim(),
        manifest.features.n_neighbors,
        manifest.features.n_trending,
        manifest.ranking.clone(),
        manifest.segments.clone(),
        manifest.rescue.clone(),
    );
    for old in order {
        builder
            .add_item(
                model.item(*old).unwrap().clone(),
                model.item_factors(*old).unwrap(),
            )
            .unwrap();
    }
    for (new, old) in order.iter().enumerate() {
        let list: Vec<(u32, f32)> = model
            .neighbors(*old)
            .map(|(r, s)| (new_row[r as usize], s))
            .collect();
        builder.neighbors(new as u32, &list).unwrap();
    }
    for country in &manifest.trending_countries {
        let (_, list) = model.trending(Some(country));
        let list: Vec<(u32, f32)> = list
            .iter()
            .map(|(r, s)| (new_row[*r as usize], *s))
            .collect();
        builder.trending(country, &list);
    }
    builder.taste_centroids(&model.taste_centroids);
    builder.propensity(model.propensity().clone());
    builder.purchase_intent(model.purchase_intent().clone());
    let built = builder.build().unwrap();
    Model::from_bytes(&built.manifest, &built.tensors).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// The engine-level form of "ranking does not depend on candidate order":
    /// the same catalogue in another row order gives the same items and scores
    /// (only items with exactly equal scores may trade places).
    #[test]
    fn recommendations_do_not_depend_on_catalogue_order(
        seed in any::<u64>(),
        order in Just((0..60u32).collect::<Vec<u32>>()).prop_shuffle(),
        viewed in prop::collection::vec(0u32..60, 0..5),
        context in prop::option::of(0u32..60),
        country in prop::option::of(prop::sample::select(vec!["GB", "DE", "FR"])),
        int8 in any::<bool>(),
    ) {
        use crate::events::{Event, EventKind, PageKind};
        use crate::profile::ProfileConfig;
        use crate::ranking::{recommend, RankRequest};
        let built = synthetic_bundle(&SyntheticSpec { n_items: 60, dim: 6, seed, n_neighbors: 4, n_trending: 6, n_categories: 4 });
        let model = Model::from_bytes(&built.manifest, &built.tensors).unwrap();
        let other = permuted(&model, &order);
        let config = ProfileConfig::default();
        let mut profile = Profile::new();
        for (i, row) in viewed.iter().enumerate() {
            let kind = EventKind::View { page: PageKind::Product, item: Some(format!("item-{row}")), price: Some(9.0) };
            profile.apply(&Event { at: 1_700_000_000 + i as i64 * 60, kind }, &config).unwrap();
        }
        let request = RankRequest {
            k: 8,
            now: 1_700_001_000,
            country: country.map(String::from),
            context_item: context.map(|c| format!("item-{c}")),
            int8,
            ..RankRequest::default()
        };
        let a = recommend(&model, &profile, &config, &request).unwrap();
        let b = recommend(&other, &profile, &config, &request).unwrap();
        // The Gram matrix is summed in row order, so its last bits (and the
        // folded-in vector's) may differ: compare scores with a tolerance and
        // ids wherever the gap to the neighbouring scores is clear.
        prop_assert_eq!(a.items.len(), b.items.len());
        let close = |x: f32, y: f32| (x - y).abs() <= 1e-4 * (1.0 + x.abs());
        for (x, y) in a.items.iter().zip(&b.items) {
            prop_assert!(close(x.score, y.score), "{} vs {}", x.score, y.score);
        }
        let n = a.items.len();
        for (position, (x, y)) in a.items.iter().zip(&b.items).enumerate() {
            let gap = |other: Option<&crate::ranking::Recommendation>| other.is_none_or(|o| (o.score - x.score).abs() > 1e-3 * (1.0 + x.score.abs()));
            let clear = position + 1 < n && gap(a.items.get(position + 1)) && (position == 0 || gap(a.items.get(position - 1)));
            if clear {
                prop_assert_eq!(&x.item, &y.item);
                prop_assert_eq!(&x.reason, &y.reason);
            }
        }
    }
}
