//! Privacy reports on a shop that publishes a head bundle and shards (issue
//! 24): the registry and every report depend on the head alone, so a device
//! holding any shards sends what the aggregators, set up from the whole
//! sharded model, accept; an item outside the head counts as "outside the
//! head" whether the device holds its shard or not; a digest of another head
//! and a cell outside the registry are refused.

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

use crate::aggregation::aggregator::{
    decode_report, helper_prepare, leader_finish, leader_prepare, AggregatorKeys,
};
use crate::aggregation::client::{report, Measurement};
use crate::aggregation::hpke::{config_to_text, from_base64url, Keypair};
use crate::aggregation::task::Task;
use crate::bundle::{Model, ShardedBundle};
use crate::privacy::campaign::{CampaignKind, CampaignSpec};
use crate::privacy::device::DeviceReporter;
use crate::privacy::digest::{ModelDigest, ReportingModel};
use crate::privacy::registry::{
    item_interest_domain, lifecycle_names, none_yet_item, observe, outside_head_item,
    review_categories, review_cell, Aggregators, Registry, ReportSchedule, ReviewClass,
    ITEM_INTEREST, REVIEW_SENTIMENT, SEGMENT_LIFECYCLE, SEGMENT_PRICE_TIER,
};
use crate::privacy::report::Envelope;
use crate::privacy::{Mechanism, MetricKind};
use crate::profile::{Profile, ProfileConfig};

use super::reporting::requests;
use super::shards::{head_model, profile, sharded};

const DAY: i64 = 86_400;
const NOW: i64 = 20_000 * DAY + 3_600;
const SHOP: &str = "demo-sharded";

fn schedule() -> ReportSchedule {
    ReportSchedule {
        interval_hours: 24,
        delay_seconds: [10, 20],
    }
}

fn campaigns() -> Vec<CampaignSpec> {
    vec![CampaignSpec {
        id: "rescue-cart".into(),
        kind: CampaignKind::Triggered,
        variants: 2,
        epsilon: 0.5,
    }]
}

/// The two aggregators' keys, and what a registry names of them.
fn aggregator_keys() -> (AggregatorKeys, AggregatorKeys, Aggregators) {
    let leader = AggregatorKeys {
        verify_key: [9; 16],
        hpke: Keypair::derive(1, &[1; 32], "leader").unwrap(),
    };
    let helper = AggregatorKeys {
        verify_key: [9; 16],
        hpke: Keypair::derive(2, &[2; 32], "helper").unwrap(),
    };
    let named = Aggregators {
        leader_hpke_config: config_to_text(leader.hpke.config()),
        helper_hpke_config: config_to_text(helper.hpke.config()),
        helper_url: "http://127.0.0.1:1/v1/dap/".into(),
    };
    (leader, helper, named)
}

/// The shop's registry resolved against `model`, with two aggregators.
fn registry_of<M: ReportingModel + ?Sized>(model: &M) -> Registry {
    let (_, _, named) = aggregator_keys();
    Registry::resolve(SHOP, model, &requests(), &campaigns(), 4.0, 50, schedule())
        .unwrap()
        .with_aggregators(named)
        .unwrap()
}

/// The edge's model: the head with every shard, as the edge loads it.
fn whole(bundle: &ShardedBundle) -> Model {
    let mut model = head_model(bundle);
    for (index, file) in bundle.shards.iter().enumerate() {
        model.add_shard(index, file).unwrap();
    }
    model
}

/// The head with the shards `loaded`, in that order.
fn device(bundle: &ShardedBundle, loaded: &[usize]) -> Model {
    let mut model = head_model(bundle);
    for &index in loaded {
        model.add_shard(index, &bundle.shards[index]).unwrap();
    }
    model
}

/// The id of the first item of shard `index` (catalogue position order).
fn shard_item(edge: &Model, index: usize) -> String {
    let entry = &edge.shard_table()[index];
    edge.item(entry.first_item as u32).unwrap().id.clone()
}

