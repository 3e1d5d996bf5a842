"""Schemathesis hooks of the contract run (.ci/contract): the rules of the contract that
JSON Schema cannot state.

The contract states phone numbers as `format: phone`: a number the numbering plan knows,
international (`+…`) or national to the organization's default country. No regular
expression can say which digit strings a numbering plan assigns, so this teaches the
generator the format with real, valid numbers of several countries (international form,
some with the spacing people type). Negative tests still send strings that are not
numbers; the service refuses them with 422.
"""

import os
from datetime import datetime, timedelta, timezone

import schemathesis
from hypothesis import strategies as st

VALID_NUMBERS = [
    "+14155552671",
    "+14155550100",
    "+1 415 555 2671",
    "+61411111111",
    "+61 422 222 222",
    "+447911123456",
    "+44 20 7946 0958",
    "+33612345678",
    "+4915112345678",
    "+819012345678",
]

schemathesis.openapi.format("phone", st.sampled_from(VALID_NUMBERS))

# The fields of `format: phone`, by the operation paths they are sent to. The stateful
# phase does not always draw them from the strategy above (seen with 4.32.5: a
# candidate's `phone` of control and surrogate characters, refused with 422 as valid
# data), so `map_case` holds positive cases to it.
PHONE_FIELDS = {
    "phone": ("/candidates", "/candidates/{id}"),
    "phone_number": ("/integrations/clicksend", "/integrations/twilio"),
    "to": ("/test-sms",),
}


# Send operations, whose text must fit in 6 SMS segments once merged.
SENDS = ("/sms/messages", "/sms/bulk", "/sms/threads/{id}/messages", "/test-sms")


def _positive(case):
    meta = getattr(case, "_meta", None)
    return meta is None or not meta.generation.mode.is_negative


@schemathesis.hook
def map_case(context, case):
    """Positive cases only, the rules of the contract that depend on the clock or that
    JSON Schema cannot state, said in words in the descriptions:

    - `send_at` at most a year ahead of the service's clock: a later one becomes
      tomorrow;
    - a message's length in segments depends on its encoding and merged values: a text
      of a send is cut to 160 characters, which fits in 6 segments whatever its
      characters (a UCS-2 character outside the BMP takes 2 of the 402 units);
    - job stages distinct ignoring case and surrounding spaces (`uniqueItems` compares
      exactly): a repeated name gets a number;
    - quiet hours of two different times: an `end` equal to `start` moves a minute on;
    - a `format: phone` field is one of the valid numbers (see `PHONE_FIELDS`);
    - a thread's assignee is an active member of the organization (the SPEC answers
      422 for anyone else): the signed-in admin, `CONTRACT_MEMBER_ID`.

    Negative cases go out as generated, so every refusal is still tested."""
    body = case.body
    if not _positive(case) or not isinstance(body, dict):
        return case
    body = dict(body)
    send_at = body.get("send_at")
    if isinstance(send_at, str):
        try:
            at = datetime.fromisoformat(send_at.replace("Z", "+00:00"))
        except ValueError:
            at = None
        now = datetime.now(timezone.utc)
        if at is not None and at.tzinfo is not None and at > now + timedelta(days=300):
            body["send_at"] = (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    path = case.operation.path
    text = body.get("body")
    if path.endswith(SENDS) and isinstance(text, str) and len(text) > 160:
        cut = text[:160]
        # Cutting must not leave a merge field open.
        if cut.rfind("{{") > cut.rfind("}}"):
            cut = cut[: cut.rfind("{{")]
        body["body"] = cut if cut.strip() else "Hello"
    stages = body.get("stages")
    if path == "/jobs" and isinstance(stages, list):
        seen = set()
        distinct = []
        for number, name in enumerate(stages):
            key = name.strip().lower() if isinstance(name, str) else name
            if key in seen:
                name = f"Stage {number}"
                key = name.lower()
            seen.add(key)
            distinct.append(name)
        body["stages"] = distinct
    quiet = body.get("quiet_hours")
    if path == "/organization" and isinstance(quiet, dict) and quiet.get("start") == quiet.get("end"):
        start = quiet.get("start")
        if isinstance(start, str) and len(start) == 5:
            minutes = (int(start[:2]) * 60 + int(start[3:]) + 1) % (24 * 60)
            body["quiet_hours"] = {**quiet, "end": f"{minutes // 60:02}:{minutes % 60:02}"}
    for field, paths in PHONE_FIELDS.items():
        number = body.get(field)
        if any(path.endswith(known) for known in paths) and isinstance(number, str) \
                and number not in VALID_NUMBERS:
            body[field] = VALID_NUMBERS[len(number) % len(VALID_NUMBERS)]
    member = os.environ.get("CONTRACT_MEMBER_ID")
    if path == "/sms/threads/{id}/assignee" and member and isinstance(body.get("user_id"), str):
        body["user_id"] = member
    case.body = body
    return case
