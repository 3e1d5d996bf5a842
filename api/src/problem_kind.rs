//! Every kind of problem the API answers with. The set is closed, so the contract lists
//! each problem `type` URI and a client can switch on it; a kind's slug ends its URI.

/// Where every problem type URI starts.
const PROBLEM_TYPE_BASE: &str = "https://nextal.app/problems/";

/// Declares the kinds with their slugs, once.
macro_rules! problem_kinds {
    ($($(#[$doc:meta])* $kind:ident => $slug:literal,)+) => {
        /// A kind of problem: what went wrong, named by its slug.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ProblemKind {
            $($(#[$doc])* $kind,)+
        }

        impl ProblemKind {
            /// Every kind, in declaration order.
            pub const ALL: &'static [ProblemKind] = &[$(ProblemKind::$kind,)+];

            /// The slug that ends the kind's `type` URI, e.g. `email-taken`.
            pub fn slug(self) -> &'static str {
                match self {
                    $(ProblemKind::$kind => $slug,)+
                }
            }
        }
    };
}

problem_kinds! {
    /// The body is not well-formed JSON, or a field has the wrong JSON type.
    MalformedRequest => "malformed-request",
    /// A request refused before the service read it (a CORS preflight from an origin
    /// not allowed, a request the HTTP layer could not take).
    RequestRefused => "request-refused",
    /// Fields were refused; `errors` names them.
    Validation => "validation",
    /// No valid session.
    Unauthorized => "unauthorized",
    /// Email and password do not match an active user.
    InvalidCredentials => "invalid-credentials",
    /// The caller's role does not allow it.
    Forbidden => "forbidden",
    /// The path's resource is not in the caller's organization.
    NotFound => "not-found",
    /// An id in the body or query names nothing in the organization.
    UnknownReference => "unknown-reference",
    /// The path exists, not with this method.
    MethodNotAllowed => "method-not-allowed",
    /// The candidate has no phone number.
    CandidateWithoutPhone => "candidate-without-phone",
    /// The integration changed meanwhile; read it again.
    ConcurrentChange => "concurrent-change",
    /// Activating needs the provider's credential first.
    CredentialMissing => "credential-missing",
    /// Another user has this email.
    EmailTaken => "email-taken",
    /// A request with this `Idempotency-Key` is still being answered.
    IdempotencyKeyInFlight => "idempotency-key-in-flight",
    /// This `Idempotency-Key` came with another request.
    IdempotencyKeyReused => "idempotency-key-reused",
    /// The organization's last active admin cannot be demoted or deactivated.
    LastAdmin => "last-admin",
    /// No SMS provider is active.
    NoActiveProvider => "no-active-provider",
    /// The thread holds no reply to mark unread.
    NoReply => "no-reply",
    /// The message was claimed for sending already.
    NotCancellable => "not-cancellable",
    /// Activating needs the provider's phone number first.
    PhoneNumberMissing => "phone-number-missing",
    /// The active provider's credential is gone.
    ProviderCredentialMissing => "provider-credential-missing",
    /// The stored credential cannot be opened with the configured keys.
    SecretUnreadable => "secret-unreadable",
    /// A stage was given without a job.
    StageWithoutJob => "stage-without-job",
    /// Too many attempts (sign-in throttling).
    TooManyRequests => "too-many-requests",
    /// The organization's daily send cap would be exceeded.
    DailySendCap => "daily-send-cap",
    /// Webhook deliveries for one integration arrive faster than their limit.
    WebhookRateLimited => "webhook-rate-limited",
    /// The body is larger than the cap.
    PayloadTooLarge => "payload-too-large",
    /// The body is not JSON.
    UnsupportedMediaType => "unsupported-media-type",
    /// The provider refused our credentials.
    ProviderUnauthorized => "provider-unauthorized",
    /// The provider asks us to slow down.
    ProviderRateLimited => "provider-rate-limited",
    /// The provider could not be reached or failed.
    ProviderUnavailable => "provider-unavailable",
    /// The provider refused the request.
    ProviderRejected => "provider-rejected",
    /// The provider answered with something unexpected.
    ProviderUnreadable => "provider-unreadable",
    /// The database cannot be reached right now.
    Unavailable => "unavailable",
    /// More work is arriving than the database stores.
    Overloaded => "overloaded",
    /// A bug or an unexpected failure.
    Internal => "internal",
}

impl ProblemKind {
    /// The problem's `type`, e.g. `https://nextal.app/problems/email-taken`.
    pub fn uri(self) -> String {
        format!("{PROBLEM_TYPE_BASE}{}", self.slug())
    }

    /// The kind of an error answer that did not come from the service's own errors
    /// (actix-web's, or a CORS refusal), by its status.
    pub fn of_foreign_status(status: u16) -> ProblemKind {
        match status {
            404 => ProblemKind::NotFound,
            405 => ProblemKind::MethodNotAllowed,
            413 => ProblemKind::PayloadTooLarge,
            415 => ProblemKind::UnsupportedMediaType,
            429 => ProblemKind::TooManyRequests,
            503 => ProblemKind::Unavailable,
            400..=499 => ProblemKind::RequestRefused,
            _ => ProblemKind::Internal,
        }
    }
}

impl std::fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.slug())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn slugs_are_distinct_lowercase_words() {
        let slugs: HashSet<&str> = ProblemKind::ALL.iter().map(|kind| kind.slug()).collect();
        assert_eq!(slugs.len(), ProblemKind::ALL.len());
        for slug in slugs {
            assert!(
                slug.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{slug}"
            );
        }
    }

    #[test]
    fn a_foreign_error_gets_the_kind_of_its_status() {
        assert_eq!(
            ProblemKind::of_foreign_status(400),
            ProblemKind::RequestRefused
        );
        assert_eq!(ProblemKind::of_foreign_status(404), ProblemKind::NotFound);
        assert_eq!(ProblemKind::of_foreign_status(502), ProblemKind::Internal);
    }
}
