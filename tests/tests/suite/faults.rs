//! Provider faults, in process: ClickSend down for minutes of simulated time (503s,
//! dropped connections, answers lost after it accepted), and ClickSend taking 30 s to
//! answer while the API and the webhooks keep serving. The process-level faults (a
//! SIGKILL, PostgreSQL restarted, two replicas) are in `tests/faults.rs`, run by
//! `.ci/faults`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use nextal_api::dispatcher::{DispatchReport, Dispatcher};
use nextal_tests::{AppOptions, NewCandidate, TestApp, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use crate::messaging::{activate_clicksend, message, phone, send_one};

/// What the fake ClickSend does with `POST /v3/sms/send`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sends {
    /// Accepts every message.
    Accept,
    /// 503 without accepting anything.
    Refuse,
    /// Accepts every message (it shows in the history) but answers 503: the answer
    /// is lost on the way back.
    AcceptThenFail,
}

/// One send request that reached the fake.
#[derive(Debug, Clone)]
struct SendRequest {
    /// Our message ids (`custom_string`), in the request's order.
    references: Vec<String>,
    /// Whether the fake accepted its messages.
    accepted: bool,
}

struct FakeState {
    sends: Sends,
    history_up: bool,
    delay: Duration,
    requests: Vec<SendRequest>,
    /// (our id, ClickSend's id, recipient) of every accepted message, in order.
    accepted: Vec<(String, String, String)>,
    history_lookups: usize,
}

/// A ClickSend whose sends and history can fail, and whose history always holds
/// exactly what it accepted.
#[derive(Clone)]
struct FakeClickSend(Arc<Mutex<FakeState>>);

impl FakeClickSend {
    async fn mount(server: &wiremock::MockServer) -> Self {
        let fake = FakeClickSend(Arc::new(Mutex::new(FakeState {
            sends: Sends::Accept,
            history_up: true,
            delay: Duration::ZERO,
            requests: Vec::new(),
            accepted: Vec::new(),
            history_lookups: 0,
        })));
        Mock::given(method("POST"))
            .and(path("/v3/sms/send"))
            .respond_with(SendResponder(fake.clone()))
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path("/v3/sms/history"))
            .respond_with(HistoryResponder(fake.clone()))
            .mount(server)
            .await;
        fake
    }

    fn state(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.0.lock().unwrap()
    }

    fn set(&self, sends: Sends, history_up: bool) {
        let mut state = self.state();
        state.sends = sends;
        state.history_up = history_up;
    }

    fn requests(&self) -> Vec<SendRequest> {
        self.state().requests.clone()
    }

    /// How many times ClickSend accepted each of our message ids.
    fn acceptances(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for (reference, _, _) in &self.state().accepted {
            *counts.entry(reference.clone()).or_default() += 1;
        }
        counts
    }
}

fn unavailable() -> ResponseTemplate {
    ResponseTemplate::new(503).set_body_json(
        json!({"http_code": 503, "response_code": "SERVICE_UNAVAILABLE", "response_msg": "down"}),
    )
}

struct SendResponder(FakeClickSend);

impl Respond for SendResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let messages = body["messages"].as_array().cloned().unwrap_or_default();
        let mut state = self.0.state();
        let accepting = state.sends != Sends::Refuse;
        state.requests.push(SendRequest {
            references: messages
                .iter()
                .map(|m| m["custom_string"].as_str().unwrap_or_default().to_owned())
                .collect(),
            accepted: accepting,
        });
        if !accepting {
            return unavailable();
        }
        let mut answers = Vec::new();
        for m in &messages {
            let reference = m["custom_string"].as_str().unwrap_or_default().to_owned();
            let id = format!("CS-{}-{}", state.accepted.len(), reference);
            let to = m["to"].as_str().unwrap_or_default().to_owned();
            state.accepted.push((reference.clone(), id.clone(), to));
            answers.push(
                json!({"to": m["to"], "body": m["body"], "status": "SUCCESS",
                "custom_string": reference, "message_id": id,
                "message_parts": 1, "message_price": "0.0700"}),
            );
        }
        if state.sends == Sends::AcceptThenFail {
            return unavailable();
        }
        ResponseTemplate::new(200)
            .set_body_json(json!({
                "http_code": 200, "response_code": "SUCCESS", "response_msg": "Messages queued for delivery.",
                "data": {"total_count": answers.len(), "queued_count": answers.len(), "messages": answers}
            }))
            .set_delay(state.delay)
    }
}

