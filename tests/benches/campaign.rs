//! Campaign round-trip benchmark: one kanban bulk send to 10,000 candidates through a
//! fake ClickSend that keeps history, then every delivery receipt and 2,000 replies
//! pushed once each at 1,000/s, and a check that every receipt was applied and every
//! reply stored exactly once within 180 s of the first push.
//!
//! `NEXTAL_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p nextal-tests --bench campaign`
//!
//! The service runs as its own process (this bench binary started again with
//! `NEXTAL_BENCH_ROLE=server`, so its peak memory can be read) on a fresh PostgreSQL
//! database, with default settings except what an operator sets: bind address, public
//! URL, master key, bootstrap admin and the ClickSend base URL. Other `NEXTAL_*`
//! variables in the bench's environment pass through to it and are printed. No push is
//! retried, whatever its answer: a provider that gets a 429 or 503 may never push again,
//! so only the service's own reconciliation with the history can recover what it
//! refused. `BENCH_CONNECTIONS` sets the pushing connections (default 256): with every
//! connection waiting for its answer, the rate reached is at most connections / latency.
//! Exits 1 when anything was lost or stored twice.

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
use measure::{CpuSample, peak_rss_mib, percentile_ms};
use service::{Service, passed_through};

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrono::Utc;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use nextal_tests::TestDatabase;
use nextal_tests::fakes::clicksend_creates_webhook_rules;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Candidates, one message each.
const MESSAGES: usize = 10_000;
/// Candidates who reply, one reply each.
const REPLIES: usize = 2_000;
/// Pushes per second, receipts and replies together.
const PUSH_RATE: u32 = 1_000;
/// Concurrent connections the pushes go out on, unless `BENCH_CONNECTIONS` says: enough
/// that the pace, not the answer time, sets the rate (a provider pushing 1,000/s keeps as
/// many requests open as that takes).
const CONNECTIONS: usize = 256;
/// How long after the first push everything must be applied.
const DEADLINE: Duration = Duration::from_secs(180);
/// A push not answered in this time counts as a connection error (Twilio waits 15 s).
const PUSH_TIMEOUT: Duration = Duration::from_secs(15);
/// `POST /sms/bulk` takes at most this many candidate ids (`MAX_BULK_CANDIDATES` in
/// `api/src/services/messaging.rs`).
const MAX_BULK_CANDIDATES: usize = 10_000;
/// Most messages ClickSend takes in one `POST /v3/sms/send`.
const MAX_SEND: usize = 1_000;
/// Our ClickSend number.
const OUR_NUMBER: &str = "+61411111111";
const CAMPAIGN: &str = "Hi {{candidate.first_name}}, a role for you: can you talk on Tuesday?";
const REPLY: &str = "Yes, Tuesday works";
const USERNAME: &str = "bench";
/// The fake account's ids, as ClickSend puts them on every record.
const USER_ID: u32 = 41_000;
const SUBACCOUNT_ID: u32 = 41_001;
const DELIVERED_TEXT: &str = "Success: Message received on handset.";

fn main() {
    if service::serve_if_server() {
        return;
    }
    let Some(server_url) = environment::postgres_server_or_skip("campaign") else {
        return;
    };
    let connections = environment::positive_number("BENCH_CONNECTIONS", CONNECTIONS);
    // Two threads carry the pushes and the fake; the service and PostgreSQL need the
    // cores more.
    let passed = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(run(&server_url, connections));
    if !passed {
        std::process::exit(1);
    }
}