/// A shopper who viewed `items`, each as often as its place in the list
/// (the last one most).
fn shopper(items: &[&str]) -> Profile {
    let views: Vec<&str> = items
        .iter()
        .enumerate()
        .flat_map(|(place, item)| std::iter::repeat_n(*item, place + 1))
        .collect();
    profile(&views)
}

#[test]
fn a_heads_registry_is_the_heads_whatever_shards_are_loaded() {
    let (_, bundle) = sharded(5);
    let edge = whole(&bundle);
    let head = head_model(&bundle);
    let h = head.n_items() as u32;
    assert!((h as usize) < edge.n_items());
    let expected = registry_of(&edge);
    assert_eq!(expected.model_id, head.model_id());
    // Rows of the head, "none yet", "outside the head".
    assert_eq!(item_interest_domain(&edge), h + 2);
    assert_eq!(none_yet_item(&edge), h);
    assert_eq!(outside_head_item(&edge), Some(h + 1));
    assert_eq!(
        expected.metric(ITEM_INTEREST).unwrap().mechanism,
        Mechanism::Hadamard { domain: h + 2 }
    );
    // The head's categories and one more, "outside the head".
    let n_categories = head.categories().len() as u32;
    assert_eq!(review_categories(&edge), n_categories + 1);
    let n_segments = lifecycle_names(&edge).len() as u32;
    assert_eq!(
        expected.metric(REVIEW_SENTIMENT).unwrap().mechanism,
        Mechanism::Hadamard {
            domain: (n_categories + 1) * n_segments * 3
        }
    );
    // The same from the head alone, from the head with shards added in any
    // order, and from each one's digest (what the browser's reporter holds).
    for loaded in [&[][..], &[1], &[3, 0], &[2, 1, 3, 0]] {
        let model = device(&bundle, loaded);
        assert_eq!(registry_of(&model), expected, "shards {loaded:?}");
        let digest = ModelDigest::decode(&ModelDigest::encode(&model)).unwrap();
        assert!(digest.is_head());
        assert_eq!(digest.n_items(), h as usize);
        assert_eq!(registry_of(&digest), expected, "digest, shards {loaded:?}");
    }
    // A whole bundle's registry is unchanged: its rows, then "none yet".
    let (builder, _) = sharded(5);
    let built = builder.build().unwrap();
    let whole_bundle = Model::from_bytes(&built.manifest, &built.tensors).unwrap();
    assert!(!ReportingModel::is_head(&whole_bundle));
    assert_eq!(
        item_interest_domain(&whole_bundle),
        whole_bundle.n_items() as u32 + 1
    );
    assert_eq!(outside_head_item(&whole_bundle), None);
}

#[test]
fn what_a_device_reports_does_not_depend_on_the_shards_it_holds() {
    let (_, bundle) = sharded(9);
    let edge = whole(&bundle);
    let h = head_model(&bundle).n_items() as u32;
    let config = ProfileConfig::default();
    let head_item = edge.item(3).unwrap().id.clone();
    let in_shard_1 = shard_item(&edge, 1);
    let in_shard_2 = shard_item(&edge, 2);
    // Each shopper's item of most interest: a head item, an item of shard 1
    // and an item of shard 2; the shoppers' values on every device.
    let cases = [
        (vec![in_shard_1.as_str(), head_item.as_str()], 3),
        (vec![head_item.as_str(), in_shard_1.as_str()], h + 1),
        (vec![head_item.as_str(), in_shard_2.as_str()], h + 1),
        (vec!["not-in-any-catalogue"], h + 1),
        (vec![], h),
    ];
    let devices: Vec<Model> = [&[][..], &[1], &[2, 1], &[0, 1, 2, 3]]
        .into_iter()
        .map(|loaded| device(&bundle, loaded))
        .collect();
    for (items, expected) in &cases {
        let profile = shopper(items);
        for model in devices.iter().chain([&edge]) {
            let digest = ModelDigest::decode(&ModelDigest::encode(model)).unwrap();
            for value in [
                observe(model, &profile, &config, NOW, MetricKind::ItemInterest),
                observe(&digest, &profile, &config, NOW, MetricKind::ItemInterest),
            ] {
                assert_eq!(
                    value,
                    Some(*expected),
                    "{items:?}, {:?}",
                    model.loaded_shards()
                );
            }
        }
    }
    // A review's cell: a head item's category, or "outside the head" for any
    // other item, held or not.
    let n_categories = head_model(&bundle).categories().len() as u32;
    let n_segments = lifecycle_names(&edge).len() as u32;
    let head_category = head_model(&bundle).item_category(3).unwrap();
    for model in devices.iter().chain([&edge]) {
        let digest = ModelDigest::decode(&ModelDigest::encode(model)).unwrap();
        for item in [&in_shard_1, &in_shard_2, "unknown"] {
            let cell = review_cell(&digest, item, 1, ReviewClass::Negative);
            assert_eq!(cell, Some((n_categories * n_segments + 1) * 3));
            assert_eq!(cell, review_cell(model, item, 1, ReviewClass::Negative));
        }
        assert_eq!(
            review_cell(&digest, &head_item, 0, ReviewClass::Positive),
            Some((head_category * n_segments) * 3 + 2)
        );
    }
}

