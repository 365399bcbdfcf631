//! The aggregators' side (feature `aggregator`): each step of DAP-09's
//! one-round Prio3 preparation, the per-day batch each aggregator adds its
//! output shares into, the helper's noisy release and the collector's
//! unsharding.
//!
//! The flow for one report, leader L and helper H:
//!
//! 1. L opens its input share and runs [`leader_prepare`]: its prepare share
//!    goes to H in an `AggregationJobInitReq`, with H's still-sealed share;
//! 2. H runs [`helper_prepare`]: opens its share, combines both prepare shares
//!    (which checks the proof: a report whose measurement is not one-hot, or
//!    whose shares do not belong together, fails here), adds its output share
//!    to its batch and answers the prepare message;
//! 3. L runs [`leader_finish`] with that message and adds its output share.
//!
//! At collection, H adds discrete-Laplace noise (scaled to the task's
//! sensitivity: 2 for a histogram, where replacing one device's report moves
//! two cells by one; `(2^bits − 1) · length` for a sum vector) to its batch's
//! share and seals it to
//! the collector ([`helper_release`]); L adds nothing (the shop holds L's share
//! and is the collector: noise it knows protects no one), and [`unshard`] sums
//! the two shares into signed counts.
//!
//! Both VDAFs a task may run (`task::VdafKind`) are Prio3 over `Field128`
//! with the same shares, states and output shares; each step is written once,
//! generic over the Prio3 type, and dispatched on the task's kind.

use janus_messages::codec::{Decode, Encode, ParameterizedDecode};
use janus_messages::query_type::TimeInterval;
use janus_messages::{
    AggregateShareAad, BatchSelector, HpkeCiphertext, InputShareAad, PlaintextInputShare,
    PrepareError, PrepareInit, PrepareResp, PrepareStepResult, Report, ReportId, ReportShare, Role,
    TaskId,
};
use prio::dp::distributions::PureDpDiscreteLaplace;
use prio::dp::{DifferentialPrivacyStrategy, PureDpBudget, Rational};
use prio::field::{Field128, FieldElement, FieldElementWithInteger};
use prio::flp::{Type, TypeWithNoise};
use prio::topology::ping_pong::{
    PingPongContinuedValue, PingPongMessage, PingPongState, PingPongTopology,
};
use prio::vdaf::prio3::{Prio3, Prio3InputShare, Prio3PublicShare};
use prio::vdaf::xof::XofTurboShake128;
use prio::vdaf::{Aggregatable, AggregateShare, AggregatorWithNoise, OutputShare};
use sha2::{Digest, Sha256};

use super::hpke::{seal, Keypair, Label};
use super::problem;
use super::task::{day_interval, time_day, Task, VdafKind, VERIFY_KEY_SIZE};
use crate::Error;

/// What one aggregator holds for its role in every task.
#[derive(Debug, Clone)]
pub struct AggregatorKeys {
    /// The VDAF verification key, shared by the two aggregators only.
    pub verify_key: [u8; VERIFY_KEY_SIZE],
    /// This aggregator's HPKE key pair.
    pub hpke: Keypair,
}

/// A Prio3 VDAF over `Field128` with TurboSHAKE128, as every task runs.
type Vdaf<T> = Prio3<T, XofTurboShake128, 16>;

/// The leader's state between steps 1 and 3, per VDAF.
enum LeaderState {
    Histogram(PingPongState<VERIFY_KEY_SIZE, 16, prio::vdaf::prio3::Prio3Histogram>),
    SumVec(PingPongState<VERIFY_KEY_SIZE, 16, prio::vdaf::prio3::Prio3SumVec>),
}

/// Runs `$body` with `$vdaf` bound to the task's VDAF, whichever it is.
macro_rules! with_vdaf {
    ($task:expr, |$vdaf:ident| $body:expr) => {
        match $task.kind {
            VdafKind::Histogram => {
                let $vdaf = $task.vdaf()?;
                $body
            }
            VdafKind::SumVec { .. } => {
                let $vdaf = $task.sum_vdaf()?;
                $body
            }
        }
    };
}