/// Runs the round trip and prints its figures; true when nothing was lost or doubled.
async fn run(server_url: &str, connections: usize) -> bool {
    let fake = FakeClickSend::default();
    let clicksend = fake.start().await;
    let database = TestDatabase::create().await;
    let server = Service::start(
        database.url(),
        &[("NEXTAL_CLICKSEND_BASE_URL", clicksend.uri())],
    );
    let client = reqwest::Client::new();
    server.wait_until_ready(&client).await;
    let api = server.api(&client).await;

    // What an operator does: settings, key, verify, register the webhooks.
    api.call(
        reqwest::Method::PUT,
        "/integrations/clicksend",
        Some(json!({"active": true, "phone_number": OUR_NUMBER, "username": USERNAME})),
    )
    .await;
    api.call(
        reqwest::Method::PUT,
        "/integrations/clicksend/api-key",
        Some(json!({"api_key": "bench-key-123"})),
    )
    .await;
    api.call(
        reqwest::Method::POST,
        "/integrations/clicksend/verify",
        None,
    )
    .await;
    api.call(
        reqwest::Method::POST,
        "/integrations/clicksend/register-webhooks",
        None,
    )
    .await;
    let card = api
        .call(reqwest::Method::GET, "/integrations/clicksend", None)
        .await;
    let receipt_url = card["webhooks"]["delivery_receipt_url"]
        .as_str()
        .expect("a receipt URL")
        .to_owned();
    let inbound_url = card["webhooks"]["inbound_url"]
        .as_str()
        .expect("an inbound URL")
        .to_owned();
    let organization = api.call(reqwest::Method::GET, "/organization", None).await["id"]
        .as_str()
        .expect("an organization id")
        .to_owned();

    // Candidates straight into the database, as the other benches do: the API's bulk
    // path is not what is measured here.
    let mut db = AsyncPgConnection::establish(database.url())
        .await
        .expect("the bench database");
    let candidate_ids = insert_candidates(&mut db, &organization, MESSAGES).await;

    // The campaign, in as few requests as the API allows.
    let started = Instant::now();
    let mut bulk_requests = 0;
    for chunk in candidate_ids.chunks(MAX_BULK_CANDIDATES) {
        let batch = api
            .call(
                reqwest::Method::POST,
                "/sms/bulk",
                Some(json!({"candidate_ids": chunk, "body": CAMPAIGN})),
            )
            .await;
        assert_eq!(
            batch["accepted"].as_u64(),
            u64::try_from(chunk.len()).ok(),
            "every candidate accepted: {batch}"
        );
        bulk_requests += 1;
    }
    let accepted_after = started.elapsed();
    while fake.account().sends < MESSAGES {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "ClickSend got {} of {MESSAGES} sends",
            fake.account().sends
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let at_provider_after = started.elapsed();
    // The receipts name messages the service has recorded as handed over; waiting for
    // that keeps a race with the dispatcher's own commit out of the figures.
    loop {
        let sent = count(
            &mut db,
            "SELECT count(*) AS n FROM sms_messages WHERE direction = 'outbound' AND status = 'sent'",
        )
        .await;
        if sent >= MESSAGES as i64 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "{sent} of {MESSAGES} messages recorded as sent"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let handed_over_after = started.elapsed();

    // The pushes, once each, paced at PUSH_RATE over `connections` connections.
    let plan = Arc::new(Plan::new(&fake, receipt_url, inbound_url, connections));
    let cpu_from = CpuSample::take(server.pid());
    let first_push = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let plan = plan.clone();
            tokio::spawn(async move { plan.push_until_done(first_push).await })
        })
        .collect();
    let mut tally = Tally::default();
    for worker in workers {
        tally.merge(worker.await.expect("the push task ends"));
    }
    let pushing_took = first_push.elapsed();
    let cpu_to = CpuSample::take(server.pid());
    let pushed_until = unix_now();

    // Then what the database holds, until everything is there or the deadline passes.
    let mut state;
    let mut all_applied_after = None;
    loop {
        state = Stored::read(&mut db).await;
        if state.delivered >= MESSAGES as i64 && state.replies >= REPLIES as i64 {
            all_applied_after = Some(first_push.elapsed());
            break;
        }
        if first_push.elapsed() >= DEADLINE {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // "Stored once" must also hold once reconciliation has read the replies back from
    // the history: wait for a complete read that started after the last push.
    let mut read_back_after = None;
    while all_applied_after.is_some() && first_push.elapsed() < DEADLINE {
        if fake.account().read_through > pushed_until {
            read_back_after = Some(first_push.elapsed());
            // The last page is applied after it is served.
            tokio::time::sleep(Duration::from_secs(2)).await;
            state = Stored::read(&mut db).await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let peak_rss = peak_rss_mib(server.pid());
    let sends = fake.account().sends;
    drop(server);
    drop(db);
    drop(database);

    tally.latencies_us.sort_unstable();
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let lost = state.delivered < MESSAGES as i64 || state.replies < REPLIES as i64;
    let doubled = state.duplicates > 0 || sends != MESSAGES;
    println!(
        "campaign benchmark (postgres at {}, {}): {MESSAGES} messages, every receipt and \
         {REPLIES} replies pushed once at {PUSH_RATE}/s over {connections} connections",
        redact(server_url),
        Utc::now().format("%Y-%m-%d"),
    );
    println!(
        "  service settings:             {}",
        passed_through(&["NEXTAL_CLICKSEND_BASE_URL"])
    );
    println!(
        "  campaign:                     {bulk_requests} POST /sms/bulk, accepted in {:.1} s, \
         all {sends} at ClickSend after {:.1} s, all sent after {:.1} s",
        accepted_after.as_secs_f64(),
        at_provider_after.as_secs_f64(),
        handed_over_after.as_secs_f64(),
    );
    println!(
        "  pushes:                       {} in {:.1} s ({:.0}/s)",
        tally.latencies_us.len(),
        pushing_took.as_secs_f64(),
        tally.latencies_us.len() as f64 / pushing_took.as_secs_f64(),
    );
    let window = cpu_to.at.duration_since(cpu_from.at).as_secs_f64();
    println!(
        "  CPU while pushing:            service {:.1} s, bench (driver and fake) {:.1} s, \
         all postgres processes {:.1} s (of {:.1} s: {cores} cores × {window:.1} s)",
        cpu_to.service - cpu_from.service,
        cpu_to.driver - cpu_from.driver,
        cpu_to.postgres - cpu_from.postgres,
        window * cores as f64,
    );
    println!(
        "  push answers:                 {}",
        tally.describe_statuses()
    );
    println!(
        "  outcomes of the 200s:         {}",
        tally.describe_outcomes()
    );
    println!(
        "  push latency p50 / p99:       {:.1} / {:.1} ms",
        percentile_ms(&tally.latencies_us, 0.50),
        percentile_ms(&tally.latencies_us, 0.99),
    );
    println!("  peak RSS of the service:      {peak_rss:.1} MiB");
    println!(
        "  receipts applied:             {} / {MESSAGES} delivered",
        state.delivered
    );
    println!(
        "  replies stored:               {} / {REPLIES} ({} inbound rows)",
        state.replies, state.inbound_rows
    );
    println!(
        "  duplicates:                   {} inbound rows beyond one per provider id; {} sends for {MESSAGES} messages",
        state.duplicates, sends
    );
    println!(
        "  time to all applied:          {}",
        all_applied_after.map_or_else(
            || format!("not within {} s of the first push", DEADLINE.as_secs()),
            |after| format!("{:.1} s after the first push", after.as_secs_f64()),
        )
    );
    println!(
        "  history read back:            {}",
        read_back_after.map_or_else(
            || "no complete read after the pushes was seen; duplicates counted without one"
                .to_owned(),
            |after| format!(
                "completely, {:.1} s after the first push; duplicates counted 2 s later",
                after.as_secs_f64()
            ),
        )
    );
    println!(
        "  verdict:                      {}",
        match (lost, doubled) {
            (false, false) => "PASS: nothing lost, nothing doubled",
            (true, false) => "FAIL: lost",
            (false, true) => "FAIL: doubled",
            (true, true) => "FAIL: lost and doubled",
        }
    );
    !lost && !doubled
}

/// Stores the candidates in one statement and returns their ids.
async fn count(db: &mut AsyncPgConnection, sql: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let row: Count = diesel::sql_query(sql)
        .get_result(db)
        .await
        .expect("the count runs");
    row.n
}

/// What the database holds of the round trip.
#[derive(diesel::QueryableByName)]
struct Stored {
    /// Outbound messages `delivered`.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    delivered: i64,
    /// Distinct provider ids among inbound messages (compared upper-case: ClickSend's
    /// ids are upper-case UUIDs and a lower-cased copy is the same reply).
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    replies: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    inbound_rows: i64,
    /// Inbound rows beyond the first for each provider id.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    duplicates: i64,
}

impl Stored {
    async fn read(db: &mut AsyncPgConnection) -> Self {
        diesel::sql_query(
            "SELECT
               (SELECT count(*) FROM sms_messages
                WHERE direction = 'outbound' AND status = 'delivered') AS delivered,
               (SELECT count(DISTINCT upper(provider_message_id)) FROM sms_messages
                WHERE direction = 'inbound') AS replies,
               (SELECT count(*) FROM sms_messages WHERE direction = 'inbound') AS inbound_rows,
               (SELECT count(*) - count(DISTINCT upper(provider_message_id)) FROM sms_messages
                WHERE direction = 'inbound') AS duplicates",
        )
        .get_result(db)
        .await
        .expect("the counts run")
    }
}

/// One message in the fake account's history.
struct Record {
    inbound: bool,
    /// Unix seconds: sent (outbound) or received (inbound).
    date: i64,
    from: String,
    to: String,
    body: String,
    /// Upper-case UUID.
    message_id: String,
    custom_string: String,
    /// When the handset confirmed an outbound message.
    delivered_at: Option<i64>,
}

impl Record {
    /// The record as `GET /v3/sms/history` lists it.
    fn history_item(&self) -> Value {
        let (status, status_code, status_text) = match (self.inbound, self.delivered_at) {
            (true, _) => ("Received", Value::Null, Value::Null),
            (false, None) => ("Sent", json!("200"), json!("Sent")),
            (false, Some(_)) => ("Sent", json!("201"), json!(DELIVERED_TEXT)),
        };
        json!({
            "direction": if self.inbound { "in" } else { "out" },
            "date": self.date, "to": self.to, "body": self.body, "status": status,
            "from": self.from, "schedule": "", "status_code": status_code,
            "status_text": status_text, "error_code": null, "error_text": null,
            "message_id": self.message_id, "message_parts": 1, "message_price": "0.0700",
            "from_email": null, "list_id": null, "custom_string": self.custom_string,
            "contact_id": null, "user_id": USER_ID, "subaccount_id": SUBACCOUNT_ID,
            "country": "AU", "carrier": "Telstra", "first_name": null, "last_name": null,
            "_api_username": USERNAME,
        })
    }

    /// The delivery receipt of an outbound record delivered at `at`, as
    /// `GET /v3/sms/receipts/{message_id}` gives it.
    fn receipt(&self, at: i64) -> Value {
        json!({
            "timestamp_send": self.date, "timestamp": at, "message_id": self.message_id,
            "status_code": "201", "status_text": DELIVERED_TEXT, "error_code": null,
            "error_text": null, "custom_string": self.custom_string,
            "subaccount_id": SUBACCOUNT_ID, "message_type": "sms",
        })
    }
}

/// The fake account: every message sent and received, as ClickSend keeps them.
#[derive(Default)]
struct Account {
    /// In the order ClickSend dated them.
    history: Vec<Record>,
    /// Position in `history` by message id.
    by_id: HashMap<String, usize>,
    /// Messages `POST /v3/sms/send` took, repeats included.
    sends: usize,
    /// When the history read now under way began (its first page), Unix seconds.
    read_started: i64,
    /// When the latest history read that reached its last page began.
    read_through: i64,
}

impl Account {
    fn record(&mut self, record: Record) {
        self.by_id
            .insert(record.message_id.clone(), self.history.len());
        self.history.push(record);
    }
}

/// A fake ClickSend that keeps history, shared by its wiremock responders.
#[derive(Clone, Default)]
struct FakeClickSend(Arc<Mutex<Account>>);

impl FakeClickSend {
    fn account(&self) -> MutexGuard<'_, Account> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn start(&self) -> MockServer {
        // Nothing reads wiremock's own log, and it would keep every history page.
        let server = MockServer::builder()
            .disable_request_recording()
            .start()
            .await;
        Mock::given(method("GET"))
            .and(path("/v3/account"))
            .respond_with(ResponseTemplate::new(200).set_body_json(envelope(
                200,
                "SUCCESS",
                "Here's your account",
                json!({"user_id": USER_ID, "username": USERNAME, "account_name": "Bench",
                       "balance": "1000.000000", "_currency": {"currency_name_short": "AUD"}}),
            )))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/v3/sms/send"))
            .respond_with(SendSms(self.clone()))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/v3/sms/history"))
            .respond_with(HistoryPages(self.clone()))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path_regex("^/v3/sms/receipts/[^/]+$"))
            .respond_with(ReceiptLookup(self.clone()))
            .mount(&server)
            .await;
        clicksend_creates_webhook_rules(&server).await;
        server
    }
}

fn envelope(http_code: u16, code: &str, message: &str, data: Value) -> Value {
    json!({"http_code": http_code, "response_code": code, "response_msg": message, "data": data})
}

fn refusal(http_code: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(http_code).set_body_json(envelope(http_code, code, message, Value::Null))
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        })
}

