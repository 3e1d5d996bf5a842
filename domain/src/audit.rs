//! What the audit log records: a closed set of changes.

use std::fmt;

/// Declares the actions with their names, once. The names are `tt`, not `literal`: the
/// `ToSchema` derive does not read a `literal` fragment in `#[serde(rename)]` and would
/// list the variants' Rust names.
macro_rules! audit_actions {
    ($($action:ident => $name:tt,)+) => {
        /// A change the audit log records, named `{what}.{change}`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
        pub enum AuditAction {
            $(#[serde(rename = $name)] $action,)+
        }

        impl AuditAction {
            /// Every action, in declaration order.
            pub const ALL: &'static [AuditAction] = &[$(AuditAction::$action,)+];

            /// The stored and serialized name, e.g. `integration.updated`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(AuditAction::$action => $name,)+
                }
            }
        }
    };
}

audit_actions! {
    CandidateCreated => "candidate.created",
    CandidateUpdated => "candidate.updated",
    IntegrationUpdated => "integration.updated",
    IntegrationDeactivated => "integration.deactivated",
    IntegrationSecretSet => "integration.secret_set",
    IntegrationTestSmsSent => "integration.test_sms_sent",
    IntegrationWebhookTokenRotated => "integration.webhook_token_rotated",
    IntegrationWebhooksRegistered => "integration.webhooks_registered",
    JobCreated => "job.created",
    OrganizationUpdated => "organization.updated",
    TemplateCreated => "template.created",
    TemplateUpdated => "template.updated",
    TemplateDeleted => "template.deleted",
    ThreadAssigned => "thread.assigned",
    UserCreated => "user.created",
    UserUpdated => "user.updated",
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_name_is_the_serialized_one() {
        for action in AuditAction::ALL {
            assert_eq!(
                serde_json::to_value(action).expect("serializes"),
                action.as_str()
            );
        }
    }
}
