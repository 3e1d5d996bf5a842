//! Sending SMS: `POST /sms/messages`, `POST /sms/bulk`, `POST /sms/threads/{id}/messages`,
//! `GET /sms/messages/{id}`, `POST /sms/messages/{id}/cancel`, `GET /sms/batches/{id}`.

use std::collections::BTreeMap;

use actix_web::http::header::CONTENT_TYPE;
use actix_web::web::{Data, Json, Path};
use actix_web::{HttpRequest, HttpResponse, get, post};
use chrono::{DateTime, Utc};
use nextal_domain::{Direction, Encoding, FailureReason, HoldReason, MessageStatus, ProviderKind};
use nextal_openapi::Problem;
use nextal_persistence::repo::messages::{Message, MessageEvent};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use utoipa::openapi::OpenApi;
use utoipa::openapi::schema::{
    AdditionalProperties, AnyOfBuilder, KnownFormat, Object, ObjectBuilder, Schema, SchemaFormat,
    Type,
};

use crate::error::ApiError;
use crate::extract::{ApiJson, CurrentUser};
use crate::routes::refusals::{BodyRefusals, DailyCapReached, InvalidFields, NoSession};
use crate::routes::schemas::{Choice, Shape, shapes, utc};
use crate::services::messaging::{
    self, Accepted, BatchProgress, BulkAccepted, Content, Draft, IdempotencyKey,
    MAX_BULK_CANDIDATES, Outbox, SkipReason,
};
use crate::state::AppState;

/// The header that makes a send safe to retry.
const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// One status a message went through.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusChange {
    #[schema(example = json!(MessageStatus::Sent))]
    status: MessageStatus,
    /// Why, when there is more to say (a provider's reason, a retry, a cancellation).
    detail: Option<String>,
    at: DateTime<Utc>,
}

/// An SMS, outbound or inbound.
#[derive(Debug, Serialize, ToSchema)]
pub struct SmsMessage {
    #[schema(format = Uuid)]
    id: String,
    #[schema(format = Uuid)]
    thread_id: String,
    #[schema(format = Uuid)]
    candidate_id: Option<String>,
    /// The bulk send it belongs to.
    #[schema(format = Uuid)]
    batch_id: Option<String>,
    #[schema(example = json!(Direction::Outbound))]
    direction: Direction,
    body: String,
    #[schema(example = json!(MessageStatus::Queued))]
    status: MessageStatus,
    /// Why it is held (`scheduled` by the service, e.g. `quiet_hours`), failed (in the
    /// provider's words or ours), was cancelled or is being retried.
    #[schema(schema_with = status_reason_schema)]
    status_reason: Option<String>,
    /// For a `failed` or `undelivered` message: why, from a closed set a recruiter can
    /// act on (mapped from the provider's code; `unknown` when the code says nothing
    /// more).
    failure_reason: Option<FailureReason>,
    /// The provider's own code for that failure, e.g. `30003` or `INVALID_RECIPIENT`.
    #[schema(example = "30003")]
    provider_error_code: Option<String>,
    /// The provider's slug, as in `/integrations/{slug}`.
    #[schema(example = json!(ProviderKind::ALL[0]))]
    provider: ProviderKind,
    #[schema(example = "+61411111111")]
    from_number: String,
    #[schema(example = "+61422222222")]
    to_number: String,
    provider_message_id: Option<String>,
    encoding: Encoding,
    segments: i32,
    /// As the provider states it, once sent.
    price: Option<String>,
    /// The user who sent it.
    #[schema(format = Uuid)]
    sent_by: Option<String>,
    #[schema(format = Uuid)]
    template_id: Option<String>,
    /// When it goes (or went) out.
    send_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    /// Every status it went through, oldest first.
    history: Vec<StatusChange>,
}

