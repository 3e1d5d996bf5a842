//! What a use case can fail with, in the service's own terms. Services know nothing of
//! HTTP: the edge (`crate::error`) turns each case into its status, problem type and
//! headers, so the same use case could be driven by a command or a job.

use crate::problem_kind::ProblemKind;
use nextal_domain::ValidationErrors;
use nextal_persistence::PersistenceError;

/// Why a use case did not complete. The `Display` text is for logs.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No such resource in the caller's organization.
    #[error("not found")]
    NotFound,
    /// An id the request refers to (not the path's) names nothing in the caller's
    /// organization: `field` is the request's field, `message` says what it should name.
    #[error("unknown reference `{field}`: {message}")]
    UnknownReference {
        /// The field holding the id.
        field: &'static str,
        /// What the id should name, for a person.
        message: String,
    },
    /// The caller's role does not allow the action.
    #[error("forbidden")]
    Forbidden,
    /// No live session matches the presented token.
    #[error("not authenticated")]
    Unauthorized,
    /// Email and password do not match an active user.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Fields were refused, each with a message for a person.
    #[error("validation failed: {0:?}")]
    Validation(ValidationErrors),
    /// The request conflicts with the current state; `kind` names the problem type
    /// (e.g. `email-taken`, `no-active-provider`).
    #[error("conflict ({kind}): {detail}")]
    Conflict {
        /// The problem type's slug.
        kind: ProblemKind,
        /// What conflicts, for a person.
        detail: String,
    },
    /// Too many failed attempts (sign-in throttling).
    #[error("too many attempts, retry after {retry_after_secs}s")]
    Throttled {
        /// Seconds until a retry may succeed.
        retry_after_secs: u64,
    },
    /// A quota was reached (the daily send cap); `kind` names the problem type.
    #[error("limit reached ({kind}): {detail}")]
    LimitReached {
        /// The problem type's slug.
        kind: ProblemKind,
        /// Which limit and what is left of it, for a person.
        detail: String,
        /// Seconds until the limit lets a retry through.
        retry_after_secs: u64,
    },
    /// A provider call failed; `kind` names the problem type. `retry_after_secs` is
    /// set when the provider asked us to wait (rate limiting).
    #[error("provider failure ({kind}): {detail}")]
    Provider {
        /// The problem type's slug.
        kind: ProblemKind,
        /// What the provider said, for a person.
        detail: String,
        /// When the provider asked us to wait, in seconds.
        retry_after_secs: Option<u64>,
    },
    /// Storage failed; the edge tells an unreachable database from other failures.
    #[error(transparent)]
    Persistence(#[from] PersistenceError),
    /// A bug or an unexpected failure; logged, never shown.
    #[error("internal error: {0:#}")]
    Internal(anyhow::Error),
}

impl ServiceError {
    /// What went wrong, in the words a person is shown (a conflict's or a provider's
    /// explanation), for callers that record it rather than answer with it.
    pub fn detail(&self) -> String {
        match self {
            ServiceError::Conflict { detail, .. }
            | ServiceError::LimitReached { detail, .. }
            | ServiceError::Provider { detail, .. } => detail.clone(),
            other => other.to_string(),
        }
    }

    /// A single refused field.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        ServiceError::Validation(ValidationErrors::single(field, message))
    }
}

impl From<ValidationErrors> for ServiceError {
    fn from(errors: ValidationErrors) -> Self {
        ServiceError::Validation(errors)
    }
}
