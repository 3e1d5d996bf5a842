//! Inbox benchmark: `GET /sms/threads` of a large organization against a small one.
//!
//! `NEXTAL_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p nextal-tests --bench inbox`
//!
//! Seeds organization A with 1,000,000 threads and 10,000,000 messages (`BENCH_THREADS`
//! sets the threads; the 1M-message figures of the team inbox issue used 100000) and organization B
//! with 1,000 threads and 10,000 messages (set-based SQL), then, for each, pages through
//! the inbox over HTTP one request at a time: the first page, the following pages by
//! `next_cursor` (20 pages deep), and the first page of `unread=true`, `assignee=me`,
//! `assignee=none` and `needs_reply=true`, repeated `BENCH_ITERATIONS` times (default
//! 500) after a warm-up. Each organization has ten members (its admin, the caller, and
//! nine recruiters): a thread in twelve is each one's, two in twelve are unassigned.
//! Prints p50/p99 per organization and kind of request, and `EXPLAIN ANALYZE` of A's
//! queries.

#![allow(clippy::print_stdout, reason = "a benchmark prints its figures")]

#[path = "common/environment.rs"]
mod environment;
use std::time::{Duration, Instant};

use chrono::Utc;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use nextal_tests::{TestApp, spawn_app};
use serde_json::Value;

/// Threads (and, ten times as many, messages) of the large organization, unless
/// `BENCH_THREADS` says otherwise.
const THREADS_A: u32 = 1_000_000;
/// Threads of the small organization.
const THREADS_B: u32 = 1_000;
/// Messages per thread.
const MESSAGES_PER_THREAD: u32 = 10;
/// Pages read per iteration, the first one included.
const PAGES: usize = 20;
const PAGE_SIZE: u32 = 50;
/// Our ClickSend number.
const OUR_NUMBER: &str = "+61411111111";
/// Recruiters besides the admin in each organization.
const RECRUITERS: usize = 9;
/// Threads are dealt round-robin to this many slots: one per member, the rest unassigned.
const ASSIGNEE_SLOTS: usize = 12;

/// What a request was.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    First,
    Deeper,
    Unread,
    Mine,
    Unassigned,
    NeedsReply,
}

impl Kind {
    const ALL: [Kind; 6] = [
        Kind::First,
        Kind::Deeper,
        Kind::Unread,
        Kind::Mine,
        Kind::Unassigned,
        Kind::NeedsReply,
    ];

    fn label(self) -> &'static str {
        match self {
            Kind::First => "first page",
            Kind::Deeper => "pages 2-20 (cursor)",
            Kind::Unread => "unread=true",
            Kind::Mine => "assignee=me",
            Kind::Unassigned => "assignee=none",
            Kind::NeedsReply => "needs_reply=true",
        }
    }
}

/// Latencies (µs) of one organization's requests.
#[derive(Default)]
struct Timings {
    samples: Vec<(Kind, u32)>,
}

impl Timings {
    fn sorted(&self, kind: Option<Kind>) -> Vec<u32> {
        let mut values: Vec<u32> = self
            .samples
            .iter()
            .filter(|(k, _)| kind.is_none_or(|wanted| *k == wanted))
            .map(|(_, us)| *us)
            .collect();
        values.sort_unstable();
        values
    }
}

