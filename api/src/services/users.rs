//! Managing an organization's users (admins only).

use nextal_domain::AuditAction;
use nextal_domain::{EmailAddress, NewPassword, PersonName, Role};
use nextal_persistence::repo::users::{NewUser, User, UserChanges};
use nextal_persistence::repo::{PageRequest, organizations, sessions, threads, users};
use nextal_persistence::{Db, PersistenceError};
use serde_json::json;

use crate::passwords::Passwords;
use crate::problem_kind::ProblemKind;
use crate::services::audit;
use crate::services::auth::CurrentUser;
use crate::services::{ServiceError, new_id, now};

/// A user to create, already validated.
pub struct NewUserInput {
    pub email: EmailAddress,
    pub password: NewPassword,
    pub first_name: PersonName,
    pub last_name: PersonName,
    pub role: Role,
}

/// Changes to a user, already validated; `None` keeps the current value.
#[derive(Default)]
pub struct UserUpdate {
    pub first_name: Option<PersonName>,
    pub last_name: Option<PersonName>,
    pub role: Option<Role>,
    pub active: Option<bool>,
    pub password: Option<NewPassword>,
}

/// One page of the caller's organization's users.
pub async fn list(
    db: &Db,
    current: &CurrentUser,
    page: &PageRequest,
) -> Result<Vec<User>, ServiceError> {
    let mut conn = db.conn().await?;
    Ok(users::list(&mut conn, current.organization_id(), page).await?)
}

/// Adds a user to the admin's organization; a taken email is an `email-taken` conflict.
pub async fn create(
    db: &Db,
    passwords: &Passwords,
    admin: &CurrentUser,
    input: NewUserInput,
) -> Result<User, ServiceError> {
    let organization_id = admin.organization_id();
    let password_hash = passwords
        .hash(&input.password)
        .await
        .map_err(ServiceError::Internal)?;
    let now = now();
    let id = new_id();
    let mut tx = db.begin().await?;
    let inserted = users::insert(
        &mut tx,
        &NewUser {
            user: User {
                id: id.clone(),
                organization_id: organization_id.to_owned(),
                email: input.email.as_str().to_owned(),
                first_name: input.first_name.into_inner(),
                last_name: input.last_name.into_inner(),
                role: input.role.as_str().to_owned(),
                active: true,
                created_at: now,
                updated_at: now,
            },
            password_hash,
        },
    )
    .await;
    match inserted {
        Ok(()) => {}
        Err(PersistenceError::UniqueViolation { .. }) => {
            return Err(ServiceError::Conflict {
                kind: ProblemKind::EmailTaken,
                detail: format!("A user with the email {} already exists.", input.email),
            });
        }
        Err(other) => return Err(other.into()),
    }
    audit::record(
        &mut tx,
        admin,
        AuditAction::UserCreated,
        &id,
        json!({ "email": input.email.as_str(), "role": input.role.as_str() }),
    )
    .await?;
    let user = users::find(&mut tx, organization_id, &id)
        .await?
        .ok_or_else(|| {
            ServiceError::Internal(anyhow::anyhow!("user {id} vanished after insert"))
        })?;
    tx.commit().await?;
    tracing::info!(user_id = %id, organization_id, "user created");
    Ok(user)
}

/// The user `id` of the caller's organization.
pub async fn get(db: &Db, current: &CurrentUser, id: &str) -> Result<User, ServiceError> {
    let mut conn = db.conn().await?;
    users::find(&mut conn, current.organization_id(), id)
        .await?
        .ok_or(ServiceError::NotFound)
}

/// Changes user `id`. The organization always keeps an active admin; deactivating a
/// user or changing their password ends their sessions, and deactivating gives the
/// threads assigned to them back to the team (unassigned), so no reply waits on someone
/// who is gone.
pub async fn update(
    db: &Db,
    passwords: &Passwords,
    current: &CurrentUser,
    id: &str,
    update: UserUpdate,
) -> Result<User, ServiceError> {
    let password_hash = match &update.password {
        Some(password) => Some(
            passwords
                .hash(password)
                .await
                .map_err(ServiceError::Internal)?,
        ),
        None => None,
    };
    let organization_id = current.organization_id();
    let now = now();
    let ends_sessions = update.active == Some(false) || password_hash.is_some();
    let may_remove_admin = update.active == Some(false) || update.role == Some(Role::Recruiter);

    let mut tx = db.begin().await?;
    organizations::lock(&mut tx, organization_id).await?;
    let mut details = json!({
        "first_name": update.first_name.as_ref().map(PersonName::as_str),
        "last_name": update.last_name.as_ref().map(PersonName::as_str),
        "role": update.role.map(Role::as_str),
        "active": update.active,
        "password_changed": password_hash.is_some(),
    });
    let changes = UserChanges {
        first_name: update.first_name.map(PersonName::into_inner),
        last_name: update.last_name.map(PersonName::into_inner),
        role: update.role.map(|role| role.as_str().to_owned()),
        active: update.active,
        password_hash,
        updated_at: Some(now),
    };
    if !users::update(&mut tx, organization_id, id, &changes).await? {
        return Err(ServiceError::NotFound);
    }
    if may_remove_admin && users::count_active_admins(&mut tx, organization_id).await? == 0 {
        // Dropping the transaction rolls the change back.
        return Err(ServiceError::Conflict {
            kind: ProblemKind::LastAdmin,
            detail: "The organization must keep at least one active admin.".to_owned(),
        });
    }
    if ends_sessions {
        sessions::revoke_all_for_user(&mut tx, id, now).await?;
    }
    if update.active == Some(false) {
        let unassigned = threads::unassign_user(&mut tx, organization_id, id, now).await?;
        details["unassigned_threads"] = json!(unassigned);
    }
    audit::record(&mut tx, current, AuditAction::UserUpdated, id, details).await?;
    let user = users::find(&mut tx, organization_id, id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    tx.commit().await?;
    tracing::info!(user_id = %id, changed_by = %current.user.id, "user updated");
    Ok(user)
}
