//! The daily send cap: how many messages an organization may queue in one calendar day
//! of its own time zone. Messages are counted in the transaction that stores them, so
//! concurrent requests and replicas cannot together go past the cap.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use nextal_domain::{DailySendCap, Timezone};
use nextal_persistence::DbConn;
use nextal_persistence::repo::daily_sends;
use nextal_persistence::repo::organizations::Organization;

use crate::problem_kind::ProblemKind;
use crate::services::ServiceError;

/// An organization's sending today.
pub struct DailySends {
    /// The cap in force: the organization's own, or the service's default.
    pub cap: u32,
    /// Messages accepted for sending today.
    pub sent: u32,
    /// Today, in the organization's time zone.
    pub day: NaiveDate,
    /// When today ends: the organization's next midnight.
    pub resets_at: DateTime<Utc>,
}

impl DailySends {
    /// Messages that may still be sent today.
    pub fn remaining(&self) -> u32 {
        self.cap.saturating_sub(self.sent)
    }
}

/// The organization's sending today, as of `now`; `default_cap` applies when the
/// organization has no cap of its own.
pub async fn today(
    conn: &mut DbConn,
    default_cap: DailySendCap,
    organization: &Organization,
    now: NaiveDateTime,
) -> Result<DailySends, ServiceError> {
    let (day, resets_at) = local_day(organization, now);
    let sent = daily_sends::sent_on(conn, &organization.id, day).await?;
    Ok(DailySends {
        cap: cap_of(default_cap, organization),
        sent: u32::try_from(sent).unwrap_or(0),
        day,
        resets_at,
    })
}

/// Counts `messages` against the organization's cap for the day of `now`, inside the
/// transaction that stores them. When they do not all fit, nothing is counted and the
/// error is [`ServiceError::LimitReached`] `daily-send-cap`, retried after the
/// organization's next midnight; the caller's transaction then stores nothing either.
pub async fn count(
    conn: &mut DbConn,
    default_cap: DailySendCap,
    organization: &Organization,
    messages: usize,
    now: NaiveDateTime,
) -> Result<(), ServiceError> {
    if messages == 0 {
        return Ok(());
    }
    let (day, resets_at) = local_day(organization, now);
    let cap = cap_of(default_cap, organization);
    let counted = daily_sends::try_count(
        conn,
        &organization.id,
        day,
        i32::try_from(messages).unwrap_or(i32::MAX),
        i32::try_from(cap).unwrap_or(i32::MAX),
    )
    .await?;
    if counted {
        return Ok(());
    }
    let sent = daily_sends::sent_on(conn, &organization.id, day).await?;
    let today = DailySends {
        cap,
        sent: u32::try_from(sent).unwrap_or(0),
        day,
        resets_at,
    };
    Err(cap_reached(&today, messages, &organization.timezone, now))
}

/// The organization's own cap, or the service's default when it has none.
fn cap_of(default_cap: DailySendCap, organization: &Organization) -> u32 {
    organization
        .daily_send_cap
        .and_then(|cap| u32::try_from(cap).ok())
        .unwrap_or(default_cap.get())
}

/// The organization's calendar day at `now` and when it ends. A stored zone that no
/// longer parses counts as UTC, as it does everywhere else.
fn local_day(organization: &Organization, now: NaiveDateTime) -> (NaiveDate, DateTime<Utc>) {
    Timezone::parse(&organization.timezone)
        .unwrap_or(Timezone::DEFAULT)
        .day_of(now.and_utc())
}

fn cap_reached(
    today: &DailySends,
    messages: usize,
    timezone: &str,
    now: NaiveDateTime,
) -> ServiceError {
    let wait = today.resets_at - now.and_utc();
    // Rounded up, so a retry at the announced time finds the new day.
    let retry_after_secs =
        u64::try_from(wait.num_seconds() + i64::from(wait.subsec_nanos() > 0)).unwrap_or(0);
    let detail = if today.cap == 0 {
        "Sending is switched off for this organization: its daily send cap is 0. An admin can raise it with PATCH /organization.".to_owned()
    } else {
        format!(
            "The organization's daily send cap is {cap} messages and {remaining} remain today; \
             this send needs {messages}, so nothing was sent. The count restarts at midnight \
             {timezone} ({resets_at}).",
            cap = today.cap,
            remaining = today.remaining(),
            resets_at = today
                .resets_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        )
    };
    ServiceError::LimitReached {
        kind: ProblemKind::DailySendCap,
        detail,
        retry_after_secs: retry_after_secs.max(1),
    }
}
