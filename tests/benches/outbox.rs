//! Outbox benchmark: one kanban bulk send to 10,000 candidates through a local fake
//! ClickSend.
//!
//! `NEXTAL_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p nextal-tests --bench outbox`
//!
//! The service runs as its own process (this bench binary started again with
//! `NEXTAL_BENCH_ROLE=server`, so its own peak memory can be read) on a fresh PostgreSQL
//! database with default settings, the dispatcher running as in production. The fake
//! ClickSend (`wiremock`, in this process) accepts every message. Candidates are written
//! straight into the database; then one `POST /sms/bulk` names them all, and
//! `GET /sms/batches/{id}` is polled every 50 ms until all are `sent` (each poll counts the
//! batch's messages by status, a few ms of PostgreSQL's time; polling every 10 ms took a
//! third of a core from the hand-over it measured). Prints the time to
//! accept the request, the time until every message was handed over, the provider
//! requests and the service's peak RSS, each beside its target, and, as the floor the
//! database sets, the time to write the same threads, messages and events again with
//! one SQL statement per table. `NEXTAL_*`
//! variables in the environment pass through to the service and are printed.
//! `BENCH_RUNS` repeats the send on fresh databases (default 3).

#![allow(clippy::print_stdout, reason = "a benchmark prints its figures")]

#[path = "common/candidates.rs"]
mod candidates;
#[path = "common/environment.rs"]
mod environment;
#[path = "common/measure.rs"]
mod measure;
#[path = "common/service.rs"]
mod service;

use candidates::insert_candidates;
use measure::{CpuSample, peak_rss_mib};
use service::{Service, passed_through};

use std::time::{Duration, Instant};

use chrono::Utc;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use nextal_tests::TestDatabase;
use nextal_tests::fakes::ClickSendAccepts;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

const MESSAGES: usize = 10_000;
/// Most messages ClickSend takes in one `POST /v3/sms/send`.
const MAX_SEND: usize = 1_000;
/// How often the batch's progress is read.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
const OUR_NUMBER: &str = "+61411111111";
const CAMPAIGN: &str = "Hi {{candidate.first_name}}, a role for you";

/// What one send measured.
struct Run {
    accepted: Duration,
    handed_over: Duration,
    provider_requests: usize,
    /// The service's peak RSS when it was ready, once the request was accepted, and at the end.
    ready_rss_mib: f64,
    accepted_rss_mib: f64,
    peak_rss_mib: f64,
    floor: Duration,
    /// CPU seconds of the service, of PostgreSQL and of this process (the fake ClickSend
    /// and the polling) while the request was accepted, and while the messages were
    /// handed over.
    accepting_cpu: (f64, f64, f64),
    handing_over_cpu: (f64, f64, f64),
}

fn main() {
    if service::serve_if_server() {
        return;
    }
    if environment::postgres_server_or_skip("outbox").is_none() {
        return;
    }
    let runs = environment::positive_number("BENCH_RUNS", 3);
    // One thread for the fake and the polling: the service and PostgreSQL need the cores.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let results: Vec<Run> = (0..runs).map(|_| runtime.block_on(run())).collect();

    println!(
        "outbox benchmark (postgres, {}): one POST /sms/bulk to {MESSAGES} candidates, {runs} runs",
        Utc::now().format("%Y-%m-%d")
    );
    println!(
        "  service settings: {}",
        passed_through(&["NEXTAL_CLICKSEND_BASE_URL"])
    );
    let each = |figure: &dyn Fn(&Run) -> String| {
        results.iter().map(figure).collect::<Vec<_>>().join(" / ")
    };
    let ms = |duration: Duration| format!("{:.0} ms", duration.as_secs_f64() * 1000.0);
    println!(
        "  accepted (202):            {}",
        each(&|run| ms(run.accepted))
    );
    println!(
        "  all handed over (sent):    {}",
        each(&|run| ms(run.handed_over))
    );
    println!(
        "  provider requests:         {}",
        each(&|run| run.provider_requests.to_string())
    );
    println!(
        "  peak RSS of the service:   {}",
        each(&|run| format!("{:.1} MiB", run.peak_rss_mib))
    );
    println!(
        "    of which when ready / once accepted: {}",
        each(&|run| format!("{:.1} / {:.1} MiB", run.ready_rss_mib, run.accepted_rss_mib))
    );
    let cpu = |(service, postgres, bench): (f64, f64, f64)| {
        format!("{service:.2} + {postgres:.2} + {bench:.2} s")
    };
    println!(
        "  CPU accepting, service + postgres + bench (fake ClickSend):     {}",
        each(&|run| cpu(run.accepting_cpu))
    );
    println!(
        "  CPU handing over, service + postgres + bench (fake ClickSend):  {}",
        each(&|run| cpu(run.handing_over_cpu))
    );
    println!(
        "  floor: its threads, messages and events written again, one INSERT a table: {}",
        each(&|run| ms(run.floor))
    );
    let worst = |figure: fn(&Run) -> f64| results.iter().map(figure).fold(f64::NAN, f64::max);
    let accepted = worst(|run| run.accepted.as_secs_f64());
    let handed_over = worst(|run| run.handed_over.as_secs_f64());
    let rss = worst(|run| run.peak_rss_mib);
    let requests_right = results
        .iter()
        .all(|run| run.provider_requests == MESSAGES / MAX_SEND);
    println!("  targets (worst run):");
    verdict(
        "accepted <= 0.3 s",
        &format!("{accepted:.3} s"),
        accepted <= 0.3,
    );
    verdict(
        "handed over <= 1.0 s",
        &format!("{handed_over:.3} s"),
        handed_over <= 1.0,
    );
    verdict(
        "provider requests == 10",
        &each(&|run| run.provider_requests.to_string()),
        requests_right,
    );
    verdict(
        "service peak RSS <= 120 MiB",
        &format!("{rss:.1} MiB"),
        rss <= 120.0,
    );
}

