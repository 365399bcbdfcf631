//! Cross-origin calls: a shop's storefront (another origin) may call the API;
//! nobody else's page may. Same-origin calls (the demo served by this worker)
//! need no CORS at all.

use worker::{Headers, Request, Response, RouteContext};

use crate::api_error::ApiError;
use crate::body::query_param;
use crate::config::{self, ShopConfig};

/// The request's `Origin` header.
pub fn origin(req: &Request) -> Option<String> {
    req.headers().get("origin").ok().flatten()
}

fn own_origin(req: &Request) -> Option<String> {
    req.url().ok().map(|url| url.origin().ascii_serialization())
}

/// Refuses a browser call from an origin the shop has not listed (403).
pub fn check_origin(req: &Request, shop: &ShopConfig) -> Result<(), ApiError> {
    match origin(req) {
        None => Ok(()),
        Some(origin) if Some(&origin) == own_origin(req).as_ref() => Ok(()),
        Some(origin) if shop.origins.contains(&origin) => Ok(()),
        Some(origin) => Err(ApiError::ForbiddenOrigin(origin)),
    }
}

fn allowed(shop: Option<&ShopConfig>, origin: Option<&str>) -> Option<String> {
    let (shop, origin) = (shop?, origin?);
    shop.origins
        .iter()
        .any(|allowed| allowed == origin)
        .then(|| origin.to_string())
}

/// Turns a handler's result into a response with the CORS headers it needs.
pub fn respond(
    result: Result<Response, ApiError>,
    shop: Option<&ShopConfig>,
    origin: Option<&str>,
) -> worker::Result<Response> {
    let response = match result {
        Ok(response) => response,
        Err(error) => error.into_response()?,
    };
    let Some(origin) = allowed(shop, origin) else {
        return Ok(response);
    };
    let headers = response.headers().clone();
    headers.set("access-control-allow-origin", &origin)?;
    headers.append("vary", "Origin")?;
    Ok(response.with_headers(headers))
}

/// `OPTIONS /v1/*`: the preflight of a listed shop origin.
pub fn preflight(req: Request, _ctx: RouteContext<()>) -> worker::Result<Response> {
    let shop_id = query_param(&req, "shop").unwrap_or_default();
    let origin = origin(&req);
    let Some(origin) = allowed(config::shop(&shop_id), origin.as_deref()) else {
        return ApiError::ForbiddenOrigin(origin.unwrap_or_default()).into_response();
    };
    let headers = Headers::new();
    headers.set("access-control-allow-origin", &origin)?;
    headers.set("access-control-allow-methods", "GET, POST")?;
    headers.set("access-control-allow-headers", "content-type")?;
    headers.set("access-control-max-age", "86400")?;
    headers.set("vary", "Origin")?;
    Ok(Response::empty()?.with_status(204).with_headers(headers))
}
