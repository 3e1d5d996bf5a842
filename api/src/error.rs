//! The API's one error type and its problem+json rendering (RFC 9457).

use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, ResponseError};
use nextal_domain::ValidationErrors;
use nextal_openapi::{Problem, ProblemFieldError};
use nextal_persistence::PersistenceError;

use crate::problem_kind::ProblemKind;
use crate::services::error::ServiceError;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Everything a request can fail with. The `Display` text is for logs; clients see only
/// the problem document, which never carries internal causes.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not well-formed JSON.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// Fields were refused.
    #[error("validation failed: {0:?}")]
    Validation(ValidationErrors),
    /// No valid bearer token.
    #[error("not authenticated")]
    Unauthorized,
    /// Email and password do not match an active user.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Authenticated, but the role does not allow it.
    #[error("forbidden")]
    Forbidden,
    /// No such resource in the caller's organization.
    #[error("not found")]
    NotFound,
    /// An id in the request's body or query names nothing in the caller's organization:
    /// 409 with the field named. Not 404, which says the path's own resource is missing:
    /// a client must tell "this candidate is gone" from "the job you named does not exist".
    #[error("unknown reference `{field}`")]
    UnknownReference {
        /// The field holding the id.
        field: &'static str,
        /// What the id should name, for a person.
        message: String,
    },
    /// The path exists, but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed {
        /// The methods the path has, for the `Allow` header, e.g. `GET, POST`.
        allow: String,
    },
    /// The request conflicts with the current state; `kind` names the problem type.
    #[error("conflict ({kind}): {detail}")]
    Conflict {
        /// The problem type's slug.
        kind: ProblemKind,
        /// What conflicts, for a person.
        detail: String,
    },
    /// Too many attempts; retry after the given number of seconds.
    #[error("too many requests, retry after {retry_after_secs}s")]
    TooManyRequests {
        /// Seconds until a retry may succeed.
        retry_after_secs: u64,
    },
    /// A quota or rate limit was reached; `kind` names the problem type.
    #[error("limit reached ({kind}): {detail}")]
    LimitReached {
        /// The problem type's slug.
        kind: ProblemKind,
        /// Which limit and what is left of it, for a person.
        detail: String,
        /// Seconds until the limit lets a retry through.
        retry_after_secs: u64,
    },
    /// The body is larger than the configured cap.
    #[error("payload larger than {limit} bytes")]
    PayloadTooLarge {
        /// The cap in bytes.
        limit: usize,
    },
    /// The body is not JSON.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// A provider call failed; `kind` names the problem type.
    #[error("provider failure ({kind}): {detail}")]
    Upstream {
        /// The problem type's slug.
        kind: ProblemKind,
        /// What the provider said, for a person.
        detail: String,
        /// When the provider asked us to wait, in seconds.
        retry_after_secs: Option<u64>,
    },
    /// The database cannot be reached right now.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// More work is arriving than the database stores, and the wait for room ran out;
    /// retry after the given number of seconds.
    #[error("overloaded, retry after {retry_after_secs}s")]
    Overloaded {
        /// Seconds until a retry may find room.
        retry_after_secs: u64,
    },
    /// A bug or an unexpected failure; details are logged, not sent.
    #[error("internal error: {0:#}")]
    Internal(anyhow::Error),
}

