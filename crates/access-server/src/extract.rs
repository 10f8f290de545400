//! Extractors that answer with the error envelope instead of axum's plain-text rejections.

use access_types::{ApiScope, ApiTokenClaims, ErrorCode};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

/// JSON body; malformed → 400 MALFORMED_JSON, wrong shape → 400 INVALID_REQUEST,
/// over the route's limit → 413 PAYLOAD_TOO_LARGE.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|m| m.trim().eq_ignore_ascii_case("application/json"))
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "expected Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(ErrorCode::PayloadTooLarge, "request body too large")
            } else {
                ApiError::bad_request("could not read request body")
            }
        })?;
        serde_json::from_slice(&bytes)
            .map(ApiJson)
            .map_err(|e| match e.classify() {
                serde_json::error::Category::Data => {
                    ApiError::bad_request(format!("invalid request: {e}"))
                }
                _ => ApiError::new(ErrorCode::MalformedJson, format!("malformed JSON: {e}")),
            })
    }
}

/// Query string with the error envelope on failure.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| ApiQuery(q.0))
            .map_err(|e| ApiError::bad_request(format!("invalid query: {}", e.body_text())))
    }
}

/// Any valid API token (kiosk or admin scope), not revoked.
pub struct Auth(pub ApiTokenClaims);

impl Auth {
    /// Whether this caller may act on `project_id`: an admin token on any, a kiosk token only
    /// on the project it was paired to (403 `PROJECT_FORBIDDEN` otherwise).
    pub fn allow_project(&self, project_id: &str) -> Result<(), ApiError> {
        match (self.0.scope, self.0.project_id.as_deref()) {
            (ApiScope::Admin, _) => Ok(()),
            (ApiScope::Kiosk, Some(p)) if p == project_id => Ok(()),
            (ApiScope::Kiosk, _) => Err(ApiError::new(
                ErrorCode::ProjectForbidden,
                "this kiosk token is for another project",
            )),
            // Never built: `Auth` refuses a metrics token.
            (ApiScope::Metrics, _) => Err(ApiError::new(
                ErrorCode::Forbidden,
                "a metrics token reads /metrics only",
            )),
        }
    }

    pub fn is_admin(&self) -> bool {
        self.0.scope == ApiScope::Admin
    }

    /// Who is calling, for per-caller limits: the kiosk id, else the token's subject.
    pub fn caller_key(&self) -> String {
        match &self.0.kiosk_id {
            Some(k) => format!("kiosk:{k}"),
            None => format!("sub:{}", self.0.sub),
        }
    }
}

/// An admin-scope API token.
pub struct AdminAuth(pub ApiTokenClaims);

fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "missing bearer token"))?
        .to_str()
        .map_err(|_| ApiError::new(ErrorCode::Unauthorized, "malformed Authorization header"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "malformed Authorization header"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::new(
            ErrorCode::Unauthorized,
            "expected a Bearer token",
        ));
    }
    Ok(token.trim())
}

/// A verified, unrevoked token of any scope: only for extractors to build on.
/// A bearer token wins; without one, an operator's session cookie stands for an admin token
/// (operators.rs: the CSRF header is required on unsafe methods).
async fn verified(parts: &Parts, state: &AppState) -> Result<ApiTokenClaims, ApiError> {
    if parts.headers.get(header::AUTHORIZATION).is_none()
        && crate::operators::has_cookie(&parts.headers)
    {
        let session = crate::operators::from_parts(parts, state).await?;
        return Ok(session.claims(state));
    }
    let token = bearer(parts)?;
    let claims = state.keys.verify_api_token(token, state.clock.now_ms())?;
    crate::revocation::check(state, &claims).await?;
    Ok(claims)
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let claims = verified(parts, state).await?;
        // Deny by default: a scraper's token works on `/metrics` and nowhere else.
        if claims.scope == ApiScope::Metrics {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "a metrics token reads /metrics only",
            ));
        }
        if claims.scope == ApiScope::Admin {
            crate::audit::note_actor(parts, &claims.sub);
        }
        Ok(Auth(claims))
    }
}

/// A token that may read `/metrics`: `metrics` or `admin` scope.
pub struct MetricsAuth;

impl FromRequestParts<AppState> for MetricsAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match verified(parts, state).await?.scope {
            ApiScope::Metrics | ApiScope::Admin => Ok(MetricsAuth),
            ApiScope::Kiosk => Err(ApiError::new(
                ErrorCode::Forbidden,
                "reading metrics needs a metrics or admin token",
            )),
        }
    }
}

impl FromRequestParts<AppState> for AdminAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Auth(claims) = Auth::from_request_parts(parts, state).await?;
        if claims.scope != ApiScope::Admin {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "this call needs an admin token",
            ));
        }
        Ok(AdminAuth(claims))
    }
}
