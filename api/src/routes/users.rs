//! `GET/POST /users`, `GET/PATCH /users/{id}` (admins).

use actix_web::web::{Data, Json, Path, Query};
use actix_web::{HttpResponse, get, patch, post};
use nextal_domain::{EmailAddress, NewPassword, PersonName, Validation};
use nextal_openapi::Problem;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::{AdminUser, ApiJson};
use crate::pagination::{PageQuery, finish_page};
use crate::routes::refusals::{AdminsOnly, BodyRefusals, InvalidFields, NoSession};
use crate::routes::schemas::{UserBody, UserRole};
use crate::services::users::{self, NewUserInput, UserUpdate};
use crate::state::AppState;

/// A page of users.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    items: Vec<UserBody>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// A user to add.
/// No `Debug`: it holds a password.
#[derive(Deserialize, ToSchema)]
#[schema(as = NewUser)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    #[schema(
        example = "sam.ray@example.com",
        max_length = 254,
        pattern = r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^@\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f]+@(?:[Ll][Oo][Cc][Aa][Ll][Hh][Oo][Ss][Tt]|[^@.\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f][^@\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f]*\.[^@\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f]*[^@.\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f])[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    email: String,
    /// 12 to 128 characters.
    #[schema(example = "a long passphrase", format = Password, pattern = r"^[^\u0000]{12,128}$")]
    password: String,
    #[schema(
        example = "Sam",
        pattern = r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f](?:[^\u0000-\u001f\u007f-\u009f]{0,98}[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f])?[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    first_name: String,
    #[schema(
        example = "Ray",
        pattern = r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f](?:[^\u0000-\u001f\u007f-\u009f]{0,98}[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f])?[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    last_name: String,
    role: UserRole,
}

/// Changes to a user; omitted fields stay as they are.
/// No `Debug`: it may hold a password.
#[derive(Deserialize, ToSchema)]
#[schema(as = UserChanges)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    #[schema(
        pattern = r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f](?:[^\u0000-\u001f\u007f-\u009f]{0,98}[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f])?[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    first_name: Option<String>,
    #[schema(
        pattern = r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f](?:[^\u0000-\u001f\u007f-\u009f]{0,98}[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f])?[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    last_name: Option<String>,
    role: Option<UserRole>,
    /// False deactivates the user and ends their sessions.
    active: Option<bool>,
    /// A new password (12 to 128 characters); ends the user's sessions.
    #[schema(format = Password, pattern = r"^[^\u0000]{12,128}$")]
    password: Option<String>,
}

/// List the organization's users, oldest first.
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of users", body = UserPage),
        NoSession,
        AdminsOnly,
        (status = 422, description = "Invalid limit or cursor", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/users")]
pub async fn list_users(
    state: Data<AppState>,
    AdminUser(admin): AdminUser,
    query: Query<PageQuery>,
) -> Result<Json<UserPage>, ApiError> {
    let page = query.into_inner().into_request()?;
    let rows = users::list(&state.db, &admin, &page).await?;
    let (rows, next_cursor) = finish_page(rows, &page, |user| user.id.as_str());
    Ok(Json(UserPage {
        items: rows.into_iter().map(UserBody::from).collect(),
        next_cursor,
    }))
}

/// Add a user to the organization.
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    request_body = CreateUserRequest,
    responses(
        (status = 201, description = "Created", body = UserBody),
        BodyRefusals,
        NoSession,
        AdminsOnly,
        (status = 409, description = "The email is taken", body = Problem, content_type = "application/problem+json"),
        InvalidFields,
    )
)]
#[post("/users")]
pub async fn create_user(
    state: Data<AppState>,
    AdminUser(admin): AdminUser,
    body: ApiJson<CreateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner()?;
    let mut validation = Validation::new();
    let email = validation.check("email", EmailAddress::parse(&body.email));
    let password = validation.check("password", NewPassword::parse(body.password));
    let first_name = validation.check("first_name", PersonName::parse(&body.first_name));
    let last_name = validation.check("last_name", PersonName::parse(&body.last_name));
    validation.finish()?;
    let (Some(email), Some(password), Some(first_name), Some(last_name)) =
        (email, password, first_name, last_name)
    else {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "validation passed without values"
        )));
    };
    let input = NewUserInput {
        email,
        password,
        first_name,
        last_name,
        role: body.role.into(),
    };
    let user = users::create(&state.db, &state.passwords, &admin, input).await?;
    Ok(HttpResponse::Created().json(UserBody::from(user)))
}

/// One user of the organization.
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user", body = UserBody),
        NoSession,
        AdminsOnly,
        (status = 404, description = "No such user in this organization", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/users/{id}")]
pub async fn get_user(
    state: Data<AppState>,
    AdminUser(admin): AdminUser,
    id: Path<uuid::Uuid>,
) -> Result<Json<UserBody>, ApiError> {
    let user = users::get(&state.db, &admin, &id.to_string()).await?;
    Ok(Json(user.into()))
}

/// Change a user: names, role, active, password.
///
/// The organization always keeps at least one active admin (409 otherwise).
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user's id")),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, description = "The updated user", body = UserBody),
        BodyRefusals,
        NoSession,
        AdminsOnly,
        (status = 404, description = "No such user in this organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Would leave no active admin", body = Problem, content_type = "application/problem+json"),
        InvalidFields,
    )
)]
#[patch("/users/{id}")]
pub async fn update_user(
    state: Data<AppState>,
    AdminUser(admin): AdminUser,
    id: Path<uuid::Uuid>,
    body: ApiJson<UpdateUserRequest>,
) -> Result<Json<UserBody>, ApiError> {
    let body = body.into_inner()?;
    let mut validation = Validation::new();
    let update = UserUpdate {
        first_name: validation.check_optional(
            "first_name",
            body.first_name.as_deref(),
            PersonName::parse,
        ),
        last_name: validation.check_optional(
            "last_name",
            body.last_name.as_deref(),
            PersonName::parse,
        ),
        role: body.role.map(Into::into),
        active: body.active,
        password: validation.check_optional("password", body.password, NewPassword::parse),
    };
    validation.finish()?;
    let user = users::update(&state.db, &state.passwords, &admin, &id.to_string(), update).await?;
    Ok(Json(user.into()))
}
