//! Provider webhooks: `/webhooks/{slug}/{token}/inbound` and
//! `/webhooks/{slug}/{token}/{status_path}` for every provider of the registry. Public:
//! the token in the path names the organization, and a signing provider's requests
//! also carry a signature. The routes, and their documentation, are made from each
//! provider's descriptor; one pair of handlers serves them all.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::web::{self, Bytes, Data, Path};
use actix_web::{HttpRequest, HttpResponse, guard};
use nextal_providers::docs::{WebhookDocs, WebhookOperation};
use nextal_providers::{Provider, registry};
use utoipa::PartialSchema;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{
    HttpMethod, Operation, OperationBuilder, Parameter, ParameterBuilder, ParameterIn,
    PathItemBuilder,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{
    ContentBuilder, ObjectBuilder, OpenApi, Ref, Required, ResponseBuilder, ResponsesBuilder,
    schema::Type,
};

use crate::error::ApiError;
use crate::ingest::DeliveryKind;
use crate::state::AppState;
use crate::webhooks::{self, Incoming};

/// Which provider and webhook a route serves; resource data of each route.
struct WebhookRoute {
    provider: &'static dyn Provider,
    kind: DeliveryKind,
}

/// Registers every provider's webhook routes: a POST for each webhook, and a GET where
/// the provider may send the delivery as a query string.
pub fn configure(config: &mut web::ServiceConfig) -> &mut web::ServiceConfig {
    for provider in registry() {
        let docs = provider.webhook_docs();
        for (kind, operation) in [
            (DeliveryKind::Inbound, &docs.inbound),
            (DeliveryKind::Receipt, &docs.status),
        ] {
            let path = path_of(provider, kind);
            let route = || Data::new(WebhookRoute { provider, kind });
            config.service(
                web::resource(path.clone())
                    .guard(guard::Post())
                    .app_data(route())
                    .to(post_delivery),
            );
            if operation.query.is_some() {
                config.service(
                    web::resource(path)
                        .guard(guard::Get())
                        .app_data(route())
                        .to(query_delivery),
                );
            }
        }
    }
    config
}

fn path_of(provider: &dyn Provider, kind: DeliveryKind) -> String {
    let descriptor = provider.descriptor();
    let last = match kind {
        DeliveryKind::Inbound => "inbound",
        DeliveryKind::Receipt => descriptor.status_path,
    };
    format!("/webhooks/{}/{{token}}/{last}", descriptor.slug())
}

async fn post_delivery(
    state: Data<AppState>,
    route: Data<WebhookRoute>,
    token: Path<String>,
    request: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    deliver(&state, &route, &token, &request, &body).await
}

async fn query_delivery(
    state: Data<AppState>,
    route: Data<WebhookRoute>,
    token: Path<String>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    deliver(&state, &route, &token, &request, &Bytes::new()).await
}

/// Authenticates, stores and applies one delivery, and answers as the provider expects
/// (its `acknowledgement`).
async fn deliver(
    state: &AppState,
    route: &WebhookRoute,
    token: &str,
    request: &HttpRequest,
    body: &Bytes,
) -> Result<HttpResponse, ApiError> {
    let descriptor = route.provider.descriptor();
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
    };
    let outcome = webhooks::receive(
        state,
        Incoming {
            provider: descriptor.kind,
            kind: route.kind,
            token,
            content_type: header(CONTENT_TYPE.as_str()),
            query: request.query_string(),
            body,
            signature: descriptor.signature_header.and_then(header),
        },
    )
    .await?;
    let answer = route.provider.acknowledgement(outcome.as_str());
    Ok(HttpResponse::Ok()
        .content_type(answer.content_type)
        .body(answer.body))
}

/// Adds every provider's webhook paths and payload schemas to `document`.
pub fn document(document: &mut OpenApi) {
    for provider in registry() {
        let docs = provider.webhook_docs();
        for (kind, operation) in [
            (DeliveryKind::Inbound, &docs.inbound),
            (DeliveryKind::Receipt, &docs.status),
        ] {
            let mut item = PathItemBuilder::new()
                .operation(HttpMethod::Post, post_operation(provider, &docs, operation));
            if let Some(get) = get_operation(provider, &docs, operation) {
                item = item.operation(HttpMethod::Get, get);
            }
            document
                .paths
                .paths
                .insert(path_of(provider, kind), item.build());
        }
        let components = document.components.get_or_insert_with(Default::default);
        for (name, schema) in docs.schemas {
            components.schemas.insert(name, schema);
        }
    }
}

