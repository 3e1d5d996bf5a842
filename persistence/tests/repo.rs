//! The repositories against a real database: SQLite by default, PostgreSQL when
//! `NEXTAL_TEST_DATABASE_URL` names a server (each test then gets its own database,
//! dropped at the end). Statuses travel as `MessageStatus` both ways, so these tests
//! also prove the one SQL mapping of the domain's enums on each backend.

#![allow(clippy::unwrap_used, reason = "tests")]

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use nextal_domain::{Direction, Encoding, MessageStatus, ProviderKind};
use nextal_persistence::repo::integrations::{self, Integration};
use nextal_persistence::repo::messages::{self, Message, ReportedChange, SentUpdate};
use nextal_persistence::repo::organizations::{self, Organization};
use nextal_persistence::repo::provider_sync;
use nextal_persistence::repo::threads::{self, WantedThread};
use nextal_persistence::{DatabaseUrl, Db, DbConn, PoolOptions};

/// A migrated database that exists for one test.
struct TestDb {
    db: Db,
    /// Keeps the SQLite file's folder until the test ends.
    _folder: Option<tempfile::TempDir>,
    /// The PostgreSQL server and the database made on it, dropped with this value.
    postgres: Option<(String, String)>,
}

impl TestDb {
    async fn create() -> Self {
        let server = std::env::var("NEXTAL_TEST_DATABASE_URL")
            .ok()
            .filter(|url| !url.is_empty());
        let (url, folder, postgres) = match server {
            None => {
                let folder = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", folder.path().join("repo.db").display());
                (url, Some(folder), None)
            }
            Some(server) => {
                let name = format!("nextal_repo_{}", uuid::Uuid::new_v4().simple());
                admin(&server, format!("CREATE DATABASE {name}")).await;
                (with_database(&server, &name), None, Some((server, name)))
            }
        };
        let url = DatabaseUrl::parse(&url).unwrap();
        Db::migrate(&url).await.unwrap();
        let db = Db::open(&url, PoolOptions::default()).unwrap();
        Self {
            db,
            _folder: folder,
            postgres,
        }
    }

    async fn conn(&self) -> DbConn {
        self.db.conn().await.unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((server, name)) = self.postgres.take() {
            // Drop runs inside the test's runtime, which cannot block on itself.
            let dropped = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(admin(
                        &server,
                        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                    ));
            })
            .join();
            if dropped.is_err() {
                eprintln!("could not drop test database");
            }
        }
    }
}

/// Runs `statement` on the server's own database.
async fn admin(server: &str, statement: String) {
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    let mut conn = AsyncPgConnection::establish(server).await.unwrap();
    diesel::sql_query(statement)
        .execute(&mut conn)
        .await
        .unwrap();
}

/// `server` with its database name replaced by `name`.
fn with_database(server: &str, name: &str) -> String {
    let (base, query) = server.split_once('?').unwrap_or((server, ""));
    let scheme_end = base.find("://").map_or(0, |index| index + 3);
    let host = match base[scheme_end..].find('/') {
        Some(index) => &base[..scheme_end + index],
        None => base,
    };
    if query.is_empty() {
        format!("{host}/{name}")
    } else {
        format!("{host}/{name}?{query}")
    }
}

const ORG: &str = "org-1";

fn at(minute: i64) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 12, 1)
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap()
        + TimeDelta::minutes(minute)
}

/// An organization with an active ClickSend integration; returns the integration's id.
async fn organization(conn: &mut DbConn) -> String {
    organizations::insert(
        conn,
        &Organization {
            id: ORG.to_owned(),
            name: "Acme".to_owned(),
            default_country: "AU".to_owned(),
            timezone: "Australia/Sydney".to_owned(),
            created_at: at(0),
            updated_at: at(0),
            daily_send_cap: None,
            quiet_hours_start: None,
            quiet_hours_end: None,
        },
    )
    .await
    .unwrap();
    let integration = Integration {
        id: "integration-1".to_owned(),
        organization_id: ORG.to_owned(),
        provider: ProviderKind::ClickSend,
        active: true,
        phone_number: Some("+61400000000".to_owned()),
        username: Some("acme".to_owned()),
        secret: None,
        secret_set_at: None,
        webhook_token: vec![1],
        webhook_token_hash: vec![2],
        created_at: at(0),
        updated_at: at(0),
    };
    integrations::insert_if_missing(conn, &integration)
        .await
        .unwrap();
    integration.id
}

