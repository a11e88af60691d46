//! The labeling pages and their JSON API on `gptlab serve`.
//!
//! | route | who | what |
//! |---|---|---|
//! | `GET /label` | anyone | the labeling page (HTML/JS; it asks for a key) |
//! | `GET /label/api/me` | labeler, admin | the key's user and role, the guidelines, [`FLAGS`], [`SKIP_REASONS`] |
//! | `POST /label/api/next` | labeler, admin | the caller's held task, or the next one leased to them (`null`: none left) |
//! | `GET /label/api/tasks` | labeler, admin | the caller's own assignments |
//! | `GET /label/api/tasks/{id}` | its labeler | one assignment (403 for anyone else's) |
//! | `POST /label/api/tasks/{id}` | its labeler | submit a [`Submission`] |
//! | `GET`/`PUT /label/api/guidelines` | labeler, admin / admin | read / set (`{"markdown"}`) the guidelines |
//! | `GET /label/api/export` | admin | the export's records ([`super::export`]) |
//! | `GET /label/api/status` | admin | counts |
//! | `GET /label/api/agreement` | admin | the agreement report ([`super::agreement`]) |
//!
//! Keys travel in `Authorization: Bearer` only, never in cookies, so a page on another site
//! cannot make a browser send one (the usual cross-site request forgery needs ambient
//! credentials). State-changing requests are also refused (403) unless they are
//! `application/json` (which a cross-site form cannot send without a CORS preflight, and the
//! server allows none) and, when the browser names the request's origin (`Origin`,
//! `Sec-Fetch-Site`), it is this server's. Outputs and prompts are put on the page as text
//! (`textContent`), never as HTML.

use super::db::{self, Assignment};
use super::{agreement as agree, export, LabelError, Submission, FLAGS, SKIP_REASONS};
use crate::api::ApiError;
use crate::server::{authorize, read_body, AppState};
use crate::store::{Principal, Role};
use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::Arc;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/label", get(|| async { Html(include_str!("../page/label.html")) }))
        .route("/label/api/me", get(me))
        .route("/label/api/next", post(next))
        .route("/label/api/tasks", get(list))
        .route("/label/api/tasks/{id}", get(one).post(submit))
        .route("/label/api/guidelines", get(get_guidelines).put(put_guidelines))
        .route("/label/api/export", get(export_all))
        .route("/label/api/status", get(status))
        .route("/label/api/agreement", get(agreement))
}

impl From<LabelError> for ApiError {
    fn from(e: LabelError) -> Self {
        match e {
            LabelError::Invalid { field, msg } => ApiError::invalid(field.clone(), format!("{field}: {msg}")),
            LabelError::Forbidden(m) => ApiError::invalid(None, m).status(StatusCode::FORBIDDEN).with_code("permission_denied"),
            LabelError::NotFound(m) => ApiError::invalid(None, m).status(StatusCode::NOT_FOUND),
            LabelError::Conflict(m) => ApiError::invalid(None, m).status(StatusCode::CONFLICT).with_code("conflict"),
            LabelError::Store(e) => ApiError::server(e.to_string()),
        }
    }
}

fn reply<T: serde::Serialize>(r: Result<T, ApiError>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

fn admin(who: &Principal) -> Result<(), ApiError> {
    if who.role == Role::Admin {
        Ok(())
    } else {
        Err(LabelError::Forbidden(format!("{} is not an admin", who.user)).into())
    }
}

/// Refuses a state-changing request that is not JSON or comes from another site's page.
fn same_origin_json(h: &HeaderMap) -> Result<(), ApiError> {
    let forbid = |m: &str| Err(LabelError::Forbidden(m.into()).into());
    let ct = h.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct.trim_start().to_ascii_lowercase().starts_with("application/json") {
        return forbid("state-changing requests must be application/json");
    }
    if h.get("sec-fetch-site").and_then(|v| v.to_str().ok()).is_some_and(|s| s == "cross-site" || s == "same-site") {
        return forbid("cross-site request refused");
    }
    if let Some(origin) = h.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = h.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
        let bare = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")).unwrap_or("");
        if bare != host {
            return forbid("cross-origin request refused");
        }
    }
    Ok(())
}

