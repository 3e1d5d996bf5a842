// Compiled with `tsc --strict` against the client generated from the committed
// openapi/openapi.json (.ci/typescript-client). Every closed set of the contract must
// reach the client as a union of literals: each `exhaustive` switch below stops
// compiling if a set becomes `string` (the `never` check fails) or gains a value
// nobody handles here.
import createClient from "openapi-fetch";

import type { components, paths } from "./generated/schema";

type Schemas = components["schemas"];

/** Fails to compile unless `T` is a union of string literals (not `string`). */
type LiteralUnion<T> = string extends T ? never : T;

function unreachable(value: never): never {
  throw new Error(`unhandled value ${String(value)}`);
}

export function statusLabel(status: LiteralUnion<Schemas["MessageStatus"]>): string {
  switch (status) {
    case "scheduled":
    case "queued":
    case "sending":
      return "pending";
    case "sent":
    case "delivered":
    case "received":
      return "ok";
    case "undelivered":
    case "failed":
    case "cancelled":
      return "stopped";
    default:
      return unreachable(status);
  }
}

export function directionArrow(direction: LiteralUnion<Schemas["Direction"]>): string {
  switch (direction) {
    case "inbound":
      return "←";
    case "outbound":
      return "→";
    default:
      return unreachable(direction);
  }
}

export function providerName(provider: LiteralUnion<Schemas["ProviderKind"]>): string {
  switch (provider) {
    case "clicksend":
      return "ClickSend";
    case "twilio":
      return "Twilio";
    default:
      return unreachable(provider);
  }
}

export function charactersPerSms(encoding: LiteralUnion<Schemas["SmsEncoding"]>): number {
  switch (encoding) {
    case "GSM-7":
      return 160;
    case "UCS-2":
      return 70;
    default:
      return unreachable(encoding);
  }
}

export function skipText(reason: LiteralUnion<Schemas["SkipReason"]>): string {
  switch (reason) {
    case "not_found":
    case "no_phone":
    case "opted_out":
    case "not_mobile":
    case "duplicate_number":
    case "too_long":
    case "empty_text":
      return reason.replace("_", " ");
    default:
      return unreachable(reason);
  }
}

export function failureAdvice(reason: LiteralUnion<Schemas["FailureReason"]>): string {
  switch (reason) {
    case "unreachable":
    case "expired":
      return "try again later";
    case "not_mobile":
      return "call instead";
    case "opted_out":
      return "do not text";
    case "carrier_blocked":
    case "invalid_number":
    case "unknown":
      return "check the number";
    default:
      return unreachable(reason);
  }
}

export function roleText(role: LiteralUnion<Schemas["UserRole"]>): string {
  switch (role) {
    case "admin":
      return "Admin";
    case "recruiter":
      return "Recruiter";
    default:
      return unreachable(role);
  }
}

/** What the audit log's screen says for each recorded change. */
export function auditText(action: LiteralUnion<Schemas["AuditAction"]>): string {
  switch (action) {
    case "candidate.created":
    case "candidate.updated":
      return "Candidate";
    case "integration.updated":
    case "integration.deactivated":
    case "integration.secret_set":
    case "integration.test_sms_sent":
    case "integration.webhook_token_rotated":
    case "integration.webhooks_registered":
      return "SMS provider";
    case "job.created":
      return "Job";
    case "organization.updated":
      return "Organization";
    case "template.created":
    case "template.updated":
    case "template.deleted":
      return "Template";
    case "thread.assigned":
      return "Conversation";
    case "user.created":
    case "user.updated":
      return "User";
    default:
      return unreachable(action);
  }
}

// The fields that carry those sets use them, not `string`.
const message = null as unknown as Schemas["SmsMessage"];
statusLabel(message.status);
directionArrow(message.direction);
providerName(message.provider);
charactersPerSms(message.encoding);
if (message.failure_reason) {
  failureAdvice(message.failure_reason);
}
statusLabel(message.history[0]?.status ?? "queued");
providerName((null as unknown as Schemas["IntegrationCard"]).provider);
charactersPerSms((null as unknown as Schemas["Preview"]).encoding);
roleText((null as unknown as Schemas["User"]).role);
auditText((null as unknown as Schemas["AuditEntry"]).action);
const bearer: "Bearer" = (null as unknown as Schemas["Session"]).token_type;
void bearer;
const batch = null as unknown as Schemas["Batch"];
for (const skipped of batch.skipped) {
  skipText(skipped.reason);
}

// `statuses` is a map over the status enum: a known status is a key, anything else is not.
const sent: number | undefined = batch.statuses.sent;
// @ts-expect-error `shipped` is no message status.
batch.statuses.shipped;
void sent;

// A send carries `body` or `template_id`, not both.
const byText: Schemas["NewSmsMessage"] = { candidate_id: "0190…", body: "Hi" };
const byTemplate: Schemas["NewSmsMessage"] = { candidate_id: "0190…", template_id: "0191…" };
// @ts-expect-error neither body nor template_id.
const neither: Schemas["NewSmsMessage"] = { candidate_id: "0190…" };
void [byText, byTemplate, neither];

// Unknown fields are refused by the server; the types refuse them too.
const login: Schemas["Credentials"] = {
  email: "admin@localhost",
  password: "correct horse battery staple",
  // @ts-expect-error no such field.
  remember_me: true,
};
void login;

// A problem's type is one of the listed URIs, not any string.
const taken: LiteralUnion<Schemas["Problem"]["type"]> = "https://nextal.app/problems/email-taken";
// @ts-expect-error no such problem type.
const unheard: Schemas["Problem"]["type"] = "https://nextal.app/problems/teapot";
void [taken, unheard];

// Each error answer's body carries its own status.
const gone: Schemas["Problem404"]["status"] = 404;
// @ts-expect-error a 404 problem is no 409.
const conflict: Schemas["Problem404"]["status"] = 409;
void [gone, conflict];

// The typed client: paths, parameters and answers come from the contract.
const client = createClient<paths>({ baseUrl: "http://localhost:8080" });

export async function queuedCount(batchId: string): Promise<number> {
  const { data, error } = await client.GET("/sms/batches/{id}", {
    params: { path: { id: batchId } },
  });
  if (error) {
    throw new Error(`${error.status} ${error.title}: ${error.detail}`);
  }
  return data.statuses.queued ?? 0;
}

export async function textCandidate(candidateId: string, body: string): Promise<string> {
  const { data, error } = await client.POST("/sms/messages", {
    body: { candidate_id: candidateId, body },
  });
  if (error) {
    throw new Error(error.detail);
  }
  return statusLabel(data.status);
}