/// `POST /v3/sms/send`: SUCCESS for every message, each recorded.
struct SendSms(FakeClickSend);

impl Respond for SendSms {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let Some(messages) = body["messages"].as_array() else {
            return refusal(400, "BAD_REQUEST", "Invalid input.");
        };
        if messages.len() > MAX_SEND {
            return refusal(400, "TOO_MANY_RECIPIENTS", "Too many recipients.");
        }
        let date = unix_now();
        let text =
            |message: &Value, key: &str| message[key].as_str().unwrap_or_default().to_owned();
        let mut account = self.0.account();
        account.sends += messages.len();
        let mut answers = Vec::with_capacity(messages.len());
        for message in messages {
            let record = Record {
                inbound: false,
                date,
                from: text(message, "from"),
                to: text(message, "to"),
                body: text(message, "body"),
                message_id: uuid::Uuid::new_v4().hyphenated().to_string().to_uppercase(),
                custom_string: text(message, "custom_string"),
                delivered_at: None,
            };
            answers.push(json!({
                "direction": "out", "date": date, "to": record.to, "body": record.body,
                "from": record.from, "schedule": 0, "message_id": record.message_id,
                "message_parts": 1, "message_price": "0.0700", "from_email": null,
                "list_id": null, "custom_string": record.custom_string, "contact_id": null,
                "user_id": USER_ID, "subaccount_id": SUBACCOUNT_ID,
                "is_shared_system_number": false, "country": "AU", "carrier": "Telstra",
                "status": "SUCCESS",
            }));
            account.record(record);
        }
        let count = answers.len();
        ResponseTemplate::new(200).set_body_json(envelope(
            200,
            "SUCCESS",
            "Messages queued for delivery.",
            json!({"total_price": 0.07 * count as f64, "total_count": count,
                   "queued_count": count, "blocked_count": 0, "messages": answers,
                   "_currency": {"currency_name_short": "AUD", "currency_prefix_d": "$"}}),
        ))
    }
}

