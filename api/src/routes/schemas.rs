//! Response and request bodies shared by several resources.

use chrono::{DateTime, NaiveDateTime, Utc};
use nextal_domain::Role;
use nextal_persistence::repo::users::User;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::schema::{
    AnyOfBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::{OpenApi, RefOr};

/// A stored UTC time as RFC 3339.
pub fn utc(time: NaiveDateTime) -> DateTime<Utc> {
    time.and_utc()
}

/// What a user may do.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserRole {
    /// Manages the organization, users and SMS providers.
    Admin,
    /// Texts candidates and works the inbox.
    Recruiter,
}

impl From<UserRole> for Role {
    fn from(role: UserRole) -> Self {
        match role {
            UserRole::Admin => Role::Admin,
            UserRole::Recruiter => Role::Recruiter,
        }
    }
}

/// A user of the organization.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = User)]
pub struct UserBody {
    #[schema(format = Uuid, example = "01936b2e-7c1a-7cc0-a6f5-3f0c2b1d9e10")]
    pub id: String,
    #[schema(example = "ann.lee@example.com")]
    pub email: String,
    #[schema(example = "Ann")]
    pub first_name: String,
    #[schema(example = "Lee")]
    pub last_name: String,
    pub role: UserRole,
    /// Inactive users cannot sign in.
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<User> for UserBody {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            email: user.email,
            first_name: user.first_name,
            last_name: user.last_name,
            // The column's CHECK constraint admits only these two values.
            role: if user.role == Role::Admin.as_str() {
                UserRole::Admin
            } else {
                UserRole::Recruiter
            },
            active: user.active,
            created_at: utc(user.created_at),
            updated_at: utc(user.updated_at),
        }
    }
}

/// For `#[serde(default, deserialize_with = "nullable")]` on an `Option<Option<T>>`
/// field of a PATCH body: absent stays `None` (keep), `null` becomes `Some(None)`
/// (clear), a value becomes `Some(Some(value))`.
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// As [`nullable`], for a whole number: JSON Schema counts `5.0` as an integer, so it is
/// read as 5; a fraction or a number out of range is refused.
pub fn nullable_whole_number<'de, D>(deserializer: D) -> Result<Option<Option<i64>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(Some(None));
    };
    let whole = number.as_i64().or_else(|| {
        number
            .as_f64()
            .filter(|value| value.fract() == 0.0 && value.abs() < 9.0e15)
            // Checked above: a whole number well inside i64's range.
            .map(|value| value as i64)
    });
    whole
        .map(|value| Some(Some(value)))
        .ok_or_else(|| serde::de::Error::custom(format!("{number} is not a whole number")))
}

/// How the shapes of a request combine in [`shapes`].
#[derive(Debug, Clone, Copy)]
pub enum Choice {
    /// `oneOf`: the request has exactly one of the shapes.
    ExactlyOne,
    /// `anyOf`: the request has at least one of them.
    AtLeastOne,
}

/// One shape of a request: the derived object with field `required` present and not
/// null, the fields `nulls` absent or null, and the fields `absent` absent (the derived
/// objects refuse unknown fields, so a field left out of `properties` must be absent).
#[derive(Debug, Clone, Copy, Default)]
pub struct Shape<'a> {
    pub required: Option<&'a str>,
    pub nulls: &'a [&'a str],
    pub absent: &'a [&'a str],
}

/// Replaces the derived schema `name` in `document` by the shapes a request may take,
/// where a rule between fields is not a rule of any one field (`body` or `template_id`,
/// `stage` only with `job_id`).
pub fn shapes(document: &mut OpenApi, name: &str, choice: Choice, shapes: &[Shape<'_>]) {
    let Some(components) = document.components.as_mut() else {
        return;
    };
    let Some(RefOr::T(Schema::Object(request))) = components.schemas.get(name) else {
        return;
    };
    let shape = |spec: &Shape<'_>| {
        let mut shape = request.clone();
        shape.description = None;
        if let Some(required) = spec.required {
            shape.required.push(required.to_owned());
            if let Some(RefOr::T(Schema::Object(field))) = shape.properties.get_mut(required) {
                field.schema_type = non_null(&field.schema_type);
            }
        }
        for null in spec.nulls {
            shape.properties.insert(
                (*null).to_owned(),
                ObjectBuilder::new().schema_type(Type::Null).into(),
            );
        }
        for absent in spec.absent {
            shape.properties.remove(*absent);
        }
        shape
    };
    let description = request.description.clone();
    let combined = match choice {
        Choice::ExactlyOne => Schema::OneOf(
            shapes
                .iter()
                .fold(OneOfBuilder::new(), |builder, spec| {
                    builder.item(shape(spec))
                })
                .description(description)
                .build(),
        ),
        Choice::AtLeastOne => Schema::AnyOf(
            shapes
                .iter()
                .fold(AnyOfBuilder::new(), |builder, spec| {
                    builder.item(shape(spec))
                })
                .description(description)
                .build(),
        ),
    };
    components.schemas.insert(name.to_owned(), combined.into());
}

/// `kind` without `null`.
fn non_null(kind: &SchemaType) -> SchemaType {
    match kind {
        SchemaType::Array(types) => {
            let mut kept = types.iter().filter(|kind| **kind != Type::Null).cloned();
            match (kept.next(), kept.next()) {
                (Some(only), None) => SchemaType::Type(only),
                (first, second) => {
                    SchemaType::from_iter(first.into_iter().chain(second).chain(kept))
                }
            }
        }
        other => other.clone(),
    }
}
