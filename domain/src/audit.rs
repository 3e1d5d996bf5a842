//! What the audit log records: a closed set of changes.

use std::fmt;

/// A change the audit log records, named `{what}.{change}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub enum AuditAction {
    #[serde(rename = "candidate.created")]
    CandidateCreated,
    #[serde(rename = "candidate.updated")]
    CandidateUpdated,
    #[serde(rename = "integration.updated")]
    IntegrationUpdated,
    #[serde(rename = "integration.deactivated")]
    IntegrationDeactivated,
    #[serde(rename = "integration.secret_set")]
    IntegrationSecretSet,
    #[serde(rename = "integration.test_sms_sent")]
    IntegrationTestSmsSent,
    #[serde(rename = "integration.webhook_token_rotated")]
    IntegrationWebhookTokenRotated,
    #[serde(rename = "integration.webhooks_registered")]
    IntegrationWebhooksRegistered,
    #[serde(rename = "job.created")]
    JobCreated,
    #[serde(rename = "organization.updated")]
    OrganizationUpdated,
    #[serde(rename = "template.created")]
    TemplateCreated,
    #[serde(rename = "template.updated")]
    TemplateUpdated,
    #[serde(rename = "template.deleted")]
    TemplateDeleted,
    #[serde(rename = "thread.assigned")]
    ThreadAssigned,
    #[serde(rename = "user.created")]
    UserCreated,
    #[serde(rename = "user.updated")]
    UserUpdated,
}

impl AuditAction {
    /// Every action, in the order above.
    pub const ALL: [AuditAction; 16] = [
        AuditAction::CandidateCreated,
        AuditAction::CandidateUpdated,
        AuditAction::IntegrationUpdated,
        AuditAction::IntegrationDeactivated,
        AuditAction::IntegrationSecretSet,
        AuditAction::IntegrationTestSmsSent,
        AuditAction::IntegrationWebhookTokenRotated,
        AuditAction::IntegrationWebhooksRegistered,
        AuditAction::JobCreated,
        AuditAction::OrganizationUpdated,
        AuditAction::TemplateCreated,
        AuditAction::TemplateUpdated,
        AuditAction::TemplateDeleted,
        AuditAction::ThreadAssigned,
        AuditAction::UserCreated,
        AuditAction::UserUpdated,
    ];

    /// The stored and serialized name, e.g. `integration.updated`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::CandidateCreated => "candidate.created",
            AuditAction::CandidateUpdated => "candidate.updated",
            AuditAction::IntegrationUpdated => "integration.updated",
            AuditAction::IntegrationDeactivated => "integration.deactivated",
            AuditAction::IntegrationSecretSet => "integration.secret_set",
            AuditAction::IntegrationTestSmsSent => "integration.test_sms_sent",
            AuditAction::IntegrationWebhookTokenRotated => "integration.webhook_token_rotated",
            AuditAction::IntegrationWebhooksRegistered => "integration.webhooks_registered",
            AuditAction::JobCreated => "job.created",
            AuditAction::OrganizationUpdated => "organization.updated",
            AuditAction::TemplateCreated => "template.created",
            AuditAction::TemplateUpdated => "template.updated",
            AuditAction::TemplateDeleted => "template.deleted",
            AuditAction::ThreadAssigned => "thread.assigned",
            AuditAction::UserCreated => "user.created",
            AuditAction::UserUpdated => "user.updated",
        }
    }
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