impl SmsMessage {
    /// A stored message with its status history (oldest first).
    pub(crate) fn new(message: Message, history: Vec<MessageEvent>) -> Self {
        Self {
            id: message.id,
            thread_id: message.thread_id,
            candidate_id: message.candidate_id,
            batch_id: message.batch_id,
            direction: message.direction,
            body: message.body,
            status: message.status,
            status_reason: message.status_reason,
            failure_reason: message.failure_reason,
            provider_error_code: message.provider_error_code,
            provider: message.provider,
            from_number: message.from_number,
            to_number: message.to_number,
            provider_message_id: message.provider_message_id,
            encoding: message.encoding,
            segments: message.segments,
            price: message.price,
            sent_by: message.sent_by,
            template_id: message.template_id,
            send_at: utc(message.send_at),
            created_at: utc(message.created_at),
            updated_at: utc(message.updated_at),
            history: history
                .into_iter()
                .map(|event| StatusChange {
                    status: event.status,
                    detail: event.detail,
                    at: utc(event.created_at),
                })
                .collect(),
        }
    }

    /// A message just queued: its history is its first status.
    fn queued(message: &Message) -> Self {
        let first = MessageEvent {
            id: String::new(),
            message_id: message.id.clone(),
            status: message.status,
            detail: message.status_reason.clone(),
            created_at: message.created_at,
        };
        Self::new(message.clone(), vec![first])
    }
}

/// A message to one candidate: `body` (merge fields allowed) or `template_id`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = NewSmsMessage)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    #[schema(format = Uuid)]
    candidate_id: String,
    /// The text; may use merge fields such as `{{candidate.first_name}}`. Not blank.
    /// The text with its merge fields filled must fit in 6 SMS segments (918 GSM-7 or 402
    /// UCS-2 characters); a longer one is refused with 422.
    #[schema(
        example = "Hi {{candidate.first_name}}, are you free for a call tomorrow?",
        pattern = r"^[^\u0000]*[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000][^\u0000]*$"
    )]
    body: Option<String>,
    /// A template of the organization instead of `body`.
    #[schema(format = Uuid)]
    template_id: Option<String>,
    /// Send later (UTC, within a year); omitted or past means now.
    send_at: Option<DateTime<Utc>>,
}

/// A reply in a thread: `body` or `template_id`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = NewReply)]
#[serde(deny_unknown_fields)]
pub struct ReplyRequest {
    /// The text; may use merge fields. Not blank.
    /// The text with its merge fields filled must fit in 6 SMS segments (918 GSM-7 or 402
    /// UCS-2 characters); a longer one is refused with 422.
    #[schema(
        example = "Thanks, talk soon!",
        pattern = r"^[^\u0000]*[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000][^\u0000]*$"
    )]
    body: Option<String>,
    #[schema(format = Uuid)]
    template_id: Option<String>,
    send_at: Option<DateTime<Utc>>,
}

/// The kanban quick message to many candidates.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = NewBulkSend)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    /// 1 to 10,000 candidate ids.
    #[schema(value_type = Vec<uuid::Uuid>, min_items = 1, max_items = 10000)]
    candidate_ids: Vec<String>,
    /// The text; may use merge fields, filled for each candidate. Not blank; at most 2000
    /// characters (refused with 422). A candidate whose text, merge fields filled, would
    /// not fit in 6 SMS segments (918 GSM-7 or 402 UCS-2 characters) is skipped
    /// (`too_long`).
    #[schema(
        max_length = 2000,
        example = "Hi {{candidate.first_name}}, the {{job.title}} role is still open.",
        pattern = r"^[^\u0000]*[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000][^\u0000]*$"
    )]
    body: Option<String>,
    #[schema(format = Uuid)]
    template_id: Option<String>,
    send_at: Option<DateTime<Utc>>,
}

/// A candidate that got no message, and why.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SkippedCandidate {
    #[schema(format = Uuid)]
    candidate_id: String,
    reason: SkipReason,
}

/// The accepted bulk send.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = BulkAccepted)]
pub struct BulkResponse {
    #[schema(format = Uuid)]
    batch_id: String,
    /// Messages queued or scheduled.
    accepted: usize,
    /// Of `accepted`, messages held until the end of quiet hours (status `scheduled`,
    /// `status_reason` `quiet_hours`).
    deferred: usize,
    skipped: Vec<SkippedCandidate>,
}

