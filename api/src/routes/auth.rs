//! `POST /auth/login`, `POST /auth/logout`, `GET /me`.

use actix_web::web::{Data, Json};
use actix_web::{HttpRequest, HttpResponse, get, post};
use chrono::{DateTime, Utc};
use nextal_openapi::Problem;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::{ApiJson, CurrentUser};
use crate::routes::refusals::{BodyRefusals, InvalidFields, NoSession};
use crate::routes::schemas::{UserBody, utc};
use crate::services::{ServiceError, auth};
use crate::state::AppState;

/// Longest password accepted at sign-in; bounds the work a request can cause.
const MAX_LOGIN_PASSWORD_LENGTH: usize = 1024;

/// Credentials.
/// No `Debug`: it holds a password.
#[derive(Deserialize, ToSchema)]
#[schema(as = Credentials)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(
        example = "admin@localhost",
        max_length = 254,
        pattern = r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^@\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f]+@(?:[Ll][Oo][Cc][Aa][Ll][Hh][Oo][Ss][Tt]|[^@.\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f][^@\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f]*\.[^@\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f]*[^@.\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f])[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    email: String,
    #[schema(example = "correct horse battery staple", pattern = r"^[^\u0000]{1,1024}$", format = Password)]
    password: String,
}

/// A new session.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Session)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>`. Shown once; store it like a password.
    #[schema(example = "nxs_q2v8…")]
    token: String,
    token_type: TokenType,
    /// When the token stops working.
    expires_at: DateTime<Utc>,
    /// Who signed in.
    user: UserBody,
}

/// How the token is sent: always `Bearer`.
#[derive(Debug, Serialize, ToSchema)]
pub enum TokenType {
    Bearer,
}

/// Sign in with email and password.
///
/// Returns a bearer token. After 5 failed attempts for one email (or 50 from one
/// address) within 15 minutes, attempts are refused with 429 until the window ends.
#[utoipa::path(
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = LoginResponse),
        BodyRefusals,
        (status = 401, description = "Wrong email or password", body = Problem, content_type = "application/problem+json"),
        InvalidFields,
        (status = 429, description = "Too many failed attempts; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/login")]
pub async fn login(
    state: Data<AppState>,
    request: HttpRequest,
    body: ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let LoginRequest { email, password } = body.into_inner()?;
    // Lengths count characters, as the contract's maxLength and pattern do.
    if email.trim().is_empty() || email.chars().count() > nextal_domain::EmailAddress::MAX_LENGTH {
        return Err(ApiError::invalid_field("email", "must be an email address"));
    }
    if password.is_empty() || password.chars().count() > MAX_LOGIN_PASSWORD_LENGTH {
        return Err(ApiError::invalid_field(
            "password",
            format!("must be 1 to {MAX_LOGIN_PASSWORD_LENGTH} characters"),
        ));
    }
    let client = request.peer_addr().map(|address| address.ip());
    let signed_in = auth::sign_in(
        &state.db,
        &state.passwords,
        state.session_ttl,
        &email,
        password,
        client,
    )
    .await
    .inspect_err(|error| {
        // The metric counts every refused sign-in, throttled ones included.
        if matches!(
            error,
            ServiceError::InvalidCredentials | ServiceError::Throttled { .. }
        ) {
            state.metrics.login_failed();
        }
    })?;
    Ok(Json(LoginResponse {
        token: signed_in.token,
        token_type: TokenType::Bearer,
        expires_at: utc(signed_in.expires_at),
        user: signed_in.user.into(),
    }))
}

/// Sign out: the token stops working at once.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Signed out"),
        NoSession,
    )
)]
#[post("/auth/logout")]
pub async fn logout(state: Data<AppState>, current: CurrentUser) -> Result<HttpResponse, ApiError> {
    auth::sign_out(&state.db, &current).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The signed-in user.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = UserBody),
        NoSession,
    )
)]
#[get("/me")]
pub async fn me(current: CurrentUser) -> Result<Json<UserBody>, ApiError> {
    Ok(Json(current.user.into()))
}
