//! Webhook ingestion benchmark: ClickSend replies from 64 concurrent connections against
//! the service running as its own process, compared with `pgbench` doing the same writes
//! one transaction per reply.
//!
//! `NEXTAL_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p nextal-tests --bench webhooks`
//!
//! The bench binary starts itself again with `NEXTAL_BENCH_ROLE=server` to run the
//! service, so that the service's own peak memory (`VmHWM`) can be read. The driver
//! speaks plain HTTP/1.1 over 64 keep-alive connections on one thread, with every
//! request built once and patched in place (message id and sender), to leave the two
//! cores to the service and PostgreSQL. `BENCH_SECONDS` sets the measured time
//! (default 20); `NEXTAL_WEBHOOK_WRITERS` / `NEXTAL_WEBHOOK_QUEUE` pass through to the
//! service; `BENCH_PGBENCH_NOTIFY=1` adds the service's `pg_notify` per reply to the
//! pgbench script.

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
use service::Service;

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};

use chrono::Utc;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use nextal_tests::TestDatabase;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Concurrent connections posting replies.
const CONNECTIONS: u64 = 64;
/// Distinct senders.
const SENDERS: u32 = 10_000;
/// Candidates, at the first senders' numbers.
const CANDIDATES: u32 = 1_000;
/// Warm-up before measuring.
const WARM_UP: Duration = Duration::from_secs(1);
/// Our ClickSend number.
const OUR_NUMBER: &str = "+61411111111";
/// The reply's text.
const REPLY: &str = "Yes, Tuesday works";

fn main() {
    if service::serve_if_server() {
        return;
    }
    let Some(server_url) = environment::postgres_server_or_skip("webhooks") else {
        return;
    };
    let seconds = environment::positive_number("BENCH_SECONDS", 20_u64);
    // One thread drives all the connections: the service and PostgreSQL get the cores.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(run(&server_url, Duration::from_secs(seconds)));
}

/// What one connection saw.
#[derive(Default)]
struct Report {
    /// Latency (µs) of each request started in the measured window.
    latencies_us: Vec<u32>,
    /// Non-200 answers (and failed exchanges, as status 0) in the measured window.
    failures: Vec<u16>,
    /// 200 answers with outcome `applied`, warm-up included.
    applied: u64,
    /// Requests sent, warm-up included.
    sent: u64,
}

