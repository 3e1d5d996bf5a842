//! Typed problem bodies: every error response of the document names the problem schema
//! of its status (`Problem404`: a `Problem` whose `status` is 404), so a client generated
//! from the contract knows, per response, which status the body carries; and a problem's
//! `type` is one of the closed set of [`ProblemKind`] URIs.

use std::collections::BTreeSet;

use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::{OpenApi, Ref, RefOr};

use crate::problem_kind::ProblemKind;

/// The media type of every error response.
const PROBLEM_JSON: &str = "application/problem+json";

/// Points each `application/problem+json` response at `Problem{status}` and adds those
/// schemas.
pub fn document(document: &mut OpenApi) {
    let mut statuses = BTreeSet::new();
    for item in document.paths.paths.values_mut() {
        for operation in operations(item) {
            for (status, response) in &mut operation.responses.responses {
                let RefOr::T(response) = response else {
                    continue;
                };
                let Some(RefOr::T(content)) = response.content.get_mut(PROBLEM_JSON) else {
                    continue;
                };
                let Ok(status) = status.parse::<u16>() else {
                    continue;
                };
                content.schema = Some(Ref::from_schema_name(schema_name(status)).into());
                statuses.insert(status);
            }
        }
    }
    let components = document.components.get_or_insert_with(Default::default);
    if let Some(RefOr::T(Schema::Object(problem))) = components.schemas.get_mut("Problem")
        && let Some(RefOr::T(Schema::Object(problem_type))) = problem.properties.get_mut("type")
    {
        problem_type.enum_values = Some(
            ProblemKind::ALL
                .iter()
                .map(|kind| kind.uri().into())
                .collect(),
        );
    }
    for status in statuses {
        components
            .schemas
            .insert(schema_name(status), problem_of(status));
    }
}

/// The name of the problem schema of `status`, e.g. `Problem404`.
pub fn schema_name(status: u16) -> String {
    format!("Problem{status}")
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// A `Problem` whose `status` is `status`.
fn problem_of(status: u16) -> RefOr<Schema> {
    AllOfBuilder::new()
        .item(Ref::from_schema_name("Problem"))
        .item(
            ObjectBuilder::new()
                .property(
                    "status",
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .enum_values(Some([status])),
                )
                .required("status"),
        )
        .description(Some(format!("A problem answered with HTTP {status}.")))
        .into()
}
