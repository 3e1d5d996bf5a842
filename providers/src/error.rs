//! The providers crate's one error type.

use std::time::Duration;

/// Why a provider call failed as a whole. Messages carry the provider's own short
/// explanation, never a response body or a credential.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// The credentials were refused (HTTP 401, ClickSend `INVALID_CREDENTIALS`, Twilio 20003).
    #[error("the provider refused the credentials: {0}")]
    Unauthorized(String),
    /// Too many requests; `retry_after` is the provider's `Retry-After`, when it sent one.
    #[error("the provider is rate limiting")]
    RateLimited {
        /// How long the provider asked us to wait.
        retry_after: Option<Duration>,
    },
    /// Timeout, connection failure or a 5xx: a retry later may succeed. For a send, the
    /// outcome is unknown: the provider may have accepted the messages.
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
    /// The request was refused as a whole for a reason a retry will not fix (HTTP 4xx
    /// other than 401 and 429).
    #[error("the provider refused the request ({code}): {reason}")]
    Rejected {
        /// The provider's code (`BAD_REQUEST`, a Twilio error number, or the HTTP status).
        code: String,
        /// The provider's explanation.
        reason: String,
    },
    /// The provider answered with something we cannot read.
    #[error("unexpected answer from the provider: {0}")]
    Unreadable(String),
}

impl ProviderError {
    /// True when retrying later may succeed (timeouts, 5xx, rate limiting).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ProviderError::Unavailable(_) | ProviderError::RateLimited { .. }
        )
    }
}
