//! The engine's one error type.

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
    /// A device's ε budget for the day cannot pay for a report.
    BudgetExceeded {
        /// The ε the report would spend.
        requested: f64,
        /// The ε left for the day.
        remaining: f64,
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
            Error::BudgetExceeded {
                requested,
                remaining,
            } => write!(
                f,
                "the day's privacy budget has {remaining} ε left, the report needs {requested}"
            ),
            Error::InvalidReport { field, reason } => write!(f, "report field {field}: {reason}"),
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
            Error::BudgetExceeded { .. } => "budget_exceeded",
            Error::InvalidReport { .. } => "invalid_report",
        }
    }
}
