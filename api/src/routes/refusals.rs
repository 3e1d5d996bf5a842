//! Refusals that many operations share, documented once. Each type names a set of
//! problem answers that an operation lists in its `responses(...)` beside its own; the
//! generic integration panels (`panel_docs`) build theirs from the same pieces.

use std::collections::BTreeMap;

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{IntoResponses, PartialSchema};

/// The media type of every problem answer.
const PROBLEM_JSON: &str = "application/problem+json";

/// 401: the operation needs a session.
pub const NO_SESSION: (&str, &str) = ("401", "No valid session");
/// 403: admins only.
pub const NOT_ADMIN: (&str, &str) = ("403", "Not an admin");
/// 400: the body is not well-formed JSON.
pub const MALFORMED: (&str, &str) = ("400", "Malformed JSON");
/// 413: the body is larger than the cap.
pub const TOO_LARGE: (&str, &str) = ("413", "Body too large");
/// 415: the body is not JSON.
pub const NOT_JSON: (&str, &str) = ("415", "Body is not JSON");

/// An answer described by `description` whose body is a `Problem`.
pub fn problem_answer(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        PROBLEM_JSON,
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Problem")))
            .build(),
    )
}

fn answers(problems: &[(&str, &str)]) -> BTreeMap<String, RefOr<Response>> {
    problems
        .iter()
        .map(|(status, description)| {
            (
                (*status).to_owned(),
                problem_answer(description).build().into(),
            )
        })
        .collect()
}

/// 401 without a valid session.
pub struct NoSession;

impl IntoResponses for NoSession {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        answers(&[NO_SESSION])
    }
}

/// 403 for a signed-in member who is not an admin.
pub struct AdminsOnly;

impl IntoResponses for AdminsOnly {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        answers(&[NOT_ADMIN])
    }
}

/// 400, 413 and 415: a JSON body the service could not take.
pub struct BodyRefusals;

impl IntoResponses for BodyRefusals {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        answers(&[MALFORMED, TOO_LARGE, NOT_JSON])
    }
}

/// 422 naming each refused field in `errors`.
pub struct InvalidFields;

impl IntoResponses for InvalidFields {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        answers(&[("422", "Invalid fields")])
    }
}

/// 429 when a send would pass the organization's daily cap, with `Retry-After`.
pub struct DailyCapReached;

impl IntoResponses for DailyCapReached {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let retry_after = HeaderBuilder::new()
            .schema(Some(u64::schema()))
            .description(Some(
                "Seconds until the organization's next midnight, when the count restarts",
            ))
            .build();
        let answer = problem_answer(
            "The organization's daily send cap would be exceeded: nothing was queued; \
             `detail` states the cap and what remains today",
        )
        .header("Retry-After", retry_after)
        .build();
        BTreeMap::from([("429".to_owned(), answer.into())])
    }
}