impl From<&BulkAccepted> for BulkResponse {
    fn from(accepted: &BulkAccepted) -> Self {
        Self {
            batch_id: accepted.batch_id.clone(),
            accepted: accepted.accepted,
            deferred: accepted.deferred,
            skipped: accepted
                .skipped
                .iter()
                .map(|(candidate_id, reason)| SkippedCandidate {
                    candidate_id: candidate_id.clone(),
                    reason: *reason,
                })
                .collect(),
        }
    }
}

/// A bulk send's progress.
#[derive(Debug, Serialize, ToSchema)]
pub struct Batch {
    #[schema(format = Uuid)]
    id: String,
    /// Candidates in the request.
    requested: i32,
    /// Messages queued.
    accepted: i32,
    skipped: Vec<SkippedCandidate>,
    /// How many of its messages are in each status; a status none is in is left out.
    #[schema(schema_with = status_counts, example = json!({
        MessageStatus::Queued.as_str(): 10,
        MessageStatus::Sent.as_str(): 990,
    }))]
    statuses: BTreeMap<&'static str, i64>,
    created_at: DateTime<Utc>,
}

/// `statuses` as the client should see it: a count per message status, each optional,
/// nothing else.
fn status_counts() -> Object {
    let count = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(1))
        .build();
    MessageStatus::ALL
        .into_iter()
        .fold(ObjectBuilder::new(), |object, status| {
            object.property(status.as_str(), count.clone())
        })
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .build()
}

impl From<BatchProgress> for Batch {
    fn from(progress: BatchProgress) -> Self {
        Self {
            id: progress.batch.id,
            requested: progress.batch.requested,
            accepted: progress.batch.accepted,
            // Written by the bulk send in this very shape.
            skipped: serde_json::from_str(&progress.batch.skipped).unwrap_or_default(),
            statuses: progress
                .counts
                .into_iter()
                .map(|(status, count)| (status.as_str(), count))
                .collect(),
            created_at: utc(progress.batch.created_at),
        }
    }
}

/// A closed set while the service holds a message, the provider's or the service's
/// words otherwise.
fn status_reason_schema() -> Schema {
    AnyOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .title(Some("HoldReason"))
                .schema_type(Type::String)
                .enum_values(Some(HoldReason::ALL.map(HoldReason::as_str)))
                .description(Some(
                    "Set when the service chose `send_at`: `quiet_hours`, held until the end \
                     of the organization's quiet hours. Kept once the message goes out.",
                )),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some(
                    "Why it failed, was cancelled or is being retried, in the provider's or the \
             service's words.",
                )),
        )
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .build()
        .into()
}

/// States in `document` that each send request carries exactly one of `body` and
/// `template_id` (the other absent or null), as [`content`] checks.
pub fn document(document: &mut OpenApi) {
    for name in [
        SendRequest::name(),
        ReplyRequest::name(),
        BulkRequest::name(),
    ] {
        shapes(
            document,
            &name,
            Choice::ExactlyOne,
            &[
                Shape {
                    required: Some("body"),
                    nulls: &["template_id"],
                    ..Shape::default()
                },
                Shape {
                    required: Some("template_id"),
                    nulls: &["body"],
                    ..Shape::default()
                },
            ],
        );
    }
}

/// The outbox as the sending services need it, from the application state.
fn outbox(state: &AppState) -> Outbox<'_> {
    Outbox {
        db: &state.db,
        wake: &state.outbox_signal,
        wake_chunk_writer: &state.chunk_signal,
        default_cap: state.daily_send_cap,
        clock: &state.clock,
    }
}

/// What a send or reply asks for: typed text or a template (exactly one), and when.
fn draft(
    body: Option<String>,
    template_id: Option<String>,
    send_at: Option<DateTime<Utc>>,
) -> Result<Draft, ApiError> {
    let content = match (body, template_id) {
        (Some(body), None) => Content::Text(body),
        (None, Some(template_id)) => Content::Template(template_id),
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_field(
                "template_id",
                "send either `body` or `template_id`, not both",
            ));
        }
        (None, None) => {
            return Err(ApiError::invalid_field(
                "body",
                "is required (or send `template_id`)",
            ));
        }
    };
    Ok(Draft { content, send_at })
}

