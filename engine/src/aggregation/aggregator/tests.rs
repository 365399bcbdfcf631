//! The whole flow in one process (client, leader, helper, collector) with the
//! real VDAF, HPKE and noise; and the reports and messages it must refuse.

use janus_messages::codec::{Decode, Encode};
use janus_messages::{InputShareAad, PlaintextInputShare, Report, ReportId, ReportMetadata, Role};
use prio::vdaf::Client;

use super::*;
use crate::aggregation::client::{report, AggregatorKeys as DeviceKeys, Measurement};
use crate::aggregation::hpke::{seal, Keypair, Label};
use crate::aggregation::task::{day_time, Task, VdafKind};

struct Setup {
    task: Task,
    leader: AggregatorKeys,
    helper: AggregatorKeys,
    collector: Keypair,
    device: DeviceKeys,
}

fn setup(length: u32, min_batch_size: u32) -> Setup {
    let verify_key = [9u8; 16];
    let leader = AggregatorKeys {
        verify_key,
        hpke: Keypair::derive(1, &[1u8; 32], "leader").unwrap(),
    };
    let helper = AggregatorKeys {
        verify_key,
        hpke: Keypair::derive(2, &[2u8; 32], "helper").unwrap(),
    };
    let device = DeviceKeys {
        leader: leader.hpke.config().clone(),
        helper: helper.hpke.config().clone(),
    };
    Setup {
        task: Task::histogram("demo", "segment.lifecycle", length, 1.0, min_batch_size).unwrap(),
        leader,
        helper,
        collector: Keypair::derive(3, &[3u8; 32], "collector").unwrap(),
        device,
    }
}

const DAY: u32 = 20_425;

/// Runs one report through both aggregators into their batches.
fn aggregate(s: &Setup, bytes: &[u8], batches: &mut (Batch, Batch)) -> Result<(), Error> {
    let (report, day) = decode_report(bytes)?;
    assert_eq!(day, DAY);
    let prepared = leader_prepare(&s.task, &s.leader, &report)?;
    let (answer, output) = helper_prepare(&s.task, &s.helper, &prepared.init);
    let report_id = prepared.report_id;
    let leader_output = leader_finish(&s.task, prepared, &answer)?;
    batches.0.add(&report_id, &leader_output)?;
    batches
        .1
        .add(&report_id, &output.expect("the helper finished"))?;
    Ok(())
}

/// The helper's noisy release of the batches, and the collector's sums of it.
fn release(s: &Setup, batches: &(Batch, Batch)) -> (janus_messages::HpkeCiphertext, Vec<i64>) {
    let sealed = helper_release(
        &s.task,
        DAY,
        &batches.1,
        batches.0.count,
        &batches.0.checksum,
        s.collector.config(),
    )
    .unwrap();
    let sums = unshard(&s.task, DAY, &batches.0, &sealed, &s.collector).unwrap();
    (sealed, sums)
}

#[test]
fn reports_add_up_to_the_true_counts_plus_the_helpers_noise() {
    let s = setup(6, 10);
    let truth = [120u32, 40, 0, 15, 3, 22];
    let mut batches = (Batch::new(&s.task), Batch::new(&s.task));
    for (cell, &count) in truth.iter().enumerate() {
        for _ in 0..count {
            let bytes = report(&s.task, &Measurement::Cell(cell as u32), DAY, &s.device).unwrap();
            aggregate(&s, &bytes, &mut batches).unwrap();
        }
    }
    let total: u32 = truth.iter().sum();
    assert_eq!(batches.0.count, u64::from(total));
    assert_eq!(batches.0.checksum, batches.1.checksum);
    let (sealed, counts) = release(&s, &batches);
    // ε = 1: each cell's noise has σ ≈ 2.8; 25 is beyond 8σ.
    for (released, &true_count) in counts.iter().zip(&truth) {
        assert!((released - i64::from(true_count)).abs() <= 25, "{counts:?}");
    }
    // Stored and read back, a batch is the same batch.
    assert_eq!(
        Batch::from_bytes(&s.task, &batches.1.to_bytes()).unwrap(),
        batches.1
    );
    assert!(Batch::from_bytes(&s.task, &[0u8; 12]).is_err());
    // The collector's share opens for this day only.
    assert!(unshard(&s.task, DAY + 1, &batches.0, &sealed, &s.collector).is_err());
}