/// Queued outbound messages to `phone`, due at minute 0, with ids `ids` (in order).
async fn queue(conn: &mut DbConn, phone: &str, ids: &[&str]) {
    let wanted = WantedThread {
        id: format!("thread-{phone}"),
        phone: phone.to_owned(),
        candidate_id: None,
        preview: "Hello".to_owned(),
    };
    let thread_ids = threads::upsert_for_sending(conn, ORG, &[wanted], "user-1", at(0))
        .await
        .unwrap();
    let thread_id = thread_ids.values().next().unwrap().clone();
    let rows: Vec<Message> = ids
        .iter()
        .map(|id| Message {
            id: (*id).to_owned(),
            organization_id: ORG.to_owned(),
            thread_id: thread_id.clone(),
            candidate_id: None,
            batch_id: None,
            direction: Direction::Outbound,
            body: "Hello".to_owned(),
            encoding: Encoding::Gsm7,
            segments: 1,
            status: MessageStatus::Queued,
            status_reason: None,
            provider: ProviderKind::ClickSend,
            from_number: "+61400000000".to_owned(),
            to_number: phone.to_owned(),
            provider_message_id: None,
            price: None,
            sent_by: None,
            template_id: None,
            send_at: at(0),
            next_attempt_at: at(0),
            attempts: 0,
            lease_expires_at: None,
            created_at: at(0),
            updated_at: at(0),
            failure_reason: None,
            provider_error_code: None,
        })
        .collect();
    messages::insert_many(conn, &rows).await.unwrap();
}

async fn status(conn: &mut DbConn, id: &str) -> MessageStatus {
    messages::find(conn, ORG, id).await.unwrap().unwrap().status
}

