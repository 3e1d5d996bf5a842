//! Request extractors that fail with problem+json.

mod auth;
mod json;
mod query;

pub use crate::services::auth::CurrentUser;
pub use auth::AdminUser;
pub use json::{ApiJson, parse_seed};
pub use query::refuse_nul_in_query;
