//! Repositories: one module per resource, each function one query scoped by organization.

pub mod audit;
pub mod batches;
pub mod bootstrap;
pub mod candidates;
pub mod consent;
pub mod daily_sends;
pub mod idempotency;
pub mod inbox;
pub mod integrations;
pub mod jobs;
pub mod login_throttle;
pub mod messages;
pub mod organizations;
pub mod provider_sync;
pub mod recipients;
pub mod sessions;
pub mod templates;
pub mod threads;
pub mod users;
pub mod webhook_deliveries;

/// Rows per statement when a set of rows goes to the database as parameters (arrays or
/// JSON).
/// A 10,000-message bulk send in one statement per table built an 8 MB parameter, copied
/// on its way out, and the service's peak memory was 161 MiB (outbox bench); a thousand
/// rows a statement brought it to 125 MiB, in the same time.
pub(crate) const ROWS_PER_STATEMENT: usize = 1_000;

/// A keyset page request: rows after `after` (an id), at most `limit` of them.
#[derive(Debug, Clone)]
pub struct PageRequest {
    /// The last id of the previous page; `None` starts at the beginning.
    pub after: Option<String>,
    /// How many rows to return.
    pub limit: i64,
}

/// The queries every organization-owned table answers alike, by its `id` and
/// `organization_id` columns: `insert` a new row, `find` one of the organization's by id,
/// `find_many` of them by ids, `list` a page of them in creation (id) order. Each use
/// names the functions it wants.
macro_rules! organization_rows {
    (@insert $table:ident, $new:ty, $what:literal) => {
        #[doc = concat!("Stores a new ", $what, ".")]
        pub async fn insert(
            conn: &mut $crate::DbConn,
            row: &$new,
        ) -> Result<(), $crate::PersistenceError> {
            $crate::db::run!(conn, |c| diesel::insert_into($table::table)
                .values(row)
                .execute(c)
                .await)?;
            Ok(())
        }
    };
    (@find $table:ident, $row:ty, $what:literal) => {
        #[doc = concat!("The organization's ", $what, " `id`.")]
        pub async fn find(
            conn: &mut $crate::DbConn,
            organization_id: &str,
            id: &str,
        ) -> Result<Option<$row>, $crate::PersistenceError> {
            Ok($crate::db::run!(conn, |c| $table::table
                .filter($table::organization_id.eq(organization_id))
                .filter($table::id.eq(id))
                .select(<$row>::as_select())
                .first(c)
                .await
                .optional())?)
        }
    };
    (@find_many $table:ident, $row:ty, $what:literal) => {
        #[doc = concat!("The organization's ", $what, "s among `ids` (any order; missing ids are absent).")]
        pub async fn find_many(
            conn: &mut $crate::DbConn,
            organization_id: &str,
            ids: &[String],
        ) -> Result<Vec<$row>, $crate::PersistenceError> {
            let mut found = Vec::with_capacity(ids.len());
            // Bounded IN lists keep every backend under its bind-parameter limit.
            for chunk in ids.chunks(500) {
                let rows: Vec<$row> = $crate::db::run!(conn, |c| $table::table
                    .filter($table::organization_id.eq(organization_id))
                    .filter($table::id.eq_any(chunk))
                    .select(<$row>::as_select())
                    .load(c)
                    .await)?;
                found.extend(rows);
            }
            Ok(found)
        }
    };
    (@list $table:ident, $row:ty, $what:literal) => {
        #[doc = concat!("One page of the organization's ", $what, "s in creation order.")]
        pub async fn list(
            conn: &mut $crate::DbConn,
            organization_id: &str,
            page: &$crate::repo::PageRequest,
        ) -> Result<Vec<$row>, $crate::PersistenceError> {
            let after = page.after.clone().unwrap_or_default();
            Ok($crate::db::run!(conn, |c| $table::table
                .filter($table::organization_id.eq(organization_id))
                .filter($table::id.gt(&after))
                .order($table::id.asc())
                .limit(page.limit)
                .select(<$row>::as_select())
                .load(c)
                .await)?)
        }
    };
}
pub(crate) use organization_rows;