fn verdict(name: &str, figure: &str, pass: bool) {
    println!(
        "    [{}] {name:<28} {figure}",
        if pass { "PASS" } else { "MISS" }
    );
}

/// One send on a fresh database and service.
async fn run() -> Run {
    let clicksend = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v3/sms/send"))
        .respond_with(ClickSendAccepts)
        .mount(&clicksend)
        .await;
    let database = TestDatabase::create().await;
    let server = Service::start(
        database.url(),
        &[("NEXTAL_CLICKSEND_BASE_URL", clicksend.uri())],
    );
    let client = reqwest::Client::new();
    server.wait_until_ready(&client).await;
    let ready_rss_mib = peak_rss_mib(server.pid());
    let api = server.api(&client).await;
    for (path, body) in [
        (
            "/integrations/clicksend",
            json!({"active": true, "phone_number": OUR_NUMBER, "username": "bench"}),
        ),
        (
            "/integrations/clicksend/api-key",
            json!({"api_key": "bench-key-123"}),
        ),
    ] {
        api.call(reqwest::Method::PUT, path, Some(body)).await;
    }
    let organization = api.call(reqwest::Method::GET, "/organization", None).await["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let mut db = AsyncPgConnection::establish(database.url())
        .await
        .expect("the bench database");
    let ids = insert_candidates(&mut db, &organization, MESSAGES).await;
    // Done with the set-up's own maintenance now, so that autovacuum does not take it up
    // in the middle of the measured send.
    diesel::sql_query("VACUUM ANALYZE")
        .execute(&mut db)
        .await
        .expect("the set-up is vacuumed");

    let cpu_before = CpuSample::take(server.pid());
    let started = Instant::now();
    let batch = api
        .call(
            reqwest::Method::POST,
            "/sms/bulk",
            Some(json!({"candidate_ids": ids, "body": CAMPAIGN})),
        )
        .await;
    let accepted = started.elapsed();
    let cpu_accepted = CpuSample::take(server.pid());
    let accepted_rss_mib = peak_rss_mib(server.pid());
    assert_eq!(batch["accepted"], MESSAGES, "{batch}");
    let batch_path = format!(
        "/sms/batches/{}",
        batch["batch_id"].as_str().expect("an id")
    );
    let handed_over = loop {
        let progress = api.call(reqwest::Method::GET, &batch_path, None).await;
        if progress["statuses"]["sent"].as_u64() == Some(MESSAGES as u64) {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "not handed over: {progress}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    };
    let cpu_handed_over = CpuSample::take(server.pid());
    let peak_rss_mib = peak_rss_mib(server.pid());
    drop(server);
    let provider_requests = clicksend.received_requests().await.expect("recorded").len();
    let floor = floor(&mut db).await;
    Run {
        accepted,
        handed_over,
        provider_requests,
        ready_rss_mib,
        accepted_rss_mib,
        peak_rss_mib,
        floor,
        accepting_cpu: (
            cpu_accepted.service - cpu_before.service,
            cpu_accepted.postgres - cpu_before.postgres,
            cpu_accepted.driver - cpu_before.driver,
        ),
        handing_over_cpu: (
            cpu_handed_over.service - cpu_accepted.service,
            cpu_handed_over.postgres - cpu_accepted.postgres,
            cpu_handed_over.driver - cpu_accepted.driver,
        ),
    }
}

/// The time PostgreSQL takes to write and commit what the send wrote (its threads,
/// messages and their events), one `INSERT … SELECT` per table: the rows are copied
/// aside, deleted, and written back in one transaction.
async fn floor(db: &mut AsyncPgConnection) -> Duration {
    let tables = ["sms_threads", "sms_messages", "sms_message_events"];
    execute(db, "BEGIN").await;
    for table in tables {
        execute(
            db,
            &format!("CREATE TEMP TABLE copy_of_{table} ON COMMIT DROP AS SELECT * FROM {table}"),
        )
        .await;
    }
    for table in tables.iter().rev() {
        execute(db, &format!("DELETE FROM {table}")).await;
    }
    let started = Instant::now();
    for table in tables {
        execute(
            db,
            &format!("INSERT INTO {table} SELECT * FROM copy_of_{table}"),
        )
        .await;
    }
    execute(db, "COMMIT").await;
    started.elapsed()
}

async fn execute(db: &mut AsyncPgConnection, statement: &str) {
    diesel::sql_query(statement)
        .execute(db)
        .await
        .unwrap_or_else(|error| panic!("{error}: {statement}"));
}