/// A report the leader has opened and prepared: what goes to the helper, and
/// the state that finishes it.
pub struct LeaderPrepared {
    /// The report's id.
    pub report_id: ReportId,
    /// The day the report counts for.
    pub day: u32,
    /// What the helper receives in the aggregation job.
    pub init: PrepareInit,
    state: LeaderState,
}

fn codec(error: impl std::fmt::Display) -> Error {
    problem("invalidMessage", error)
}

/// Decodes an uploaded report and checks it names a day.
pub fn decode_report(bytes: &[u8]) -> Result<(Report, u32), Error> {
    let report = Report::get_decoded(bytes).map_err(codec)?;
    let day = time_day(report.metadata().time())
        .ok_or_else(|| problem("reportRejected", "a report's time is a day's first second"))?;
    Ok((report, day))
}

fn open_share<T: Type<Field = Field128>>(
    task: &Task,
    vdaf: &Vdaf<T>,
    keypair: &Keypair,
    role: Role,
    metadata: &janus_messages::ReportMetadata,
    public_share: &[u8],
    sealed: &HpkeCiphertext,
) -> Result<(Prio3PublicShare<16>, Prio3InputShare<Field128, 16>), PrepareError> {
    let aad = InputShareAad::new(task.id, metadata.clone(), public_share.to_vec())
        .get_encoded()
        .map_err(|_| PrepareError::InvalidMessage)?;
    let plaintext = keypair
        .open(Label::InputShare, Role::Client, role, sealed, &aad)
        .map_err(|error| match error {
            Error::Aggregation {
                problem: "outdatedConfig",
                ..
            } => PrepareError::HpkeUnknownConfigId,
            _ => PrepareError::HpkeDecryptError,
        })?;
    let plaintext =
        PlaintextInputShare::get_decoded(&plaintext).map_err(|_| PrepareError::InvalidMessage)?;
    if !plaintext.extensions().is_empty() {
        return Err(PrepareError::InvalidMessage);
    }
    let agg_id = usize::from(role == Role::Helper);
    let input_share = Prio3InputShare::get_decoded_with_param(&(vdaf, agg_id), plaintext.payload())
        .map_err(|_| PrepareError::InvalidMessage)?;
    let public_share = Prio3PublicShare::get_decoded_with_param(vdaf, public_share)
        .map_err(|_| PrepareError::InvalidMessage)?;
    Ok((public_share, input_share))
}

/// Step 1, at the leader: opens the leader's share of an uploaded report and
/// prepares it. Errors name what was wrong with the report.
pub fn leader_prepare(
    task: &Task,
    keys: &AggregatorKeys,
    report: &Report,
) -> Result<LeaderPrepared, Error> {
    let metadata = report.metadata();
    let day = time_day(metadata.time())
        .ok_or_else(|| problem("reportRejected", "a report's time is a day's first second"))?;
    let (init, state) = match task.kind {
        VdafKind::Histogram => {
            let (init, state) = leader_prepare_with(&task.vdaf()?, task, keys, report)?;
            (init, LeaderState::Histogram(state))
        }
        VdafKind::SumVec { .. } => {
            let (init, state) = leader_prepare_with(&task.sum_vdaf()?, task, keys, report)?;
            (init, LeaderState::SumVec(state))
        }
    };
    Ok(LeaderPrepared {
        report_id: *metadata.id(),
        day,
        init,
        state,
    })
}

fn leader_prepare_with<T: Type<Field = Field128>>(
    vdaf: &Vdaf<T>,
    task: &Task,
    keys: &AggregatorKeys,
    report: &Report,
) -> Result<(PrepareInit, PingPongState<VERIFY_KEY_SIZE, 16, Vdaf<T>>), Error> {
    let metadata = report.metadata();
    let (public_share, input_share) = open_share(
        task,
        vdaf,
        &keys.hpke,
        Role::Leader,
        metadata,
        report.public_share(),
        report.leader_encrypted_input_share(),
    )
    .map_err(|error| problem("reportRejected", format!("{error:?}")))?;
    let (state, message) = vdaf
        .leader_initialized(
            &keys.verify_key,
            &(),
            metadata.id().as_ref(),
            &public_share,
            &input_share,
        )
        .map_err(|error| problem("reportRejected", error))?;
    let share = ReportShare::new(
        metadata.clone(),
        report.public_share().to_vec(),
        report.helper_encrypted_input_share().clone(),
    );
    Ok((PrepareInit::new(share, message), state))
}

