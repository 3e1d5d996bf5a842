//! The OpenAPI paths and schemas of every provider's card and panels
//! (`/integrations/{slug}/…`), made from its descriptor and its own texts
//! ([`IntegrationDocs`]) with utoipa's builders, as the handlers in `panels.rs` serve
//! them. The shared bodies (`Verification`, `TestSms`, …) are documented where
//! they are defined, in `integrations.rs`.

use nextal_providers::docs::IntegrationDocs;
use nextal_providers::{Descriptor, Provider, registry};
use serde_json::json;
use utoipa::openapi::path::{HttpMethod, Operation, OperationBuilder, PathItemBuilder};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{
    AdditionalProperties, KnownFormat, OneOfBuilder, Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{
    ContentBuilder, Object, ObjectBuilder, OpenApi, Ref, Required, ResponseBuilder,
    ResponsesBuilder,
};
use utoipa::{PartialSchema, ToSchema};

use crate::routes::integrations::{
    RegisterWebhooksResponse, TestSmsRequest, TestSmsResponse, VerifyResponse,
};
use crate::routes::panel_bodies::{secret_name, settings_name};
use crate::routes::refusals::{
    MALFORMED, NO_SESSION, NOT_ADMIN, NOT_JSON, TOO_LARGE, problem_answer,
};

/// Adds every provider's panel paths and schemas to `document`, and the bodies they
/// share.
pub fn document(document: &mut OpenApi) {
    let components = document.components.get_or_insert_with(Default::default);
    for (name, schema) in [
        (VerifyResponse::name(), VerifyResponse::schema()),
        (TestSmsRequest::name(), TestSmsRequest::schema()),
        (TestSmsResponse::name(), TestSmsResponse::schema()),
        (
            RegisterWebhooksResponse::name(),
            RegisterWebhooksResponse::schema(),
        ),
    ] {
        components.schemas.insert(name.into_owned(), schema);
    }
    for provider in registry() {
        let words = Words::of(provider);
        let base = format!("/integrations/{}", words.slug);
        let paths = [
            (
                base.clone(),
                vec![
                    (HttpMethod::Get, get_card(&words)),
                    (HttpMethod::Put, save_settings(&words)),
                ],
            ),
            (
                format!("{base}/{}", words.descriptor.secret_path),
                vec![(HttpMethod::Put, set_secret(&words))],
            ),
            (
                format!("{base}/verify"),
                vec![(HttpMethod::Post, verify(&words))],
            ),
            (
                format!("{base}/test-sms"),
                vec![(HttpMethod::Post, test_sms(&words))],
            ),
            (
                format!("{base}/webhook-token"),
                vec![(HttpMethod::Post, rotate_webhook_token(&words))],
            ),
            (
                format!("{base}/register-webhooks"),
                vec![(HttpMethod::Post, register_webhooks(&words))],
            ),
        ];
        for (path, operations) in paths {
            let item = operations
                .into_iter()
                .fold(PathItemBuilder::new(), |item, (method, operation)| {
                    item.operation(method, operation)
                });
            document.paths.paths.insert(path, item.build());
        }
        let components = document.components.get_or_insert_with(Default::default);
        for (name, schema) in schemas(&words) {
            components.schemas.insert(name, schema.into());
        }
    }
}

/// The names a provider's documentation is worded with.
struct Words {
    descriptor: &'static Descriptor,
    docs: &'static IntegrationDocs,
    slug: &'static str,
    name: &'static str,
    /// The providers an activation switches off, by name.
    others: String,
    /// The same by slug, as `deactivated` reports them.
    other_slugs: String,
    /// Those slugs as values.
    other_slug_values: Vec<&'static str>,
}

impl Words {
    fn of(provider: &'static dyn Provider) -> Self {
        let descriptor = provider.descriptor();
        let others: Vec<&'static Descriptor> = registry()
            .map(|other| other.descriptor())
            .filter(|other| other.kind != descriptor.kind)
            .collect();
        Self {
            descriptor,
            docs: descriptor.integration_docs,
            slug: descriptor.slug(),
            name: descriptor.display_name(),
            others: others
                .iter()
                .map(|other| other.display_name())
                .collect::<Vec<_>>()
                .join(", "),
            other_slugs: others
                .iter()
                .map(|other| format!("`{}`", other.slug()))
                .collect::<Vec<_>>()
                .join(" or "),
            other_slug_values: others.iter().map(|other| other.slug()).collect(),
        }
    }

    fn schema(&self, what: &str) -> String {
        format!("{}{what}", self.name)
    }

    /// "Number, username or API key missing".
    fn credentials_missing(&self) -> String {
        format!(
            "Number, {} or {} missing",
            self.descriptor.username.label, self.descriptor.secret.label
        )
    }
}

fn operation(
    operation_id: String,
    summary: &str,
    description: Option<String>,
    responses: ResponsesBuilder,
) -> OperationBuilder {
    OperationBuilder::new()
        .tag("integrations")
        .summary(Some(summary))
        .description(description)
        .operation_id(Some(operation_id))
        .responses(responses.build())
        .security(SecurityRequirement::new::<_, _, &str>("bearer", []))
}

fn json_body(schema: &str) -> utoipa::openapi::request_body::RequestBody {
    RequestBodyBuilder::new()
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(schema)))
                .build(),
        )
        .required(Some(Required::True))
        .build()
}