struct HistoryResponder(FakeClickSend);

impl Respond for HistoryResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.0.state();
        state.history_lookups += 1;
        if !state.history_up {
            return unavailable();
        }
        let page: usize = request
            .url
            .query_pairs()
            .find(|(key, _)| key == "page")
            .and_then(|(_, value)| value.parse().ok())
            .unwrap_or(1)
            .max(1);
        let per_page = 100;
        let last_page = state.accepted.len().div_ceil(per_page).max(1);
        let data: Vec<Value> = state
            .accepted
            .iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .map(|(reference, id, to)| {
                json!({"direction": "out", "message_id": id, "custom_string": reference,
                       "status": "Sent", "to": to})
            })
            .collect();
        ResponseTemplate::new(200).set_body_json(json!({"http_code": 200, "response_code": "SUCCESS",
            "data": {"total": state.accepted.len(), "current_page": page, "last_page": last_page, "data": data}}))
    }
}

/// A TCP proxy in front of the fake: while down it drops every connection, new and
/// open, so the service sees connection failures rather than HTTP answers.
struct Proxy {
    url: String,
    up: watch::Sender<bool>,
    dropped: Arc<AtomicUsize>,
}

impl Proxy {
    async fn start(upstream: std::net::SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (up, watching) = watch::channel(true);
        let dropped = Arc::new(AtomicUsize::new(0));
        let counter = dropped.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut up = watching.clone();
                if !*up.borrow() {
                    counter.fetch_add(1, Ordering::SeqCst);
                    continue; // dropping the socket closes it
                }
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = up.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Proxy { url, up, dropped }
    }

    fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }
}

/// The ClickSend inbound webhook's path.
async fn inbound_path(app: &TestApp, admin: &str) -> String {
    let card: Value = app
        .get("/integrations/clicksend", Some(admin))
        .await
        .json()
        .await
        .unwrap();
    let url = card["webhooks"]["inbound_url"].as_str().unwrap();
    url.strip_prefix(app.settings.public_url.trim_end_matches('/'))
        .unwrap()
        .to_owned()
}

/// Rounds of `dispatcher` at `now` until one claims and settles nothing.
async fn drain(dispatcher: &Dispatcher, now: DateTime<Utc>) -> DispatchReport {
    let mut total = DispatchReport::default();
    loop {
        let round = dispatcher.run_once(now).await.unwrap();
        total.claimed += round.claimed;
        total.sent += round.sent;
        total.failed += round.failed;
        total.retried += round.retried;
        total.in_doubt += round.in_doubt;
        total.settled += round.settled;
        total.cancelled += round.cancelled;
        total.provider_requests += round.provider_requests;
        if round.claimed == 0 && round.settled == 0 {
            return total;
        }
    }
}

/// A stretch of the outage: from `from` minutes on, until the next one.
struct Phase {
    from: i64,
    name: &'static str,
    sends: Sends,
    history_up: bool,
    connections_up: bool,
    /// Candidates (by index) who get a new message when the phase starts.
    new_messages: &'static [usize],
}

const PHASES: [Phase; 6] = [
    Phase {
        from: 0,
        name: "503 for everything",
        sends: Sends::Refuse,
        history_up: false,
        connections_up: true,
        new_messages: &[0, 1, 2, 0, 1, 2, 0, 1, 2],
    },
    Phase {
        from: 4,
        name: "connections dropped",
        sends: Sends::Refuse,
        history_up: false,
        connections_up: false,
        new_messages: &[3, 0],
    },
    Phase {
        from: 8,
        name: "sends 503, history readable",
        sends: Sends::Refuse,
        history_up: true,
        connections_up: true,
        new_messages: &[4, 1],
    },
    Phase {
        from: 11,
        name: "accepted but the answer is lost (503), history 503",
        sends: Sends::AcceptThenFail,
        history_up: false,
        connections_up: true,
        new_messages: &[5, 6, 2],
    },
    Phase {
        from: 13,
        name: "sends 503, history readable",
        sends: Sends::Refuse,
        history_up: true,
        connections_up: true,
        new_messages: &[7, 3],
    },
    Phase {
        from: 16,
        name: "back",
        sends: Sends::Accept,
        history_up: true,
        connections_up: true,
        new_messages: &[],
    },
];