/// A malicious device: a valid sharding whose leader share is then altered,
/// so the shares no longer add up to a valid measurement (one-hot, or sums
/// within their bits).
fn tampered_report(s: &Setup) -> Vec<u8> {
    let report_id = ReportId::from([5u8; 16]);
    let (public_share, shares) = match s.task.kind {
        VdafKind::Histogram => s.task.vdaf().unwrap().shard(&1usize, report_id.as_ref()),
        VdafKind::SumVec { .. } => s
            .task
            .sum_vdaf()
            .unwrap()
            .shard(&vec![3u128, 1], report_id.as_ref()),
    }
    .unwrap();
    let metadata = ReportMetadata::new(report_id, day_time(DAY));
    let public_share = public_share.get_encoded().unwrap();
    let aad = InputShareAad::new(s.task.id, metadata.clone(), public_share.clone())
        .get_encoded()
        .unwrap();
    let mut leader_payload = shares[0].get_encoded().unwrap();
    leader_payload[3] ^= 1; // one bit of the first measurement cell's share
    let sealed: Vec<_> = [
        (Role::Leader, &s.device.leader, leader_payload),
        (
            Role::Helper,
            &s.device.helper,
            shares[1].get_encoded().unwrap(),
        ),
    ]
    .into_iter()
    .map(|(role, config, payload)| {
        let plaintext = PlaintextInputShare::new(Vec::new(), payload)
            .get_encoded()
            .unwrap();
        seal(
            config,
            Label::InputShare,
            Role::Client,
            role,
            &plaintext,
            &aad,
        )
        .unwrap()
    })
    .collect();
    Report::new(metadata, public_share, sealed[0].clone(), sealed[1].clone())
        .get_encoded()
        .unwrap()
}

#[test]
fn a_share_that_fails_its_proof_is_rejected_by_the_helper() {
    let s = setup(6, 1);
    let (report, _) = decode_report(&tampered_report(&s)).unwrap();
    let prepared = leader_prepare(&s.task, &s.leader, &report).unwrap();
    let (answer, output) = helper_prepare(&s.task, &s.helper, &prepared.init);
    assert!(output.is_none());
    assert_eq!(
        answer.result(),
        &PrepareStepResult::Reject(PrepareError::VdafPrepError)
    );
    assert!(leader_finish(&s.task, prepared, &answer).is_err());
}

#[test]
fn shares_of_two_reports_do_not_combine() {
    let s = setup(6, 1);
    let (first, _) =
        decode_report(&report(&s.task, &Measurement::Cell(1), DAY, &s.device).unwrap()).unwrap();
    let (second, _) =
        decode_report(&report(&s.task, &Measurement::Cell(1), DAY, &s.device).unwrap()).unwrap();
    // The first report's metadata with the second's helper share.
    let spliced = Report::new(
        first.metadata().clone(),
        first.public_share().to_vec(),
        first.leader_encrypted_input_share().clone(),
        second.helper_encrypted_input_share().clone(),
    );
    let prepared = leader_prepare(&s.task, &s.leader, &spliced).unwrap();
    let (answer, output) = helper_prepare(&s.task, &s.helper, &prepared.init);
    assert!(output.is_none());
    assert!(matches!(answer.result(), PrepareStepResult::Reject(_)));
}

#[test]
fn a_helper_configured_differently_cannot_open_the_reports() {
    let s = setup(6, 1);
    let bytes = report(&s.task, &Measurement::Cell(2), DAY, &s.device).unwrap();
    let (report, _) = decode_report(&bytes).unwrap();
    let prepared = leader_prepare(&s.task, &s.leader, &report).unwrap();
    // Another ε: another task id, so the share's AAD does not match.
    let other = Task::histogram("demo", "segment.lifecycle", 6, 0.5, 1).unwrap();
    let (answer, output) = helper_prepare(&other, &s.helper, &prepared.init);
    assert!(output.is_none());
    assert_eq!(
        answer.result(),
        &PrepareStepResult::Reject(PrepareError::HpkeDecryptError)
    );
    // Another verification key: the proof does not verify.
    let mut wrong_key = s.helper.clone();
    wrong_key.verify_key = [8u8; 16];
    let (answer, _) = helper_prepare(&s.task, &wrong_key, &prepared.init);
    assert!(matches!(answer.result(), PrepareStepResult::Reject(_)));
}

#[test]
fn malformed_and_misdated_reports_are_typed_errors() {
    let s = setup(6, 1);
    assert!(matches!(
        decode_report(b"not a report"),
        Err(Error::Aggregation {
            problem: "invalidMessage",
            ..
        })
    ));
    let bytes = report(&s.task, &Measurement::Cell(0), DAY, &s.device).unwrap();
    assert!(decode_report(&bytes[..bytes.len() - 1]).is_err());
    let (good, _) = decode_report(&bytes).unwrap();
    let misdated = Report::new(
        ReportMetadata::new(
            *good.metadata().id(),
            janus_messages::Time::from_seconds_since_epoch(u64::from(DAY) * 86_400 + 7),
        ),
        good.public_share().to_vec(),
        good.leader_encrypted_input_share().clone(),
        good.helper_encrypted_input_share().clone(),
    );
    assert!(decode_report(&misdated.get_encoded().unwrap()).is_err());
    // A cell outside the histogram is refused on the device.
    assert!(report(&s.task, &Measurement::Cell(6), DAY, &s.device).is_err());
    // Re-dating a report breaks its AAD: the leader cannot open it.
    let redated = Report::new(
        ReportMetadata::new(*good.metadata().id(), day_time(DAY + 1)),
        good.public_share().to_vec(),
        good.leader_encrypted_input_share().clone(),
        good.helper_encrypted_input_share().clone(),
    );
    assert!(leader_prepare(&s.task, &s.leader, &redated).is_err());
    assert!(Report::get_decoded(&bytes).is_ok());
}