/// Runs one secret-shared report through the leader and the helper.
fn aggregate(task: &Task, bytes: &[u8]) -> Result<(), crate::Error> {
    let (leader, helper, _) = aggregator_keys();
    let (decoded, _) = decode_report(bytes)?;
    let prepared = leader_prepare(task, &leader, &decoded)?;
    let (answer, output) = helper_prepare(task, &helper, &prepared.init);
    leader_finish(task, prepared, &answer)?;
    assert!(output.is_some(), "the helper finished");
    Ok(())
}

#[test]
fn a_head_devices_upload_is_accepted_by_aggregators_set_up_from_the_whole_sharded_model() {
    let (_, bundle) = sharded(13);
    let edge = whole(&bundle);
    let edge_registry = registry_of(&edge);
    // The device holds the head and shard 1; it read the registry the edge
    // serves, as JSON, and reports from its model's digest.
    let model = device(&bundle, &[1]);
    let digest = ModelDigest::decode(&ModelDigest::encode(&model)).unwrap();
    let served = serde_json::to_vec(&edge_registry).unwrap();
    let registry = Registry::from_json(&served).unwrap();
    registry.validate().unwrap();
    let in_shard_2 = shard_item(&edge, 2);
    let head_item = edge.item(0).unwrap().id.clone();
    let profile = shopper(&[head_item.as_str(), in_shard_2.as_str()]);
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let mut reporter = DeviceReporter::default();
    reporter
        .record_review(&digest, &in_shard_2, ReviewClass::Negative)
        .unwrap();
    reporter
        .expose(&registry, "rescue-cart", NOW, &mut rng)
        .unwrap();
    reporter.schedule_first(&registry, NOW, &mut rng);
    let config = ReportingModel::profile_config(&digest).clone();
    let body = reporter
        .prepare(&registry, &digest, &profile, &config, NOW + 60, &mut rng)
        .unwrap()
        .expect("an upload is due")
        .to_string();
    let upload: serde_json::Value = serde_json::from_str(&body).unwrap();
    let today = (NOW / DAY) as u32;
    // The randomised envelope (item interest, review) passes the edge's checks.
    let envelope = Envelope::parse(upload["envelope"].as_str().unwrap().as_bytes()).unwrap();
    envelope
        .validate(&edge_registry.metrics, today, 4.0)
        .unwrap();
    let names: Vec<&str> = envelope.reports.iter().map(|r| r.metric.as_str()).collect();
    assert!(names.contains(&ITEM_INTEREST) && names.contains(&REVIEW_SENTIMENT));
    // Every secret-shared report names one of the edge's tasks, and both
    // aggregators prepare it (the proof checks).
    let shared = upload["dap"].as_array().unwrap();
    let shared_names: Vec<&str> = shared
        .iter()
        .map(|r| r["metric"].as_str().unwrap())
        .collect();
    for name in [
        SEGMENT_LIFECYCLE,
        SEGMENT_PRICE_TIER,
        "campaign.rescue-cart",
    ] {
        assert!(shared_names.contains(&name), "{name} in {shared_names:?}");
    }
    for sent in shared {
        let metric = edge_registry
            .metric(sent["metric"].as_str().unwrap())
            .unwrap();
        let task = edge_registry.task(metric).unwrap();
        assert_eq!(sent["task"], task.id_text());
        let bytes = from_base64url(sent["report"].as_str().unwrap()).unwrap();
        aggregate(&task, &bytes).unwrap();
    }
}