/// 200 with `schema`, then the problems, each `(status, description)`.
fn responses(ok: &str, schema: &str, problems: &[(&str, &str)]) -> ResponsesBuilder {
    let mut responses = ResponsesBuilder::new().response(
        "200",
        ResponseBuilder::new().description(ok).content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(schema)))
                .build(),
        ),
    );
    for (status, description) in problems {
        responses = responses.response(*status, problem_answer(description));
    }
    responses
}

fn get_card(words: &Words) -> Operation {
    let problems = [
        NO_SESSION,
        NOT_ADMIN,
        ("409", "The webhook token cannot be decrypted"),
    ];
    operation(
        format!("get_{}", words.slug),
        &format!("The {} integration with its webhook URLs.", words.name),
        None,
        responses("The integration", &words.schema("Integration"), &problems),
    )
    .build()
}

fn save_settings(words: &Words) -> Operation {
    let descriptor = words.descriptor;
    let refused = format!(
        "Invalid fields, or an `{}` sent to this panel",
        descriptor.secret.field
    );
    let problems = [
        MALFORMED,
        NO_SESSION,
        NOT_ADMIN,
        ("409", "A concurrent change won; try again"),
        TOO_LARGE,
        NOT_JSON,
        ("422", refused.as_str()),
    ];
    let description = format!(
        "Activating {} deactivates {} in the same transaction. Deactivating stops\n\
         all outbound SMS. A body carrying `{}` is refused: use\n\
         `PUT /integrations/{}/{}`.",
        words.name, words.others, descriptor.secret.field, words.slug, descriptor.secret_path
    );
    operation(
        format!("save_{}", words.slug),
        &format!(
            "Save the Edit panel: activate, phone number, {}.",
            descriptor.username.label
        ),
        Some(description),
        responses("Saved", &words.schema("Saved"), &problems),
    )
    .request_body(Some(json_body(&settings_name(descriptor))))
    .build()
}

fn set_secret(words: &Words) -> Operation {
    let descriptor = words.descriptor;
    let saved = format!("Saved; `{}` is true", descriptor.secret_set_field());
    let problems = [
        MALFORMED,
        NO_SESSION,
        NOT_ADMIN,
        TOO_LARGE,
        NOT_JSON,
        ("422", words.docs.secret_invalid),
    ];
    operation(
        format!("set_{}_{}", words.slug, descriptor.secret.field),
        words.docs.secret_summary,
        None,
        responses(&saved, &words.schema("Integration"), &problems),
    )
    .request_body(Some(json_body(&secret_name(descriptor))))
    .build()
}