/// `GET /v3/sms/history`: both directions, `date_from`/`date_to` inclusive, oldest
/// first, in pages of `limit` (15 to 100, default 15). Notes when the latest read that
/// reached its last page began, for the bench to know the replies were read back.
struct HistoryPages(FakeClickSend);

impl Respond for HistoryPages {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let query: HashMap<String, String> = request.url.query_pairs().into_owned().collect();
        // Filters this fake does not implement would silently answer too much.
        if query.contains_key("q") || query.contains_key("order_by") {
            return refusal(
                400,
                "BAD_REQUEST",
                "The fake ClickSend filters by date only.",
            );
        }
        let number = |key: &str| query.get(key).and_then(|value| value.parse::<i64>().ok());
        let page = number("page").unwrap_or(1).max(1);
        let limit = number("limit").unwrap_or(15).clamp(15, 100);
        let (from, to) = (
            number("date_from").unwrap_or(i64::MIN),
            number("date_to").unwrap_or(i64::MAX),
        );
        let mut account = self.0.account();
        if page == 1 {
            account.read_started = unix_now();
        }
        let matching: Vec<&Record> = account
            .history
            .iter()
            .filter(|record| (from..=to).contains(&record.date))
            .collect();
        let total = i64::try_from(matching.len()).unwrap_or(i64::MAX);
        let last_page = ((total + limit - 1) / limit).max(1);
        let skip = usize::try_from((page - 1) * limit).unwrap_or(usize::MAX);
        let items: Vec<Value> = matching
            .iter()
            .skip(skip)
            .take(usize::try_from(limit).unwrap_or(100))
            .map(|record| record.history_item())
            .collect();
        if page >= last_page {
            account.read_through = account.read_through.max(account.read_started);
        }
        let page_url = |n: i64| {
            let mut url = request.url.clone();
            let others: Vec<(String, String)> = query
                .iter()
                .filter(|(key, _)| key.as_str() != "page")
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect();
            url.query_pairs_mut()
                .clear()
                .extend_pairs(others)
                .append_pair("page", &n.to_string());
            url.to_string()
        };
        let first = (page - 1) * limit + 1;
        let shown = i64::try_from(items.len()).unwrap_or(0);
        ResponseTemplate::new(200).set_body_json(envelope(
            200,
            "SUCCESS",
            "Here are your data.",
            json!({
                "total": total, "per_page": limit, "current_page": page, "last_page": last_page,
                "next_page_url": (page < last_page).then(|| page_url(page + 1)),
                "prev_page_url": (page > 1).then(|| page_url(page - 1)),
                "from": (shown > 0).then_some(first),
                "to": (shown > 0).then_some(first + shown - 1),
                "data": items,
            }),
        ))
    }
}