/// Step 2, at the helper: prepares one report of an aggregation job. The
/// answer goes back to the leader; the output share, when there is one, goes
/// into the helper's batch.
pub fn helper_prepare(
    task: &Task,
    keys: &AggregatorKeys,
    init: &PrepareInit,
) -> (PrepareResp, Option<OutputShare<Field128>>) {
    let report_id = *init.report_share().metadata().id();
    let result = match task.kind {
        VdafKind::Histogram => task
            .vdaf()
            .map_err(|_| PrepareError::VdafPrepError)
            .and_then(|vdaf| helper_prepare_with(&vdaf, task, keys, init)),
        VdafKind::SumVec { .. } => task
            .sum_vdaf()
            .map_err(|_| PrepareError::VdafPrepError)
            .and_then(|vdaf| helper_prepare_with(&vdaf, task, keys, init)),
    };
    match result {
        Ok((message, output)) => (
            PrepareResp::new(report_id, PrepareStepResult::Continue { message }),
            Some(output),
        ),
        Err(error) => (
            PrepareResp::new(report_id, PrepareStepResult::Reject(error)),
            None,
        ),
    }
}

fn helper_prepare_with<T: Type<Field = Field128>>(
    vdaf: &Vdaf<T>,
    task: &Task,
    keys: &AggregatorKeys,
    init: &PrepareInit,
) -> Result<(PingPongMessage, OutputShare<Field128>), PrepareError> {
    let metadata = init.report_share().metadata();
    let (public_share, input_share) = open_share(
        task,
        vdaf,
        &keys.hpke,
        Role::Helper,
        metadata,
        init.report_share().public_share(),
        init.report_share().encrypted_input_share(),
    )?;
    let transition = vdaf
        .helper_initialized(
            &keys.verify_key,
            &(),
            metadata.id().as_ref(),
            &public_share,
            &input_share,
            init.message(),
        )
        .map_err(|_| PrepareError::VdafPrepError)?;
    match transition.evaluate(vdaf) {
        Ok((PingPongState::Finished(output), message)) => Ok((message, output)),
        _ => Err(PrepareError::VdafPrepError),
    }
}

/// Step 3, at the leader: finishes a prepared report with the helper's answer.
pub fn leader_finish(
    task: &Task,
    prepared: LeaderPrepared,
    answer: &PrepareResp,
) -> Result<OutputShare<Field128>, Error> {
    if answer.report_id() != &prepared.report_id {
        return Err(problem(
            "invalidMessage",
            "the helper answered another report",
        ));
    }
    let message: &PingPongMessage = match answer.result() {
        PrepareStepResult::Continue { message } => message,
        PrepareStepResult::Reject(error) => {
            return Err(problem("reportRejected", format!("{error:?}")))
        }
        PrepareStepResult::Finished => {
            return Err(problem(
                "invalidMessage",
                "a one-round VDAF needs a message",
            ))
        }
    };
    match prepared.state {
        LeaderState::Histogram(state) => leader_finish_with(&task.vdaf()?, state, message),
        LeaderState::SumVec(state) => leader_finish_with(&task.sum_vdaf()?, state, message),
    }
}

fn leader_finish_with<T: Type<Field = Field128>>(
    vdaf: &Vdaf<T>,
    state: PingPongState<VERIFY_KEY_SIZE, 16, Vdaf<T>>,
    message: &PingPongMessage,
) -> Result<OutputShare<Field128>, Error> {
    if !matches!(state, PingPongState::Continued(_)) {
        return Err(problem("invalidMessage", "the leader's state is finished"));
    }
    match vdaf.leader_continued(state, &(), message) {
        Ok(PingPongContinuedValue::FinishedNoMessage { output_share }) => Ok(output_share),
        Ok(_) => Err(problem("invalidMessage", "Prio3 finishes in one round")),
        Err(error) => Err(problem("reportRejected", error)),
    }
}

