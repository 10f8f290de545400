//! OpenAPI 3 document, generated from the `access-types` schemas plus a route table.

use std::sync::OnceLock;

use access_types as t;
use axum::response::{IntoResponse, Response};
use utoipa::ToSchema;
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathsBuilder, Ref,
    RefOr, Required, ResponseBuilder, ServerBuilder,
};

/// (method, path, request schema, response data schema, list?, scope, summary, query params)
type Route = (
    HttpMethod,
    &'static str,
    Option<&'static str>,
    &'static str,
    bool,
    &'static str,
    &'static str,
    &'static [&'static str],
);

const ROUTES: &[Route] = &[
    (
        HttpMethod::Post,
        "/email/send-otp",
        Some("SendEmailOtpRequest"),
        "OtpValidation",
        false,
        "kiosk",
        "Send an email OTP (5/min per email; not an address: 400 INVALID_EMAIL)",
        &[],
    ),
    (
        HttpMethod::Post,
        "/email/verify-otp",
        Some("VerifyEmailOtpRequest"),
        "OtpVerification",
        false,
        "kiosk",
        "Verify an email OTP (not 6 digits: 400 INVALID_OTP_FORMAT, no attempt used)",
        &[],
    ),
    (
        HttpMethod::Post,
        "/phone/send-sms",
        Some("SendPhoneOtpRequest"),
        "OtpValidation",
        false,
        "kiosk",
        "Send an SMS OTP (3/min per phone; a number its plan lacks: 400 INVALID_PHONE, nothing sent)",
        &[],
    ),
    (
        HttpMethod::Post,
        "/phone/send-whatsapp",
        Some("SendPhoneOtpRequest"),
        "OtpValidation",
        false,
        "kiosk",
        "Send a WhatsApp OTP (3/min per phone; a number its plan lacks: 400 INVALID_PHONE, nothing sent)",
        &[],
    ),
    (
        HttpMethod::Post,
        "/phone/verify-otp",
        Some("VerifyPhoneOtpRequest"),
        "OtpVerification",
        false,
        "kiosk",
        "Verify a phone OTP (not 6 digits: 400 INVALID_OTP_FORMAT, no attempt used)",
        &[],
    ),
    (
        HttpMethod::Post,
        "/biometric/register-face",
        Some("RegisterFaceRequest"),
        "RegisterFaceResponse",
        false,
        "kiosk",
        "Enrol a face sample (source: camera, live when the flow requires it, or an operator's file) and open a biometric validation",
        &[],
    ),
    (
        HttpMethod::Post,
        "/biometric/verify-face",
        Some("VerifyFaceRequest"),
        "VerifyFaceResponse",
        false,
        "kiosk",
        "1:1 (user_id) or 1:N face verification; liveness judged on the same image when the flow requires it (liveness_score, passed, the token)",
        &[],
    ),
    (
        HttpMethod::Post,
        "/biometric/liveness-check",
        Some("LivenessCheckRequest"),
        "LivenessCheckResponse",
        false,
        "kiosk",
        "Presentation-attack check (the seed's second call; verify-face already judges liveness)",
        &[],
    ),
    (
        HttpMethod::Get,
        "/sync/templates",
        None,
        "TemplatePage",
        false,
        "kiosk",
        "Delta feed of enrolled templates, paged (limit, cursor); ETag is the head revision, If-None-Match with it is 304",
        &["project_id", "cursor", "limit"],
    ),
    (
        HttpMethod::Get,
        "/sync/policy",
        None,
        "KioskPolicy",
        false,
        "kiosk",
        "What a kiosk needs to decide faces offline: the login flow's state, methods and lists",
        &["project_id"],
    ),
    (
        HttpMethod::Delete,
        "/biometric/users/{user_id}",
        None,
        "DeletedUser",
        false,
        "kiosk",
        "Erase a person's face samples (tombstones in the template feed; 0 when none)",
        &["project_id"],
    ),
    (
        HttpMethod::Post,
        "/sync/events",
        Some("SyncEventsRequest"),
        "SyncEventsResponse",
        false,
        "kiosk",
        "Idempotent upload of offline events",
        &[],
    ),
    (
        HttpMethod::Post,
        "/projects",
        Some("CreateProjectRequest"),
        "Project",
        false,
        "admin",
        "Create a project",
        &[],
    ),
    (
        HttpMethod::Get,
        "/projects",
        None,
        "Project",
        true,
        "admin",
        "List projects",
        &[],
    ),
    (
        HttpMethod::Get,
        "/projects/{id}",
        None,
        "Project",
        false,
        "admin",
        "Get a project",
        &[],
    ),
    (
        HttpMethod::Patch,
        "/projects/{id}",
        Some("UpdateProjectRequest"),
        "Project",
        false,
        "admin",
        "Update a project",
        &[],
    ),
    (
        HttpMethod::Delete,
        "/projects/{id}",
        None,
        "Object",
        false,
        "admin",
        "Delete a project (no flows left)",
        &[],
    ),
    (
        HttpMethod::Post,
        "/project-flows",
        Some("CreateProjectFlowRequest"),
        "ProjectFlow",
        false,
        "admin",
        "Create a login flow",
        &[],
    ),
    (
        HttpMethod::Get,
        "/project-flows",
        None,
        "ProjectFlow",
        true,
        "admin",
        "List flows",
        &["project_id"],
    ),
    (
        HttpMethod::Get,
        "/project-flows/{id}",
        None,
        "ProjectFlow",
        false,
        "admin",
        "Get a flow",
        &[],
    ),
    (
        HttpMethod::Patch,
        "/project-flows/{id}",
        Some("UpdateProjectFlowRequest"),
        "ProjectFlow",
        false,
        "admin",
        "Update a flow",
        &[],
    ),
    (
        HttpMethod::Delete,
        "/project-flows/{id}",
        None,
        "Object",
        false,
        "admin",
        "Delete a flow and its webhooks",
        &[],
    ),
    (
        HttpMethod::Post,
        "/webhooks",
        Some("CreateWebhookRequest"),
        "CreatedWebhook",
        false,
        "admin",
        "Create a webhook; the secret is shown once",
        &[],
    ),
    (
        HttpMethod::Get,
        "/webhooks",
        None,
        "Webhook",
        true,
        "admin",
        "List webhooks",
        &["project_id"],
    ),
    (
        HttpMethod::Get,
        "/webhooks/{id}",
        None,
        "Webhook",
        false,
        "admin",
        "Get a webhook",
        &[],
    ),
    (
        HttpMethod::Patch,
        "/webhooks/{id}",
        Some("UpdateWebhookRequest"),
        "Webhook",
        false,
        "admin",
        "Update a webhook",
        &[],
    ),
    (
        HttpMethod::Delete,
        "/webhooks/{id}",
        None,
        "Object",
        false,
        "admin",
        "Delete a webhook",
        &[],
    ),
    (
        HttpMethod::Get,
        "/webhooks/{id}/deliveries",
        None,
        "WebhookDelivery",
        true,
        "admin",
        "Delivery log",
        &[],
    ),
    (
        HttpMethod::Get,
        "/users",
        None,
        "EnrolledUser",
        true,
        "admin",
        "Enrolled users of a project",
        &["project_id"],
    ),
    (
        HttpMethod::Delete,
        "/users/{user_id}",
        None,
        "DeletedUser",
        false,
        "admin",
        "Delete a user's face templates",
        &["project_id"],
    ),
    (
        HttpMethod::Get,
        "/dev/outbox",
        None,
        "OutboxList",
        false,
        "kiosk",
        "Dev outbox (only with --dev-outbox)",
        &["to"],
    ),
    (
        HttpMethod::Get,
        "/healthz",
        None,
        "Health",
        false,
        "none",
        "Health",
        &[],
    ),
    (
        HttpMethod::Get,
        "/readyz",
        None,
        "Health",
        false,
        "none",
        "Readiness: 503 NOT_READY until the database answers and the models are loaded",
        &[],
    ),
];