async fn run(server_url: &str, measured: Duration) {
    let database = TestDatabase::create().await;
    let server = Service::start(
        database.url(),
        &[
            ("NEXTAL_DISPATCHER", "false".to_owned()),
            // One organization's URL takes every delivery: measure ingestion, not its
            // rate limit.
            ("NEXTAL_WEBHOOK_RATE_PER_SEC", "1000000".to_owned()),
            ("NEXTAL_WEBHOOK_BURST", "1000000".to_owned()),
        ],
    );
    let client = reqwest::Client::new();
    server.wait_until_ready(&client).await;

    // Arrange: ClickSend active, its inbound URL, candidates at some senders' numbers.
    let api = server.api(&client).await;
    api.call(
        reqwest::Method::PUT,
        "/integrations/clicksend",
        Some(json!({"active": true, "phone_number": OUR_NUMBER, "username": "bench"})),
    )
    .await;
    api.call(
        reqwest::Method::PUT,
        "/integrations/clicksend/api-key",
        Some(json!({"api_key": "bench-key-123"})),
    )
    .await;
    let card = api
        .call(reqwest::Method::GET, "/integrations/clicksend", None)
        .await;
    let inbound_url = card["webhooks"]["inbound_url"]
        .as_str()
        .expect("an inbound URL");
    let inbound_path = &inbound_url[inbound_url.find("/webhooks/").expect("a webhook path")..];
    let organization = api.call(reqwest::Method::GET, "/organization", None).await["id"]
        .as_str()
        .expect("an organization id")
        .to_owned();
    let mut db = AsyncPgConnection::establish(database.url())
        .await
        .expect("the bench database");
    insert_candidates(&mut db, &organization, CANDIDATES as usize).await;

    // Load: 64 connections, warm-up, then the measured window.
    let target = Rc::new(Target::new(server.port, inbound_path));
    let run_id: u64 = rand::random();
    let started = Instant::now();
    let warm_end = started + WARM_UP;
    let end = warm_end + measured;
    let local = tokio::task::LocalSet::new();
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|task| {
            let target = target.clone();
            local.spawn_local(async move { connection(&target, task, run_id, warm_end, end).await })
        })
        .collect();
    let (reports, cpu_from, cpu_to) = local
        .run_until(async {
            tokio::time::sleep_until(warm_end.into()).await;
            let cpu_from = CpuSample::take(server.pid());
            let mut reports = Vec::with_capacity(workers.len());
            for worker in workers {
                reports.push(worker.await.expect("the connection task ends"));
            }
            (reports, cpu_from, CpuSample::take(server.pid()))
        })
        .await;

    let mut latencies: Vec<u32> = reports
        .iter()
        .flat_map(|report| report.latencies_us.iter().copied())
        .collect();
    latencies.sort_unstable();
    let requests = latencies.len();
    let failures: Vec<u16> = reports
        .iter()
        .flat_map(|report| report.failures.iter().copied())
        .collect();
    let applied: u64 = reports.iter().map(|report| report.applied).sum();
    let sent: u64 = reports.iter().map(|report| report.sent).sum();
    let rate = requests as f64 / measured.as_secs_f64();

    let peak_rss = peak_rss_mib(server.pid());
    let inbound_messages = count(
        &mut db,
        "SELECT count(*) AS n FROM sms_messages WHERE direction = 'inbound'",
    )
    .await;
    let applied_deliveries = count(
        &mut db,
        "SELECT count(*) AS n FROM webhook_deliveries WHERE outcome = 'applied'",
    )
    .await;
    let threads = count(&mut db, "SELECT count(*) AS n FROM sms_threads").await;
    drop(server);

    // The same writes, one transaction per reply; the organization's unread total too
    // when the schema keeps one (the service updates it with every batch).
    let extras = PgbenchExtras {
        notify: std::env::var("BENCH_PGBENCH_NOTIFY").is_ok_and(|value| value == "1"),
        unread_total: std::env::var("BENCH_PGBENCH_UNREAD_TOTAL")
            .map_or(true, |value| value != "0")
            && count(
                &mut db,
                "SELECT count(*) AS n FROM pg_tables WHERE tablename = 'sms_unread_totals'",
            )
            .await
                > 0,
    };
    let pgbench = run_pgbench(
        database.url(),
        &organization,
        &target.payload_sample(),
        measured,
        extras,
    );

    println!(
        "webhooks benchmark (postgres at {}, {}): ClickSend replies, {CONNECTIONS} connections, \
         {SENDERS} senders, {} s measured after {} s warm-up",
        redact(server_url),
        Utc::now().format("%Y-%m-%d"),
        measured.as_secs(),
        WARM_UP.as_secs()
    );
    println!(
        "  service settings: NEXTAL_WEBHOOK_WRITERS={} NEXTAL_WEBHOOK_QUEUE={} NEXTAL_DATABASE_POOL_SIZE={}",
        env_or("NEXTAL_WEBHOOK_WRITERS", "default"),
        env_or("NEXTAL_WEBHOOK_QUEUE", "default"),
        env_or("NEXTAL_DATABASE_POOL_SIZE", "default"),
    );
    println!("  requests (measured):          {requests:>10}");
    println!("  rate:                         {rate:>10.0} replies/s");
    println!(
        "  latency p50 / p99 / max:      {:>10.2} / {:.2} / {:.2} ms",
        percentile_ms(&latencies, 0.50),
        percentile_ms(&latencies, 0.99),
        latencies
            .last()
            .map_or(f64::NAN, |&us| f64::from(us) / 1000.0)
    );
    println!(
        "  non-200 answers (measured):   {:>10}{}",
        failures.len(),
        describe_failures(&failures)
    );
    println!("  peak RSS of the service:      {peak_rss:>10.1} MiB");
    println!(
        "  nothing lost: 200 applied {applied} (of {sent} sent) / inbound messages {inbound_messages} / \
         deliveries applied {applied_deliveries} ({threads} threads)"
    );
    let window = cpu_to.at.duration_since(cpu_from.at).as_secs_f64();
    println!(
        "  CPU in the measured window:   service {:.1} s, driver {:.1} s, all postgres processes \
         {:.1} s (of {:.1} s: 2 cores × {window:.1} s)",
        cpu_to.service - cpu_from.service,
        cpu_to.driver - cpu_from.driver,
        cpu_to.postgres - cpu_from.postgres,
        window * 2.0,
    );
    let pgbench_tps = match &pgbench {
        Ok(result) => {
            println!(
                "  pgbench, one transaction per reply (-c {CONNECTIONS} -j 2 -T {}{}{}): {:.0} tps, \
                 latency average {} ms, failed transactions {}",
                measured.as_secs(),
                if extras.unread_total {
                    ", with sms_unread_totals"
                } else {
                    ""
                },
                if extras.notify {
                    ", with pg_notify"
                } else {
                    ""
                },
                result.tps,
                result.latency_ms.as_deref().unwrap_or("?"),
                result.failed.as_deref().unwrap_or("?"),
            );
            Some(result.tps)
        }
        Err(error) => {
            println!("  pgbench: not run ({error})");
            None
        }
    };
    let ratio = pgbench_tps.map_or(f64::NAN, |tps| rate / tps);
    let p99 = percentile_ms(&latencies, 0.99);
    let lost = !(applied == u64::try_from(inbound_messages).unwrap_or(u64::MAX)
        && inbound_messages == applied_deliveries);
    println!("  targets:");
    verdict(
        "service / pgbench rate >= 2",
        &format!(
            "{rate:.0} / {} = {ratio:.2}",
            pgbench_tps.map_or("?".to_owned(), |tps| format!("{tps:.0}"))
        ),
        ratio >= 2.0,
    );
    verdict(
        "p99 latency <= 100 ms",
        &format!("{p99:.2} ms"),
        p99 <= 100.0,
    );
    verdict(
        "peak RSS <= 100 MiB",
        &format!("{peak_rss:.1} MiB"),
        peak_rss <= 100.0,
    );
    verdict(
        "nothing lost",
        &format!("{applied} == {inbound_messages} == {applied_deliveries}"),
        !lost && failures.is_empty(),
    );
    let _ = std::io::stdout().flush();
    drop(db);
    drop(database);
}

