//! How soon messages come back from a provider outage or a dispatcher crash: a 5xx is
//! retried within 20 s, an outage never fails a message before 24 hours, a failing
//! provider gets no more requests in that round, and a hand-over cut off by a crash is
//! settled within 15 s; never sent twice. Rounds run at chosen (simulated) times.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use diesel_async::RunQueryDsl;
use nextal_api::dispatcher::Dispatcher;
use nextal_persistence::DbConn;
use nextal_persistence::repo::messages::{self, Message};
use nextal_tests::fakes::ClickSendAccepts;
use nextal_tests::{NewCandidate, TestApp, spawn_app};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use crate::messaging::{accept_slowly_counting, activate_clicksend, ann, message, send_one};

const TWILIO_SID: &str = "AC0123456789abcdef0123456789abcdef";

/// The stored message `id`.
async fn stored(app: &TestApp, id: &str) -> Message {
    let mut conn = app.db.conn().await.unwrap();
    let found = messages::find_many(&mut conn, &[id.to_owned()])
        .await
        .unwrap();
    found.into_iter().next().unwrap()
}

fn at(time: NaiveDateTime) -> DateTime<Utc> {
    time.and_utc()
}

/// Waits (for real) until `condition` holds; fails after 10 s.
async fn until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "{what}: not within 10 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A second instance of the service on the same database, as after a restart: its
/// dispatcher knows nothing of the first one's rounds.
async fn restarted(app: &TestApp) -> Dispatcher {
    nextal_api::Application::build(&app.settings)
        .await
        .unwrap()
        .dispatcher()
}

// ---------------------------------------------------------------------------------------
// Fakes

/// What a fake provider does with a send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Accepts at once.
    Up,
    /// Answers 5xx without accepting anything.
    Down,
    /// Accepts, but answers only after a minute: the process dies before.
    Hangs,
    /// The first call of all answers 503 at once; the others are accepted 300 ms later.
    FirstFails,
}

/// Our message ids of the sends that reached a fake, in arrival order, and what it does.
#[derive(Clone)]
struct Fake(Arc<Mutex<(Mode, Vec<String>)>>);

impl Fake {
    fn new(mode: Mode) -> Self {
        Fake(Arc::new(Mutex::new((mode, Vec::new()))))
    }

    fn set(&self, mode: Mode) {
        self.0.lock().unwrap().0 = mode;
    }

    /// Our message ids, one per message a send carried, in arrival order.
    fn sends(&self) -> Vec<String> {
        self.0.lock().unwrap().1.clone()
    }

    /// Records `references`; returns the mode and whether they are the first sent.
    fn arrived(&self, references: Vec<String>) -> (Mode, bool) {
        let mut state = self.0.lock().unwrap();
        let first = state.1.is_empty();
        state.1.extend(references);
        (state.0, first)
    }
}

/// ClickSend's `POST /v3/sms/send`; what it accepts (also while it hangs) goes into
/// its history.
struct ClickSendSends {
    fake: Fake,
    accepted: Arc<Mutex<Vec<String>>>,
}

impl Respond for ClickSendSends {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let references: Vec<String> = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["custom_string"].as_str().unwrap().to_owned())
            .collect();
        let (mode, _) = self.fake.arrived(references.clone());
        if mode == Mode::Down {
            return ResponseTemplate::new(500).set_body_json(
                json!({"http_code": 500, "response_code": "INTERNAL_SERVER_ERROR"}),
            );
        }
        self.accepted.lock().unwrap().extend(references);
        let answer = ClickSendAccepts.respond(request);
        match mode {
            Mode::Hangs => answer.set_delay(Duration::from_secs(60)),
            _ => answer,
        }
    }
}

/// ClickSend's sent history: every message it accepted.
struct ClickSendHistory(Arc<Mutex<Vec<String>>>);

impl Respond for ClickSendHistory {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let data: Vec<Value> = self
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|id| {
                json!({"direction": "out", "message_id": format!("CS-{id}"),
                       "custom_string": id, "status": "Sent"})
            })
            .collect();
        ResponseTemplate::new(200)
            .set_body_json(json!({"http_code": 200, "response_code": "SUCCESS",
            "data": {"total": data.len(), "current_page": 1, "last_page": 1, "data": data}}))
    }
}

