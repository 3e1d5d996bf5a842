//! Outbox benchmark: 10,000 messages through a local fake ClickSend.
//!
//! `NEXTAL_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p nextal-tests --bench outbox`
//! (SQLite without the variable). Prints the time to accept the bulk request, the time
//! until every message was handed over, the provider requests made and the peak memory
//! of this process (service, fake provider and driver together: an upper bound).

use std::time::{Duration, Instant};

use chrono::Utc;
use nextal_tests::fakes::ClickSendAccepts;
use nextal_tests::{AppOptions, NewCandidate, backend_name, spawn_app_with};
use serde_json::{Value, json};
use wiremock::Mock;
use wiremock::matchers::{method, path};

const MESSAGES: usize = 10_000;

#[tokio::main]
#[allow(clippy::print_stdout, reason = "a benchmark prints its figures")]
async fn main() {
    let app = spawn_app_with(AppOptions {
        background_dispatcher: true,
        ..AppOptions::default()
    })
    .await;
    let admin = app.admin_token().await;
    app.put(
        "/integrations/clicksend",
        Some(&admin),
        &json!({"active": true, "phone_number": "+61411111111", "username": "bench"}),
    )
    .await;
    app.put(
        "/integrations/clicksend/api-key",
        Some(&admin),
        &json!({"api_key": "bench-key-123"}),
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/v3/sms/send"))
        .respond_with(ClickSendAccepts)
        .mount(&app.clicksend)
        .await;
    let organization = app.organization_id(&admin).await;
    let ids = app
        .insert_candidates(
            &organization,
            (0..MESSAGES)
                .map(|n| {
                    NewCandidate::new(
                        &format!("Candidate{n}"),
                        &format!("+614{:08}", 10_000_000 + n),
                    )
                })
                .collect(),
        )
        .await;

    let started = Instant::now();
    let response = app
        .post(
            "/sms/bulk",
            Some(&admin),
            &json!({"candidate_ids": ids, "body": "Hi {{candidate.first_name}}, a role for you"}),
        )
        .await;
    let accepted_after = started.elapsed();
    assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);
    let batch: Value = response.json().await.expect("JSON");
    let batch_path = format!(
        "/sms/batches/{}",
        batch["batch_id"].as_str().expect("an id")
    );
    assert_eq!(batch["accepted"], MESSAGES);

    let handed_over_after = loop {
        let progress: Value = app
            .get(&batch_path, Some(&admin))
            .await
            .json()
            .await
            .expect("JSON");
        if progress["statuses"]["sent"].as_u64() == Some(MESSAGES as u64) {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "not handed over: {progress}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let requests = app
        .clicksend
        .received_requests()
        .await
        .expect("recorded")
        .len();

    println!(
        "outbox benchmark ({} backend, {MESSAGES} messages, {})",
        backend_name(),
        Utc::now().format("%Y-%m-%d")
    );
    println!(
        "  accepted (POST /sms/bulk answered 202): {:>8.1} ms",
        accepted_after.as_secs_f64() * 1000.0
    );
    println!(
        "  all handed over (status sent):          {:>8.1} ms",
        handed_over_after.as_secs_f64() * 1000.0
    );
    println!("  provider requests:                      {requests:>8}");
    println!(
        "  peak RSS of the whole bench process:    {:>8.1} MiB",
        peak_rss_mib()
    );
}

/// VmHWM of this process, from /proc (Linux).
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}
