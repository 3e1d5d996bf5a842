//! SMS templates with merge fields.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::run;
use crate::repo::organization_rows;
use crate::schema::sms_templates;
use crate::{DbConn, PersistenceError};

/// A stored template.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sms_templates)]
pub struct SmsTemplate {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub body: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

organization_rows!(@insert sms_templates, SmsTemplate, "template");
organization_rows!(@find sms_templates, SmsTemplate, "template");
organization_rows!(@list sms_templates, SmsTemplate, "template");

/// Replaces name and body of template `id`; false when there is no such template.
pub async fn update(
    conn: &mut DbConn,
    organization_id: &str,
    id: &str,
    name: &str,
    body: &str,
    now: NaiveDateTime,
) -> Result<bool, PersistenceError> {
    let updated = run!(conn, |c| diesel::update(
        sms_templates::table
            .filter(sms_templates::organization_id.eq(organization_id))
            .filter(sms_templates::id.eq(id))
    )
    .set((
        sms_templates::name.eq(name),
        sms_templates::body.eq(body),
        sms_templates::updated_at.eq(now),
    ))
    .execute(c)
    .await)?;
    Ok(updated > 0)
}

/// Deletes template `id`; messages keep their text and the template's id.
pub async fn delete(
    conn: &mut DbConn,
    organization_id: &str,
    id: &str,
) -> Result<bool, PersistenceError> {
    let deleted = run!(conn, |c| diesel::delete(
        sms_templates::table
            .filter(sms_templates::organization_id.eq(organization_id))
            .filter(sms_templates::id.eq(id))
    )
    .execute(c)
    .await)?;
    Ok(deleted > 0)
}