fn add<T: ToSchema>(c: ComponentsBuilder) -> ComponentsBuilder {
    let mut deps = Vec::new();
    T::schemas(&mut deps);
    c.schema_from::<T>().schemas_from_iter(deps)
}

fn build() -> OpenApi {
    let mut c = ComponentsBuilder::new();
    c = add::<t::ApiErrorBody>(c);
    c = add::<t::ErrorCode>(c);
    c = add::<t::SendEmailOtpRequest>(c);
    c = add::<t::SendPhoneOtpRequest>(c);
    c = add::<t::VerifyEmailOtpRequest>(c);
    c = add::<t::VerifyPhoneOtpRequest>(c);
    c = add::<t::OtpValidation>(c);
    c = add::<t::OtpVerification>(c);
    c = add::<t::RegisterFaceRequest>(c);
    c = add::<t::RegisterFaceResponse>(c);
    c = add::<t::VerifyFaceRequest>(c);
    c = add::<t::VerifyFaceResponse>(c);
    c = add::<t::LivenessCheckRequest>(c);
    c = add::<t::LivenessCheckResponse>(c);
    c = add::<t::Project>(c);
    c = add::<t::CreateProjectRequest>(c);
    c = add::<t::UpdateProjectRequest>(c);
    c = add::<t::ProjectFlow>(c);
    c = add::<t::CreateProjectFlowRequest>(c);
    c = add::<t::UpdateProjectFlowRequest>(c);
    c = add::<t::Webhook>(c);
    c = add::<t::CreatedWebhook>(c);
    c = add::<t::CreateWebhookRequest>(c);
    c = add::<t::UpdateWebhookRequest>(c);
    c = add::<t::WebhookDelivery>(c);
    c = add::<t::WebhookEvent>(c);
    c = add::<t::EnrolledUser>(c);
    c = add::<t::DeletedUser>(c);
    c = add::<t::TemplatePage>(c);
    c = add::<t::KioskPolicy>(c);
    c = add::<t::KioskFlowPolicy>(c);
    c = add::<t::SyncEventsRequest>(c);
    c = add::<t::SyncEventsResponse>(c);
    c = add::<t::OutboxList>(c);
    c = add::<t::Health>(c);
    c = add::<t::JwkSet>(c);
    c = c.schema("Object", Schema::Object(ObjectBuilder::new().build()));
    c = c.security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        ),
    );

    let mut paths = PathsBuilder::new();
    let mut items: Vec<(String, PathItem)> = Vec::new();
    for (method, path, req, resp, list, scope, summary, query) in ROUTES {
        let data: RefOr<Schema> = if *list {
            ArrayBuilder::new()
                .items(Ref::from_schema_name(*resp))
                .build()
                .into()
        } else {
            Ref::from_schema_name(*resp).into()
        };
        let envelope = ObjectBuilder::new()
            .property("success", ObjectBuilder::new().schema_type(Type::Boolean))
            .required("success")
            .property("data", data)
            .required("data")
            .property("message", ObjectBuilder::new().schema_type(Type::String))
            .build();
        let mut op = OperationBuilder::new()
            .summary(Some(*summary))
            .description(Some(format!("Scope: {scope}")))
            .operation_id(Some(format!(
                "{}{}",
                method_name(method),
                path.replace(['/', '{', '}', '-', '.'], "_")
            )))
            .response(
                "200",
                ResponseBuilder::new()
                    .description("success envelope")
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Schema::Object(envelope)))
                            .build(),
                    ),
            )
            .response(
                "default",
                ResponseBuilder::new()
                    .description("error envelope")
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ApiErrorBody")))
                            .build(),
                    ),
            );
        if *scope != "none" {
            op = op.security(SecurityRequirement::new("bearer", Vec::<String>::new()));
        }
        if let Some(r) = req {
            op = op.request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name(*r)))
                            .build(),
                    )
                    .build(),
            ));
        }
        for seg in path.split('/').filter(|s| s.starts_with('{')) {
            op = op.parameter(
                ParameterBuilder::new()
                    .name(seg.trim_matches(|c| c == '{' || c == '}'))
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String))),
            );
        }
        for q in *query {
            op = op.parameter(
                ParameterBuilder::new()
                    .name(*q)
                    .parameter_in(ParameterIn::Query)
                    .required(if *q == "project_id" || *q == "to" {
                        Required::True
                    } else {
                        Required::False
                    })
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String))),
            );
        }
        let full = format!("{}{}", t::BASE_PATH, path);
        match items.iter_mut().find(|(p, _)| *p == full) {
            Some((_, item)) => set_op(item, method.clone(), op.build()),
            None => items.push((full, PathItem::new(method.clone(), op.build()))),
        }
    }
    // Plain documents (no envelope): what JWT libraries and API tools fetch directly.
    let jwks = OperationBuilder::new()
        .summary(Some("Public keys of the token signer (EdDSA, RFC 8037)"))
        .operation_id(Some("get_jwks"))
        .response(
            "200",
            ResponseBuilder::new().description("JWK set").content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("JwkSet")))
                    .build(),
            ),
        );
    items.push((
        format!("{}/.well-known/jwks.json", t::BASE_PATH),
        PathItem::new(HttpMethod::Get, jwks.build()),
    ));
    let doc = OperationBuilder::new()
        .summary(Some("This OpenAPI document"))
        .operation_id(Some("get_openapi"))
        .response(
            "200",
            ResponseBuilder::new().description("OpenAPI 3 document"),
        );
    items.push((
        format!("{}/openapi.json", t::BASE_PATH),
        PathItem::new(HttpMethod::Get, doc.build()),
    ));
    for (p, item) in items {
        paths = paths.path(p, item);
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Access API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Face / OTP sign-in API. Every response uses the success or error envelope.",
                )),
        )
        .servers(Some([ServerBuilder::new().url("/").build()]))
        .paths(paths.build())
        .components(Some(c.build()))
        .build()
}

fn set_op(item: &mut PathItem, m: HttpMethod, op: utoipa::openapi::path::Operation) {
    match m {
        HttpMethod::Get => item.get = Some(op),
        HttpMethod::Post => item.post = Some(op),
        HttpMethod::Put => item.put = Some(op),
        HttpMethod::Patch => item.patch = Some(op),
        HttpMethod::Delete => item.delete = Some(op),
        HttpMethod::Head => item.head = Some(op),
        HttpMethod::Options => item.options = Some(op),
        HttpMethod::Trace => item.trace = Some(op),
    }
}

fn method_name(m: &HttpMethod) -> &'static str {
    match m {
        HttpMethod::Get => "get",
        HttpMethod::Post => "post",
        HttpMethod::Put => "put",
        HttpMethod::Patch => "patch",
        HttpMethod::Delete => "delete",
        HttpMethod::Head => "head",
        HttpMethod::Options => "options",
        HttpMethod::Trace => "trace",
    }
}

pub fn document() -> &'static OpenApi {
    static DOC: OnceLock<OpenApi> = OnceLock::new();
    DOC.get_or_init(build)
}

pub async fn serve() -> Response {
    axum::Json(document()).into_response()
}