#[tokio::main]
async fn main() {
    if environment::postgres_server_or_skip("inbox").is_none() {
        return;
    }
    let iterations = environment::positive_number("BENCH_ITERATIONS", 500);
    let warm_up = environment::positive_number("BENCH_WARMUP", 20);
    let threads_a = u32::try_from(environment::positive_number(
        "BENCH_THREADS",
        THREADS_A as usize,
    ))
    .expect("BENCH_THREADS fits in 32 bits");

    let app = spawn_app().await;
    let admin_a = app.admin_token().await;
    let organization_a = app.organization_id(&admin_a).await;
    let admin_b = app
        .create_other_organization("Small agency", "admin@small.test")
        .await;
    let organization_b = app.organization_id(&admin_b).await;
    let members_a = members(&app, &admin_a, "a").await;
    let members_b = members(&app, &admin_b, "b").await;

    let mut db = AsyncPgConnection::establish(app.database.url())
        .await
        .expect("the bench database");
    let seeding = Instant::now();
    seed(
        &mut db,
        &[
            (&organization_a, "a", threads_a, &members_a),
            (&organization_b, "b", THREADS_B, &members_b),
        ],
    )
    .await;
    for statement in [
        "VACUUM (ANALYZE) candidates",
        "VACUUM (ANALYZE) sms_threads",
        "VACUUM (ANALYZE) sms_messages",
    ] {
        execute(&mut db, statement).await;
    }
    let seeded_after = seeding.elapsed();
    let distinct: Count = diesel::sql_query(format!(
        "SELECT count(DISTINCT last_message_at) AS n FROM sms_threads \
         WHERE organization_id = '{organization_a}'"
    ))
    .get_result(&mut db)
    .await
    .expect("the threads");
    assert!(
        distinct.n > i64::from(threads_a) * 9 / 10,
        "threads' activity is spread: {} distinct times",
        distinct.n
    );

    let timings_a = measure(&app, &admin_a, &members_a[0], warm_up, iterations).await;
    let timings_b = measure(&app, &admin_b, &members_b[0], warm_up, iterations).await;

    println!(
        "inbox benchmark (postgres, {}): GET /sms/threads?limit={PAGE_SIZE}, {iterations} \
         iterations after {warm_up} of warm-up, each: first page + {} pages by cursor + \
         the first page of unread=true, assignee=me, assignee=none and needs_reply=true, \
         one request at a time",
        Utc::now().format("%Y-%m-%d"),
        PAGES - 1
    );
    println!(
        "  seeded in {:.1} s: A {threads_a} threads / {} messages, B {THREADS_B} threads / {} \
         messages (10% unread, 90% with a candidate, 1/12 the caller's, 1/6 unassigned, \
         about half waiting for a reply)",
        seeded_after.as_secs_f64(),
        threads_a * MESSAGES_PER_THREAD,
        THREADS_B * MESSAGES_PER_THREAD
    );
    for (name, timings) in [("A", &timings_a), ("B", &timings_b)] {
        let all = timings.sorted(None);
        println!(
            "  organization {name}: {} requests, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            all.len(),
            percentile_ms(&all, 0.50),
            percentile_ms(&all, 0.99),
            all.last().map_or(f64::NAN, |&us| f64::from(us) / 1000.0)
        );
        for kind in Kind::ALL {
            let some = timings.sorted(Some(kind));
            println!(
                "    {:<22} p50 {:>7.2} ms   p99 {:>7.2} ms   ({} requests)",
                kind.label(),
                percentile_ms(&some, 0.50),
                percentile_ms(&some, 0.99),
                some.len()
            );
        }
    }
    println!("  p99(A) / p99(B) per kind of request:");
    for kind in Kind::ALL {
        let a = percentile_ms(&timings_a.sorted(Some(kind)), 0.99);
        let b = percentile_ms(&timings_b.sorted(Some(kind)), 0.99);
        println!(
            "    {:<22} {a:>7.2} / {b:>7.2} = {:.2}",
            kind.label(),
            a / b
        );
    }
    let p99_a = percentile_ms(&timings_a.sorted(None), 0.99);
    let p99_b = percentile_ms(&timings_b.sorted(None), 0.99);
    let ratio = p99_a / p99_b;
    println!("  targets:");
    verdict("p99(A) <= 10 ms", &format!("{p99_a:.2} ms"), p99_a <= 10.0);
    verdict(
        "p99(A) / p99(B) <= 1.5",
        &format!("{p99_a:.2} / {p99_b:.2} = {ratio:.2}"),
        ratio <= 1.5,
    );

    explain_queries(&mut db, &organization_a, &members_a[0]).await;
    drop(db);
}

fn verdict(name: &str, figure: &str, pass: bool) {
    println!(
        "    [{}] {name:<26} {figure}",
        if pass { "PASS" } else { "MISS" }
    );
}

