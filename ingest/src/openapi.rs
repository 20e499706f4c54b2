//! The OpenAPI document of the ingest API, served at `/api/v1/openapi.json`.

use crate::handler::{IngestRequestDoc, IngestResponse, RejectionView};
use recoscope_core::{ActionType, Event, EventContext};
use recoscope_web::{ErrorBody, ErrorDetail};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Recoscope ingest API",
        description = "Behaviour events from trackers and server-side producers."
    ),
    paths(crate::handler::ingest),
    components(schemas(
        Event,
        EventContext,
        ActionType,
        IngestRequestDoc,
        IngestResponse,
        RejectionView,
        ErrorBody,
        ErrorDetail
    )),
    modifiers(&WriteKey),
    tags((name = "ingest", description = "Event ingestion"))
)]
pub struct ApiDoc;

/// The write key travels in `X-Recoscope-Key` (or `?key=` / the body for sendBeacon).
struct WriteKey;

impl Modify for WriteKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "write_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Recoscope-Key"))),
        );
    }
}

pub async fn openapi_json() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}
