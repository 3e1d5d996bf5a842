//! Fake provider behaviour for wiremock.

use serde_json::{Value, json};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// ClickSend answering SUCCESS for every message of a send, with `CS-<custom_string>`
/// as its message id.
pub struct ClickSendAccepts;

impl Respond for ClickSendAccepts {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let messages: Vec<Value> = body["messages"]
            .as_array()
            .map(|messages| {
                messages
                    .iter()
                    .map(|m| {
                        json!({"to": m["to"], "body": m["body"], "status": "SUCCESS",
                               "custom_string": m["custom_string"],
                               "message_id": format!("CS-{}", m["custom_string"].as_str().unwrap_or_default()),
                               "message_parts": 1, "message_price": "0.0700"})
                    })
                    .collect()
            })
            .unwrap_or_default();
        ResponseTemplate::new(200).set_body_json(json!({
            "http_code": 200, "response_code": "SUCCESS", "response_msg": "Messages queued for delivery.",
            "data": {"total_count": messages.len(), "queued_count": messages.len(), "messages": messages}
        }))
    }
}

/// ClickSend's automation rules for `register-webhooks`: none exist yet, and creating
/// the inbound and receipt rules succeeds.
pub async fn clicksend_creates_webhook_rules(clicksend: &MockServer) {
    let rules = "^/v3/automations/sms/(inbound|receipts)$";
    Mock::given(method("GET"))
        .and(path_regex(rules))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "http_code": 200, "response_code": "SUCCESS", "response_msg": "ok",
            "data": {"total": 0, "current_page": 1, "last_page": 1, "data": []}
        })))
        .mount(clicksend)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(rules))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "http_code": 200, "response_code": "SUCCESS",
            "data": {"inbound_rule_id": 41, "receipt_rule_id": 42}
        })))
        .mount(clicksend)
        .await;
}