/// The `Idempotency-Key` header and a fingerprint of this request.
fn idempotency_key(
    request: &HttpRequest,
    body: &impl Serialize,
) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(value) = request.headers().get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|key| !key.is_empty() && key.len() <= 255)
        .ok_or_else(|| {
            ApiError::invalid_field(
                "Idempotency-Key",
                "must be 1 to 255 printable ASCII characters",
            )
        })?;
    let mut hash = Sha256::new();
    hash.update(request.path().as_bytes());
    hash.update(serde_json::to_vec(body).map_err(|error| ApiError::Internal(error.into()))?);
    Ok(Some(IdempotencyKey {
        key: key.to_owned(),
        request_hash: hash.finalize().to_vec(),
    }))
}

fn accepted<T>(result: Accepted<T>, new: impl FnOnce(T) -> HttpResponse) -> HttpResponse {
    match result {
        Accepted::New(value) => new(value),
        Accepted::Replayed(replay) => HttpResponse::build(
            actix_web::http::StatusCode::from_u16(replay.status)
                .unwrap_or(actix_web::http::StatusCode::ACCEPTED),
        )
        .insert_header((CONTENT_TYPE, "application/json"))
        .insert_header(("idempotent-replayed", "true"))
        .body(replay.body),
    }
}

/// Text one candidate.
///
/// The message is stored first and handed to the active provider by the dispatcher, so
/// the answer is 202 with status `queued` (or `scheduled` with `send_at`). With an
/// `Idempotency-Key` header, the same request again returns the first answer (with
/// `Idempotent-Replayed: true`) and sends nothing new; the same key with a different
/// request is a 409.
#[utoipa::path(
    tag = "messaging",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the request safe to retry: 1 to 255 printable ASCII characters", pattern = r"^[\t -~]*[!-~][\t -~]*$", max_length = 255)),
    request_body = SendRequest,
    responses(
        (status = 202, description = "Queued or scheduled", body = SmsMessage),
        BodyRefusals,
        NoSession,
        (status = 409, description = "No active provider, its credential is missing, the key was used for another request, the candidate has no phone (`candidate-without-phone`), or `candidate_id` or `template_id` names nothing in this organization (`unknown-reference`, the field in `errors`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, or an opted-out candidate", body = Problem, content_type = "application/problem+json"),
        DailyCapReached,
    )
)]
#[post("/sms/messages")]
pub async fn send_message(
    state: Data<AppState>,
    current: CurrentUser,
    request: HttpRequest,
    body: ApiJson<SendRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner()?;
    let key = idempotency_key(&request, &body)?;
    let draft = draft(body.body, body.template_id, body.send_at)?;
    let result = messaging::send_to_candidate(
        outbox(&state),
        &current,
        &body.candidate_id,
        draft,
        key,
        |message| {
            (
                202,
                serde_json::to_string(&SmsMessage::queued(message)).unwrap_or_default(),
            )
        },
    )
    .await?;
    Ok(accepted(result, |message| {
        HttpResponse::Accepted().json(SmsMessage::queued(&message))
    }))
}

/// Reply in a thread (to its number; its candidate's opt-out applies).
#[utoipa::path(
    tag = "messaging",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The thread's id")),
    request_body = ReplyRequest,
    responses(
        (status = 202, description = "Queued or scheduled", body = SmsMessage),
        BodyRefusals,
        NoSession,
        (status = 404, description = "No such thread in this organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No active provider or its credential is missing, or `template_id` names no template of this organization (`unknown-reference`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, or the candidate opted out", body = Problem, content_type = "application/problem+json"),
        DailyCapReached,
    )
)]
#[post("/sms/threads/{id}/messages")]
pub async fn reply_in_thread(
    state: Data<AppState>,
    current: CurrentUser,
    id: Path<uuid::Uuid>,
    body: ApiJson<ReplyRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner()?;
    let draft = draft(body.body, body.template_id, body.send_at)?;
    let message = messaging::reply(outbox(&state), &current, &id.to_string(), draft).await?;
    Ok(HttpResponse::Accepted().json(SmsMessage::queued(&message)))
}