#[test]
fn a_digest_of_another_head_and_a_cell_outside_the_registry_are_refused() {
    let (_, bundle) = sharded(17);
    let edge = whole(&bundle);
    let registry = registry_of(&edge);
    // A device still on another head (an older model of the shop): its
    // registry check refuses, and nothing is spent.
    let (_, other) = sharded(19);
    let stale = ModelDigest::decode(&ModelDigest::encode(&device(&other, &[0]))).unwrap();
    assert_ne!(stale.model_id(), registry.model_id);
    let mut reporter = DeviceReporter::default();
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    reporter.schedule_first(&registry, NOW, &mut rng);
    let config = ReportingModel::profile_config(&stale).clone();
    let error = reporter
        .prepare(
            &registry,
            &stale,
            &Profile::new(),
            &config,
            NOW + 60,
            &mut rng,
        )
        .unwrap_err();
    assert_eq!(error.code(), "invalid_parameter");
    assert_eq!(reporter.status(NOW + 60).spent_today, 0.0);

    // An envelope naming a review cell past the registry's (a category the
    // registry does not have) is refused by the edge's check.
    let model = device(&bundle, &[]);
    let digest = ModelDigest::decode(&ModelDigest::encode(&model)).unwrap();
    let mut reporter = DeviceReporter::default();
    reporter.schedule_first(&registry, NOW, &mut rng);
    let body = reporter
        .prepare(
            &registry,
            &digest,
            &shopper(&[]),
            &config_of(&digest),
            NOW + 60,
            &mut rng,
        )
        .unwrap()
        .unwrap()
        .to_string();
    let upload: serde_json::Value = serde_json::from_str(&body).unwrap();
    let envelope = Envelope::parse(upload["envelope"].as_str().unwrap().as_bytes()).unwrap();
    let today = (NOW / DAY) as u32;
    envelope.validate(&registry.metrics, today, 4.0).unwrap();
    let review = registry.metric(REVIEW_SENTIMENT).unwrap();
    let mut forged = envelope.clone();
    forged.reports.retain(|r| r.metric != REVIEW_SENTIMENT);
    forged.reports.push(crate::privacy::report::Report {
        metric: REVIEW_SENTIMENT.into(),
        cell: review.mechanism.n_cells(),
    });
    let error = forged.validate(&registry.metrics, today, 4.0).unwrap_err();
    assert!(error.to_string().contains("review.sentiment"), "{error}");

    // A secret-shared report built for a task of another shape (a device
    // that counted the segments of another model) is refused by the
    // aggregators: the task's id is in what its shares are sealed to.
    let lifecycle = registry.metric(SEGMENT_LIFECYCLE).unwrap();
    let task = registry.task(lifecycle).unwrap();
    let Mechanism::Prio3 { domain } = lifecycle.mechanism else {
        panic!("the lifecycle segment is secret-shared with two aggregators")
    };
    let wrong =
        Task::histogram(SHOP, SEGMENT_LIFECYCLE, domain + 1, lifecycle.epsilon, 50).unwrap();
    let keys = aggregator_keys().2.keys().unwrap();
    let forged = report(&wrong, &Measurement::Cell(domain), today, &keys).unwrap();
    assert!(aggregate(&task, &forged).is_err());
    // And a cell past the task's length is never built on the device.
    assert!(report(&task, &Measurement::Cell(domain), today, &keys).is_err());
    let fine = report(&task, &Measurement::Cell(0), today, &keys).unwrap();
    aggregate(&task, &fine).unwrap();
}

fn config_of(digest: &ModelDigest) -> ProfileConfig {
    ReportingModel::profile_config(digest).clone()
}
