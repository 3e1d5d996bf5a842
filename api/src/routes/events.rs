//! `GET /sms/events`: the live inbox, as server-sent events.

use std::time::Duration;

use actix_web::web::{Bytes, Data, Query};
use actix_web::{HttpResponse, get};
use nextal_domain::MessageStatus;
use nextal_openapi::Problem;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;
use crate::events::{EventKind, InboxEvent};
use crate::extract::CurrentUser;
use crate::state::AppState;

/// How often an idle stream sends a comment, so proxies keep it open and a dead client
/// is noticed.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Which threads' events a stream carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventScope {
    /// Every thread of the organization.
    #[default]
    All,
    /// The caller's threads and the unassigned ones (the team's).
    Mine,
}

/// Which events to stream.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// `mine`: only events of threads assigned to the caller or to nobody, and
    /// `thread.assigned` of a thread that was; `all` or omitted: every thread's.
    #[param(inline)]
    scope: Option<EventScope>,
}

/// The `data` of an event.
#[derive(Serialize)]
struct EventData<'a> {
    thread_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<MessageStatus>,
    /// Always present: null when the thread is unassigned.
    assignee_id: Option<&'a str>,
    /// `thread.assigned` only: the assignee before (null: unassigned).
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_assignee_id: Option<Option<&'a str>>,
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
/// - `event: thread.unread` when someone marked a thread unread again;
/// - `event: thread.assigned` when a thread's assignee changed;
/// - `event: resync` when this stream fell behind and missed events: refetch the
///   threads.
///
/// Each `data` is JSON: `{"thread_id", "message_id", "status", "assignee_id"}`:
/// `assignee_id` is the thread's assignee (null: unassigned) on every event;
/// `thread.read`, `thread.unread` and `thread.assigned` carry no `message_id` nor
/// `status`; `thread.assigned` adds `previous_assignee_id`. With `?scope=mine` the
/// stream carries only the events of threads assigned to the caller or to nobody, and
/// `thread.assigned` of a thread that was (so a thread taken by someone else leaves the
/// caller's list). Idle streams get a
/// `: keep-alive` comment every 15 s. Events are not replayed: after a reconnect, refetch
/// `GET /sms/threads`. Authenticate with the `Authorization` header (use a fetch-based
/// EventSource in the browser).
#[utoipa::path(
    get,
    path = "/sms/events",
    tag = "inbox",
    params(EventsQuery),
    responses(
        (status = 200, description = "An open event stream", body = String, content_type = "text/event-stream",
         example = json!(": connected\n\nevent: message.received\ndata: {\"thread_id\":\"0193…\",\"message_id\":\"0193…\",\"status\":\"received\",\"assignee_id\":null}\n\n")),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid scope", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
#[get("/sms/events")]
pub async fn inbox_events(
    state: Data<AppState>,
    user: CurrentUser,
    query: Query<EventsQuery>,
) -> Result<HttpResponse, ApiError> {
    let organization_id = user.organization_id().to_owned();
    // `None`: every thread's events; `Some(id)`: only those `id` is concerned by.
    let only_for = match query.scope.unwrap_or_default() {
        EventScope::All => None,
        EventScope::Mine => Some(user.user.id.clone()),
    };
    let wanted = move |event: &InboxEvent| {
        event.organization_id == organization_id
            && only_for
                .as_deref()
                .is_none_or(|user_id| event.concerns(user_id))
    };
    let receiver = state.events.subscribe();
    let mut keep_alive = tokio::time::interval(KEEP_ALIVE);
    keep_alive.reset();
    let stream = futures_util::stream::unfold(
        (receiver, keep_alive, wanted, false),
        |(mut receiver, mut keep_alive, wanted, started)| async move {
            if !started {
                let hello = Bytes::from_static(b": connected\nretry: 3000\n\n");
                return Some((
                    Ok::<_, std::convert::Infallible>(hello),
                    (receiver, keep_alive, wanted, true),
                ));
            }
            let frame = loop {
                tokio::select! {
                    received = receiver.recv() => match received {
                        Ok(event) if wanted(&event) => break frame(&event),
                        Ok(_) => continue,
                        Err(RecvError::Lagged(_)) => break Bytes::from_static(b"event: resync\ndata: {}\n\n"),
                        Err(RecvError::Closed) => return None,
                    },
                    _ = keep_alive.tick() => break Bytes::from_static(b": keep-alive\n\n"),
                }
            };
            Some((Ok(frame), (receiver, keep_alive, wanted, true)))
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
        assignee_id: event.assignee_id.as_deref(),
        previous_assignee_id: (event.kind == EventKind::ThreadAssigned)
            .then_some(event.previous_assignee_id.as_deref()),
    })
    .unwrap_or_else(|_| "{}".to_owned());
    Bytes::from(format!("event: {}\ndata: {data}\n\n", event.kind.as_str()))
}