async fn json_body<T: serde::de::DeserializeOwned>(st: &AppState, h: &HeaderMap, body: Body) -> Result<T, ApiError> {
    same_origin_json(h)?;
    let bytes = read_body(st, h, body).await?;
    serde_json::from_slice(&bytes).map_err(|e| ApiError::invalid(None, format!("invalid request body: {e}")))
}

async fn me(State(st): State<Arc<AppState>>, h: HeaderMap) -> Response {
    reply((|| {
        let who = authorize(&st, &h)?;
        if !who.role.labels() {
            return Err(LabelError::Forbidden(format!("{} has an API key; labeling needs a labeler or admin key", who.user)).into());
        }
        let g = db::guidelines(&st.store)?;
        Ok(json!({"user": who.user, "role": who.role, "guidelines": g, "flags": FLAGS, "skip_reasons": SKIP_REASONS, "lease_seconds": st.lease_s}))
    })())
}

async fn next(State(st): State<Arc<AppState>>, h: HeaderMap, body: Body) -> Response {
    let r = async {
        let who = authorize(&st, &h)?;
        let _: Value = json_body(&st, &h, body).await?;
        Ok::<Option<Assignment>, ApiError>(db::next(&st.store, &who, st.lease_s)?)
    };
    reply(r.await)
}

async fn list(State(st): State<Arc<AppState>>, h: HeaderMap) -> Response {
    reply(authorize(&st, &h).and_then(|who| Ok(db::my_tasks(&st.store, &who, st.lease_s)?)))
}

async fn one(State(st): State<Arc<AppState>>, h: HeaderMap, UrlPath(id): UrlPath<i64>) -> Response {
    reply(authorize(&st, &h).and_then(|who| Ok(db::assignment(&st.store, &who, id, st.lease_s)?)))
}

async fn submit(State(st): State<Arc<AppState>>, h: HeaderMap, UrlPath(id): UrlPath<i64>, body: Body) -> Response {
    let r = async {
        let who = authorize(&st, &h)?;
        let s: Submission = json_body(&st, &h, body).await?;
        Ok::<Assignment, ApiError>(db::submit(&st.store, &who, id, &s, st.lease_s)?)
    };
    reply(r.await)
}

async fn get_guidelines(State(st): State<Arc<AppState>>, h: HeaderMap) -> Response {
    reply(authorize(&st, &h).and_then(|who| {
        if !who.role.labels() {
            return Err(LabelError::Forbidden(format!("{} has an API key; the guidelines are for labelers", who.user)).into());
        }
        Ok(db::guidelines(&st.store)?)
    }))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NewGuidelines {
    markdown: String,
}

async fn put_guidelines(State(st): State<Arc<AppState>>, h: HeaderMap, body: Body) -> Response {
    let r = async {
        let who = authorize(&st, &h)?;
        admin(&who)?;
        let g: NewGuidelines = json_body(&st, &h, body).await?;
        let version = db::set_guidelines(&st.store, &g.markdown, &who.user)?;
        Ok::<Value, ApiError>(json!({"version": version}))
    };
    reply(r.await)
}

async fn export_all(State(st): State<Arc<AppState>>, h: HeaderMap) -> Response {
    reply(authorize(&st, &h).and_then(|who| {
        admin(&who)?;
        Ok(export::export(&st.store)?)
    }))
}

async fn status(State(st): State<Arc<AppState>>, h: HeaderMap) -> Response {
    reply(authorize(&st, &h).and_then(|who| {
        admin(&who)?;
        Ok(db::status(&st.store)?)
    }))
}

async fn agreement(State(st): State<Arc<AppState>>, h: HeaderMap) -> Response {
    reply(authorize(&st, &h).and_then(|who| {
        admin(&who)?;
        Ok(agree::report(&st.store, 0)?)
    }))
}
