//! The work a submission needs that is neither HTTP nor the node thread:
//! encrypting and checking ballots on threads of their own
//! ([`ProofWork`]), and writing confirmation codes many at a time
//! ([`CodeIssuer`]). The doors that take a transaction (`net`) hand work
//! here and answer a [`WorkError`] as their protocol says (503 for busy,
//! 500 for internal).

mod codes;
mod proof_work;

pub use codes::CodeIssuer;
pub use proof_work::ProofWork;

/// Why work handed to a submission's workers was not done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkError {
    /// Too much work is waiting: the caller may try again in a moment.
    #[error("{0}")]
    Busy(&'static str),
    /// The work failed inside the appliance: what was being done, and why.
    #[error("{what}: {reason}")]
    Internal { what: &'static str, reason: String },
}

impl WorkError {
    fn internal(what: &'static str, reason: impl std::fmt::Display) -> Self {
        Self::Internal {
            what,
            reason: reason.to_string(),
        }
    }
}