/// Mounts a fake ClickSend in `mode`.
async fn fake_clicksend(app: &TestApp, mode: Mode) -> Fake {
    let fake = Fake::new(mode);
    let accepted = Arc::new(Mutex::new(Vec::new()));
    Mock::given(method("POST"))
        .and(path("/v3/sms/send"))
        .respond_with(ClickSendSends {
            fake: fake.clone(),
            accepted: accepted.clone(),
        })
        .mount(&app.clicksend)
        .await;
    Mock::given(method("GET"))
        .and(path("/v3/sms/history"))
        .respond_with(ClickSendHistory(accepted))
        .mount(&app.clicksend)
        .await;
    fake
}

/// Twilio's `POST …/Messages.json`: one message per call, named by its idempotency
/// token.
struct TwilioSends(Fake);

impl Respond for TwilioSends {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let token = request.headers["i-twilio-idempotency-token"]
            .to_str()
            .unwrap()
            .to_owned();
        let accepted = ResponseTemplate::new(201).set_body_json(
            json!({"sid": format!("SM-{token}"), "status": "queued", "num_segments": "1"}),
        );
        let unavailable = ResponseTemplate::new(503)
            .set_body_json(json!({"code": 20503, "message": "Service unavailable", "status": 503}));
        match self.0.arrived(vec![token]) {
            (Mode::Up, _) => accepted,
            (Mode::Down, _) | (Mode::FirstFails, true) => unavailable,
            (Mode::Hangs, _) => accepted.set_delay(Duration::from_secs(60)),
            (Mode::FirstFails, false) => accepted.set_delay(Duration::from_millis(300)),
        }
    }
}

/// Activates Twilio with a fake in `mode`; returns the admin token and the fake.
async fn twilio(app: &TestApp, mode: Mode) -> (String, Fake) {
    let admin = app.admin_token().await;
    app.put(
        "/integrations/twilio",
        Some(&admin),
        &json!({"active": true, "phone_number": "+14155550100", "account_sid": TWILIO_SID}),
    )
    .await;
    app.put(
        "/integrations/twilio/auth-token",
        Some(&admin),
        &json!({"auth_token": "twilio-token-1"}),
    )
    .await;
    let fake = Fake::new(mode);
    Mock::given(method("POST"))
        .and(path(format!(
            "/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
        )))
        .respond_with(TwilioSends(fake.clone()))
        .mount(&app.twilio)
        .await;
    (admin, fake)
}

/// Queues "Hi" to `count` new candidates in one bulk send; returns the message ids in
/// id order.
async fn bulk(app: &TestApp, admin: &str, count: usize) -> Vec<String> {
    let organization = app.organization_id(admin).await;
    let candidates = app
        .insert_candidates(
            &organization,
            (0..count)
                .map(|n| NewCandidate::new("C", &format!("+1415555{:04}", 200 + n)))
                .collect(),
        )
        .await;
    let response = app
        .post(
            "/sms/bulk",
            Some(admin),
            &json!({"candidate_ids": candidates, "body": "Hi"}),
        )
        .await;
    assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);
    assert_eq!(app.write_bulk_messages().await, count);
    let batch = response.json::<Value>().await.unwrap()["batch_id"]
        .as_str()
        .unwrap()
        .to_owned();
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::Text)]
        id: String,
    }
    let query = diesel::sql_query(format!(
        "SELECT id FROM sms_messages WHERE batch_id = '{batch}' ORDER BY id"
    ));
    let mut conn = app.db.conn().await.unwrap();
    let rows: Vec<Id> = match &mut conn {
        DbConn::Postgres(object) => query.load(&mut **object).await,
        DbConn::Sqlite(object) => query.load(&mut **object).await,
    }
    .unwrap();
    rows.into_iter().map(|row| row.id).collect()
}

// ---------------------------------------------------------------------------------------
// Outages

