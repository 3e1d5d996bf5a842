//! `GET /sms/events`: the live inbox, as server-sent events.

use std::time::Duration;

use actix_web::web::{Bytes, Data};
use actix_web::{HttpResponse, get};
use nextal_domain::MessageStatus;
use nextal_openapi::Problem;
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;

use crate::error::ApiError;
use crate::events::InboxEvent;
use crate::extract::CurrentUser;
use crate::state::AppState;

/// How often an idle stream sends a comment, so proxies keep it open and a dead client
/// is noticed.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The `data` of an event.
#[derive(Serialize)]
struct EventData<'a> {
    thread_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<MessageStatus>,
}

/// Live inbox updates.
///
/// A `text/event-stream` that stays open. It starts with a `: connected` comment, then
/// sends, for the caller's organization:
///
/// - `event: message.received` when a reply arrives;
/// - `event: message.status` when a message's status changes (handed over, a delivery
///   receipt);
/// - `event: thread.read` when someone read a thread (its unread count is 0), so other
///   open tabs can clear their badge;
/// - `event: resync` when this stream fell behind and missed events: refetch the
///   threads.
///
/// Each `data` is JSON: `{"thread_id", "message_id", "status"}` (`thread.read` carries
/// `thread_id` only). Idle streams get a
/// `: keep-alive` comment every 15 s. Events are not replayed: after a reconnect, refetch
/// `GET /sms/threads`. Authenticate with the `Authorization` header (use a fetch-based
/// EventSource in the browser).
#[utoipa::path(
    get,
    path = "/sms/events",
    tag = "inbox",
    responses(
        (status = 200, description = "An open event stream", body = String, content_type = "text/event-stream",
         example = json!(": connected\n\nevent: message.received\ndata: {\"thread_id\":\"0193…\",\"message_id\":\"0193…\",\"status\":\"received\"}\n\n")),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[get("/sms/events")]
pub async fn inbox_events(
    state: Data<AppState>,
    user: CurrentUser,
) -> Result<HttpResponse, ApiError> {
    let organization_id = user.organization_id().to_owned();
    let receiver = state.events.subscribe();
    let mut keep_alive = tokio::time::interval(KEEP_ALIVE);
    keep_alive.reset();
    let stream = futures_util::stream::unfold(
        (receiver, keep_alive, organization_id, false),
        |(mut receiver, mut keep_alive, organization_id, started)| async move {
            if !started {
                let hello = Bytes::from_static(b": connected\nretry: 3000\n\n");
                return Some((
                    Ok::<_, std::convert::Infallible>(hello),
                    (receiver, keep_alive, organization_id, true),
                ));
            }
            let frame = loop {
                tokio::select! {
                    received = receiver.recv() => match received {
                        Ok(event) if event.organization_id == organization_id => break frame(&event),
                        Ok(_) => continue,
                        Err(RecvError::Lagged(_)) => break Bytes::from_static(b"event: resync\ndata: {}\n\n"),
                        Err(RecvError::Closed) => return None,
                    },
                    _ = keep_alive.tick() => break Bytes::from_static(b": keep-alive\n\n"),
                }
            };
            Some((Ok(frame), (receiver, keep_alive, organization_id, true)))
        },
    );
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        // Tells nginx not to buffer the stream.
        .insert_header(("x-accel-buffering", "no"))
        .streaming(stream))
}

fn frame(event: &InboxEvent) -> Bytes {
    let data = serde_json::to_string(&EventData {
        thread_id: &event.thread_id,
        message_id: event.message_id.as_deref(),
        status: event.status,
    })
    .unwrap_or_else(|_| "{}".to_owned());
    Bytes::from(format!("event: {}\ndata: {data}\n\n", event.kind.as_str()))
}