fn verify(words: &Words) -> Operation {
    let descriptor = words.descriptor;
    let label = descriptor.username.label;
    let mut capitalized = label.chars();
    let username: String = capitalized
        .next()
        .map(|first| first.to_ascii_uppercase())
        .into_iter()
        .chain(capitalized)
        .collect();
    let missing = format!(
        "{username} or {} missing or unreadable",
        descriptor.secret.label
    );
    let problems = [NO_SESSION, NOT_ADMIN, ("409", missing.as_str())];
    operation(
        format!("verify_{}", words.slug),
        &format!(
            "Check the credentials against {}'s account endpoint.",
            words.name
        ),
        Some(format!(
            "Answers 200 either way: `verified` with the account name and balance, or the reason\n\
             it failed (refused credentials, {} unreachable, …).",
            words.name
        )),
        responses("The check's result", &VerifyResponse::name(), &problems),
    )
    .build()
}

fn test_sms(words: &Words) -> Operation {
    let missing = words.credentials_missing();
    let failed = format!("{} refused or failed", words.name);
    let limited = format!("{} is rate limiting; see Retry-After", words.name);
    let problems = [
        MALFORMED,
        NO_SESSION,
        NOT_ADMIN,
        ("409", missing.as_str()),
        TOO_LARGE,
        NOT_JSON,
        ("422", "Invalid number or text"),
        ("502", failed.as_str()),
        ("503", limited.as_str()),
    ];
    operation(
        format!("test_{}", words.slug),
        &format!(
            "Send a test SMS to an internal number, straight through {} (active or not).",
            words.name
        ),
        None,
        responses(
            &format!("{} accepted the message", words.name),
            &TestSmsResponse::name(),
            &problems,
        ),
    )
    .request_body(Some(json_body(&TestSmsRequest::name())))
    .build()
}

fn rotate_webhook_token(words: &Words) -> Operation {
    operation(
        format!("rotate_{}_webhook_token", words.slug),
        "Rotate the secret token in the webhook URLs; the old URLs stop working at once.",
        None,
        responses(
            "The integration with its new webhook URLs",
            &words.schema("Integration"),
            &[NO_SESSION, NOT_ADMIN],
        ),
    )
    .build()
}

fn register_webhooks(words: &Words) -> Operation {
    let missing = words.credentials_missing();
    let failed = format!("{} refused or failed", words.name);
    let limited = format!("{} is rate limiting; see Retry-After", words.name);
    let problems = [
        NO_SESSION,
        NOT_ADMIN,
        ("409", missing.as_str()),
        ("502", failed.as_str()),
        ("503", limited.as_str()),
    ];
    operation(
        format!("register_{}_webhooks", words.slug),
        words.docs.register_summary,
        None,
        responses(
            words.docs.registered,
            &RegisterWebhooksResponse::name(),
            &problems,
        ),
    )
    .build()
}

fn string(description: Option<&str>) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(description)
}

/// A nullable string the contract gives an example for and refuses blank.
#[allow(
    deprecated,
    reason = "the document carries `example`, as the derived schemas do"
)]
fn optional_text(description: Option<&str>, example: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .description(description)
        .example(Some(json!(example)))
        .min_length(Some(1))
        .build()
}

/// The Edit panel's body with `active` false (any field may be null) or true (the number
/// and the username are needed).
fn settings_shape(words: &Words, active: bool) -> Object {
    let docs = words.docs;
    let username = words.descriptor.username.field;
    let mut phone = optional_phone(
        &format!(
            "The {} number messages are sent from; needed to activate. Null clears it.",
            words.name
        ),
        docs.phone_example,
    );
    let mut name = optional_matching(
        docs.username_setting,
        docs.username_example,
        docs.username_pattern,
    );
    if active {
        phone.schema_type = SchemaType::from(Type::String);
        name.schema_type = SchemaType::from(Type::String);
    }
    ObjectBuilder::new()
        .required("active")
        .required("phone_number")
        .required(username)
        .property(
            "active",
            ObjectBuilder::new()
                .schema_type(Type::Boolean)
                .enum_values(Some([active]))
                .description(Some(if active {
                    format!(
                        "On: SMS go through {} and {} is switched off.",
                        words.name, words.others
                    )
                } else {
                    "Off: all outbound SMS stop.".to_owned()
                })),
        )
        .property("phone_number", phone)
        .property(username, name)
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .build()
}

