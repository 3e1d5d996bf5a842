#!/usr/bin/env python3
"""A tiny stand-in for Twilio's Programmable Messaging API, enough for Nextal SMS.

    python3 scripts/fake-twilio.py [PORT]      # default 9091

Point the service at it with NEXTAL_TWILIO_BASE_URL=http://127.0.0.1:PORT. Any Account
SID and auth token are accepted (HTTP Basic). It answers, under
/2010-04-01/Accounts/{AccountSid}:

  GET  .json                          an active demo account ("verify")
  GET  /Balance.json                  a balance
  GET  /IncomingPhoneNumbers.json     the asked-for number, as owned ("register-webhooks")
  POST /IncomingPhoneNumbers/{Sid}.json   the number's SMS URL saved
  POST /Messages.json                 every message queued, with a fresh SM sid
  GET  /Messages.json                 the messages it sent from that account, "sent"
                                      (it never delivers), DateSent>= honoured, one
                                      page (next_page_uri null); no inbound: it
                                      receives no replies
  GET  /Messages/{Sid}.json           one of them; 404 (code 20404) for any other sid

and prints each request. Python 3 standard library only; nothing is sent anywhere.
"""

import json
import re
import sys
import threading
import uuid
from datetime import datetime, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

ACCOUNT_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[^/]+?)(?P<rest>\.json|/.*)$")
MESSAGE_PATH = re.compile(r"^/Messages/(?P<sid>[^/]+)\.json$")

_lock = threading.Lock()
_sent = {}  # message sid -> (account sid, sent at, Message resource), in sending order


def not_found(path):
    return {
        "code": 20404,
        "message": f"The requested resource {path} was not found",
        "more_info": "https://www.twilio.com/docs/errors/20404",
        "status": 404,
    }


def date_sent_from(query):
    """The DateSent>= filter as a UTC datetime (YYYY-MM-DDTHH:MM:SSZ or YYYY-MM-DD)."""
    raw = (query.get("DateSent>") or [""])[0]
    for layout in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d"):
        try:
            return datetime.strptime(raw, layout).replace(tzinfo=timezone.utc)
        except ValueError:
            pass
    return None


def message_list(account_sid, path, query):
    """Every message the account sent on or after DateSent>=, newest first, one page."""
    since = date_sent_from(query)
    with _lock:
        messages = [
            message
            for owner, sent_at, message in reversed(list(_sent.values()))
            if owner == account_sid and (since is None or sent_at >= since)
        ]
    return {
        "messages": messages,
        "next_page_uri": None,
        "previous_page_uri": None,
        "first_page_uri": path,
        "uri": path,
        "page": 0,
        "page_size": len(messages),
        "start": 0,
        "end": max(len(messages) - 1, 0),
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self, method):
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode("utf-8", "replace")) if length else {}
        print(f"{method} {url.path}", flush=True)
        if not (self.headers.get("Authorization") or "").startswith("Basic "):
            return self.reply(401, {"code": 20003, "message": "Authenticate", "status": 401})
        match = ACCOUNT_PATH.match(url.path)
        if not match:
            return self.reply(404, {"code": 20404, "message": "Not found", "status": 404})
        sid, rest = match["sid"], match["rest"]
        if method == "GET" and rest == ".json":
            return self.reply(200, {"sid": sid, "friendly_name": "Demo", "status": "active"})
        if method == "GET" and rest == "/Balance.json":
            return self.reply(200, {"account_sid": sid, "balance": "10.00", "currency": "USD"})
        if method == "GET" and rest == "/IncomingPhoneNumbers.json":
            number = parse_qs(url.query).get("PhoneNumber", ["+14155550100"])[0]
            owned = {"sid": "PN" + uuid.uuid4().hex, "phone_number": number}
            return self.reply(200, {"incoming_phone_numbers": [owned]})
        if method == "POST" and rest.startswith("/IncomingPhoneNumbers/"):
            number_sid = rest.split("/")[-1].removesuffix(".json")
            return self.reply(200, {"sid": number_sid, "sms_url": form.get("SmsUrl", [""])[0]})
        if method == "POST" and rest == "/Messages.json":
            to, body = form.get("To", [""])[0], form.get("Body", [""])[0]
            print(f"  SMS to {to}: {body}", flush=True)
            message = {"sid": "SM" + uuid.uuid4().hex, "status": "queued", "to": to,
                       "body": body, "num_segments": "1", "price": None}
            self.remember(sid, message, form.get("From", [None])[0])
            return self.reply(201, message)
        if method == "GET" and rest == "/Messages.json":
            return self.reply(200, message_list(sid, url.path, parse_qs(url.query)))
        found = MESSAGE_PATH.match(rest)
        if method == "GET" and found:
            with _lock:
                entry = _sent.get(unquote(found["sid"]))
            if entry is None or entry[0] != sid:
                return self.reply(404, not_found(url.path))
            return self.reply(200, entry[2])
        return self.reply(404, {"code": 20404, "message": "Not found", "status": 404})

    def remember(self, account_sid, created, sender):
        """Keeps a sent message as the Messages resource will show it later: "sent"."""
        now = datetime.now(timezone.utc).replace(microsecond=0)
        stamp = format_datetime(now)  # RFC 2822, as Twilio writes dates
        message_sid = created["sid"]
        message = {
            **created,
            "account_sid": account_sid,
            "from": sender,
            "status": "sent",
            "direction": "outbound-api",
            "num_media": "0",
            "api_version": "2010-04-01",
            "price_unit": "USD",
            "error_code": None,
            "error_message": None,
            "date_created": stamp,
            "date_updated": stamp,
            "date_sent": stamp,
            "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{message_sid}.json",
        }
        with _lock:
            _sent[message_sid] = (account_sid, now, message)

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9091
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"Fake Twilio listening on http://127.0.0.1:{port} (Ctrl-C stops it)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