async fn execute(db: &mut AsyncPgConnection, sql: &str) {
    diesel::sql_query(sql)
        .execute(db)
        .await
        .unwrap_or_else(|error| panic!("{error}: {sql}"));
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

async fn has_table(db: &mut AsyncPgConnection, name: &str) -> bool {
    let found: Count = diesel::sql_query(format!(
        "SELECT count(*) AS n FROM pg_tables WHERE schemaname = current_schema() AND tablename = '{name}'"
    ))
    .get_result(db)
    .await
    .expect("the catalog answers");
    found.n > 0
}

/// The ids of the organization's members: its admin (`token`'s) first, then
/// [`RECRUITERS`] recruiters made for the bench.
async fn members(app: &TestApp, token: &str, tag: &str) -> Vec<String> {
    let me: Value = app
        .client
        .get(app.url("/me"))
        .bearer_auth(token)
        .send()
        .await
        .expect("the service answers")
        .json()
        .await
        .expect("JSON");
    let mut ids = vec![me["id"].as_str().expect("an id").to_owned()];
    for n in 0..RECRUITERS {
        let (id, _) = app
            .create_user(token, &format!("recruiter{n}@{tag}.test"), "recruiter")
            .await;
        ids.push(id);
    }
    ids
}

#[derive(diesel::QueryableByName)]
struct IndexDefinition {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    definition: String,
}

/// For each (organization, tag, n, members): n threads (numbers +61420000000…), nine in
/// ten with a candidate at that number, one in ten with unread replies, each with ten
/// messages in both directions, the newest at the thread's `last_message_at` (spread
/// over a year, denser recently); dealt round-robin to the members and
/// `ASSIGNEE_SLOTS - members` empty hands, and waiting for a reply when the newest
/// message is one.
async fn seed(db: &mut AsyncPgConnection, organizations: &[(&str, &str, u32, &[String])]) {
    // Consistent by construction: skip the foreign-key triggers and the WAL flush per
    // statement while seeding (this session only).
    execute(db, "SET session_replication_role = replica").await;
    execute(db, "SET synchronous_commit = off").await;
    execute(db, "SET maintenance_work_mem = '256MB'").await;
    let now = "(now() AT TIME ZONE 'UTC')";
    for &(organization, tag, threads, members) in organizations {
        let last = threads - 1;
        let members: Vec<String> = members.iter().map(|id| format!("'{id}'")).collect();
        let members = members.join(", ");
        execute(
            db,
            &format!(
                "INSERT INTO candidates (id, organization_id, job_id, stage, first_name, last_name,
                                         phone, email, sms_opted_out, created_at, updated_at)
                 SELECT md5('{tag}-c-' || n)::uuid::text, '{organization}', NULL, NULL,
                        'First' || n, 'Last' || n, '+614' || (20000000 + n), NULL, n % 50 = 1,
                        {now} - interval '400 days', {now} - interval '400 days'
                 FROM generate_series(0, {last}) AS n
                 WHERE n % 10 <> 0"
            ),
        )
        .await;
        execute(
            db,
            &format!(
                "INSERT INTO sms_threads (id, organization_id, phone, candidate_id, unread_count,
                                          last_message_at, last_message_preview, created_at,
                                          updated_at, candidate_ambiguous, assignee_id,
                                          needs_reply)
                 SELECT md5('{tag}-t-' || n)::uuid::text, '{organization}',
                        '+614' || (20000000 + n),
                        CASE WHEN n % 10 <> 0 THEN md5('{tag}-c-' || n)::uuid::text END,
                        CASE WHEN n % 10 = 7 THEN 1 + n % 3 ELSE 0 END,
                        at, 'Message {MESSAGES_PER_THREAD} about the role, for +614' || (20000000 + n),
                        at - interval '1 day', at, false,
                        (ARRAY[{members}])[n % {ASSIGNEE_SLOTS} + 1],
                        -- The newest message's direction, as the messages below decide it.
                        n % 10 = 7
                            OR ({last_k} + ascii(right(md5('{tag}-t-' || n), 1))) % 2 <> 0
                 FROM (SELECT n, date_trunc('milliseconds',
                                            {now} - random() ^ 2 * interval '365 days') AS at
                       FROM generate_series(0, {last}) AS n) AS activity",
                last_k = MESSAGES_PER_THREAD - 1
            ),
        )
        .await;
    }
    let organization_ids: Vec<String> = organizations
        .iter()
        .map(|(organization, _, _, _)| format!("'{organization}'"))
        .collect();
    let organization_ids = organization_ids.join(", ");
    if has_table(db, "sms_unread_totals").await {
        // The service keeps each organization's unread total beside its threads.
        execute(
            db,
            &format!("DELETE FROM sms_unread_totals WHERE organization_id IN ({organization_ids})"),
        )
        .await;
        execute(
            db,
            &format!(
                "INSERT INTO sms_unread_totals (organization_id, unread)
                 SELECT organization_id, SUM(unread_count) FROM sms_threads
                 WHERE organization_id IN ({organization_ids}) AND unread_count > 0
                 GROUP BY organization_id"
            ),
        )
        .await;
    }
    // A million rows go in faster without the secondary indexes, built afterwards as
    // the migrations define them.
    let indexes: Vec<IndexDefinition> = diesel::sql_query(
        "SELECT indexname AS name, indexdef AS definition FROM pg_indexes
         WHERE schemaname = current_schema() AND tablename = 'sms_messages'
           AND indexname NOT IN (SELECT conname FROM pg_constraint
                                 WHERE conrelid = 'sms_messages'::regclass)",
    )
    .load(db)
    .await
    .expect("the indexes of sms_messages");
    for index in &indexes {
        execute(db, &format!("DROP INDEX \"{}\"", index.name)).await;
    }
    // Ids are UUIDv7-shaped from the message's time (as the service makes them), made
    // unique by the thread's id; provider ids are the thread's id and the position.
    execute(
        db,
        &format!(
            "INSERT INTO sms_messages (id, organization_id, thread_id, candidate_id, batch_id,
                                       direction, body, encoding, segments, status, status_reason,
                                       provider, from_number, to_number, provider_message_id,
                                       price, sent_by, template_id, send_at, next_attempt_at,
                                       attempts, lease_expires_at, created_at, updated_at)
             SELECT substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-7' || substr(h, 13, 3) || '-8'
                        || substr(h, 16, 3) || '-' || substr(h, 19, 12),
                    t.organization_id, t.id, t.candidate_id, NULL, d.direction,
                    'Message ' || (k + 1) || ' about the role, for ' || t.phone, 'GSM-7', 1,
                    CASE d.direction WHEN 'outbound' THEN 'delivered' ELSE 'received' END, NULL,
                    'clicksend',
                    CASE d.direction WHEN 'outbound' THEN '{OUR_NUMBER}' ELSE t.phone END,
                    CASE d.direction WHEN 'outbound' THEN t.phone ELSE '{OUR_NUMBER}' END,
                    t.id || '-' || k, NULL, NULL, NULL, m.at, m.at,
                    CASE d.direction WHEN 'outbound' THEN 1 ELSE 0 END, NULL, m.at, m.at
             FROM sms_threads AS t
             CROSS JOIN generate_series(0, {last_k}) AS k
             CROSS JOIN LATERAL (SELECT t.last_message_at - ({last_k} - k) * interval '37 minutes'
                                 AS at) AS m
             CROSS JOIN LATERAL (SELECT lpad(to_hex((date_part('epoch', m.at) * 1000)::bigint),
                                             12, '0') || translate(t.id, '-', '') AS h) AS x
             CROSS JOIN LATERAL (SELECT CASE
                        WHEN t.unread_count > 0 AND k = {last_k} THEN 'inbound'
                        WHEN (k + ascii(right(t.id, 1))) % 2 = 0 THEN 'outbound'
                        ELSE 'inbound' END AS direction) AS d
             WHERE t.organization_id IN ({organization_ids})",
            last_k = MESSAGES_PER_THREAD - 1
        ),
    )
    .await;
    for index in &indexes {
        execute(db, &index.definition).await;
    }
    execute(db, "RESET session_replication_role").await;
    execute(db, "RESET synchronous_commit").await;
    execute(db, "RESET maintenance_work_mem").await;
}

