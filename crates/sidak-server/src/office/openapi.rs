//! `GET /v1/openapi.json`: the OpenAPI 3.1 description of the office API (public: it
//! describes, it holds no data).

use serde_json::{Value as Json, json};

/// The description.
pub fn spec() -> Json {
    json!({"openapi": "3.1.0", "paths": {}})
}

/// Serves [`spec`].
pub async fn serve() -> axum::Json<Json> {
    axum::Json(spec())
}