/// `GET /v3/sms/receipts/{message_id}`: the receipt of a delivered outbound message,
/// 404 for anything else.
struct ReceiptLookup(FakeClickSend);

impl Respond for ReceiptLookup {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let id = request
            .url
            .path()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_uppercase();
        let account = self.0.account();
        let receipt = account
            .by_id
            .get(&id)
            .map(|&at| &account.history[at])
            .filter(|record| !record.inbound)
            .and_then(|record| record.delivered_at.map(|at| record.receipt(at)));
        match receipt {
            Some(receipt) => ResponseTemplate::new(200).set_body_json(envelope(
                200,
                "SUCCESS",
                "Here is your receipt.",
                receipt,
            )),
            None => refusal(404, "NOT_FOUND", "Receipt record not found."),
        }
    }
}

/// One push: the receipt of outbound message `n`, or reply `n`.
#[derive(Clone, Copy)]
enum Push {
    Receipt(usize),
    Reply(usize),
}

/// Every push, in order, and where they go.
struct Plan {
    fake: FakeClickSend,
    /// The outbound messages' ids, in the order ClickSend took them.
    outbound: Vec<String>,
    pushes: Vec<Push>,
    next: AtomicUsize,
    receipt_url: String,
    inbound_url: String,
    client: reqwest::Client,
}