/// Pages through the inbox as `token` (user `me`) `warm_up + iterations` times; keeps the
/// latencies of the last `iterations`.
async fn measure(
    app: &TestApp,
    token: &str,
    me: &str,
    warm_up: usize,
    iterations: usize,
) -> Timings {
    let mut timings = Timings {
        samples: Vec::with_capacity(iterations * (PAGES + 1)),
    };
    for iteration in 0..warm_up + iterations {
        let keep = iteration >= warm_up;
        let mut cursor: Option<String> = None;
        for page in 0..PAGES {
            let path = match &cursor {
                None => format!("/sms/threads?limit={PAGE_SIZE}"),
                Some(cursor) => format!(
                    "/sms/threads?limit={PAGE_SIZE}&cursor={}",
                    urlencoding::encode(cursor)
                ),
            };
            let (elapsed, body) = timed_get(app, &path, token).await;
            if keep {
                let kind = if page == 0 { Kind::First } else { Kind::Deeper };
                timings.samples.push((kind, micros(elapsed)));
            }
            assert_eq!(
                body["items"].as_array().map(Vec::len),
                Some(PAGE_SIZE as usize),
                "a full page {page}"
            );
            match body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        let (elapsed, body) = timed_get(
            app,
            &format!("/sms/threads?limit={PAGE_SIZE}&unread=true"),
            token,
        )
        .await;
        assert!(
            body["items"]
                .as_array()
                .is_some_and(|items| items.iter().all(|item| item["unread_count"] != 0)),
            "only unread threads"
        );
        if keep {
            timings.samples.push((Kind::Unread, micros(elapsed)));
        }
        for (kind, filter, field, wanted) in [
            (Kind::Mine, "assignee=me", "assignee_id", Value::from(me)),
            (
                Kind::Unassigned,
                "assignee=none",
                "assignee_id",
                Value::Null,
            ),
            (
                Kind::NeedsReply,
                "needs_reply=true",
                "needs_reply",
                Value::Bool(true),
            ),
        ] {
            let (elapsed, body) = timed_get(
                app,
                &format!("/sms/threads?limit={PAGE_SIZE}&{filter}"),
                token,
            )
            .await;
            assert!(
                body["items"]
                    .as_array()
                    .is_some_and(|items| items.len() == PAGE_SIZE as usize
                        && items.iter().all(|item| item[field] == wanted)),
                "a full page of {filter}"
            );
            if keep {
                timings.samples.push((kind, micros(elapsed)));
            }
        }
    }
    timings
}

/// GETs `path`; the time until the whole body arrived, and the body.
async fn timed_get(app: &TestApp, path: &str, token: &str) -> (Duration, Value) {
    let started = Instant::now();
    let response = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("the service answers");
    let status = response.status();
    let bytes = response.bytes().await.expect("a body");
    let elapsed = started.elapsed();
    assert!(status.is_success(), "GET {path}: {status}");
    (elapsed, serde_json::from_slice(&bytes).expect("JSON"))
}

fn micros(elapsed: Duration) -> u32 {
    u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX)
}