fn verdict(name: &str, figure: &str, pass: bool) {
    println!(
        "    [{}] {name:<30} {figure}",
        if pass { "PASS" } else { "MISS" }
    );
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
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

fn describe_failures(failures: &[u16]) -> String {
    if failures.is_empty() {
        return String::new();
    }
    let mut statuses: Vec<(u16, usize)> = Vec::new();
    for &status in failures {
        match statuses.iter_mut().find(|(known, _)| *known == status) {
            Some((_, n)) => *n += 1,
            None => statuses.push((status, 1)),
        }
    }
    let listed: Vec<String> = statuses
        .iter()
        .map(|(status, n)| {
            if *status == 0 {
                format!("{n} failed exchanges")
            } else {
                format!("{n}× {status}")
            }
        })
        .collect();
    format!(" ({})", listed.join(", "))
}

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

/// The request every connection sends, with where to patch in the message id and the
/// sender.
struct Target {
    address: SocketAddr,
    request: Vec<u8>,
    body_at: usize,
    /// Offset of the 36 characters of the message id.
    message_id_at: usize,
    /// Offsets of the 8 digits after `+614` of each copy of the sender.
    sender_digits_at: Vec<usize>,
}

const MESSAGE_ID_PLACEHOLDER: &str = "00000000-0000-4000-8000-000000000000";
const SENDER_PLACEHOLDER: &str = "+61499999999";

impl Target {
    fn new(port: u16, path: &str) -> Self {
        // ClickSend's `post` inbound webhook, legacy duplicate keys included.
        let fields = [
            ("originalsenderid", OUR_NUMBER),
            ("body", REPLY),
            ("message", REPLY),
            ("sms", SENDER_PLACEHOLDER),
            ("custom_string", ""),
            ("customstring", ""),
            ("to", OUR_NUMBER),
            ("original_message_id", ""),
            ("originalmessageid", ""),
            ("from", SENDER_PLACEHOLDER),
            ("user_id", "1"),
            ("subaccount_id", "1"),
            ("original_body", ""),
            ("timestamp", "1764200000"),
            ("message_id", MESSAGE_ID_PLACEHOLDER),
        ];
        let body = serde_urlencoded::to_string(fields).expect("a form");
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: nextal-bench\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let request = format!("{head}{body}").into_bytes();
        let body_at = head.len();
        let message_id_at = body_at
            + body
                .find(MESSAGE_ID_PLACEHOLDER)
                .expect("the message id placeholder");
        let encoded_sender = urlencoding::encode(SENDER_PLACEHOLDER).into_owned();
        let sender_digits_at = body
            .match_indices(&encoded_sender)
            .map(|(at, _)| body_at + at + encoded_sender.len() - 8)
            .collect::<Vec<_>>();
        assert_eq!(
            sender_digits_at.len(),
            2,
            "`sms` and `from` carry the sender"
        );
        Self {
            address: SocketAddr::from(([127, 0, 0, 1], port)),
            request,
            body_at,
            message_id_at,
            sender_digits_at,
        }
    }

    /// A body as sent, for the pgbench payload.
    fn payload_sample(&self) -> String {
        let mut request = self.request.clone();
        self.patch(&mut request, uuid::Uuid::new_v4(), 0);
        String::from_utf8_lossy(&request[self.body_at..]).into_owned()
    }

    /// Writes `message_id` and sender `n` into `request` (a copy of `self.request`).
    fn patch(&self, request: &mut [u8], message_id: uuid::Uuid, sender: u32) {
        message_id
            .hyphenated()
            .encode_upper(&mut request[self.message_id_at..self.message_id_at + 36]);
        let mut digits = 10_000_000 + sender;
        let mut text = [b'0'; 8];
        for slot in text.iter_mut().rev() {
            *slot = b'0' + (digits % 10) as u8;
            digits /= 10;
        }
        for &at in &self.sender_digits_at {
            request[at..at + 8].copy_from_slice(&text);
        }
    }
}

/// One keep-alive connection posting replies until `end`.
async fn connection(
    target: &Target,
    task: u64,
    run_id: u64,
    warm_end: Instant,
    end: Instant,
) -> Report {
    let mut report = Report {
        latencies_us: Vec::with_capacity(16_384),
        ..Report::default()
    };
    let mut request = target.request.clone();
    let mut buffer: Vec<u8> = Vec::with_capacity(4096);
    let mut random = Xorshift(rand::random::<u64>() | 1);
    let mut stream: Option<TcpStream> = None;
    let mut counter: u64 = 0;
    loop {
        let started = Instant::now();
        if started >= end {
            return report;
        }
        // Unique per run, task and request; version and variant bits as in a v4 UUID.
        let unique = (u128::from(run_id) << 64) | u128::from((task << 40) | counter);
        counter += 1;
        let sender = (random.next() % u64::from(SENDERS)) as u32;
        target.patch(
            &mut request,
            uuid::Builder::from_random_bytes(unique.to_be_bytes()).into_uuid(),
            sender,
        );
        let outcome = match stream.as_mut() {
            Some(open) => exchange(open, &request, &mut buffer).await,
            None => match connect(target.address).await {
                Ok(open) => {
                    let open = stream.insert(open);
                    exchange(open, &request, &mut buffer).await
                }
                Err(error) => Err(error),
            },
        };
        let elapsed = started.elapsed();
        report.sent += 1;
        let status = match outcome {
            Ok(answer) => {
                if answer.close {
                    stream = None;
                }
                if answer.applied {
                    report.applied += 1;
                }
                answer.status
            }
            Err(_) => {
                stream = None;
                0
            }
        };
        if started >= warm_end {
            report
                .latencies_us
                .push(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX));
            if status != 200 {
                report.failures.push(status);
            }
        }
        if status == 0 {
            // Do not spin on a refused connection.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn connect(address: SocketAddr) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

struct Answer {
    status: u16,
    applied: bool,
    close: bool,
}

/// Sends `request` and reads one HTTP/1.1 response (Content-Length or chunked).
async fn exchange(
    stream: &mut TcpStream,
    request: &[u8],
    buffer: &mut Vec<u8>,
) -> std::io::Result<Answer> {
    stream.write_all(request).await?;
    buffer.clear();
    let head_end = loop {
        read_more(stream, buffer).await?;
        if let Some(at) = find(buffer, b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = &buffer[..head_end];
    let status = head
        .get(9..12)
        .and_then(|digits| std::str::from_utf8(digits).ok())
        .and_then(|digits| digits.parse::<u16>().ok())
        .ok_or_else(|| std::io::Error::other("not an HTTP response"))?;
    let mut content_length = None;
    let mut chunked = false;
    let mut close = false;
    for line in head.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if name.eq_ignore_ascii_case(b"content-length") {
            content_length = std::str::from_utf8(value)
                .ok()
                .and_then(|value| value.parse::<usize>().ok());
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            chunked = value.eq_ignore_ascii_case(b"chunked");
        } else if name.eq_ignore_ascii_case(b"connection") {
            close = value.eq_ignore_ascii_case(b"close");
        }
    }
    match (content_length, chunked) {
        (Some(length), false) => {
            while buffer.len() < head_end + length {
                read_more(stream, buffer).await?;
            }
        }
        (_, true) => {
            while !buffer[head_end..].ends_with(b"0\r\n\r\n") {
                read_more(stream, buffer).await?;
            }
        }
        (None, false) => close = true,
    }
    let applied = status == 200 && find(&buffer[head_end..], b"\"outcome\":\"applied\"").is_some();
    Ok(Answer {
        status,
        applied,
        close,
    })
}

async fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> std::io::Result<()> {
    if buffer.capacity() - buffer.len() < 1024 {
        buffer.reserve(4096);
    }
    if stream.read_buf(buffer).await? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// A small, fast generator for picking senders.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// What the pgbench script does beyond the four writes.
#[derive(Clone, Copy)]
struct PgbenchExtras {
    /// `pg_notify` per reply, as the service announces each one.
    notify: bool,
    /// Adds the reply to the organization's row in `sms_unread_totals`.
    unread_total: bool,
}

struct PgbenchResult {
    tps: f64,
    latency_ms: Option<String>,
    failed: Option<String>,
}

/// Runs pgbench with the reply's writes, one transaction per reply.
fn run_pgbench(
    database_url: &str,
    organization: &str,
    payload: &str,
    duration: Duration,
    extras: PgbenchExtras,
) -> Result<PgbenchResult, String> {
    if payload.contains(':') || payload.contains('\'') {
        return Err("the payload cannot be quoted for pgbench".to_owned());
    }
    let notify = if extras.notify {
        "SELECT pg_notify('nextal_sms_events', '{\"o\":\":org\",\"k\":\"message.received\",\"t\":\"01936b2e-7c1a-7cc0-a6f5-3f0c2b1d9e10\",\"m\":\"01936b2e-7c1a-7cc0-a6f5-3f0c2b1d9e11\",\"s\":\"received\"}');\n"
    } else {
        ""
    };
    let unread_total = if extras.unread_total {
        "INSERT INTO sms_unread_totals (organization_id, unread) VALUES (':org', 1)
  ON CONFLICT (organization_id) DO UPDATE SET unread = sms_unread_totals.unread + 1;\n"
    } else {
        ""
    };
    // `:org` and `:n` are substituted by pgbench (simple protocol: as text).
    let script = format!(
        "\\set n random(0, {last_sender})
BEGIN;
WITH delivery AS (
  INSERT INTO webhook_deliveries (id, organization_id, provider, kind, provider_message_id,
                                  content_type, payload, outcome, received_at)
  VALUES (gen_random_uuid()::text, ':org', 'clicksend', 'inbound', gen_random_uuid()::text,
          'application/x-www-form-urlencoded', '{payload}', 'applied', now() AT TIME ZONE 'UTC')
  RETURNING provider_message_id
), owner AS (
  SELECT id FROM candidates
  WHERE organization_id = ':org' AND phone = '+614' || (10000000 + :n)
  ORDER BY updated_at DESC LIMIT 1
), thread AS (
  INSERT INTO sms_threads (id, organization_id, phone, candidate_id, unread_count,
                           last_message_at, last_message_preview, created_at, updated_at,
                           candidate_ambiguous)
  VALUES (gen_random_uuid()::text, ':org', '+614' || (10000000 + :n), (SELECT id FROM owner), 0,
          NULL, NULL, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC', false)
  ON CONFLICT (organization_id, phone) DO UPDATE
  SET candidate_id = COALESCE(sms_threads.candidate_id, EXCLUDED.candidate_id),
      candidate_ambiguous = EXCLUDED.candidate_ambiguous
  RETURNING id, phone, candidate_id
)
INSERT INTO sms_messages (id, organization_id, thread_id, candidate_id, batch_id, direction, body,
                          encoding, segments, status, status_reason, provider, from_number,
                          to_number, provider_message_id, price, sent_by, template_id, send_at,
                          next_attempt_at, attempts, lease_expires_at, created_at, updated_at)
SELECT gen_random_uuid()::text, ':org', thread.id, thread.candidate_id, NULL, 'inbound', '{REPLY}',
       'GSM-7', 1, 'received', NULL, 'clicksend', thread.phone, '{OUR_NUMBER}',
       delivery.provider_message_id, NULL, NULL, NULL, now() AT TIME ZONE 'UTC',
       now() AT TIME ZONE 'UTC', 0, NULL, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
FROM thread, delivery
ON CONFLICT DO NOTHING;
UPDATE sms_threads
SET unread_count = unread_count + 1, last_message_at = now() AT TIME ZONE 'UTC',
    last_message_preview = '{REPLY}', updated_at = now() AT TIME ZONE 'UTC'
WHERE organization_id = ':org' AND phone = '+614' || (10000000 + :n);
{unread_total}{notify}END;
",
        last_sender = SENDERS - 1,
    );
    // pgbench runs each SQL command of a script up to its terminating semicolon; keep
    // every statement on the lines above.
    let mut file = tempfile::Builder::new()
        .prefix("nextal-webhooks-")
        .suffix(".sql")
        .tempfile()
        .map_err(|error| error.to_string())?;
    file.write_all(script.as_bytes())
        .map_err(|error| error.to_string())?;
    let output = Command::new("pgbench")
        .args(["-n", "-c", &CONNECTIONS.to_string(), "-j", "2", "-T"])
        .arg(duration.as_secs().to_string())
        .arg("-f")
        .arg(file.path())
        .arg("-D")
        .arg(format!("org={organization}"))
        .arg(database_url)
        .output()
        .map_err(|error| format!("pgbench could not start: {error}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let value_after = |prefix: &str| {
        stdout
            .lines()
            .find_map(|line| line.trim().strip_prefix(prefix))
            .map(|rest| rest.trim().to_owned())
    };
    let tps = stdout
        .lines()
        .find(|line| line.contains("(without initial connection time)"))
        .and_then(|line| line.trim().strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|value| value.parse::<f64>().ok());
    match tps {
        Some(tps) if output.status.success() => Ok(PgbenchResult {
            tps,
            latency_ms: value_after("latency average =")
                .map(|value| value.trim_end_matches(" ms").to_owned()),
            failed: value_after("number of failed transactions:"),
        }),
        _ => Err(format!(
            "pgbench failed ({}): {}{}",
            output.status,
            stdout,
            String::from_utf8_lossy(&output.stderr)
        )),
    }
}