impl Plan {
    fn new(
        fake: &FakeClickSend,
        receipt_url: String,
        inbound_url: String,
        connections: usize,
    ) -> Self {
        let outbound: Vec<String> = fake
            .account()
            .history
            .iter()
            .filter(|record| !record.inbound)
            .map(|record| record.message_id.clone())
            .collect();
        assert_eq!(outbound.len(), MESSAGES, "one send per candidate");
        // A reply after every fifth receipt: 10,000 receipts and 2,000 replies mixed.
        let every = MESSAGES / REPLIES;
        let mut pushes = Vec::with_capacity(MESSAGES + REPLIES);
        for n in 0..MESSAGES {
            pushes.push(Push::Receipt(n));
            if n % every == every - 1 {
                pushes.push(Push::Reply(n / every));
            }
        }
        Self {
            fake: fake.clone(),
            outbound,
            pushes,
            next: AtomicUsize::new(0),
            receipt_url,
            inbound_url,
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(connections)
                .timeout(PUSH_TIMEOUT)
                .build()
                .expect("a client"),
        }
    }

    /// Takes the next push due, waits for its time, makes it; until none is left.
    async fn push_until_done(&self, first: Instant) -> Tally {
        let mut tally = Tally::default();
        loop {
            let n = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(&push) = self.pushes.get(n) else {
                return tally;
            };
            let due =
                first + Duration::from_secs(1) * u32::try_from(n).unwrap_or(u32::MAX) / PUSH_RATE;
            tokio::time::sleep_until(due.into()).await;
            let request = self.prepare(push);
            let started = Instant::now();
            let answer = match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let body = response.bytes().await.unwrap_or_default();
                    let outcome = (status == 200)
                        .then(|| serde_json::from_slice::<Value>(&body).ok())
                        .flatten()
                        .and_then(|body| body["outcome"].as_str().map(str::to_owned));
                    Some((status, outcome))
                }
                Err(_) => None,
            };
            tally.record(started.elapsed(), answer);
        }
    }

    /// Makes the account hold what the push reports (the provider has the receipt or
    /// the reply whatever becomes of its push) and builds the request.
    fn prepare(&self, push: Push) -> reqwest::RequestBuilder {
        let now = unix_now();
        let mut account = self.fake.account();
        match push {
            Push::Receipt(n) => {
                let at = account.by_id[&self.outbound[n]];
                let record = &mut account.history[at];
                record.delivered_at = Some(now);
                // ClickSend's receipt push: a form, numbers as text.
                let form = [
                    ("timestamp_send", record.date.to_string()),
                    ("timestamp", now.to_string()),
                    ("message_id", record.message_id.clone()),
                    ("status_code", "201".to_owned()),
                    ("status_text", DELIVERED_TEXT.to_owned()),
                    ("error_code", String::new()),
                    ("error_text", String::new()),
                    ("custom_string", record.custom_string.clone()),
                    ("user_id", USER_ID.to_string()),
                    ("subaccount_id", SUBACCOUNT_ID.to_string()),
                    ("message_type", "sms".to_owned()),
                    ("status", "Delivered".to_owned()),
                ];
                self.client.post(&self.receipt_url).form(&form)
            }
            Push::Reply(n) => {
                // Reply n answers the message of every fifth candidate.
                let original =
                    &account.history[account.by_id[&self.outbound[n * (MESSAGES / REPLIES)]]];
                let reply = Record {
                    inbound: true,
                    date: now,
                    from: original.to.clone(),
                    to: OUR_NUMBER.to_owned(),
                    body: REPLY.to_owned(),
                    message_id: uuid::Uuid::new_v4().hyphenated().to_string().to_uppercase(),
                    custom_string: String::new(),
                    delivered_at: None,
                };
                // The `json` inbound rule's push, in the shape of ClickSend's n8n sample.
                let body = json!({
                    "originalsenderid": OUR_NUMBER, "body": REPLY, "message": REPLY,
                    "sms": reply.from, "from": reply.from, "to": OUR_NUMBER, "timestamp": now,
                    "message_id": reply.message_id,
                    "original_message_id": original.message_id,
                    "original_body": original.body, "user_id": USER_ID,
                    "subaccount_id": SUBACCOUNT_ID, "custom_string": "",
                });
                account.record(reply);
                self.client.post(&self.inbound_url).json(&body)
            }
        }
    }
}

