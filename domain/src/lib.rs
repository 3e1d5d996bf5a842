//! Nextal SMS domain: the types and rules the rest of the service builds on.
//!
//! Nothing here performs I/O. Values are parsed once at the edge ("parse, don't
//! validate") so that every later layer can trust them.

pub mod account;
pub mod audit;
pub mod consent;
pub mod direction;
pub mod failure;
pub mod job;
pub mod message_status;
pub mod organization;
pub mod phone;
pub mod provider;
pub mod quiet_hours;
pub mod segments;
#[cfg(feature = "diesel")]
mod sql;
pub mod template;
pub mod validation;

pub use account::{EmailAddress, NewPassword, PersonName, Role};
pub use audit::AuditAction;
pub use consent::ConsentChange;
pub use direction::Direction;
pub use failure::{Failure, FailureReason};
pub use job::{JobStages, JobTitle, StageName, TemplateName};
pub use message_status::MessageStatus;
pub use organization::{CountryCode, DailySendCap, OrganizationName, Timezone};
pub use phone::PhoneNumber;
pub use provider::{ProviderKind, ProviderSecret, ProviderUsername};
pub use quiet_hours::{ClockTime, HoldReason, QuietHours, recipient_zone};
pub use segments::{Encoding, MAX_SEGMENTS, MessageBody, Segmentation, segment};
pub use template::{MergeField, MergeValues, Template};
pub use validation::{FieldError, Invalid, Validation, ValidationErrors};