impl ApiError {
    /// A single refused field.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        ApiError::Validation(ValidationErrors::single(field, message))
    }

    fn kind_and_title(&self) -> (ProblemKind, &'static str) {
        match self {
            ApiError::Malformed(_) => (ProblemKind::MalformedRequest, "Malformed request"),
            ApiError::Validation(_) => (ProblemKind::Validation, "Validation failed"),
            ApiError::Unauthorized => (ProblemKind::Unauthorized, "Authentication required"),
            ApiError::InvalidCredentials => {
                (ProblemKind::InvalidCredentials, "Invalid credentials")
            }
            ApiError::Forbidden => (ProblemKind::Forbidden, "Not allowed"),
            ApiError::NotFound => (ProblemKind::NotFound, "Not found"),
            ApiError::UnknownReference { .. } => (ProblemKind::UnknownReference, "Not found"),
            ApiError::MethodNotAllowed { .. } => {
                (ProblemKind::MethodNotAllowed, "Method not allowed")
            }
            ApiError::Conflict { kind, .. } => (*kind, "Conflict"),
            ApiError::TooManyRequests { .. } => (ProblemKind::TooManyRequests, "Too many requests"),
            ApiError::LimitReached { kind, .. } => (*kind, "Too many requests"),
            ApiError::PayloadTooLarge { .. } => (ProblemKind::PayloadTooLarge, "Payload too large"),
            ApiError::UnsupportedMediaType => {
                (ProblemKind::UnsupportedMediaType, "Unsupported media type")
            }
            ApiError::Upstream { kind, .. } => (*kind, "Provider error"),
            ApiError::Unavailable(_) => (ProblemKind::Unavailable, "Service unavailable"),
            ApiError::Overloaded { .. } => (ProblemKind::Overloaded, "Service unavailable"),
            ApiError::Internal(_) => (ProblemKind::Internal, "Internal server error"),
        }
    }

    fn detail(&self) -> String {
        match self {
            ApiError::Malformed(detail) => detail.clone(),
            ApiError::Validation(errors) => match errors.0.len() {
                1 => "1 field is invalid".to_owned(),
                n => format!("{n} fields are invalid"),
            },
            ApiError::Unauthorized => {
                "Send a valid session token as `Authorization: Bearer <token>`.".to_owned()
            }
            ApiError::InvalidCredentials => "The email or password is not correct.".to_owned(),
            ApiError::Forbidden => "Your role does not allow this action.".to_owned(),
            ApiError::NotFound => "No such resource.".to_owned(),
            ApiError::UnknownReference { field, message } => format!("`{field}` {message}."),
            ApiError::MethodNotAllowed { allow } => {
                format!("This path answers {allow} only.")
            }
            ApiError::Conflict { detail, .. }
            | ApiError::Upstream { detail, .. }
            | ApiError::LimitReached { detail, .. } => detail.clone(),
            ApiError::TooManyRequests { retry_after_secs } => {
                format!("Too many attempts; try again in {retry_after_secs} seconds.")
            }
            ApiError::PayloadTooLarge { limit } => {
                format!("The request body exceeds the limit of {limit} bytes.")
            }
            ApiError::UnsupportedMediaType => {
                "Send the body as JSON with `Content-Type: application/json`.".to_owned()
            }
            ApiError::Unavailable(_) => {
                "The service cannot reach its database; try again shortly.".to_owned()
            }
            ApiError::Overloaded { retry_after_secs } => format!(
                "The service is busy storing earlier requests; nothing was stored. \
                 Try again in {retry_after_secs} seconds."
            ),
            ApiError::Internal(_) => {
                "Something went wrong on our side; it has been logged.".to_owned()
            }
        }
    }

    /// The problem document for this error.
    pub fn problem(&self) -> Problem {
        let (kind, title) = self.kind_and_title();
        Problem {
            problem_type: kind.uri(),
            title: title.to_owned(),
            status: self.status_code().as_u16(),
            detail: self.detail(),
            errors: match self {
                ApiError::Validation(errors) => errors
                    .0
                    .iter()
                    .map(|error| ProblemFieldError {
                        field: error.field.clone(),
                        message: error.message.clone(),
                    })
                    .collect(),
                ApiError::UnknownReference { field, message } => vec![ProblemFieldError {
                    field: (*field).to_owned(),
                    message: message.clone(),
                }],
                _ => Vec::new(),
            },
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Malformed(_) => StatusCode::BAD_REQUEST,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized | ApiError::InvalidCredentials => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } | ApiError::UnknownReference { .. } => StatusCode::CONFLICT,
            ApiError::TooManyRequests { .. } | ApiError::LimitReached { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Upstream {
                retry_after_secs: Some(_),
                ..
            } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Upstream { .. } => StatusCode::BAD_GATEWAY,
            ApiError::Unavailable(_) | ApiError::Overloaded { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Internal(_) => tracing::error!(error = %self, "request failed"),
            ApiError::Unavailable(_) | ApiError::Overloaded { .. } => {
                tracing::warn!(error = %self, "request failed");
            }
            _ => tracing::debug!(error = %self, "request refused"),
        }
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        match self {
            ApiError::Unauthorized => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            ApiError::MethodNotAllowed { allow } => {
                response.insert_header((header::ALLOW, allow.as_str()));
            }
            ApiError::TooManyRequests { retry_after_secs }
            | ApiError::LimitReached {
                retry_after_secs, ..
            }
            | ApiError::Overloaded { retry_after_secs }
            | ApiError::Upstream {
                retry_after_secs: Some(retry_after_secs),
                ..
            } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            _ => {}
        }
        response.body(serde_json::to_string(&self.problem()).unwrap_or_default())
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(errors: ValidationErrors) -> Self {
        ApiError::Validation(errors)
    }
}

impl From<PersistenceError> for ApiError {
    fn from(error: PersistenceError) -> Self {
        if error.is_unavailable() {
            ApiError::Unavailable(error.to_string())
        } else {
            ApiError::Internal(error.into())
        }
    }
}

/// The HTTP edge of the services: each service failure keeps the status, problem type,
/// detail and headers it had when services returned [`ApiError`] themselves.
impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::NotFound => ApiError::NotFound,
            ServiceError::UnknownReference { field, message } => {
                ApiError::UnknownReference { field, message }
            }
            ServiceError::Forbidden => ApiError::Forbidden,
            ServiceError::Unauthorized => ApiError::Unauthorized,
            ServiceError::InvalidCredentials => ApiError::InvalidCredentials,
            ServiceError::Validation(errors) => ApiError::Validation(errors),
            ServiceError::Conflict { kind, detail } => ApiError::Conflict { kind, detail },
            ServiceError::Throttled { retry_after_secs } => {
                ApiError::TooManyRequests { retry_after_secs }
            }
            ServiceError::LimitReached {
                kind,
                detail,
                retry_after_secs,
            } => ApiError::LimitReached {
                kind,
                detail,
                retry_after_secs,
            },
            ServiceError::Provider {
                kind,
                detail,
                retry_after_secs,
            } => ApiError::Upstream {
                kind,
                detail,
                retry_after_secs,
            },
            ServiceError::Persistence(error) => error.into(),
            ServiceError::Internal(error) => ApiError::Internal(error),
        }
    }
}