/// One aggregator's running sum for one task and day: its share of the cell
/// counts, the number of reports and DAP's checksum of their ids.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    share: Vec<Field128>,
    /// Reports added.
    pub count: u64,
    /// The XOR of the SHA-256 of every added report id.
    pub checksum: [u8; 32],
}

impl Batch {
    /// An empty batch for `task`.
    pub fn new(task: &Task) -> Batch {
        Batch {
            share: vec![Field128::zero(); task.length as usize],
            count: 0,
            checksum: [0; 32],
        }
    }

    /// Adds one report's output share.
    pub fn add(
        &mut self,
        report_id: &ReportId,
        output: &OutputShare<Field128>,
    ) -> Result<(), Error> {
        let mut share = AggregateShare::from(self.share.clone());
        share
            .accumulate(output)
            .map_err(|error| problem("invalidMessage", error))?;
        self.share = share.as_ref().to_vec();
        self.count += 1;
        let digest: [u8; 32] = Sha256::digest(report_id.as_ref()).into();
        for (sum, byte) in self.checksum.iter_mut().zip(digest) {
            *sum ^= byte;
        }
        Ok(())
    }

    /// The batch as bytes, for storage: count, checksum, then the share.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(40 + 16 * self.share.len());
        bytes.extend(self.count.to_be_bytes());
        bytes.extend(self.checksum);
        for value in &self.share {
            bytes.extend(value.get_encoded().unwrap_or_default());
        }
        bytes
    }

    /// Reads [`Batch::to_bytes`]'s form for `task`.
    pub fn from_bytes(task: &Task, bytes: &[u8]) -> Result<Batch, Error> {
        let corrupt = || problem("invalidBatch", "a stored batch has the wrong length");
        let expected = 40 + Field128::ENCODED_SIZE * task.length as usize;
        if bytes.len() != expected {
            return Err(corrupt());
        }
        let count = u64::from_be_bytes(bytes[..8].try_into().map_err(|_| corrupt())?);
        let checksum: [u8; 32] = bytes[8..40].try_into().map_err(|_| corrupt())?;
        let share = bytes[40..]
            .chunks(Field128::ENCODED_SIZE)
            .map(|chunk| Field128::get_decoded(chunk).map_err(|_| corrupt()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Batch {
            share,
            count,
            checksum,
        })
    }
}

/// The additional data an aggregate share is sealed with.
fn aggregate_aad(task: &Task, day: u32) -> Result<Vec<u8>, Error> {
    AggregateShareAad::new(
        task.id,
        Vec::new(),
        BatchSelector::<TimeInterval>::new_time_interval(day_interval(day)),
    )
    .get_encoded()
    .map_err(codec)
}

/// The discrete-Laplace strategy of a task's ε (as a fraction in thousandths).
fn noise_strategy(task: &Task) -> Result<PureDpDiscreteLaplace, Error> {
    let thousandths = (task.epsilon * 1000.0).round().max(1.0) as u32;
    let epsilon = Rational::from_unsigned(thousandths, 1000)
        .map_err(|error| problem("invalidTask", error))?;
    Ok(PureDpDiscreteLaplace::from_budget(
        PureDpBudget::new(epsilon).map_err(|error| problem("invalidTask", error))?,
    ))
}

