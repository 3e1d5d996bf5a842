#!/usr/bin/env python3
"""A tiny stand-in for ClickSend's REST v3, enough for Nextal SMS to send through.

    python3 scripts/fake-clicksend.py [PORT]      # default 9090

Point the service at it with NEXTAL_CLICKSEND_BASE_URL=http://127.0.0.1:PORT. Any
username and API key are accepted (HTTP Basic, as ClickSend expects). It answers:

  GET  /v3/account       a demo account (what "verify" shows)
  POST /v3/sms/send      every message accepted: SUCCESS with a fresh message id
  GET  /v3/sms/history   the messages it sent (date_from/date_to/page/limit honoured),
                         each "Sent" (status_code 200): it never delivers, and it
                         receives no replies, so there are no "in" entries
  GET  /v3/sms/receipts/ID
                         a "Sent" receipt (200) for a message it sent; 404
                         "Receipt record not found." for any other id
  GET/POST/PUT /v3/automations/sms/{inbound,receipts}[/ID]
                         the webhook rules ("register-webhooks"), kept in memory

and prints each request, with the text of every SMS it "sends". Python 3 standard
library only; nothing is sent anywhere.
"""

import base64
import itertools
import json
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

ACCOUNT = {
    "user_id": 1,
    "username": "demo",
    "account_name": "Demo",
    "balance": "10.00",
    "_currency": {"currency_name_short": "AUD"},
}
RULE_KINDS = {"inbound": "inbound_rule_id", "receipts": "receipt_rule_id"}

_lock = threading.Lock()
_rules = {kind: {} for kind in RULE_KINDS}
_next_rule_id = itertools.count(1)
_sent = {}  # message id -> history entry, in sending order


def envelope(data, msg="Success", code=200, response_code="SUCCESS"):
    return {"http_code": code, "response_code": response_code, "response_msg": msg, "data": data}


def empty_page():
    return {
        "total": 0,
        "per_page": 100,
        "current_page": 1,
        "last_page": 1,
        "next_page_url": None,
        "prev_page_url": None,
        "from": None,
        "to": None,
        "data": [],
    }


def query_int(query, name, default):
    """An integer query parameter; `default` when absent or not a number."""
    try:
        return int(query.get(name, [default])[0])
    except (TypeError, ValueError):
        return default