/// Rewrites error responses that did not come from [`ApiError`] (CORS refusals, actix's
/// own answers) as problem+json, so every failure has one shape.
pub fn problem_for_foreign_errors<B>(
    response: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes() == PROBLEM_JSON.as_bytes());
    if is_problem {
        return Ok(ErrorHandlerResponse::Response(
            response.map_into_left_body(),
        ));
    }
    let status = response.status();
    let reason = status.canonical_reason().unwrap_or("Error");
    let problem = Problem {
        problem_type: ProblemKind::of_foreign_status(status.as_u16()).uri(),
        title: reason.to_owned(),
        status: status.as_u16(),
        detail: reason.to_owned(),
        errors: Vec::new(),
    };
    let (request, _) = response.into_parts();
    let body = HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)))
        .body(serde_json::to_string(&problem).unwrap_or_default());
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(request, body).map_into_right_body(),
    ))
}

#[cfg(test)]
mod tests {
    use actix_web::body::to_bytes;
    use nextal_domain::ValidationErrors;
    use serde_json::Value;

    use super::*;

    /// The response a route answers when a service fails with `error`.
    async fn respond(error: ServiceError) -> (StatusCode, header::HeaderMap, Value) {
        let response = ApiError::from(error).error_response();
        let status = response.status();
        let headers = response.headers().clone();
        let body = to_bytes(response.into_body()).await.expect("body");
        (
            status,
            headers,
            serde_json::from_slice(&body).expect("json"),
        )
    }

    fn problem_type(slug: &str) -> String {
        format!("https://nextal.app/problems/{slug}")
    }

    #[actix_web::test]
    async fn plain_refusals_keep_their_status_type_and_title() {
        let cases = [
            (ServiceError::NotFound, 404, "not-found", "Not found"),
            (ServiceError::Forbidden, 403, "forbidden", "Not allowed"),
            (
                ServiceError::InvalidCredentials,
                401,
                "invalid-credentials",
                "Invalid credentials",
            ),
        ];
        for (error, status, slug, title) in cases {
            let (got, headers, body) = respond(error).await;
            assert_eq!(got.as_u16(), status, "{slug}");
            assert_eq!(body["type"], problem_type(slug));
            assert_eq!(body["title"], title);
            assert_eq!(body["status"], status);
            assert_eq!(
                headers.get(header::CONTENT_TYPE).expect("type"),
                PROBLEM_JSON
            );
            assert!(headers.get(header::RETRY_AFTER).is_none(), "{slug}");
        }
    }

