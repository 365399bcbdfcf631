//! The engine's one error type.
//!
//! Every fallible function in the engine returns [`Error`]. Each variant carries
//! the offending values, so a caller can report them without guessing, and each
//! has a short, stable [`Error::code`] that the JavaScript API and the edge
//! worker put in their JSON errors. New variants may be added (the enum is
//! `#[non_exhaustive]`); existing codes never change meaning.

use std::fmt;

/// Everything that can go wrong inside the engine. Each variant carries the
/// offending values, so a caller can report them without guessing.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// A vector or matrix did not have the length its dimension requires.
    DimensionMismatch {
        /// What the value was checked against (for example "item matrix").
        what: &'static str,
        /// The length required.
        expected: usize,
        /// The length found.
        found: usize,
    },
    /// A value that must be finite was NaN or infinite.
    NonFinite {
        /// Where the value was found.
        what: &'static str,
        /// Its position in that value.
        index: usize,
    },
    /// A parameter was outside its allowed range.
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
        /// Why it was refused.
        reason: &'static str,
    },

    /// The bundle's manifest was written for a schema version this engine does
    /// not read.
    UnsupportedSchemaVersion {
        /// The version in the manifest.
        found: u32,
        /// The only version this engine reads.
        supported: u32,
    },
    /// The manifest is not valid JSON, or not the JSON this schema describes.
    ManifestSyntax {
        /// The parser's message (line and column included).
        message: String,
    },
    /// The tensor file is not a valid safetensors file.
    TensorFileSyntax {
        /// The parser's message.
        message: String,
    },
    /// A bundle part's length or sha256 differs from what the manifest states.
    ChecksumMismatch {
        /// Which part ("tensors").
        part: &'static str,
        /// The value the manifest states (hex sha256, or a byte length).
        expected: String,
        /// The value computed from the bytes given.
        found: String,
    },
    /// The manifest's model id is not the one derived from its content.
    ModelIdMismatch {
        /// The id the manifest states.
        stated: String,
        /// The id derived from the manifest's content.
        derived: String,
    },
    /// A tensor the schema requires is absent from the tensor file.
    MissingTensor {
        /// The tensor's name.
        name: String,
    },
    /// A tensor has another element type than the schema requires.
    TensorDtype {
        /// The tensor's name.
        name: String,
        /// The element type required (safetensors spelling, "F32").
        expected: &'static str,
        /// The element type found.
        found: String,
    },
    /// A tensor has another shape than the manifest implies.
    TensorShape {
        /// The tensor's name.
        name: String,
        /// The shape required.
        expected: Vec<usize>,
        /// The shape found.
        found: Vec<usize>,
    },
    /// A tensor value is NaN or infinite, or out of its allowed range.
    InvalidTensorValue {
        /// The tensor's name.
        name: String,
        /// The flat index of the first bad value.
        index: usize,
        /// Why it was refused.
        reason: &'static str,
    },
    /// An index inside the bundle points outside what it refers to (for example
    /// a neighbour index not below the number of items).
    InvalidReference {
        /// What holds the reference ("neighbors_idx", "segments.loyalty").
        what: String,
        /// The offending index or position.
        index: u64,
        /// The exclusive upper bound it had to respect.
        limit: u64,
    },
    /// A shard was given to a model whose shard table has no such shard
    /// (`count` is 0 when the model is a whole bundle, not a head).
    UnknownShard {
        /// The shard index given.
        index: usize,
        /// How many shards the model's table lists.
        count: usize,
    },
    /// A shard's file names another head bundle than the loaded one.
    ShardOfOtherModel {
        /// The shard index given.
        index: usize,
        /// The loaded head's tensor sha256 (what the shard must name).
        expected: String,
        /// What the shard names.
        found: String,
    },
    /// A manifest field holds a value its schema forbids.
    InvalidManifest {
        /// The field's path in the manifest ("segments.price_tiers.cuts").
        field: String,
        /// Why it was refused.
        reason: String,
    },

    /// A shopper event is malformed (empty id, quantity zero, price negative,
    /// a field longer than its limit).
    InvalidEvent {
        /// The event field at fault.
        field: &'static str,
        /// Why it was refused.
        reason: &'static str,
    },
    /// An event's JSON is not valid or not an event.
    EventSyntax {
        /// The parser's message.
        message: String,
    },
    /// An event is older than the profile's latest event by more than the
    /// allowed reordering window.
    EventOutOfOrder {
        /// The event's time (unix seconds).
        event_at: i64,
        /// The profile's latest event time (unix seconds).
        latest_at: i64,
    },
    /// A serialized profile was written in a format version this engine does not
    /// read (older formats are rejected, never misread).
    UnsupportedProfileVersion {
        /// The version found.
        found: u32,
        /// The only version this engine reads.
        supported: u32,
    },
    /// A serialized profile is damaged: truncated, a bad checksum, a length that
    /// breaks a limit, or a value out of range.
    CorruptProfile {
        /// What is wrong.
        reason: String,
    },
    /// A stored reporting state (ε budget, assignments) cannot be read back.
    CorruptReportingState,
    /// The reporter's model digest (`privacy::digest`) cannot be read:
    /// truncated, a bad checksum, or a value the bundle could not hold.
    CorruptModelDigest {
        /// What is wrong.
        reason: String,
    },
    /// A secret-shared report or an aggregator message was refused (see
    /// `aggregation`): `problem` is the DAP problem type it maps to
    /// ("invalidMessage", "reportRejected", "unrecognizedTask", …).
    Aggregation {
        /// The DAP problem type (a stable code).
        problem: &'static str,
        /// What exactly was wrong.
        detail: String,
    },
    /// The engine was asked to use a model before one was loaded.
    NoModel,
    /// A device's ε budget for the day cannot pay for a report.
    BudgetExceeded {
        /// The ε the report would spend.
        requested: f64,
        /// The ε left for the day.
        remaining: f64,
    },
    /// A text to score has no word, symbol or emoji in it (empty, or only
    /// spaces and invisible characters).
    EmptyText,
    /// A text to score is not text (bytes that are not UTF-8, or a value that
    /// is not a string).
    InvalidText {
        /// What was wrong with it.
        reason: String,
    },
    /// A revenue to report was negative, NaN or infinite (a revenue above
    /// the shop's cap is not an error: it is clipped to the cap).
    InvalidRevenue {
        /// The value given.
        value: f64,
    },
    /// A click on a recommendation for an item no Cove slot showed today.
    RecommendationNotShown {
        /// The item clicked.
        item: String,
    },
    /// A privacy report envelope broke its schema.
    InvalidReport {
        /// The field at fault.
        field: &'static str,
        /// What was wrong with it.
        reason: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::DimensionMismatch {
                what,
                expected,
                found,
            } => write!(f, "{what}: expected length {expected}, found {found}"),
            Error::NonFinite { what, index } => {
                write!(f, "{what}: value at index {index} is not a finite number")
            }
            Error::InvalidParameter { name, reason } => write!(f, "parameter {name}: {reason}"),
            Error::UnsupportedSchemaVersion { found, supported } => write!(
                f,
                "bundle schema version {found} is not supported (this engine reads {supported})"
            ),
            Error::ManifestSyntax { message } => write!(f, "bundle manifest: {message}"),
            Error::TensorFileSyntax { message } => write!(f, "bundle tensor file: {message}"),
            Error::ChecksumMismatch {
                part,
                expected,
                found,
            } => write!(
                f,
                "bundle part {part}: manifest states {expected}, bytes give {found}"
            ),
            Error::ModelIdMismatch { stated, derived } => write!(
                f,
                "bundle model id {stated} does not match its content ({derived})"
            ),
            Error::MissingTensor { name } => write!(f, "bundle tensor {name} is missing"),
            Error::TensorDtype {
                name,
                expected,
                found,
            } => write!(
                f,
                "bundle tensor {name}: dtype {found}, expected {expected}"
            ),
            Error::TensorShape {
                name,
                expected,
                found,
            } => write!(
                f,
                "bundle tensor {name}: shape {}, expected {}",
                crate::json::text_of(found),
                crate::json::text_of(expected)
            ),
            Error::InvalidTensorValue {
                name,
                index,
                reason,
            } => write!(f, "bundle tensor {name}: value at index {index} {reason}"),
            Error::InvalidReference { what, index, limit } => {
                write!(f, "{what}: index {index} is not below {limit}")
            }
            Error::UnknownShard { index, count } => write!(
                f,
                "shard {index} is not in the model's shard table ({count} shards)"
            ),
            Error::ShardOfOtherModel {
                index,
                expected,
                found,
            } => write!(
                f,
                "shard {index} belongs to the head whose tensors hash to {found}, not to the loaded head ({expected})"
            ),
            Error::InvalidManifest { field, reason } => {
                write!(f, "bundle manifest field {field}: {reason}")
            }
            Error::InvalidEvent { field, reason } => write!(f, "event field {field}: {reason}"),
            Error::EventSyntax { message } => write!(f, "event: {message}"),
            Error::EventOutOfOrder {
                event_at,
                latest_at,
            } => write!(
                f,
                "event at {event_at} is too far before the latest event at {latest_at}"
            ),
            Error::UnsupportedProfileVersion { found, supported } => write!(
                f,
                "profile format version {found} is not supported (this engine reads {supported})"
            ),
            Error::CorruptProfile { reason } => write!(f, "profile is corrupt: {reason}"),
            Error::CorruptReportingState => write!(f, "the stored reporting state is corrupt"),
            Error::CorruptModelDigest { reason } => {
                write!(f, "the reporter's model digest is corrupt: {reason}")
            }
            Error::Aggregation { problem, detail } => write!(f, "{problem}: {detail}"),
            Error::NoModel => write!(f, "no model bundle is loaded"),
            Error::BudgetExceeded {
                requested,
                remaining,
            } => write!(
                f,
                "the day's privacy budget has {} ε left, the report needs {}",
                crate::json::number_text(*remaining),
                crate::json::number_text(*requested)
            ),
            Error::InvalidReport { field, reason } => write!(f, "report field {field}: {reason}"),
            Error::InvalidRevenue { value } => write!(
                f,
                "a revenue must be a finite number of at least 0, not {}",
                crate::json::number_text(*value)
            ),
            Error::RecommendationNotShown { item } => write!(
                f,
                "no Cove slot showed item {} today",
                crate::json::text_of(item)
            ),
            Error::EmptyText => write!(f, "the text has nothing to score"),
            Error::InvalidText { reason } => write!(f, "the text is invalid: {reason}"),
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    /// A short, stable, machine-readable code for this error, used by the
    /// JavaScript API and the edge worker's JSON errors.
    pub fn code(&self) -> &'static str {
        match self {
            Error::DimensionMismatch { .. } => "dimension_mismatch",
            Error::NonFinite { .. } => "non_finite",
            Error::InvalidParameter { .. } => "invalid_parameter",
            Error::UnsupportedSchemaVersion { .. } => "bundle_schema_version",
            Error::ManifestSyntax { .. } => "bundle_manifest_syntax",
            Error::TensorFileSyntax { .. } => "bundle_tensor_syntax",
            Error::ChecksumMismatch { .. } => "bundle_checksum",
            Error::ModelIdMismatch { .. } => "bundle_model_id",
            Error::MissingTensor { .. } => "bundle_missing_tensor",
            Error::TensorDtype { .. } => "bundle_tensor_dtype",
            Error::TensorShape { .. } => "bundle_tensor_shape",
            Error::InvalidTensorValue { .. } => "bundle_tensor_value",
            Error::InvalidReference { .. } => "bundle_reference",
            Error::InvalidManifest { .. } => "bundle_manifest_value",
            Error::UnknownShard { .. } => "shard_unknown",
            Error::ShardOfOtherModel { .. } => "shard_other_model",
            Error::InvalidEvent { .. } => "invalid_event",
            Error::EventSyntax { .. } => "event_syntax",
            Error::EventOutOfOrder { .. } => "event_out_of_order",
            Error::UnsupportedProfileVersion { .. } => "profile_version",
            Error::CorruptProfile { .. } => "profile_corrupt",
            Error::CorruptReportingState => "reporting_state_corrupt",
            Error::CorruptModelDigest { .. } => "model_digest_corrupt",
            Error::Aggregation { .. } => "aggregation",
            Error::NoModel => "no_model",
            Error::BudgetExceeded { .. } => "budget_exceeded",
            Error::InvalidReport { .. } => "invalid_report",
            Error::InvalidRevenue { .. } => "invalid_revenue",
            Error::RecommendationNotShown { .. } => "recommendation_not_shown",
            Error::EmptyText => "empty_text",
            Error::InvalidText { .. } => "invalid_text",
        }
    }

    /// Shorthand for [`Error::InvalidManifest`].
    pub(crate) fn manifest(field: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::InvalidManifest {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Error::CorruptProfile`].
    pub(crate) fn corrupt(reason: impl Into<String>) -> Error {
        Error::CorruptProfile {
            reason: reason.into(),
        }
    }
}
