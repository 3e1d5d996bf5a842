//! A guard on query strings that no query extractor can express.

use actix_web::ResponseError;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

use crate::error::ApiError;

/// Refuses (422, field `query`) a query string with an escaped NUL (`%00`) before any
/// handler reads it. No parameter takes one, and PostgreSQL cannot hold one: `GET
/// /candidates?job_id=%00` and `/sms/threads?q=%00` reached the database and failed
/// there with 500. Webhooks are left to read theirs: an unreadable delivery is kept in
/// the raw log.
pub async fn refuse_nul_in_query(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if request.query_string().contains("%00") && !request.path().starts_with("/webhooks/") {
        let refusal = ApiError::invalid_field(
            "query",
            "contains a NUL character (%00), which no parameter accepts",
        )
        .error_response();
        return Ok(request.into_response(refusal).map_into_right_body());
    }
    next.call(request)
        .await
        .map(ServiceResponse::map_into_left_body)
}