/// `cells` independent draws of the noise [`helper_release`] adds to a
/// task's cells (the task's discrete-Laplace strategy at its sensitivity),
/// from a generator seeded with `seed`. The helper draws from the operating
/// system; the simulator's Monte Carlo (`cove-simulate --monte-carlo`) draws
/// a day's release with this, so that a seed gives the same release.
pub fn noise_draws(task: &Task, cells: usize, seed: u64) -> Result<Vec<i64>, Error> {
    use prio::dp::distributions::DiscreteLaplace;
    use rand::distributions::Distribution;
    use rand::SeedableRng;
    let sensitivity = num_bigint::BigUint::from(task.sensitivity() as u64);
    let distribution: DiscreteLaplace = noise_strategy(task)?
        .create_distribution(num_rational::Ratio::from_integer(sensitivity))
        .map_err(|error| problem("invalidTask", error))?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    Ok((0..cells)
        .map(|_| {
            let draw: num_bigint::BigInt = distribution.sample(&mut rng);
            i64::try_from(draw).unwrap_or(i64::MAX)
        })
        .collect())
}

/// The helper's release of a day: checks that the leader's count and checksum
/// match its own and that the batch reaches the task's minimum, adds the noise
/// and seals the share to the collector. The caller stores the result and
/// answers the same bytes if asked again (one draw of noise per day).
pub fn helper_release(
    task: &Task,
    day: u32,
    batch: &Batch,
    leader_count: u64,
    leader_checksum: &[u8; 32],
    collector: &janus_messages::HpkeConfig,
) -> Result<HpkeCiphertext, Error> {
    if batch.count != leader_count || &batch.checksum != leader_checksum {
        return Err(problem(
            "batchMismatch",
            format!(
                "the helper added {} reports, the leader {leader_count}, or other ones",
                batch.count
            ),
        ));
    }
    if batch.count < u64::from(task.min_batch_size) {
        return Err(problem(
            "invalidBatchSize",
            format!(
                "{} reports, fewer than the task's minimum of {}",
                batch.count, task.min_batch_size
            ),
        ));
    }
    let mut share = AggregateShare::from(batch.share.clone());
    with_vdaf!(task, |vdaf| add_noise(&vdaf, task, batch, &mut share))?;
    let plaintext = share.get_encoded().map_err(codec)?;
    seal(
        collector,
        Label::AggregateShare,
        Role::Helper,
        Role::Collector,
        &plaintext,
        &aggregate_aad(task, day)?,
    )
}

fn add_noise<T>(
    vdaf: &Vdaf<T>,
    task: &Task,
    batch: &Batch,
    share: &mut AggregateShare<Field128>,
) -> Result<(), Error>
where
    T: Type<Field = Field128> + TypeWithNoise<PureDpDiscreteLaplace>,
{
    vdaf.add_noise_to_agg_share(&noise_strategy(task)?, &(), share, batch.count as usize)
        .map_err(|error| problem("invalidTask", error))
}

/// The collector's step: the leader's batch plus the helper's sealed, noisy
/// share, as signed cell counts (noise can take a small count below zero).
pub fn unshard(
    task: &Task,
    day: u32,
    leader: &Batch,
    helper_share: &HpkeCiphertext,
    collector: &Keypair,
) -> Result<Vec<i64>, Error> {
    let plaintext = collector.open(
        Label::AggregateShare,
        Role::Helper,
        Role::Collector,
        helper_share,
        &aggregate_aad(task, day)?,
    )?;
    let helper: AggregateShare<Field128> = with_vdaf!(task, |vdaf| {
        AggregateShare::<Field128>::get_decoded_with_param(&(&vdaf, &()), &plaintext)
            .map_err(codec)?
    });
    let mut sum = AggregateShare::from(leader.share.clone());
    sum.merge(&helper).map_err(codec)?;
    let modulus = Field128::modulus();
    Ok(sum
        .as_ref()
        .iter()
        .map(|&value| {
            let value = u128::from(value);
            if value > modulus / 2 {
                -((modulus - value).min(i64::MAX as u128) as i64)
            } else {
                value.min(i64::MAX as u128) as i64
            }
        })
        .collect())
}

/// The task id of an aggregator request's path segment.
pub fn task_id_from_text(text: &str) -> Result<TaskId, Error> {
    text.parse::<TaskId>()
        .map_err(|_| problem("unrecognizedTask", "a task id is 32 bytes of base64url"))
}

#[cfg(test)]
mod tests;
