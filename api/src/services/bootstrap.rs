//! Creating organizations with their first admin: on first start, and by the operator.

use nextal_domain::{CountryCode, EmailAddress, NewPassword, OrganizationName, Role, Timezone};
use nextal_persistence::repo::organizations::Organization;
use nextal_persistence::repo::users::{NewUser, User};
use nextal_persistence::repo::{bootstrap, organizations, users};
use nextal_persistence::{Db, PersistenceError};
use rand::Rng;
use rand::distr::Alphanumeric;

use crate::passwords::Passwords;
use crate::services::{new_id, now};

/// The admin made on first start.
pub struct BootstrapAdmin {
    /// Their sign-in email.
    pub email: EmailAddress,
    /// The password when it was generated here (to be shown once); `None` when the
    /// operator supplied it.
    pub generated_password: Option<String>,
}

/// Why an organization could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateOrganizationError {
    /// The email is taken by a user of any organization.
    #[error("a user with the email {0} already exists")]
    EmailTaken(EmailAddress),
    /// Storage failed.
    #[error(transparent)]
    Persistence(#[from] PersistenceError),
    /// Hashing failed.
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

/// On an empty database, creates one organization and its admin, exactly once even
/// when several replicas start together. `None` when the database was not empty.
pub async fn bootstrap_if_empty(
    db: &Db,
    passwords: &Passwords,
    organization_name: &OrganizationName,
    admin_email: EmailAddress,
    admin_password: Option<NewPassword>,
) -> Result<Option<BootstrapAdmin>, CreateOrganizationError> {
    let (password, generated_password) = match admin_password {
        Some(password) => (password, None),
        None => {
            let generated: String = rand::rng()
                .sample_iter(&Alphanumeric)
                .take(24)
                .map(char::from)
                .collect();
            let password = NewPassword::parse(generated.clone())
                .map_err(|invalid| CreateOrganizationError::Hashing(invalid.to_string()))?;
            (password, Some(generated))
        }
    };
    if organizations::any_exist(&mut db.conn().await?).await? {
        return Ok(None);
    }
    // Hash before the transaction: on SQLite it holds the write lock.
    let password_hash = hash(passwords, &password).await?;
    let mut tx = db.begin().await?;
    let claimed = bootstrap::claim(&mut tx, now()).await?;
    if !claimed || organizations::any_exist(&mut tx).await? {
        tx.commit().await?;
        return Ok(None);
    }
    insert_organization(&mut tx, organization_name, &admin_email, password_hash).await?;
    tx.commit().await?;
    Ok(Some(BootstrapAdmin {
        email: admin_email,
        generated_password,
    }))
}

/// Adds an organization (a tenant) with its first admin.
pub async fn create_organization(
    db: &Db,
    passwords: &Passwords,
    name: &OrganizationName,
    admin_email: &EmailAddress,
    admin_password: &NewPassword,
) -> Result<Organization, CreateOrganizationError> {
    let password_hash = hash(passwords, admin_password).await?;
    let mut tx = db.begin().await?;
    // A database set up by this command needs no first-start organization.
    bootstrap::claim(&mut tx, now()).await?;
    let organization = insert_organization(&mut tx, name, admin_email, password_hash).await?;
    tx.commit().await?;
    Ok(organization)
}

async fn hash(
    passwords: &Passwords,
    password: &NewPassword,
) -> Result<String, CreateOrganizationError> {
    passwords
        .hash(password)
        .await
        .map_err(|error| CreateOrganizationError::Hashing(error.to_string()))
}

async fn insert_organization(
    conn: &mut nextal_persistence::DbConn,
    name: &OrganizationName,
    admin_email: &EmailAddress,
    password_hash: String,
) -> Result<Organization, CreateOrganizationError> {
    let now = now();
    let organization = Organization {
        id: new_id(),
        name: name.as_str().to_owned(),
        default_country: CountryCode::DEFAULT.as_str().to_owned(),
        timezone: Timezone::DEFAULT.as_str().to_owned(),
        created_at: now,
        updated_at: now,
        daily_send_cap: None,
        quiet_hours_start: None,
        quiet_hours_end: None,
    };
    organizations::insert(conn, &organization).await?;
    let admin = NewUser {
        user: User {
            id: new_id(),
            organization_id: organization.id.clone(),
            email: admin_email.as_str().to_owned(),
            first_name: "Admin".to_owned(),
            last_name: String::new(),
            role: Role::Admin.as_str().to_owned(),
            active: true,
            created_at: now,
            updated_at: now,
        },
        password_hash,
    };
    match users::insert(conn, &admin).await {
        Ok(()) => Ok(organization),
        Err(PersistenceError::UniqueViolation { .. }) => {
            Err(CreateOrganizationError::EmailTaken(admin_email.clone()))
        }
        Err(other) => Err(other.into()),
    }
}
