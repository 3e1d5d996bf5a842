//! Candidates written straight into PostgreSQL, set-based: the benches measure what is
//! done with them, not how they got there. Shared by the benches through `#[path]`.

use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// Inserts `count` candidates of `organization` at numbers +61410000000 onwards; their
/// ids.
pub async fn insert_candidates(
    db: &mut AsyncPgConnection,
    organization: &str,
    count: usize,
) -> Vec<String> {
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::Text)]
        id: String,
    }
    let rows: Vec<Id> = diesel::sql_query(format!(
        "INSERT INTO candidates (id, organization_id, job_id, stage, first_name, last_name, phone,
                                 email, sms_opted_out, created_at, updated_at)
         SELECT gen_random_uuid()::text, '{organization}', NULL, NULL, 'Candidate' || n, 'Tester',
                '+614' || (10000000 + n), NULL, false, now() AT TIME ZONE 'UTC',
                now() AT TIME ZONE 'UTC'
         FROM generate_series(0, {last}) AS n
         RETURNING id",
        last = count - 1
    ))
    .load(db)
    .await
    .expect("candidates are stored");
    rows.into_iter().map(|row| row.id).collect()
}
