//! Jobs: only what the kanban board needs.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::repo::organization_rows;
use crate::schema::jobs;

/// A stored job; `stages` is a JSON array of stage names in board order.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = jobs)]
pub struct Job {
    pub id: String,
    pub organization_id: String,
    pub title: String,
    pub stages: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

organization_rows!(@insert jobs, Job, "job");
organization_rows!(@find jobs, Job, "job");
organization_rows!(@find_many jobs, Job, "job");
organization_rows!(@list jobs, Job, "job");
