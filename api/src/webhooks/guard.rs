//! The webhook rate limits at work: the middleware that refuses addresses past their
//! failure budget, and the check of an authenticated delivery against its
//! integration's rate (the limiters themselves are in [`super::limits`]).

use std::time::Duration;

use actix_web::ResponseError;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web::Data;

use super::limits::token_digest;
use crate::error::ApiError;
use crate::problem_kind::ProblemKind;
use crate::state::AppState;

/// Refuses an authenticated delivery past its integration's rate: 429, counted in
/// `nextal_webhook_rate_limited_total{limit="integration"}`.
pub fn admit(state: &AppState, integration_id: &str) -> Result<(), ApiError> {
    state.webhook_limits.admit(integration_id).map_err(|wait| {
        refused(
            state,
            "integration",
            "Too many deliveries to this webhook URL",
            wait,
        )
    })
}

/// The middleware of the per-address limit; other routes pass straight through.
pub async fn guard(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let state = request.app_data::<Data<AppState>>().cloned();
    let watched = match (state, request.peer_addr(), webhook_token(request.path())) {
        (Some(state), Some(peer), Some(token))
            if !state.webhook_limits.is_proven(&token_digest(token)) =>
        {
            Some((state, peer.ip()))
        }
        _ => None,
    };
    let Some((state, address)) = watched else {
        return next
            .call(request)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    if let Some(wait) = state.webhook_limits.blocked_for(address) {
        let refusal = address_refused(&state, wait).error_response();
        return Ok(request.into_response(refusal).map_into_right_body());
    }
    let response = next.call(request).await?;
    // 404: no integration has this token (or it is another provider's); 403: the
    // signature does not match. Nothing else on these routes answers either.
    if !matches!(
        response.status(),
        StatusCode::NOT_FOUND | StatusCode::FORBIDDEN
    ) {
        return Ok(response.map_into_left_body());
    }
    match state.webhook_limits.record_failure(address) {
        None => Ok(response.map_into_left_body()),
        Some(wait) => {
            // The failure past the budget is answered like the requests that follow it.
            let (request, _) = response.into_parts();
            let refusal = address_refused(&state, wait).error_response();
            Ok(ServiceResponse::new(request, refusal).map_into_right_body())
        }
    }
}

/// The token segment of `/webhooks/<provider>/<token>/…`.
fn webhook_token(path: &str) -> Option<&str> {
    path.strip_prefix("/webhooks/")?
        .split('/')
        .nth(1)
        .filter(|token| !token.is_empty())
}

fn address_refused(state: &AppState, wait: Duration) -> ApiError {
    refused(
        state,
        "address",
        "Too many webhook requests from this address failed authentication",
        wait,
    )
}

fn refused(state: &AppState, limit: &'static str, what: &str, wait: Duration) -> ApiError {
    state.metrics.webhook_rate_limited(limit);
    // Rounded up, so a retry at the announced time gets through.
    let retry_after_secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let retry_after_secs = retry_after_secs.max(1);
    ApiError::LimitReached {
        kind: ProblemKind::WebhookRateLimited,
        detail: format!("{what}; nothing was stored. Retry in {retry_after_secs} seconds."),
        retry_after_secs,
    }
}