#[tokio::test]
async fn clicksend_500s_then_back_send_the_message_once_within_20_seconds_of_the_last_try() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    activate_clicksend(&app, &admin).await;
    let fake = fake_clicksend(&app, Mode::Down).await;
    let candidate = ann(&app, &admin).await;
    let id = send_one(&app, &admin, &candidate, "Hello")
        .await
        .get("id")
        .and_then(Value::as_str)
        .unwrap()
        .to_owned();

    // A round every simulated second; ClickSend answers 500 for two minutes.
    let start = Utc::now();
    let back = 122;
    let mut tries = Vec::new();
    let mut second = 0;
    while stored(&app, &id).await.status.as_str() != "sent" {
        assert!(
            second < back + 60,
            "not sent a minute after ClickSend came back"
        );
        if second == back {
            fake.set(Mode::Up);
        }
        let before = fake.sends().len();
        app.dispatch_at(start + TimeDelta::seconds(second)).await;
        if fake.sends().len() > before {
            tries.push(second);
        }
        second += 1;
    }

    let (&sent_at, failed) = tries.split_last().unwrap();
    let gaps: Vec<i64> = tries.windows(2).map(|pair| pair[1] - pair[0]).collect();
    assert!(gaps.iter().all(|gap| *gap <= 20), "{tries:?}");
    assert!(sent_at >= back && sent_at - back <= 20, "{tries:?}");
    assert!(failed.iter().all(|second| *second < back));
    // Each try after the first was preceded by a look at the history (empty: the 500s
    // accepted nothing), and only the last one was accepted.
    assert_eq!(fake.sends().len(), tries.len());
    assert!(fake.sends().iter().all(|sent| *sent == id));
    let lookups = app
        .clicksend
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|request| request.url.path() == "/v3/sms/history")
        .count();
    assert!(lookups >= tries.len() - 1, "{lookups} lookups");
    let sent = message(&app, &admin, &id).await;
    assert_eq!(sent["provider_message_id"], format!("CS-{id}"));
    eprintln!(
        "ClickSend 500s for {back} s: tried at {tries:?} s (every {gaps:?} s); sent {} s after \
         it came back, {} s after the try before; {lookups} history lookups",
        sent_at - back,
        sent_at - failed.last().unwrap(),
    );
}

#[tokio::test]
async fn twilio_503s_for_30_minutes_never_fail_the_message_and_it_goes_out_within_20_seconds_after()
{
    let app = spawn_app().await;
    let (admin, fake) = twilio(&app, Mode::Down).await;
    let id = bulk(&app, &admin, 1).await.remove(0);

    // Each round runs when the message is due again.
    let start = Utc::now();
    app.dispatch_at(start).await;
    let mut delays = Vec::new();
    loop {
        let queued = stored(&app, &id).await;
        assert_eq!(
            queued.status.as_str(),
            "queued",
            "{:?}",
            queued.status_reason
        );
        let delay = queued.next_attempt_at - queued.updated_at;
        delays.push(delay.num_milliseconds());
        if queued.next_attempt_at > (start + TimeDelta::minutes(30)).naive_utc() {
            break;
        }
        app.dispatch_at(at(queued.next_attempt_at)).await;
    }
    // Twilio comes back right after a failed try: the next try sends it.
    let failed = stored(&app, &id).await;
    fake.set(Mode::Up);
    let back = failed.updated_at + TimeDelta::milliseconds(1);
    app.dispatch_at(at(failed.next_attempt_at)).await;

    let sent = stored(&app, &id).await;
    assert_eq!(sent.status.as_str(), "sent");
    assert!(
        delays.iter().all(|delay| (1_600..=18_000).contains(delay)),
        "{delays:?}"
    );
    assert!(sent.updated_at - back <= TimeDelta::seconds(20));
    // One call per try, all with the message's idempotency token.
    assert_eq!(fake.sends().len(), delays.len() + 1);
    assert!(fake.sends().iter().all(|token| *token == id));
    eprintln!(
        "Twilio 503s for 30 simulated minutes: {} tries, retry delays {:.1}–{:.1} s, never \
         failed; sent {:.1} s after it came back",
        delays.len(),
        *delays.iter().min().unwrap() as f64 / 1000.0,
        *delays.iter().max().unwrap() as f64 / 1000.0,
        (sent.updated_at - back).num_milliseconds() as f64 / 1000.0,
    );
}