#[test]
fn the_helper_releases_nothing_below_k_or_when_the_batches_disagree() {
    let s = setup(6, 5);
    let mut batches = (Batch::new(&s.task), Batch::new(&s.task));
    for _ in 0..4 {
        let bytes = report(&s.task, &Measurement::Cell(1), DAY, &s.device).unwrap();
        aggregate(&s, &bytes, &mut batches).unwrap();
    }
    let release = |leader: &Batch, helper: &Batch| {
        helper_release(
            &s.task,
            DAY,
            helper,
            leader.count,
            &leader.checksum,
            s.collector.config(),
        )
    };
    assert!(matches!(
        release(&batches.0, &batches.1),
        Err(Error::Aggregation {
            problem: "invalidBatchSize",
            ..
        })
    ));
    let bytes = report(&s.task, &Measurement::Cell(1), DAY, &s.device).unwrap();
    aggregate(&s, &bytes, &mut batches).unwrap();
    assert!(release(&batches.0, &batches.1).is_ok());
    // The leader counted one report the helper did not.
    let mut leader = batches.0.clone();
    let (extra, _) =
        decode_report(&report(&s.task, &Measurement::Cell(2), DAY, &s.device).unwrap()).unwrap();
    let prepared = leader_prepare(&s.task, &s.leader, &extra).unwrap();
    let (answer, _) = helper_prepare(&s.task, &s.helper, &prepared.init);
    let id = prepared.report_id;
    leader
        .add(&id, &leader_finish(&s.task, prepared, &answer).unwrap())
        .unwrap();
    assert!(matches!(
        release(&leader, &batches.1),
        Err(Error::Aggregation {
            problem: "batchMismatch",
            ..
        })
    ));
}

#[test]
fn sum_reports_add_up_to_the_true_sums_plus_noise_scaled_to_the_cap() {
    let mut s = setup(2, 10);
    // Small summands (4 bits), so the noise (scale 2·15/ε) stays readable.
    s.task = Task::sum_vec("demo", "visit.revenue", 2, 4, 15.0, 1.0, 10).unwrap();
    let values = [[0u64, 0], [15, 15], [3, 0], [7, 3], [15, 15], [1, 0]];
    let mut batches = (Batch::new(&s.task), Batch::new(&s.task));
    for _ in 0..5 {
        for value in values {
            let bytes =
                report(&s.task, &Measurement::Sums(value.to_vec()), DAY, &s.device).unwrap();
            aggregate(&s, &bytes, &mut batches).unwrap();
        }
    }
    let (_, sums) = release(&s, &batches);
    let truth = [5 * 41i64, 5 * 33];
    // Noise scale 30: beyond 12 scales (360) has probability below 1e-5.
    for (released, true_sum) in sums.iter().zip(truth) {
        assert!((released - true_sum).abs() <= 360, "{sums:?}");
    }
    // A device cannot report a summand at or above 2^bits, nor another length
    // or a histogram's cell.
    for bad in [
        Measurement::Sums(vec![16, 0]),
        Measurement::Sums(vec![1]),
        Measurement::Cell(0),
    ] {
        assert!(report(&s.task, &bad, DAY, &s.device).is_err());
    }
    // A histogram task refuses sums.
    let histogram = setup(2, 10);
    assert!(report(
        &histogram.task,
        &Measurement::Sums(vec![1, 0]),
        DAY,
        &histogram.device
    )
    .is_err());
}

#[test]
fn a_sum_report_whose_shares_were_altered_fails_its_proof() {
    let mut s = setup(2, 1);
    s.task = Task::sum_vec("demo", "visit.revenue", 2, 4, 15.0, 1.0, 1).unwrap();
    let bytes = tampered_report(&s);
    let mut batches = (Batch::new(&s.task), Batch::new(&s.task));
    assert!(aggregate(&s, &bytes, &mut batches).is_err());
    assert_eq!(batches.1.count, 0);
}

/// The seeded draws of the helper's noise (the simulator's Monte Carlo) have
/// the variance `release::noise_variance` states for the task's ε, and a seed
/// gives the same draws.
#[test]
fn seeded_noise_draws_have_the_stated_variance() {
    let task = Task::histogram("demo", "campaign.win-back", 36, 2.0, 50).unwrap();
    let draws = noise_draws(&task, 20_000, 7).unwrap();
    assert_eq!(draws, noise_draws(&task, 20_000, 7).unwrap());
    assert_ne!(draws, noise_draws(&task, 20_000, 8).unwrap());
    let n = draws.len() as f64;
    let mean = draws.iter().sum::<i64>() as f64 / n;
    let variance = draws
        .iter()
        .map(|&d| (d as f64 - mean).powi(2))
        .sum::<f64>()
        / (n - 1.0);
    let stated = crate::aggregation::release::noise_variance(2.0);
    // σ² ≈ 1.84 at ε = 2; the sample variance of 20,000 draws is within a
    // few percent of it (its standard error is about 2%).
    assert!(mean.abs() < 0.1, "mean {mean}");
    assert!(
        (variance / stated - 1.0).abs() < 0.1,
        "{variance} vs {stated}"
    );
}
