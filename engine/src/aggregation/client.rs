//! The device's side: one metric's true value (a histogram's cell or a vector
//! of sums) as a DAP report, its two input shares sealed to the leader and the
//! helper.

use janus_messages::codec::Encode;
use janus_messages::{
    HpkeConfig, InputShareAad, PlaintextInputShare, Report, ReportId, ReportMetadata, Role,
};
use prio::vdaf::Client;
use rand::RngCore;

use super::hpke::{seal, Label};
use super::problem;
use super::task::{day_time, Task, VdafKind};
use crate::Error;

/// The two aggregators' public keys, as a device gets them.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregatorKeys {
    /// The leader's (the shop's edge).
    pub leader: HpkeConfig,
    /// The helper's (the other party).
    pub helper: HpkeConfig,
}

/// What a device measured for one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Measurement {
    /// A histogram's one cell.
    Cell(u32),
    /// A sum vector's summands, each below `2^bits` (see
    /// [`crate::privacy::visit`] for money).
    Sums(Vec<u64>),
}

/// The DAP report of `measurement` for `task`, dated `day`: encoded, ready to
/// upload. Errors (and builds nothing) when the measurement does not fit the
/// task: a cell outside its histogram, sums of another length or above
/// `2^bits − 1`.
pub fn report(
    task: &Task,
    measurement: &Measurement,
    day: u32,
    keys: &AggregatorKeys,
) -> Result<Vec<u8>, Error> {
    let mut id = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut id);
    let report_id = ReportId::from(id);
    let sharded = match (task.kind, measurement) {
        (VdafKind::Histogram, Measurement::Cell(cell)) if *cell < task.length => {
            task.vdaf()?.shard(&(*cell as usize), report_id.as_ref())
        }
        (VdafKind::SumVec { bits, .. }, Measurement::Sums(values))
            if values.len() == task.length as usize
                && values.iter().all(|&value| value >> bits == 0) =>
        {
            let values: Vec<u128> = values.iter().map(|&value| u128::from(value)).collect();
            task.sum_vdaf()?.shard(&values, report_id.as_ref())
        }
        _ => {
            return Err(problem(
                "invalidMeasurement",
                format!(
                    "a measurement that does not fit the task's {} values",
                    task.length
                ),
            ))
        }
    };
    let (public_share, input_shares) =
        sharded.map_err(|error| problem("invalidMeasurement", error))?;
    let metadata = ReportMetadata::new(report_id, day_time(day));
    let encode = |value: &dyn EncodeDyn| value.encoded().map_err(|e| problem("invalidMessage", e));
    let public_share = encode(&public_share)?;
    let aad = encode(&InputShareAad::new(
        task.id,
        metadata.clone(),
        public_share.clone(),
    ))?;
    let mut sealed = Vec::with_capacity(2);
    for ((role, config), share) in [(Role::Leader, &keys.leader), (Role::Helper, &keys.helper)]
        .into_iter()
        .zip(&input_shares)
    {
        let plaintext = encode(&PlaintextInputShare::new(Vec::new(), encode(share)?))?;
        sealed.push(seal(
            config,
            Label::InputShare,
            Role::Client,
            role,
            &plaintext,
            &aad,
        )?);
    }
    let helper = sealed.pop().expect("two shares");
    let leader = sealed.pop().expect("two shares");
    encode(&Report::new(metadata, public_share, leader, helper))
}

/// `Encode` made object-safe for the one use above.
trait EncodeDyn {
    fn encoded(&self) -> Result<Vec<u8>, janus_messages::codec::CodecError>;
}

impl<T: Encode> EncodeDyn for T {
    fn encoded(&self) -> Result<Vec<u8>, janus_messages::codec::CodecError> {
        self.get_encoded()
    }
}