#[tokio::test]
async fn claim_due_takes_due_messages_one_per_thread_and_marks_them_sending() {
    let test = TestDb::create().await;
    let mut conn = test.conn().await;
    organization(&mut conn).await;
    queue(&mut conn, "+61411111111", &["m1", "m2"]).await;
    queue(&mut conn, "+61422222222", &["m3"]).await;

    let claimed = messages::claim_due(&mut conn, at(1), at(2), 10)
        .await
        .unwrap();

    let ids: Vec<&str> = claimed.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["m1", "m3"], "m2 waits behind m1 in its thread");
    assert!(
        claimed
            .iter()
            .all(|c| c.provider == ProviderKind::ClickSend)
    );
    assert!(claimed.iter().all(|c| c.attempts == 1));
    assert_eq!(status(&mut conn, "m1").await, MessageStatus::Sending);
    assert_eq!(status(&mut conn, "m2").await, MessageStatus::Queued);
    // Nothing due before its time, and nothing claimed twice.
    assert!(
        messages::claim_due(&mut conn, at(1), at(2), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn refresh_lease_keeps_only_messages_still_held_under_our_lease() {
    let test = TestDb::create().await;
    let mut conn = test.conn().await;
    organization(&mut conn).await;
    queue(&mut conn, "+61411111111", &["m1"]).await;
    queue(&mut conn, "+61422222222", &["m2"]).await;
    messages::claim_due(&mut conn, at(1), at(5), 10)
        .await
        .unwrap();
    // m2 is no longer `sending`: its lease is nobody's to renew.
    messages::requeue(&mut conn, "m2", at(9), "retry", at(2))
        .await
        .unwrap();

    let ids = vec!["m1".to_owned(), "m2".to_owned()];
    let held = messages::refresh_lease(&mut conn, &ids, &[at(5)], at(3), at(8))
        .await
        .unwrap();
    assert_eq!(held, ["m1"]);
    // Under a lease value that is not ours, nothing is renewed.
    let held = messages::refresh_lease(&mut conn, &ids, &[at(5)], at(3), at(9))
        .await
        .unwrap();
    assert!(held.is_empty());
    // Once the lease ran out it is not ours any more either.
    let held = messages::refresh_lease(&mut conn, &ids, &[at(8)], at(8), at(10))
        .await
        .unwrap();
    assert!(held.is_empty());
}

#[tokio::test]
async fn requeue_and_mark_sent_move_only_sending_messages() {
    let test = TestDb::create().await;
    let mut conn = test.conn().await;
    organization(&mut conn).await;
    queue(&mut conn, "+61411111111", &["m1"]).await;
    queue(&mut conn, "+61422222222", &["m2"]).await;
    messages::claim_due(&mut conn, at(1), at(5), 10)
        .await
        .unwrap();

    assert!(
        messages::requeue(&mut conn, "m2", at(3), "busy", at(2))
            .await
            .unwrap()
    );
    assert!(
        !messages::requeue(&mut conn, "m2", at(3), "busy", at(2))
            .await
            .unwrap()
    );
    let requeued = messages::find(&mut conn, ORG, "m2").await.unwrap().unwrap();
    assert_eq!(requeued.status, MessageStatus::Queued);
    assert_eq!(requeued.next_attempt_at, at(3));
    assert_eq!(requeued.lease_expires_at, None);

    let sent = |id: &str| SentUpdate {
        id: id.to_owned(),
        pid: format!("pid-{id}"),
        parts: Some(2),
        price: Some("0.07".to_owned()),
    };
    let moved = messages::mark_sent(&mut conn, &[sent("m1"), sent("m2")], at(4))
        .await
        .unwrap();
    assert_eq!(moved, ["m1"], "a queued message is not marked sent");
    let m1 = messages::find(&mut conn, ORG, "m1").await.unwrap().unwrap();
    assert_eq!(m1.status, MessageStatus::Sent);
    assert_eq!(m1.provider_message_id.as_deref(), Some("pid-m1"));
    assert_eq!(m1.segments, 2);
    assert_eq!(status(&mut conn, "m2").await, MessageStatus::Queued);
}

#[tokio::test]
async fn mark_sent_after_a_receipt_overtook_it_keeps_the_status_and_records_the_id() {
    let test = TestDb::create().await;
    let mut conn = test.conn().await;
    organization(&mut conn).await;
    queue(&mut conn, "+61411111111", &["m1"]).await;
    messages::claim_due(&mut conn, at(1), at(5), 10)
        .await
        .unwrap();
    let receipt = ReportedChange {
        id: "m1",
        from_status: MessageStatus::Sending,
        to_status: MessageStatus::Delivered,
        reason: None,
        failure: None,
        provider_message_id: "pid-m1",
    };
    assert!(
        messages::apply_reported(&mut conn, &receipt, at(2))
            .await
            .unwrap()
    );

    let update = SentUpdate {
        id: "m1".to_owned(),
        pid: "pid-m1".to_owned(),
        parts: None,
        price: Some("0.07".to_owned()),
    };
    let moved = messages::mark_sent(&mut conn, &[update], at(3))
        .await
        .unwrap();
    assert!(moved.is_empty());
    let m1 = messages::find(&mut conn, ORG, "m1").await.unwrap().unwrap();
    assert_eq!(m1.status, MessageStatus::Delivered);
    assert_eq!(m1.price.as_deref(), Some("0.07"));
}

#[tokio::test]
async fn apply_reported_moves_only_from_the_status_it_was_decided_on() {
    let test = TestDb::create().await;
    let mut conn = test.conn().await;
    organization(&mut conn).await;
    queue(&mut conn, "+61411111111", &["m1"]).await;
    messages::claim_due(&mut conn, at(1), at(5), 10)
        .await
        .unwrap();
    let change = |from, to| ReportedChange {
        id: "m1",
        from_status: from,
        to_status: to,
        reason: Some("handset off"),
        failure: None,
        provider_message_id: "pid-m1",
    };

    let stale = change(MessageStatus::Sent, MessageStatus::Undelivered);
    assert!(
        !messages::apply_reported(&mut conn, &stale, at(2))
            .await
            .unwrap()
    );
    assert_eq!(status(&mut conn, "m1").await, MessageStatus::Sending);

    let current = change(MessageStatus::Sending, MessageStatus::Undelivered);
    assert!(
        messages::apply_reported(&mut conn, &current, at(2))
            .await
            .unwrap()
    );
    let m1 = messages::find(&mut conn, ORG, "m1").await.unwrap().unwrap();
    assert_eq!(m1.status, MessageStatus::Undelivered);
    assert_eq!(m1.status_reason.as_deref(), Some("handset off"));
    assert_eq!(m1.provider_message_id.as_deref(), Some("pid-m1"));
    assert_eq!(m1.direction, Direction::Outbound);
}

#[tokio::test]
async fn provider_sync_lease_is_held_by_one_claimer_until_released_or_expired() {
    let test = TestDb::create().await;
    let mut conn = test.conn().await;
    let integration = organization(&mut conn).await;

    let first = provider_sync::claim(&mut conn, &integration, at(1), at(5), at(0))
        .await
        .unwrap();
    assert_eq!(
        first,
        Some(at(0)),
        "a first claim starts where it was told to"
    );
    let rival = provider_sync::claim(&mut conn, &integration, at(2), at(6), at(0))
        .await
        .unwrap();
    assert_eq!(rival, None, "the lease is held");

    // A release under someone else's lease changes nothing.
    provider_sync::release(&mut conn, &integration, at(6), Some(at(3)), at(3))
        .await
        .unwrap();
    assert_eq!(
        provider_sync::claim(&mut conn, &integration, at(3), at(7), at(0))
            .await
            .unwrap(),
        None
    );

    provider_sync::release(&mut conn, &integration, at(5), Some(at(4)), at(4))
        .await
        .unwrap();
    let next = provider_sync::claim(&mut conn, &integration, at(4), at(8), at(0))
        .await
        .unwrap();
    assert_eq!(next, Some(at(4)), "read up to where the release said");

    // Never released: another claimer takes it once the lease ran out.
    let after_expiry = provider_sync::claim(&mut conn, &integration, at(8), at(12), at(0))
        .await
        .unwrap();
    assert_eq!(after_expiry, Some(at(4)));
}

#[tokio::test]
async fn known_replies_match_provider_ids_whatever_their_case() {
    let test = TestDb::create().await;
    let mut conn = test.conn().await;
    organization(&mut conn).await;
    queue(&mut conn, "+61411111111", &["m1"]).await;
    let thread_id = messages::find(&mut conn, ORG, "m1")
        .await
        .unwrap()
        .unwrap()
        .thread_id;
    let reply = Message {
        id: "r1".to_owned(),
        thread_id,
        direction: Direction::Inbound,
        status: MessageStatus::Received,
        from_number: "+61411111111".to_owned(),
        to_number: "+61400000000".to_owned(),
        provider_message_id: Some("ABC-DEF-1".to_owned()),
        ..messages::find(&mut conn, ORG, "m1").await.unwrap().unwrap()
    };
    assert_eq!(
        messages::insert_replies(&mut conn, std::slice::from_ref(&reply))
            .await
            .unwrap(),
        ["r1"]
    );
    assert!(
        messages::insert_replies(&mut conn, &[reply])
            .await
            .unwrap()
            .is_empty(),
        "a repeated reply is stored once"
    );

    let asked = vec!["abc-def-1".to_owned(), "unknown".to_owned()];
    let known = provider_sync::known_replies(&mut conn, ORG, ProviderKind::ClickSend, &asked)
        .await
        .unwrap();
    assert_eq!(known.into_iter().collect::<Vec<_>>(), ["abc-def-1"]);
    let elsewhere = provider_sync::known_replies(&mut conn, ORG, ProviderKind::Twilio, &asked)
        .await
        .unwrap();
    assert!(elsewhere.is_empty(), "another provider's ids are not ours");
}
