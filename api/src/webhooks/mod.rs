//! Provider webhooks at the edge: the token in the URL names the organization, the
//! provider's signature proves the sender, the body is read as the provider sends it,
//! and rate limits keep floods and guessing out; the delivery then goes to the ingest
//! queue (`crate::ingest`).

pub mod guard;
pub mod limits;
mod receive;
pub mod tokens;

pub use limits::{WebhookLimits, WebhookQuotas};
pub(crate) use receive::normalized;
pub use receive::{Incoming, receive};
pub use tokens::TokenCache;
