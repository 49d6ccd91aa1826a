//! `GET /api/v1/images`: image automation's report (repositories scanned, tags chosen,
//! commits pushed), as JSON. It never holds a credential.

use crate::daemon::state::Shared;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The handler.
pub async fn images(State(state): State<Arc<Shared>>) -> Response {
    axum::Json(state.images.report()).into_response()
}