/// What one connection's pushes got.
#[derive(Default)]
struct Tally {
    /// Latency (µs) of every push, answered or not.
    latencies_us: Vec<u32>,
    /// Answers by HTTP status; 0 for a connection error or timeout.
    statuses: BTreeMap<u16, usize>,
    /// The `outcome` of each 200 answer.
    outcomes: BTreeMap<String, usize>,
}

impl Tally {
    fn record(&mut self, elapsed: Duration, answer: Option<(u16, Option<String>)>) {
        self.latencies_us
            .push(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX));
        let (status, outcome) = answer.unwrap_or((0, None));
        *self.statuses.entry(status).or_default() += 1;
        if status == 200 {
            *self
                .outcomes
                .entry(outcome.unwrap_or_else(|| "(none)".to_owned()))
                .or_default() += 1;
        }
    }

    fn merge(&mut self, other: Tally) {
        self.latencies_us.extend(other.latencies_us);
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        for (outcome, n) in other.outcomes {
            *self.outcomes.entry(outcome).or_default() += n;
        }
    }

    /// 200 / 429 / 503 / other / connection errors.
    fn describe_statuses(&self) -> String {
        let of = |status: u16| self.statuses.get(&status).copied().unwrap_or(0);
        let others: Vec<String> = self
            .statuses
            .iter()
            .filter(|&(status, _)| ![0, 200, 429, 503].contains(status))
            .map(|(status, n)| format!("{n}× {status}"))
            .collect();
        format!(
            "200: {}, 429: {}, 503: {}, other: {}, connection error or timeout: {}",
            of(200),
            of(429),
            of(503),
            if others.is_empty() {
                "0".to_owned()
            } else {
                others.join(", ")
            },
            of(0)
        )
    }

    fn describe_outcomes(&self) -> String {
        if self.outcomes.is_empty() {
            return "none".to_owned();
        }
        self.outcomes
            .iter()
            .map(|(outcome, n)| format!("{outcome} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The URL without its password, if any.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if url[scheme + 3..at].contains(':') => {
            let user_end = scheme + 3 + url[scheme + 3..at].find(':').unwrap_or(0);
            format!("{}:***{}", &url[..user_end], &url[at..])
        }
        _ => url.to_owned(),
    }
}
