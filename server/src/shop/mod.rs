//! The demo storefront: a small shop whose pages embed the tracker exactly as a customer's
//! pages would (the loader snippet, `data-reco-*` markup, one `recoscope('order', …)` call),
//! so a person can click around and watch their own events arrive on `/live`.
//!
//! - [`pages`]: the HTML of the home feed, item pages, cart and order confirmation.
//! - [`recommend`]: the demo recommender, which answers each list with a request id of its
//!   own from the tenant's catalog.
//!
//! The shop sends as the tenant of `DEMO_SHOP_WRITE_KEY` (empty: no shop). The cart lives
//! in a cookie; nothing is stored on the server.

mod pages;

pub use pages::loader_snippet;
mod recommend;

use axum::extract::{Form, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use recommend::Shelf;
use recoscope_stores::{StoreError, Stores};
use serde::Deserialize;

#[derive(Clone)]
pub struct ShopState {
    pub stores: Stores,
    /// The write key the pages embed; empty turns the shop off.
    pub write_key: String,
}

pub fn shop_routes(state: ShopState) -> Router {
    Router::new()
        .route("/shop", get(home))
        .route("/shop/more", get(more))
        .route("/shop/item/{id}", get(item))
        .route("/shop/preview.wav", get(preview_audio))
        .route("/shop/cart", get(cart).post(add_to_cart))
        .route("/shop/order", post(place_order))
        .with_state(state)
}

/// Why a shop page could not be shown, as a page that says so.
struct ShopError(StatusCode, String);

impl IntoResponse for ShopError {
    fn into_response(self) -> Response {
        (self.0, Html(pages::problem(&self.1))).into_response()
    }
}

/// The tenant's catalog, read once per page.
async fn shelf(state: &ShopState) -> Result<Shelf, ShopError> {
    if state.write_key.is_empty() {
        return Err(ShopError(
            StatusCode::NOT_FOUND,
            "The demo shop is off: set DEMO_SHOP_WRITE_KEY to a write key.".into(),
        ));
    }
    let write_key = state.write_key.clone();
    let tenant = state
        .stores
        .tenants(move |store| store.tenant_for_key(&write_key))
        .await?
        .ok_or_else(|| {
            ShopError(
                StatusCode::NOT_FOUND,
                "DEMO_SHOP_WRITE_KEY is not a known write key.".into(),
            )
        })?;
    let tenant_id = tenant.id.clone();
    let items = state
        .stores
        .catalog(move |catalog| catalog.list_items(&tenant_id, None, recommend::MAX_CATALOG))
        .await?;
    if items.is_empty() {
        return Err(ShopError(
            StatusCode::NOT_FOUND,
            format!(
                "Tenant {} has no catalog yet: import items with `recoscope catalog \
                 import-items` (scripts/run does).",
                tenant.id
            ),
        ));
    }
    Ok(Shelf::new(items))
}

/// The stores failed: the shop cannot show its shelf now.
impl From<StoreError> for ShopError {
    fn from(error: StoreError) -> Self {
        ShopError(StatusCode::SERVICE_UNAVAILABLE, error.to_string())
    }
}

fn cart_of(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix("cart="))
        .flat_map(|v| v.split('|'))
        .filter_map(form_decode)
        .filter(|id| !id.is_empty())
        .collect()
}

/// Item ids in the cart cookie are form-encoded (which escapes `|`) and joined by `|`.
fn form_decode(text: &str) -> Option<String> {
    url::form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
}

fn cart_cookie(items: &[String]) -> String {
    let joined: Vec<String> = items
        .iter()
        .map(|id| url::form_urlencoded::byte_serialize(id.as_bytes()).collect())
        .collect();
    format!(
        "cart={}; Path=/shop; SameSite=Lax; Max-Age=86400",
        joined.join("|")
    )
}

#[derive(Deserialize)]
struct HomeQuery {
    /// `required`: the page embeds the tracker in consent mode, with a banner.
    #[serde(default)]
    consent: String,
}

async fn home(
    State(state): State<ShopState>,
    Query(query): Query<HomeQuery>,
    headers: HeaderMap,
) -> Result<Html<String>, ShopError> {
    let shelf = shelf(&state).await?;
    let feed = shelf.home_feed(0);
    let trending = shelf.trending();
    let consent = query.consent == "required";
    Ok(Html(pages::home(
        &state.write_key,
        consent,
        &feed,
        &trending,
        cart_of(&headers).len(),
    )))
}