    #[actix_web::test]
    async fn unauthorized_asks_for_a_bearer_token() {
        let (status, headers, body) = respond(ServiceError::Unauthorized).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["type"], problem_type("unauthorized"));
        assert_eq!(
            headers.get(header::WWW_AUTHENTICATE).expect("header"),
            "Bearer"
        );
    }

    #[actix_web::test]
    async fn validation_lists_every_refused_field() {
        let mut errors = ValidationErrors::single("stage", "must be one of the job's stages");
        errors
            .0
            .extend(ValidationErrors::single("job_id", "is not a job").0);
        let (status, _, body) = respond(ServiceError::Validation(errors)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["type"], problem_type("validation"));
        assert_eq!(body["detail"], "2 fields are invalid");
        assert_eq!(body["errors"][0]["field"], "stage");
        assert_eq!(body["errors"][1]["message"], "is not a job");
    }

    #[actix_web::test]
    async fn a_conflict_is_typed_by_its_kind() {
        let error = ServiceError::Conflict {
            kind: ProblemKind::EmailTaken,
            detail: "A user with the email a@b.c already exists.".to_owned(),
        };
        let (status, _, body) = respond(error).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(body["type"], problem_type("email-taken"));
        assert_eq!(body["title"], "Conflict");
        assert_eq!(
            body["detail"],
            "A user with the email a@b.c already exists."
        );
    }

    #[actix_web::test]
    async fn throttling_and_the_daily_cap_say_when_to_retry() {
        let (status, headers, body) = respond(ServiceError::Throttled {
            retry_after_secs: 600,
        })
        .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(body["type"], problem_type("too-many-requests"));
        assert_eq!(headers.get(header::RETRY_AFTER).expect("header"), "600");

        let cap = ServiceError::LimitReached {
            kind: ProblemKind::DailySendCap,
            detail: "The organization's daily send cap is 10 messages.".to_owned(),
            retry_after_secs: 3600,
        };
        let (status, headers, body) = respond(cap).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(body["type"], problem_type("daily-send-cap"));
        assert_eq!(body["title"], "Too many requests");
        assert_eq!(headers.get(header::RETRY_AFTER).expect("header"), "3600");
    }

    #[actix_web::test]
    async fn provider_failures_are_502_unless_rate_limited() {
        let refused = ServiceError::Provider {
            kind: ProblemKind::ProviderRejected,
            detail: "The provider refused the request: bad number (21211)".to_owned(),
            retry_after_secs: None,
        };
        let (status, headers, body) = respond(refused).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY);
        assert_eq!(body["type"], problem_type("provider-rejected"));
        assert_eq!(body["title"], "Provider error");
        assert!(headers.get(header::RETRY_AFTER).is_none());

        let limited = ServiceError::Provider {
            kind: ProblemKind::ProviderRateLimited,
            detail: "The provider is rate limiting requests; try again shortly".to_owned(),
            retry_after_secs: Some(30),
        };
        let (status, headers, _) = respond(limited).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(headers.get(header::RETRY_AFTER).expect("header"), "30");
    }

    #[actix_web::test]
    async fn storage_failures_hide_their_cause() {
        let down = ServiceError::Persistence(PersistenceError::Unavailable("refused".to_owned()));
        let (status, _, body) = respond(down).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["type"], problem_type("unavailable"));
        assert!(!body["detail"].as_str().expect("detail").contains("refused"));

        let broken = ServiceError::Persistence(PersistenceError::Encoding("syntax".to_owned()));
        let (status, _, body) = respond(broken).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["type"], problem_type("internal"));
        assert!(!body["detail"].as_str().expect("detail").contains("syntax"));

        let bug = ServiceError::Internal(anyhow::anyhow!("secret cause"));
        let (status, _, body) = respond(bug).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            body["detail"],
            "Something went wrong on our side; it has been logged."
        );
    }
}