#[tokio::test]
async fn after_a_twilio_call_fails_the_rest_of_the_batch_waits_untried() {
    let app = spawn_app().await;
    let (admin, fake) = twilio(&app, Mode::FirstFails).await;
    let ids = bulk(&app, &admin, 20).await;
    let now = Utc::now();

    let first = app.dispatch_at(now).await;

    // Eight calls ran at once: one failed, seven were accepted; the twelve messages
    // after them were not tried.
    assert_eq!(fake.sends().len(), 8);
    assert_eq!(
        (
            first.claimed,
            first.sent,
            first.retried,
            first.provider_requests
        ),
        (20, 7, 13, 8)
    );
    let failed = stored(&app, &fake.sends()[0]).await;
    assert_eq!((failed.status.as_str(), failed.attempts), ("queued", 1));
    let untried: Vec<Message> = {
        let mut conn = app.db.conn().await.unwrap();
        messages::find_many(&mut conn, &ids)
            .await
            .unwrap()
            .into_iter()
            .filter(|message| !fake.sends().contains(&message.id))
            .collect()
    };
    assert_eq!(untried.len(), 12);
    for message in &untried {
        assert_eq!(
            (
                message.status.as_str(),
                message.attempts,
                message.next_attempt_at
            ),
            ("queued", 0, failed.next_attempt_at),
            "{:?}",
            message.status_reason
        );
    }

    // At the retry, the failed one and the twelve go out.
    let retried = app.dispatch_at(at(failed.next_attempt_at)).await;
    assert_eq!((retried.sent, retried.provider_requests), (13, 13));
    let mut sent = fake.sends();
    sent.sort();
    sent.dedup();
    assert_eq!(sent, ids, "every message handed over");
    assert_eq!(fake.sends().len(), 21, "only the failed one twice");
}

#[tokio::test]
async fn a_message_still_failing_24_hours_after_it_was_due_fails_with_the_reason() {
    // Twilio: every try refused with 503.
    let app = spawn_app().await;
    let (admin, fake) = twilio(&app, Mode::Down).await;
    let id = bulk(&app, &admin, 1).await.remove(0);
    let start = Utc::now();
    app.dispatch_at(start).await;
    app.dispatch_at(start + TimeDelta::hours(23)).await;
    let still_queued = stored(&app, &id).await.status;
    app.dispatch_at(start + TimeDelta::hours(24) + TimeDelta::minutes(1))
        .await;
    let failed = stored(&app, &id).await;
    assert_eq!(still_queued.as_str(), "queued");
    assert_eq!(failed.status.as_str(), "failed");
    assert_eq!(
        failed.status_reason.as_deref(),
        Some(
            "gave up: still failing 24 hours after it was due (the provider is unavailable: Twilio answered HTTP 503)"
        )
    );
    assert_eq!(
        failed.failure_reason.map(|reason| reason.as_str()),
        Some("expired")
    );
    assert_eq!(fake.sends().len(), 3);

    // ClickSend: every send answered 500; its history, read before each resend, never
    // shows the message.
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    activate_clicksend(&app, &admin).await;
    let fake = fake_clicksend(&app, Mode::Down).await;
    let candidate = ann(&app, &admin).await;
    let queued = send_one(&app, &admin, &candidate, "Hello").await;
    let id = queued["id"].as_str().unwrap().to_owned();
    let start = Utc::now();
    app.dispatch_at(start).await;
    app.dispatch_at(start + TimeDelta::hours(23)).await;
    let in_doubt = stored(&app, &id).await.status;
    app.dispatch_at(start + TimeDelta::hours(24) + TimeDelta::minutes(1))
        .await;
    let failed = stored(&app, &id).await;
    assert_eq!(in_doubt.as_str(), "sending");
    assert_eq!(failed.status.as_str(), "failed");
    assert_eq!(
        failed.status_reason.as_deref(),
        Some("gave up: not sent 24 hours after it was due; the provider has no record of it")
    );
    assert_eq!(
        failed.failure_reason.map(|reason| reason.as_str()),
        Some("expired")
    );
    assert_eq!(fake.sends().len(), 2, "not sent again once given up");
}

// ---------------------------------------------------------------------------------------
// Crashes

/// Runs a round at `start` until `handed_over` holds, then drops it as a dying process
/// would: mid-request, with messages claimed.
async fn round_cut_off(app: &TestApp, start: DateTime<Utc>, handed_over: impl Fn() -> bool) {
    let dispatcher = app.dispatcher.clone();
    let round = tokio::spawn(async move { dispatcher.run_once(start).await });
    until("the hand-over reached the provider", handed_over).await;
    round.abort();
    assert!(round.await.unwrap_err().is_cancelled());
}

