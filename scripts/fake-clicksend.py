#!/usr/bin/env python3
"""A tiny stand-in for ClickSend's REST v3, enough for Nextal SMS to send through.

    python3 scripts/fake-clicksend.py [PORT]      # default 9090

Point the service at it with NEXTAL_CLICKSEND_BASE_URL=http://127.0.0.1:PORT. Any
username and API key are accepted (HTTP Basic, as ClickSend expects). It answers:

  GET  /v3/account       a demo account (what "verify" shows)
  POST /v3/sms/send      every message accepted: SUCCESS with a fresh message id
  GET  /v3/sms/history   an empty page
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
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

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
            return self.reply(200, envelope(empty_page(), "Here are your data."))
        parts = path.split("/")  # "", "v3", "automations", "sms", KIND[, ID]
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
            sent.append(
                {
                    "direction": "out",
                    "to": to,
                    "body": text,
                    "from": message.get("from"),
                    "custom_string": message.get("custom_string"),
                    "message_id": str(uuid.uuid4()).upper(),
                    "message_parts": 1,
                    "message_price": "0.0792",
                    "status": "SUCCESS",
                }
            )
        data = {
            "total_price": round(0.0792 * len(sent), 4),
            "total_count": len(sent),
            "queued_count": len(sent),
            "messages": sent,
        }
        self.reply(200, envelope(data, "Messages queued for delivery."))

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