fn post_operation(
    provider: &dyn Provider,
    docs: &WebhookDocs,
    operation: &WebhookOperation,
) -> Operation {
    let payload = || ContentBuilder::new().schema(Some(Ref::from_schema_name(operation.payload)));
    let body = RequestBodyBuilder::new()
        .content("application/json", payload().build())
        .content("application/x-www-form-urlencoded", payload().build())
        .required(Some(Required::True))
        .build();
    operation_builder(
        provider,
        docs,
        format!("{}_{}", provider.descriptor().slug(), operation.name),
        operation.summary,
        Some(operation.description),
        Vec::new(),
        "body",
    )
    .request_body(Some(body))
    .build()
}

fn get_operation(
    provider: &dyn Provider,
    docs: &WebhookDocs,
    operation: &WebhookOperation,
) -> Option<Operation> {
    let query = operation.query.as_ref()?;
    Some(
        operation_builder(
            provider,
            docs,
            format!("{}_{}_query", provider.descriptor().slug(), operation.name),
            query.summary,
            None,
            query.parameters.clone(),
            "query",
        )
        .build(),
    )
}

/// What every webhook operation shares: the token, the signature header of a signing
/// provider, the acknowledgement and the refusals. `read` names what was read: a
/// `body` (which may be too large) or a `query`.
fn operation_builder(
    provider: &dyn Provider,
    docs: &WebhookDocs,
    operation_id: String,
    summary: &str,
    description: Option<&str>,
    query: Vec<Parameter>,
    read: &str,
) -> OperationBuilder {
    let string = || ObjectBuilder::new().schema_type(Type::String).build();
    let mut parameters = vec![
        ParameterBuilder::new()
            .name("token")
            .parameter_in(ParameterIn::Path)
            .description(Some("The organization's webhook token"))
            .required(Required::True)
            .schema(Some(string()))
            .build(),
    ];
    let signed = provider.descriptor().signature_header.zip(docs.signature);
    if let Some((header, description)) = signed {
        parameters.push(
            ParameterBuilder::new()
                .name(header)
                .parameter_in(ParameterIn::Header)
                .description(Some(description))
                .required(Required::True)
                .schema(Some(string()))
                .build(),
        );
    }
    parameters.extend(query);
    let ack = &docs.acknowledgement;
    let mut responses = ResponsesBuilder::new().response(
        "200",
        ResponseBuilder::new().description(ack.description).content(
            ack.content_type,
            ContentBuilder::new()
                .schema(Some(ack.schema.clone()))
                .build(),
        ),
    );
    let problem = |description: &str| {
        ResponseBuilder::new().description(description).content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
    };
    responses = responses.response(
        "400",
        problem(&format!(
            "The {read} cannot be read; it is kept in the raw log only"
        )),
    );
    if signed.is_some() {
        responses = responses.response(
            "403",
            problem("Missing or invalid signature; nothing stored"),
        );
    }
    responses = responses.response("404", problem("Unknown token"));
    if read == "body" {
        responses = responses.response("413", problem("Body too large"));
    }
    responses = responses
        .response(
            "429",
            problem("Too many deliveries to this URL, or too many failed authentications from this address; nothing stored")
                .header(
                    "Retry-After",
                    HeaderBuilder::new()
                        .schema(Some(u64::schema()))
                        .description(Some("Seconds until a retry may get through"))
                        .build(),
                ),
        )
        .response("503", problem("Not stored; deliver again later"));
    OperationBuilder::new()
        .tag("webhooks")
        .summary(Some(summary))
        .description(description)
        .operation_id(Some(operation_id))
        .parameters(Some(parameters))
        .responses(responses.build())
        .security(SecurityRequirement::default())
}