#[tokio::test]
async fn a_provider_down_for_minutes_then_back_sends_every_message_once_in_thread_order() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    activate_clicksend(&app, &admin).await;
    let fake = FakeClickSend::mount(&app.clicksend).await;
    let proxy = Proxy::start(*app.clicksend.address()).await;
    // A second instance of the service on the same database whose ClickSend is behind
    // the proxy; its dispatcher does the sending.
    let mut settings = app.settings.clone();
    settings.clicksend_base_url = proxy.url.clone();
    let replica = nextal_api::Application::build(&settings).await.unwrap();
    let dispatcher = replica.dispatcher();
    let organization = app.organization_id(&admin).await;
    let candidates = app
        .insert_candidates(
            &organization,
            (0..8)
                .map(|n| NewCandidate::new(&format!("C{n}"), &phone(n)))
                .collect(),
        )
        .await;

    // thread id → our message ids in creation order
    let mut threads: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut created = Vec::new();
    let start = Utc::now();
    let mut now = start;
    let mut phase = usize::MAX;
    let mut rounds = 0;
    loop {
        let minute = (now - start).num_minutes();
        let current = PHASES.iter().rposition(|p| p.from <= minute).unwrap();
        if current != phase {
            phase = current;
            let p = &PHASES[phase];
            fake.set(p.sends, p.history_up);
            proxy.set_up(p.connections_up);
            for (n, &candidate) in p.new_messages.iter().enumerate() {
                let text = format!("{} #{n} (minute {minute})", p.name);
                let queued = send_one(&app, &admin, &candidates[candidate], &text).await;
                let id = queued["id"].as_str().unwrap().to_owned();
                threads
                    .entry(queued["thread_id"].as_str().unwrap().to_owned())
                    .or_default()
                    .push(id.clone());
                created.push(id);
            }
        }
        drain(&dispatcher, now).await;
        rounds += 1;
        let back = minute >= PHASES[PHASES.len() - 1].from;
        let pending = app
            .count(
                "SELECT COUNT(*) AS n FROM sms_messages \
                 WHERE status IN ('queued', 'scheduled', 'sending')",
            )
            .await;
        if back && pending == 0 {
            break;
        }
        assert!(
            now - start < TimeDelta::hours(3),
            "{pending} messages still pending 3 simulated hours after the outage began"
        );
        now += TimeDelta::seconds(30);
    }
    let recovered_after = now - start;

    // Every message is `sent`, accepted by ClickSend exactly once, and never asked for
    // again after it was accepted.
    let acceptances = fake.acceptances();
    let requests = fake.requests();
    for id in &created {
        let sent = message(&app, &admin, id).await;
        assert_eq!(sent["status"], "sent", "{sent}");
        assert_eq!(acceptances.get(id), Some(&1), "{id} accepted once");
        let last_request = requests
            .iter()
            .rposition(|r| r.references.contains(id))
            .unwrap();
        assert!(
            requests[last_request].accepted,
            "{id} was sent again after ClickSend had accepted it"
        );
        assert!(
            sent["provider_message_id"]
                .as_str()
                .unwrap()
                .ends_with(id.as_str())
        );
    }
    assert_eq!(acceptances.len(), created.len());
    // Per thread, the provider saw the messages in creation order: each retry of a
    // message comes before the first request for the next one.
    let thread_of: HashMap<&String, &String> = threads
        .iter()
        .flat_map(|(thread, ids)| ids.iter().map(move |id| (id, thread)))
        .collect();
    let mut seen: BTreeMap<&String, Vec<&String>> = BTreeMap::new();
    for reference in requests.iter().flat_map(|r| &r.references) {
        let order = seen.entry(thread_of[reference]).or_default();
        if order.last() != Some(&reference) {
            order.push(reference);
        }
    }
    for (thread, ids) in &threads {
        let order: Vec<&String> = seen[thread].clone();
        assert_eq!(
            order,
            ids.iter().collect::<Vec<_>>(),
            "thread {thread} went out of order"
        );
    }
    // The outage did what it was meant to: refusals, dropped connections, and answers
    // lost after ClickSend accepted, which the history settled instead of a resend.
    let refused = requests.iter().filter(|r| !r.accepted).count();
    let lost_answers = app
        .count(
            "SELECT COUNT(*) AS n FROM sms_message_events \
             WHERE detail = 'found in the provider''s history'",
        )
        .await;
    let dropped = proxy.dropped.load(Ordering::SeqCst);
    assert!(refused > 0 && dropped > 0 && lost_answers >= 2);
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM sms_messages WHERE status <> 'sent'")
            .await,
        0
    );
    eprintln!(
        "provider outage: {} messages in {} threads all sent once after {} simulated minutes \
         ({rounds} rounds); {} send requests ({refused} refused with 503), {dropped} connections \
         dropped, {lost_answers} lost answers settled from the history, {} history lookups",
        created.len(),
        threads.len(),
        recovered_after.num_minutes(),
        requests.len(),
        fake.state().history_lookups,
    );
}

