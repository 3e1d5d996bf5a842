//! `GET /healthz`, `GET /readyz`, `GET /metrics`.

use actix_web::web::{Data, Json};
use actix_web::{HttpResponse, get};
use nextal_openapi::Problem;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::metrics::CONTENT_TYPE as METRICS_CONTENT_TYPE;
use crate::state::AppState;

/// A probe's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProbeStatus {
    status: Probe,
}

/// What a probe that answers says: the only answer; a failing probe is a problem.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Probe {
    Ok,
}

/// Liveness: the process answers HTTP. Checks nothing else, so an orchestrator does
/// not restart the service while only the database is down.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "Alive", body = ProbeStatus))
)]
#[get("/healthz")]
pub async fn healthz() -> Json<ProbeStatus> {
    Json(ProbeStatus { status: Probe::Ok })
}

/// Readiness: the database answers a query.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "Ready", body = ProbeStatus),
        (status = 503, description = "The database is unreachable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/readyz")]
pub async fn readyz(state: Data<AppState>) -> Result<Json<ProbeStatus>, ApiError> {
    state
        .db
        .ping()
        .await
        .map_err(|error| ApiError::Unavailable(error.to_string()))?;
    Ok(Json(ProbeStatus { status: Probe::Ok }))
}

/// Prometheus metrics in the OpenMetrics text format. Holds no tenant data; still,
/// expose it only to your monitoring network.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "Metrics", body = String, content_type = "application/openmetrics-text"))
)]
#[get("/metrics")]
pub async fn metrics(state: Data<AppState>) -> Result<HttpResponse, ApiError> {
    let text = state
        .metrics
        .render()
        .map_err(|error| ApiError::Internal(error.into()))?;
    Ok(HttpResponse::Ok()
        .content_type(METRICS_CONTENT_TYPE)
        .body(text))
}