/// Text many candidates at once (the kanban quick message).
///
/// Each candidate gets the text with their own merge fields. Candidates that cannot be
/// texted are listed in `skipped` with the reason; candidates sharing a number get one
/// message. The answer comes once the batch is stored; its messages and their threads
/// appear in the inbox moments later, as the outbox writes them (a thousand at a time),
/// and `GET /sms/batches/{id}` counts them from the answer on. `Idempotency-Key` works
/// as for `POST /sms/messages`.
#[utoipa::path(
    tag = "messaging",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the request safe to retry: 1 to 255 printable ASCII characters", pattern = r"^[\t -~]*[!-~][\t -~]*$", max_length = 255)),
    request_body = BulkRequest,
    responses(
        (status = 202, description = "Queued", body = BulkResponse),
        BodyRefusals,
        NoSession,
        (status = 409, description = "No active provider, its credential is missing, the key was used for another request, or `template_id` names no template of this organization (`unknown-reference`; unknown candidates are `skipped`)", body = Problem, content_type = "application/problem+json"),
        InvalidFields,
        DailyCapReached,
    )
)]
#[post("/sms/bulk")]
pub async fn send_bulk(
    state: Data<AppState>,
    current: CurrentUser,
    request: HttpRequest,
    body: ApiJson<BulkRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner()?;
    if body.candidate_ids.is_empty() || body.candidate_ids.len() > MAX_BULK_CANDIDATES {
        return Err(ApiError::invalid_field(
            "candidate_ids",
            format!("must hold 1 to {MAX_BULK_CANDIDATES} ids"),
        ));
    }
    if let Some(index) = body
        .candidate_ids
        .iter()
        .position(|id| uuid::Uuid::parse_str(id).is_err())
    {
        return Err(ApiError::invalid_field(
            &format!("candidate_ids[{index}]"),
            "is not a candidate id",
        ));
    }
    let key = idempotency_key(&request, &body)?;
    let draft = draft(body.body, body.template_id, body.send_at)?;
    let result = messaging::send_bulk(
        outbox(&state),
        &current,
        body.candidate_ids,
        draft,
        key,
        |accepted| {
            (
                202,
                serde_json::to_string(&BulkResponse::from(accepted)).unwrap_or_default(),
            )
        },
    )
    .await?;
    Ok(accepted(result, |accepted| {
        HttpResponse::Accepted().json(BulkResponse::from(&accepted))
    }))
}

/// One message with its status history.
#[utoipa::path(
    tag = "messaging",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The message's id")),
    responses(
        (status = 200, description = "The message", body = SmsMessage),
        NoSession,
        (status = 404, description = "No such message in this organization", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/sms/messages/{id}")]
pub async fn get_message(
    state: Data<AppState>,
    current: CurrentUser,
    id: Path<uuid::Uuid>,
) -> Result<Json<SmsMessage>, ApiError> {
    let (message, history) = messaging::get(&state.db, &current, &id.to_string()).await?;
    Ok(Json(SmsMessage::new(message, history)))
}

/// Cancel a message that has not gone out yet (scheduled, or still queued).
#[utoipa::path(
    tag = "messaging",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The message's id")),
    responses(
        (status = 200, description = "Cancelled", body = SmsMessage),
        NoSession,
        (status = 404, description = "No such message in this organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already handed to the provider, or final", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/sms/messages/{id}/cancel")]
pub async fn cancel_message(
    state: Data<AppState>,
    current: CurrentUser,
    id: Path<uuid::Uuid>,
) -> Result<Json<SmsMessage>, ApiError> {
    let (message, history) = messaging::cancel(&state.db, &current, &id.to_string()).await?;
    Ok(Json(SmsMessage::new(message, history)))
}

/// A bulk send's progress: messages per status, those not yet written to the inbox
/// counted as `queued` or `scheduled`.
#[utoipa::path(
    tag = "messaging",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The batch's id")),
    responses(
        (status = 200, description = "The batch", body = Batch),
        NoSession,
        (status = 404, description = "No such batch in this organization", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/sms/batches/{id}")]
pub async fn get_batch(
    state: Data<AppState>,
    current: CurrentUser,
    id: Path<uuid::Uuid>,
) -> Result<Json<Batch>, ApiError> {
    Ok(Json(
        messaging::batch(&state.db, &current, &id.to_string())
            .await?
            .into(),
    ))
}
