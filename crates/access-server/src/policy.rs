//! `GET /sync/policy?project_id=` (an addition to the contract, beside the template feed):
//! what a kiosk needs to decide a face on its own while it cannot reach the API. The flow a
//! login goes through now (chosen as `flows::resolve_login_flow` chooses it), its methods, its
//! state and its white or black list; never the customer's URL or anything secret.

use access_types::{ErrorCode, FlowStatus, KioskFlowPolicy, KioskPolicy, SecurityMode};
use axum::extract::State;
use axum::response::Response;

use crate::admin::RequiredProject;
use crate::clock::rfc3339;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiQuery, Auth};
use crate::flows::{FLOW_COLUMNS, flow_from_row, project_exists};
use crate::ok;
use crate::state::AppState;

#[utoipa::path(
    get,
    path = "/sync/policy",
    tag = "sync",
    summary = "What a kiosk needs to decide faces offline: the login flow's state, methods and lists",
    params(("project_id" = String, Query)),
    responses((status = 200, description = "success", body = access_types::KioskPolicy)),
    security(("bearer" = [])),
)]
pub async fn policy(
    State(st): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<RequiredProject>,
) -> ApiResult<Response> {
    auth.allow_project(&q.project_id)?;
    let now = st.clock.now_ms();
    let policy = st
        .db
        .call(move |c| {
            if !project_exists(c, &q.project_id)? {
                return Err(ApiError::new(
                    ErrorCode::ProjectNotFound,
                    "unknown project_id",
                ));
            }
            let mut s = c.prepare_cached(&format!(
                "SELECT {FLOW_COLUMNS} FROM flows WHERE project_id = ?1 AND flow_type = 'login'
                 ORDER BY created_at"
            ))?;
            let flows = s
                .query_map([&q.project_id], flow_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            // The active flow serves logins; without one, the paused or draft flow explains
            // the refusal (the order `resolve_login_flow` explains it in).
            let flow = [FlowStatus::Active, FlowStatus::Paused]
                .iter()
                .find_map(|want| flows.iter().find(|f| f.status == *want))
                .or(flows.first())
                .map(|f| KioskFlowPolicy {
                    id: f.id.clone(),
                    status: f.status,
                    login: f.login.clone(),
                    security_mode: f.security.mode,
                    identifiers: match f.security.mode {
                        SecurityMode::Whitelist | SecurityMode::Blacklist => {
                            f.security.identifiers.clone()
                        }
                        SecurityMode::None | SecurityMode::Url => Vec::new(),
                    },
                });
            Ok(KioskPolicy {
                project_id: q.project_id,
                flow,
                generated_at: rfc3339(now),
                signing_keys: None,
            })
        })
        .await?;
    // Rotations reach kiosks here, signed by the keys they already pin.
    let policy = KioskPolicy {
        signing_keys: Some(st.keys.signed_key_set(now)),
        ..policy
    };
    Ok(ok(policy, ""))
}
