//! Request extractors that fail with problem+json.

mod auth;
mod json;

pub use crate::services::auth::CurrentUser;
pub use auth::AdminUser;
pub use json::ApiJson;
