//! The OpenAPI 3 document: collected by utoipa-axum from the router itself (each handler's
//! `#[utoipa::path]`, routed with `routes!`), then completed here.

use std::sync::Arc;

use access_types as t;
use axum::response::{IntoResponse, Response as AxumResponse};
use utoipa::ToSchema;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::Response;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    Components, ContentBuilder, InfoBuilder, OpenApi, Ref, RefOr, ResponseBuilder, ServerBuilder,
};

/// Operations whose answer is a document of its own, not the `{success, data, message}`
/// envelope: what JWT libraries, API tools and Prometheus fetch directly.
const PLAIN_TAG: &str = "documents";

fn add<T: ToSchema>(c: &mut Components) {
    let mut deps = Vec::new();
    T::schemas(&mut deps);
    c.schemas.insert(T::name().into_owned(), T::schema());
    c.schemas.extend(deps);
}

/// Completes the document the router collected (`routes!` in app.rs: every documented route
/// is there because the router was built from it): the envelope around each JSON answer, the
/// error envelope as every operation's default answer, stable operation ids, the security
/// schemes, and the schemas no operation names directly.
pub fn finish(mut doc: OpenApi) -> OpenApi {
    doc.info = InfoBuilder::new()
        .title("Access API")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Face / OTP sign-in API. Every response uses the success or error envelope, except \
             the documents tagged `documents`. The console's own endpoints (`/console/api`) take \
             the operator's session cookie and, for changes, the `X-CSRF-Token` header.",
        ))
        .build();
    doc.servers = Some(vec![ServerBuilder::new().url("/").build()]);
    let c = doc.components.get_or_insert_with(Components::new);
    add::<t::ApiErrorBody>(c);
    add::<t::ErrorCode>(c);
    add::<t::WebhookEvent>(c);
    c.security_schemes.insert(
        "bearer".into(),
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        ),
    );
    c.security_schemes.insert(
        "session".into(),
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            crate::operators::COOKIE_NAME,
            "the console's session (HttpOnly, SameSite=Strict)",
        ))),
    );
    for (path, item) in doc.paths.paths.iter_mut() {
        for (method, op) in operations(item) {
            op.operation_id = Some(format!(
                "{method}{}",
                path.replace(['/', '{', '}', '-', '.'], "_")
            ));
            let plain = op
                .tags
                .as_ref()
                .is_some_and(|t| t.iter().any(|t| t == PLAIN_TAG));
            if let Some(RefOr::T(ok)) = op.responses.responses.get_mut("200")
                && !plain
            {
                envelope(ok);
            }
            op.responses.responses.insert(
                "default".into(),
                RefOr::T(
                    ResponseBuilder::new()
                        .description("error envelope")
                        .content(
                            "application/json",
                            ContentBuilder::new()
                                .schema(Some(Ref::from_schema_name("ApiErrorBody")))
                                .build(),
                        )
                        .build(),
                ),
            );
        }
    }
    doc
}

/// `{success, data, message}` around a 200 answer's schema (an empty object when the handler
/// names none).
fn envelope(ok: &mut Response) {
    let data: RefOr<Schema> = ok
        .content
        .get("application/json")
        .and_then(|c| c.schema.clone())
        .unwrap_or_else(|| ObjectBuilder::new().into());
    let schema = ObjectBuilder::new()
        .property("success", ObjectBuilder::new().schema_type(Type::Boolean))
        .required("success")
        .property("data", data)
        .required("data")
        .property("message", ObjectBuilder::new().schema_type(Type::String))
        .build();
    ok.content.insert(
        "application/json".into(),
        ContentBuilder::new()
            .schema(Some(Schema::Object(schema)))
            .build(),
    );
}

fn operations(item: &mut PathItem) -> Vec<(&'static str, &mut Operation)> {
    [
        ("get", item.get.as_mut()),
        ("post", item.post.as_mut()),
        ("put", item.put.as_mut()),
        ("patch", item.patch.as_mut()),
        ("delete", item.delete.as_mut()),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.map(|op| (m, op)))
    .collect()
}

/// `GET /v2/access/openapi.json`: the document `app::router` collected and finished.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "documents",
    summary = "This OpenAPI document (no envelope)",
    responses((status = 200, description = "OpenAPI 3 document")),
)]
pub async fn serve(axum::Extension(doc): axum::Extension<Arc<OpenApi>>) -> AxumResponse {
    axum::Json(doc.as_ref()).into_response()
}
