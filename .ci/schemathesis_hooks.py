"""Schemathesis hooks of the contract run (.ci/contract): the two rules of the contract
that JSON Schema cannot state.

The contract states phone numbers as `format: phone`: a number the numbering plan knows,
international (`+…`) or national to the organization's default country. No regular
expression can say which digit strings a numbering plan assigns, so this teaches the
generator the format with real, valid numbers of several countries (international form,
some with the spacing people type). Negative tests still send strings that are not
numbers; the service refuses them with 422.
"""

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


@schemathesis.hook
def map_body(context, body):
    """`send_at` may be at most a year ahead of the service's clock: a rule relative to
    "now", which JSON Schema cannot state (the contract says it in words). A generated
    `send_at` further ahead becomes tomorrow; anything else the generator made, a
    malformed time included, is sent as it is."""
    if isinstance(body, dict) and isinstance(body.get("send_at"), str):
        try:
            at = datetime.fromisoformat(body["send_at"].replace("Z", "+00:00"))
        except ValueError:
            return body
        now = datetime.now(timezone.utc)
        if at.tzinfo is not None and at > now + timedelta(days=300):
            body = {**body, "send_at": (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    return body
