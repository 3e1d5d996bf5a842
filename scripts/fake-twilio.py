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

and prints each request. Python 3 standard library only; nothing is sent anywhere.
"""

import json
import re
import sys
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ACCOUNT_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[^/]+?)(?P<rest>\.json|/.*)$")


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
            return self.reply(
                201,
                {"sid": "SM" + uuid.uuid4().hex, "status": "queued", "to": to,
                 "body": body, "num_segments": "1", "price": None},
            )
        return self.reply(404, {"code": 20404, "message": "Not found", "status": 404})

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