/// The `p` quantile of sorted microseconds, in ms.
fn percentile_ms(sorted_us: &[u32], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return f64::NAN;
    }
    let rank = ((p * sorted_us.len() as f64).ceil() as usize).clamp(1, sorted_us.len());
    f64::from(sorted_us[rank - 1]) / 1000.0
}

#[derive(diesel::QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
    line: String,
}

#[derive(diesel::QueryableByName)]
struct Position {
    #[diesel(sql_type = diesel::sql_types::Text)]
    at: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
}

/// `EXPLAIN ANALYZE` of the inbox's queries for `organization`, written as the service's
/// query builder writes them, with literal values (the service binds them).
async fn explain_queries(db: &mut AsyncPgConnection, organization: &str, me: &str) {
    const THREAD_COLUMNS: &str = "sms_threads.id, sms_threads.organization_id, sms_threads.phone, \
        sms_threads.candidate_id, sms_threads.unread_count, sms_threads.last_message_at, \
        sms_threads.last_message_preview, sms_threads.created_at, sms_threads.updated_at, \
        sms_threads.candidate_ambiguous, sms_threads.assignee_id, sms_threads.needs_reply, \
        candidates.first_name, candidates.last_name, candidates.sms_opted_out";
    let from = format!(
        "FROM sms_threads LEFT OUTER JOIN candidates ON candidates.id = sms_threads.candidate_id \
         AND candidates.organization_id = sms_threads.organization_id \
         WHERE sms_threads.organization_id = '{organization}' \
         AND sms_threads.last_message_at IS NOT NULL"
    );
    let order = format!(
        "ORDER BY sms_threads.last_message_at DESC, sms_threads.id DESC LIMIT {}",
        PAGE_SIZE + 1
    );
    let deep: Option<Position> = diesel::sql_query(format!(
        "SELECT to_char(last_message_at, 'YYYY-MM-DD HH24:MI:SS.US') AS at, id FROM sms_threads \
         WHERE organization_id = '{organization}' AND last_message_at IS NOT NULL \
         ORDER BY last_message_at DESC, id DESC OFFSET {} LIMIT 1",
        (PAGES as u32 - 1) * PAGE_SIZE - 1
    ))
    .get_result(db)
    .await
    .ok();
    let mut queries = vec![
        (
            "first page".to_owned(),
            format!("SELECT {THREAD_COLUMNS} {from} {order}"),
        ),
        (
            "unread=true".to_owned(),
            format!("SELECT {THREAD_COLUMNS} {from} AND sms_threads.unread_count > 0 {order}"),
        ),
        (
            "assignee=me".to_owned(),
            format!("SELECT {THREAD_COLUMNS} {from} AND sms_threads.assignee_id = '{me}' {order}"),
        ),
        (
            "assignee=none".to_owned(),
            format!("SELECT {THREAD_COLUMNS} {from} AND sms_threads.assignee_id IS NULL {order}"),
        ),
        (
            "needs_reply=true".to_owned(),
            format!("SELECT {THREAD_COLUMNS} {from} AND sms_threads.needs_reply {order}"),
        ),
        (
            "unread_mine (sum over the caller's unread threads)".to_owned(),
            format!(
                "SELECT SUM(sms_threads.unread_count) FROM sms_threads \
                 WHERE sms_threads.organization_id = '{organization}' \
                 AND sms_threads.assignee_id = '{me}' AND sms_threads.unread_count > 0"
            ),
        ),
        if has_table(db, "sms_unread_totals").await {
            (
                "unread_total (sms_unread_totals)".to_owned(),
                format!(
                    "SELECT sms_unread_totals.unread FROM sms_unread_totals \
                     WHERE sms_unread_totals.organization_id = '{organization}'"
                ),
            )
        } else {
            (
                "unread_total (sum over unread threads)".to_owned(),
                format!(
                    "SELECT SUM(sms_threads.unread_count) FROM sms_threads \
                     WHERE sms_threads.organization_id = '{organization}' \
                     AND sms_threads.unread_count > 0"
                ),
            )
        },
    ];
    if let Some(Position { at, id }) = deep {
        queries.insert(
            1,
            (
                format!("page {PAGES} (cursor)"),
                format!(
                    "SELECT {THREAD_COLUMNS} {from} \
                     AND sms_threads.last_message_at <= '{at}' \
                     AND (sms_threads.last_message_at, sms_threads.id) < ('{at}'::timestamp, '{id}') \
                     {order}"
                ),
            ),
        );
    }
    println!("  EXPLAIN (ANALYZE, BUFFERS) for organization A (literal values):");
    for (name, query) in queries {
        match diesel::sql_query(format!("EXPLAIN (ANALYZE, BUFFERS) {query}"))
            .load::<PlanLine>(db)
            .await
        {
            Ok(lines) => {
                println!("  -- {name}");
                for PlanLine { line } in lines {
                    println!("     {line}");
                }
            }
            Err(error) => println!("  -- {name}: {error}"),
        }
    }
}