def history_page(query):
    """A page of the sent history, as ClickSend pages it (limit 15..100, default 15)."""
    date_from = query_int(query, "date_from", None)
    date_to = query_int(query, "date_to", None)
    limit = min(max(query_int(query, "limit", 15), 15), 100)
    page = max(query_int(query, "page", 1), 1)
    with _lock:
        entries = [
            entry
            for entry in _sent.values()
            if (date_from is None or entry["date"] >= date_from)
            and (date_to is None or entry["date"] <= date_to)
        ]
    last = max((len(entries) + limit - 1) // limit, 1)
    start = (page - 1) * limit
    data = entries[start : start + limit]
    return {
        **empty_page(),
        "total": len(entries),
        "per_page": limit,
        "current_page": page,
        "last_page": last,
        "next_page_url": f"/v3/sms/history?page={page + 1}" if page < last else None,
        "prev_page_url": f"/v3/sms/history?page={page - 1}" if page > 1 else None,
        "from": start + 1 if data else None,
        "to": start + len(data) if data else None,
        "data": data,
    }


def receipt(entry):
    """The receipt ClickSend would hold for a message still "Sent"."""
    return {
        "timestamp_send": entry["date"],
        "timestamp": entry["date"],
        "message_id": entry["message_id"],
        "status_code": "200",
        "status_text": "Sent",
        "error_code": None,
        "error_text": None,
        "custom_string": entry["custom_string"],
        "subaccount_id": 1,
        "message_type": "sms",
    }


def log(line):
    print(line, flush=True)


class Handler(BaseHTTPRequestHandler):
    server_version = "fake-clicksend/1"

    def log_message(self, *args):  # our own lines instead of the default access log
        pass

    def reply(self, status, body):
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw or b"{}")
        except ValueError:
            return None

    def username(self):
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        try:
            user, _, key = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return None
        return user if user and key else None

    def handle_any(self, method):
        path = urlsplit(self.path).path.rstrip("/")
        user = self.username()
        log(f"{method} {self.path} (user {user or '-'})")
        if user is None:
            return self.reply(
                401, envelope(None, "Invalid credentials.", 401, "INVALID_CREDENTIALS")
            )
        body = self.body() if method in ("POST", "PUT") else {}
        if body is None:
            return self.reply(400, envelope(None, "Body is not JSON.", 400, "BAD_REQUEST"))

        if (method, path) == ("GET", "/v3/account"):
            return self.reply(200, envelope(ACCOUNT, "Here's your account"))
        if (method, path) == ("POST", "/v3/sms/send"):
            return self.send_sms(body)
        if (method, path) == ("GET", "/v3/sms/history"):
            query = parse_qs(urlsplit(self.path).query)
            return self.reply(200, envelope(history_page(query), "Here are your data."))
        parts = path.split("/")  # "", "v3", "automations", "sms", KIND[, ID]
        if method == "GET" and parts[1:4] == ["v3", "sms", "receipts"] and len(parts) == 5:
            return self.receipt(unquote(parts[4]))
        if parts[1:4] == ["v3", "automations", "sms"] and len(parts) in (5, 6):
            kind = parts[4]
            if kind in RULE_KINDS:
                return self.rules(method, kind, parts[5] if len(parts) == 6 else None, body)
        return self.reply(404, envelope(None, "Not found.", 404, "NOT_FOUND"))

    def send_sms(self, body):
        sent = []
        for message in body.get("messages") or []:
            to, text = message.get("to"), message.get("body")
            log(f"  SMS to {to} from {message.get('from')}: {text}")
            entry = {
                "direction": "out",
                "date": int(time.time()),
                "to": to,
                "body": text,
                "from": message.get("from"),
                "custom_string": message.get("custom_string") or "",
                "message_id": str(uuid.uuid4()).upper(),
                "message_parts": 1,
                "message_price": "0.0792",
            }
            with _lock:
                _sent[entry["message_id"]] = {
                    **entry,
                    "status": "Sent",
                    "status_code": "200",
                    "status_text": "Sent",
                    "error_code": None,
                    "error_text": None,
                }
            # The send answer echoes custom_string as given; the history says "" for none.
            sent.append(
                {**entry, "custom_string": message.get("custom_string"), "status": "SUCCESS"}
            )
        data = {
            "total_price": round(0.0792 * len(sent), 4),
            "total_count": len(sent),
            "queued_count": len(sent),
            "messages": sent,
        }
        self.reply(200, envelope(data, "Messages queued for delivery."))

    def receipt(self, message_id):
        with _lock:
            entry = _sent.get(message_id.upper())
        if entry is None:
            return self.reply(
                404, envelope(None, "Receipt record not found.", 404, "NOT_FOUND")
            )
        return self.reply(200, envelope(receipt(entry), "Here is your receipt."))

    def rules(self, method, kind, rule_id, body):
        id_key = RULE_KINDS[kind]
        with _lock:
            rules = _rules[kind]
            if method == "GET" and rule_id is None:
                page = empty_page()
                page["data"] = list(rules.values())
                page["total"] = len(rules)
                return self.reply(200, envelope(page))
            if method == "POST" and rule_id is None:
                rule_id = str(next(_next_rule_id))
            elif method != "PUT" or rule_id not in rules:
                return self.reply(404, envelope(None, "Not found.", 404, "NOT_FOUND"))
            rules[rule_id] = {**body, id_key: int(rule_id)}
            log(f"  {kind} rule {rule_id} -> {body.get('action_address')}")
            return self.reply(200, envelope(rules[rule_id]))

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_DELETE(self):
        self.handle_any("DELETE")


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9090
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    log(f"Fake ClickSend listening on http://127.0.0.1:{port} (Ctrl-C stops it)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