/// A nullable phone number: international (`+…`) or national to the organization's
/// default country, as `format: phone` (valid by the numbering plan) states it.
#[allow(
    deprecated,
    reason = "the document carries `example`, as the derived schemas do"
)]
fn optional_phone(description: &str, example: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .format(Some(SchemaFormat::Custom("phone".to_owned())))
        .description(Some(description))
        .example(Some(json!(example)))
        .build()
}

/// A nullable string that must match `pattern`.
#[allow(
    deprecated,
    reason = "the document carries `example`, as the derived schemas do"
)]
fn optional_matching(description: &str, example: &str, pattern: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .description(Some(description))
        .example(Some(json!(example)))
        .pattern(Some(pattern))
        .build()
}

fn date_time(nullable: bool) -> Object {
    let kind = if nullable {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::from(Type::String)
    };
    ObjectBuilder::new()
        .schema_type(kind)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .build()
}

fn boolean(description: Option<&str>) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Boolean)
        .description(description)
        .build()
}

#[allow(
    deprecated,
    reason = "the document carries `example`, as the derived schemas do"
)]
fn schemas(words: &Words) -> Vec<(String, Schema)> {
    let descriptor = words.descriptor;
    let docs = words.docs;
    let username = descriptor.username.field;
    let secret_set = descriptor.secret_set_field();
    let webhooks = ObjectBuilder::new()
        .description(Some(docs.webhooks))
        .required("inbound_url")
        .required(descriptor.status_url_field)
        .property("inbound_url", string(Some(docs.inbound_url)))
        .property(descriptor.status_url_field, string(Some(docs.status_url)))
        .build();
    let integration = ObjectBuilder::new()
        .description(Some(format!("The {} integration.", words.name)))
        .required("provider")
        .required("active")
        .required(secret_set.clone())
        .required("updated_at")
        .required("webhooks")
        .property(
            "provider",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some([words.slug]))
                .example(Some(json!(words.slug))),
        )
        .property("active", boolean(None))
        .property("phone_number", optional_text(None, docs.phone_example))
        .property(
            username,
            optional_text(Some(docs.username), docs.username_example),
        )
        .property(secret_set.clone(), boolean(Some(docs.secret_set)))
        .property(format!("{secret_set}_at"), date_time(true))
        .property("updated_at", date_time(false))
        .property("webhooks", Ref::from_schema_name(words.schema("Webhooks")))
        .build();
    // Activating needs the number and the username: one shape per value of `active`.
    let settings = OneOfBuilder::new()
        .description(Some(format!(
            "The Edit panel, saved whole: every field is required, and null clears a value; \
             activating needs the number and the {}. The {} is not accepted here.",
            descriptor.username.label, descriptor.secret.label
        )))
        .item(settings_shape(words, false))
        .item(settings_shape(words, true))
        .build();
    let saved = ObjectBuilder::new()
        .description(Some(
            "The saved integration, and the provider that was switched off to activate it.",
        ))
        .required("integration")
        .property(
            "integration",
            Ref::from_schema_name(words.schema("Integration")),
        )
        .property(
            "deactivated",
            ObjectBuilder::new()
                .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
                .enum_values(Some(
                    words
                        .other_slug_values
                        .iter()
                        .map(|slug| json!(slug))
                        .chain([serde_json::Value::Null]),
                ))
                .description(Some(format!(
                    "{} when this save deactivated it, else null.",
                    words.other_slugs
                ))),
        )
        .build();
    let secret = ObjectBuilder::new()
        .description(Some(docs.secret_panel))
        .required(descriptor.secret.field)
        .property(
            descriptor.secret.field,
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Password)))
                .description(Some(docs.secret_field))
                .pattern(Some(r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f]{8,256}[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$")),
        )
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .build();
    vec![
        (words.schema("Webhooks"), webhooks.into()),
        (words.schema("Integration"), integration.into()),
        (settings_name(descriptor), Schema::OneOf(settings)),
        (words.schema("Saved"), saved.into()),
        (secret_name(descriptor), secret.into()),
    ]
}