#[derive(Deserialize)]
struct More {
    #[serde(default)]
    page: usize,
}

/// The next page of the home feed (infinite scroll): a list of its own, with a new request id.
async fn more(
    State(state): State<ShopState>,
    Query(more): Query<More>,
) -> Result<Html<String>, ShopError> {
    let shelf = shelf(&state).await?;
    Ok(Html(pages::list_fragment(
        &shelf.home_feed(more.page.min(1000)),
    )))
}

async fn item(
    State(state): State<ShopState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Html<String>, ShopError> {
    let shelf = shelf(&state).await?;
    let Some(item) = shelf.item(&id) else {
        return Err(ShopError(
            StatusCode::NOT_FOUND,
            format!("No item {id:?} in the catalog."),
        ));
    };
    let similar = shelf.similar(item);
    Ok(Html(pages::item(
        &state.write_key,
        item,
        &similar,
        cart_of(&headers).len(),
    )))
}

/// The item pages' audio preview: four seconds of a quiet 440 Hz tone (8 kHz, 8-bit mono
/// WAV), made here so the demo needs no media files. It is what the tracker's media rule
/// (watched seconds, completion) measures on a real element.
async fn preview_audio() -> Response {
    const RATE: u32 = 8000;
    const SECONDS: u32 = 4;
    let samples = RATE * SECONDS;
    let mut wav = Vec::with_capacity(44 + samples as usize);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + samples).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&RATE.to_le_bytes());
    wav.extend_from_slice(&RATE.to_le_bytes()); // bytes per second
    wav.extend_from_slice(&1u16.to_le_bytes()); // block align
    wav.extend_from_slice(&8u16.to_le_bytes()); // bits per sample
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&samples.to_le_bytes());
    for n in 0..samples {
        let phase = n as f64 * 440.0 * std::f64::consts::TAU / RATE as f64;
        wav.push((128.0 + 12.0 * phase.sin()).round() as u8);
    }
    (
        [
            (header::CONTENT_TYPE, "audio/wav"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        wav,
    )
        .into_response()
}

async fn cart(
    State(state): State<ShopState>,
    headers: HeaderMap,
) -> Result<Html<String>, ShopError> {
    let shelf = shelf(&state).await?;
    let ids = cart_of(&headers);
    let items: Vec<_> = ids.iter().filter_map(|id| shelf.item(id)).collect();
    let also = shelf.also_bought(&ids);
    Ok(Html(pages::cart(&state.write_key, &items, &also)))
}

#[derive(Deserialize)]
struct AddToCart {
    item: String,
}

async fn add_to_cart(headers: HeaderMap, Form(form): Form<AddToCart>) -> Response {
    let mut items = cart_of(&headers);
    if !form.item.is_empty() && items.len() < 50 && !items.contains(&form.item) {
        items.push(form.item);
    }
    (
        [(header::SET_COOKIE, cart_cookie(&items))],
        Redirect::to("/shop/cart"),
    )
        .into_response()
}

async fn place_order(
    State(state): State<ShopState>,
    headers: HeaderMap,
) -> Result<Response, ShopError> {
    let shelf = shelf(&state).await?;
    let ids: Vec<String> = cart_of(&headers)
        .into_iter()
        .filter(|id| shelf.item(id).is_some())
        .collect();
    let order_id = uuid::Uuid::now_v7().to_string();
    let page = pages::order_placed(&state.write_key, &order_id, &ids);
    Ok(([(header::SET_COOKIE, cart_cookie(&[]))], Html(page)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cart_cookie_round_trips_odd_ids() {
        let ids = vec!["sku-1".to_string(), "a.b c/ü".to_string()];
        let cookie = cart_cookie(&ids);
        let mut headers = HeaderMap::new();
        let value = cookie.split(';').next().unwrap().to_string();
        headers.insert(header::COOKIE, format!("other=1; {value}").parse().unwrap());
        assert_eq!(cart_of(&headers), ids);
        assert!(cart_of(&HeaderMap::new()).is_empty());
    }
}