/// Rounds of `dispatcher` every simulated second after `start` until every message of
/// `ids` is `sent`; returns that second.
async fn seconds_until_sent(
    app: &TestApp,
    dispatcher: &Dispatcher,
    start: DateTime<Utc>,
    ids: &[String],
) -> i64 {
    for second in 1..=60 {
        dispatcher
            .run_once(start + TimeDelta::seconds(second))
            .await
            .unwrap();
        let sent = app
            .count(&format!(
                "SELECT COUNT(*) AS n FROM sms_messages WHERE status = 'sent' AND id IN ('{}')",
                ids.join("', '")
            ))
            .await;
        if sent == ids.len() as i64 {
            return second;
        }
    }
    panic!("not sent within a simulated minute of the crash");
}

#[tokio::test]
async fn a_clicksend_hand_over_cut_off_by_a_crash_is_settled_within_15_seconds_not_resent() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    activate_clicksend(&app, &admin).await;
    // ClickSend accepts the message but the process dies before its answer.
    let fake = fake_clicksend(&app, Mode::Hangs).await;
    let candidate = ann(&app, &admin).await;
    let id = send_one(&app, &admin, &candidate, "Hello")
        .await
        .get("id")
        .and_then(Value::as_str)
        .unwrap()
        .to_owned();
    let crash = Utc::now();
    round_cut_off(&app, crash, || !fake.sends().is_empty()).await;
    let left = stored(&app, &id).await;

    let settled_after = seconds_until_sent(
        &app,
        &restarted(&app).await,
        crash,
        std::slice::from_ref(&id),
    )
    .await;

    assert_eq!(
        (left.status.as_str(), left.status_reason),
        ("sending", None)
    );
    // The request's lease (10 s provider timeout + 3 s) protects it while a live process
    // could still record its outcome; then the history settles it.
    assert!((13..=15).contains(&settled_after), "{settled_after} s");
    assert_eq!(fake.sends(), std::slice::from_ref(&id), "handed over once");
    let sent = message(&app, &admin, &id).await;
    let history: Vec<&str> = sent["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|event| event["detail"].as_str())
        .collect();
    assert_eq!(history, ["found in the provider's history"]);
    eprintln!("ClickSend hand-over cut off by a crash: settled {settled_after} s later, sent once");
}

#[tokio::test]
async fn twilio_messages_a_dead_dispatcher_held_go_out_within_15_seconds() {
    let app = spawn_app().await;
    let (admin, fake) = twilio(&app, Mode::Hangs).await;
    // Eight in the request (Twilio's calls in flight at once), one waiting for the next.
    let ids = bulk(&app, &admin, 9).await;
    let crash = Utc::now();
    round_cut_off(&app, crash, || fake.sends().len() == 8).await;
    fake.set(Mode::Up);

    let sent_after = seconds_until_sent(&app, &restarted(&app).await, crash, &ids).await;

    assert!(sent_after <= 15, "{sent_after} s");
    // The eight calls cut off are made again with the same idempotency tokens, so that
    // Twilio does not send them twice; the waiting one is sent once.
    let sends = fake.sends();
    assert_eq!(sends.len(), 17);
    for id in &ids[..8] {
        assert_eq!(sends.iter().filter(|token| *token == id).count(), 2);
    }
    assert_eq!(sends.iter().filter(|token| **token == ids[8]).count(), 1);
    eprintln!("Twilio hand-over cut off by a crash: all sent {sent_after} s later");
}

#[tokio::test]
async fn a_request_right_after_its_claim_keeps_the_claims_lease_which_outlasts_it() {
    // The claim's lease (15 s) outlasts a request's (the 10 s timeout and 3 s to record
    // the outcome) when the request follows at once: no update of every message for it.
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    activate_clicksend(&app, &admin).await;
    let calls = accept_slowly_counting(&app).await;
    let candidate = ann(&app, &admin).await;
    let id = send_one(&app, &admin, &candidate, "Hello").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let now = DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap();

    let dispatcher = app.dispatcher.clone();
    let round = tokio::spawn(async move { dispatcher.run_once(now).await });
    // `AtomicUsize::load` by name: diesel's `load` is in scope too.
    let started = || AtomicUsize::load(&calls, Ordering::SeqCst) == 1;
    until("the request has started", started).await;
    let during = stored(&app, &id).await;
    let report = round.await.unwrap().unwrap();

    assert_eq!(during.status.as_str(), "sending");
    assert_eq!(
        during.lease_expires_at,
        Some(now.naive_utc() + TimeDelta::seconds(15)),
        "the claim's lease, not a new one"
    );
    assert_eq!((report.sent, report.provider_requests), (1, 1));
    assert_eq!(stored(&app, &id).await.status.as_str(), "sent");
}