/// Runs `request` with a deadline that fails the test; returns it with its duration.
async fn promptly<T>(what: &str, request: impl std::future::Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(3), request)
        .await
        .unwrap_or_else(|_| panic!("{what} took more than 3 s while the provider stalled"));
    (answer, started.elapsed())
}

#[tokio::test]
async fn a_provider_answering_in_30_seconds_blocks_neither_the_api_nor_webhooks() {
    let app = spawn_app_with(AppOptions {
        provider_timeout_secs: Some(5),
        ..AppOptions::default()
    })
    .await;
    let admin = app.admin_token().await;
    activate_clicksend(&app, &admin).await;
    let inbound = inbound_path(&app, &admin).await;
    let fake = FakeClickSend::mount(&app.clicksend).await;
    fake.state().delay = Duration::from_secs(30);
    let organization = app.organization_id(&admin).await;
    let ids = app
        .insert_candidates(
            &organization,
            vec![
                NewCandidate::new("Ann", &phone(1)),
                NewCandidate::new("Bob", &phone(2)),
            ],
        )
        .await;
    let slow = send_one(&app, &admin, &ids[0], "Hello Ann").await;
    let slow_id = slow["id"].as_str().unwrap().to_owned();

    let now = Utc::now();
    let started = Instant::now();
    let round = tokio::spawn({
        let dispatcher = app.dispatcher.clone();
        async move { dispatcher.run_once(now).await }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while fake.requests().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the send never reached ClickSend"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // The dispatcher is now waiting for ClickSend. Everything else answers at once.
    let mut timings = Vec::new();
    let (ready, took) = promptly("GET /readyz", app.get("/readyz", None)).await;
    assert_eq!(ready.status(), StatusCode::OK);
    timings.push(("GET /readyz", took));
    let (listed, took) = promptly("GET /sms/threads", app.get("/sms/threads", Some(&admin))).await;
    assert_eq!(listed.status(), StatusCode::OK);
    timings.push(("GET /sms/threads", took));
    let (read, took) = promptly(
        "GET /sms/messages/{id}",
        app.get(&format!("/sms/messages/{slow_id}"), Some(&admin)),
    )
    .await;
    let read: Value = read.json().await.unwrap();
    assert_eq!(read["status"], "sending");
    timings.push(("GET /sms/messages/{id}", took));
    let (created, took) = promptly(
        "POST /candidates",
        app.post(
            "/candidates",
            Some(&admin),
            &json!({"first_name": "Cy", "last_name": "Lee", "phone": phone(3)}),
        ),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    timings.push(("POST /candidates", took));
    let (queued, took) = promptly(
        "POST /sms/messages",
        app.post(
            "/sms/messages",
            Some(&admin),
            &json!({"candidate_id": ids[1], "body": "Hello Bob"}),
        ),
    )
    .await;
    assert_eq!(queued.status(), StatusCode::ACCEPTED);
    let queued: Value = queued.json().await.unwrap();
    timings.push(("POST /sms/messages", took));
    let reply = json!({
        "originalsenderid": "+61411111111", "body": "Got it", "message": "Got it",
        "sms": phone(1), "from": phone(1), "to": "+61411111111", "timestamp": 1764200000,
        "message_id": "SLOW-REPLY-1", "original_message_id": "", "original_body": "",
        "user_id": 1, "subaccount_id": 1, "custom_string": ""
    });
    let (webhook, took) = promptly(
        "POST webhook (reply)",
        app.client.post(app.url(&inbound)).json(&reply).send(),
    )
    .await;
    let webhook = webhook.unwrap();
    assert_eq!(webhook.status(), StatusCode::OK);
    assert_eq!(webhook.json::<Value>().await.unwrap()["outcome"], "applied");
    timings.push(("POST /webhooks/clicksend/{token}/inbound", took));
    assert!(
        !round.is_finished(),
        "the checks ran while the dispatch round was still waiting for ClickSend"
    );

    // The round gives up after the 5 s provider timeout: in doubt, not failed.
    let report = round.await.unwrap().unwrap();
    let stalled = started.elapsed();
    assert_eq!((report.in_doubt, report.sent, report.failed), (1, 0, 0));
    assert!(stalled >= Duration::from_secs(4) && stalled < Duration::from_secs(15));
    // ClickSend did accept it (its answer came too late): the history settles it as
    // sent, 5 s after the timeout (NEXTAL_SETTLE_DELAY_SECS), and it is not handed over
    // again. Bob's message goes out before.
    fake.state().delay = Duration::ZERO;
    let early = app.drain_at(now + TimeDelta::seconds(7)).await;
    assert_eq!((early.settled, early.provider_requests), (0, 1));
    let settled = app.drain_at(now + TimeDelta::seconds(20)).await;
    assert_eq!(
        (settled.settled, settled.sent, settled.provider_requests),
        (1, 1, 0)
    );
    let sent = message(&app, &admin, &slow_id).await;
    assert_eq!(sent["status"], "sent", "{sent}");
    let bob = message(&app, &admin, queued["id"].as_str().unwrap()).await;
    assert_eq!(bob["status"], "sent");
    let acceptances = fake.acceptances();
    assert_eq!(
        acceptances.get(&slow_id),
        Some(&1),
        "never handed over twice"
    );
    assert_eq!(acceptances.len(), 2);
    let slowest = timings.iter().map(|(_, took)| *took).max().unwrap();
    eprintln!(
        "slow provider: dispatch round stalled {stalled:.1?} (5 s timeout) and ended in doubt; \
         meanwhile {timings:?}; slowest {slowest:.0?}; the message was settled from the \
         history as sent, once"
    );
}

#[tokio::test]
async fn a_hand_over_cut_off_by_the_database_before_its_request_is_retried_at_once() {
    let app = spawn_app().await;
    if app.database.sqlite_folder().is_some() {
        return; // The lock that makes the hand-over fail is PostgreSQL's.
    }
    let admin = app.admin_token().await;
    activate_clicksend(&app, &admin).await;
    let fake = FakeClickSend::mount(&app.clicksend).await;
    let ids = app
        .insert_candidates(
            &app.organization_id(&admin).await,
            vec![NewCandidate::new("Ann", &phone(1))],
        )
        .await;
    let queued = send_one(&app, &admin, &ids[0], "Hello Ann").await;
    let id = queued["id"].as_str().unwrap().to_owned();
    // A dispatcher whose statements give up on a lock after 200 ms, and a lock on the
    // integration row: the claim succeeds, then the hand-over fails in the gate, before
    // any request to ClickSend.
    let mut settings = app.settings.clone();
    settings.database_url = format!("{}?options=-c%20lock_timeout%3D200", app.database.url());
    let replica = nextal_api::Application::build(&settings).await.unwrap();
    let dispatcher = replica.dispatcher();
    let mut lock = app.db.begin().await.unwrap();
    match &mut *lock {
        nextal_persistence::DbConn::Postgres(conn) => {
            use diesel_async::RunQueryDsl;
            diesel::sql_query("SELECT id FROM integrations WHERE active FOR UPDATE")
                .execute(&mut **conn)
                .await
                .unwrap();
        }
        nextal_persistence::DbConn::Sqlite(_) => unreachable!(),
    }
    let now = Utc::now();

    let failed = dispatcher.run_once(now).await;
    let requests_meanwhile = fake.requests().len();
    lock.rollback().await.unwrap();
    let next = drain(&dispatcher, now + TimeDelta::seconds(1)).await;

    assert!(failed.is_err(), "the hand-over failed");
    assert_eq!(requests_meanwhile, 0, "nothing reached ClickSend");
    // One second later, not ten minutes (the claim's lease): settled as unknown to
    // ClickSend, sent, and the failed claim not counted as an attempt.
    assert_eq!((next.settled, next.sent), (1, 1));
    let sent = message(&app, &admin, &id).await;
    assert_eq!(sent["status"], "sent", "{sent}");
    assert_eq!(fake.acceptances().get(&id), Some(&1));
    assert_eq!(
        app.count(&format!(
            "SELECT CAST(attempts AS BIGINT) AS n FROM sms_messages WHERE id = '{id}'"
        ))
        .await,
        1
    );
}
