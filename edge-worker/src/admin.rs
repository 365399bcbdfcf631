//! `/v1/admin/shops[/{id}]`: the shops' configurations, listed, read,
//! created or replaced, and deleted with the admin token (`ADMIN_TOKEN`,
//! checked in `http` before anything else).
//!
//! - `GET /v1/admin/shops` → 200 `{"shops": [config, …]}` (the shape of
//!   `shops.json`);
//! - `GET /v1/admin/shops/{id}` → 200 the shop's configuration, or 404;
//! - `PUT /v1/admin/shops/{id}` with a configuration (at most
//!   [`MAX_BODY_BYTES`], its `id` equal to the path's) → 201 created or 200
//!   replaced, with the configuration as stored;
//! - `DELETE /v1/admin/shops/{id}` → 200 `{"deleted": true}`, or 404.
//!
//! A body is validated by `config::parse_shop` (the rules the compiled-in
//! seed meets too) and its metrics resolved against the default model, so a
//! stored shop always yields a registry; a refused body is a 400 (not a
//! shop's JSON) or 422 (a rule), and nothing is stored. Changes reach this
//! isolate at once and the others within `shop_store::CACHE_MILLIS`.

use cove_engine::bundle::Model;
use worker::Env;

use crate::api_error::ApiError;
use crate::config::{self, InvalidShop, ShopConfig};
use crate::http::{AdminAction, Answer, Route};
use crate::{model, shop_store};

/// The largest configuration a `PUT` reads, in bytes (the demo shop's is
/// about 1 KB).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// A `PUT` body for shop `id`, checked: the configuration and the JSON text
/// to store (the configuration re-serialised, so nothing but its fields is
/// kept).
pub fn validate_put(
    id: &str,
    body: &[u8],
    model: &Model,
) -> Result<(ShopConfig, String), ApiError> {
    let shop = config::parse_shop(body).map_err(put_error)?;
    if shop.id != id {
        return Err(ApiError::BadRequest(
            "the configuration's id must be the shop id in the path".into(),
        ));
    }
    shop.registry(model)?;
    let text = serde_json::to_string(&shop).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok((shop, text))
}

/// A configuration `parse_shop` refused, as the answer to a `PUT`.
fn put_error(error: InvalidShop) -> ApiError {
    match error {
        InvalidShop::Json(_) => ApiError::BadRequest(error.to_string()),
        InvalidShop::Rule(rule) => ApiError::InvalidShop(rule),
    }
}

/// The answer to `GET /v1/admin/shops`.
pub fn list_answer(shops: &[ShopConfig]) -> Result<Answer, ApiError> {
    Answer::json(200, &serde_json::json!({ "shops": shops }))
}

/// The answer to `GET /v1/admin/shops/{id}`.
pub fn shop_answer(shop: Option<&ShopConfig>) -> Result<Answer, ApiError> {
    let shop = shop.ok_or_else(|| ApiError::NotFound("no shop has this id".into()))?;
    Answer::json(200, shop)
}

/// The answer to a stored `PUT`.
pub fn put_answer(created: bool, shop: &ShopConfig) -> Result<Answer, ApiError> {
    Answer::json(if created { 201 } else { 200 }, shop)
}

/// The answer to `DELETE /v1/admin/shops/{id}`.
pub fn delete_answer(deleted: bool) -> Result<Answer, ApiError> {
    if !deleted {
        return Err(ApiError::NotFound("no shop has this id".into()));
    }
    Answer::json(200, &serde_json::json!({ "deleted": true }))
}

/// Answers an admin route under workerd, from and to the `ShopStore`.
pub async fn handle(env: &Env, route: &Route, body: &[u8]) -> Result<Answer, ApiError> {
    match route {
        Route::AdminList => list_answer(&shop_store::load(env).await?),
        Route::AdminShop { id, action } => match action {
            AdminAction::Get => {
                let shops = shop_store::load(env).await?;
                shop_answer(shops.iter().find(|shop| shop.id == *id))
            }
            AdminAction::Put => {
                let shop = config::parse_shop(body).map_err(put_error)?;
                // A shop whose pointer is not published is refused, not
                // stored: its registry could never be served.
                // The message names the rule, never the submitted name.
                let model = model::shop_model(env, &shop).await.map_err(|_| {
                    ApiError::InvalidShop(
                        "bundle must name the pointer of a model bundle this edge publishes".into(),
                    )
                })?;
                let (shop, text) = validate_put(id, body, &model)?;
                let created = shop_store::put(env, id, &text).await?;
                put_answer(created, &shop)
            }
            AdminAction::Delete => delete_answer(shop_store::delete(env, id).await?),
        },
        _ => Err(ApiError::Internal("not an admin route".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cove_engine::testing::{synthetic_bundle, SyntheticSpec};

    fn model() -> Model {
        let built = synthetic_bundle(&SyntheticSpec::default());
        Model::from_bytes(&built.manifest, &built.tensors).unwrap()
    }

    fn demo_with(change: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
        let mut shop = serde_json::to_value(&config::seed_shops()[0]).unwrap();
        change(&mut shop);
        serde_json::to_vec(&shop).unwrap()
    }

    fn status(result: Result<(ShopConfig, String), ApiError>) -> u16 {
        match result {
            Ok(_) => 200,
            Err(error) => error.answer().status,
        }
    }

    #[test]
    fn a_put_body_is_a_valid_shop_for_this_path_whose_metrics_resolve() {
        use serde_json::json;
        let model = model();
        type Change = fn(&mut serde_json::Value);
        let cases: &[(&str, &str, Change, u16)] = &[
            ("as seeded", "demo", |_| {}, 200),
            ("another id", "other", |_| {}, 400),
            (
                "renamed to match",
                "other",
                |s| s["id"] = json!("other"),
                200,
            ),
            (
                "not a built-in metric",
                "demo",
                |s| s["metrics"][0]["name"] = json!("zz.colour"),
                422,
            ),
            (
                "a metric twice",
                "demo",
                |s| {
                    let first = s["metrics"][0].clone();
                    s["metrics"].as_array_mut().unwrap().push(first);
                },
                422,
            ),
            (
                "no metrics at all",
                "demo",
                |s| {
                    s["metrics"] = json!([]);
                    s["campaigns"] = json!([]);
                },
                422,
            ),
            (
                "daily ε above 4",
                "demo",
                |s| {
                    s["daily_epsilon"] = json!(5.0);
                    s["max_envelope_epsilon"] = json!(9.0);
                },
                422,
            ),
            (
                "an hourly schedule",
                "demo",
                |s| s["schedule"]["interval_hours"] = json!(1),
                422,
            ),
            (
                "an origin with a path",
                "demo",
                |s| s["origins"] = json!(["https://a.example/"]),
                422,
            ),
            (
                "an unknown field",
                "demo",
                |s| s["admin"] = json!(true),
                400,
            ),
            ("a wrong type", "demo", |s| s["origins"] = json!({}), 400),
            (
                "a huge number",
                "demo",
                |s| s["k_anonymity"] = json!(1e300),
                400,
            ),
        ];
        for (name, id, change, want) in cases {
            assert_eq!(
                status(validate_put(id, &demo_with(*change), &model)),
                *want,
                "{name}"
            );
        }
        for body in [
            &b""[..],
            b"null",
            b"[]",
            b"{",
            b"\xff\xfe",
            b"{\"id\":\"demo\"}",
        ] {
            assert_eq!(status(validate_put("demo", body, &model)), 400, "{body:?}");
        }
    }

    #[test]
    fn the_stored_text_is_the_configuration_and_nothing_else() {
        let body = b" {\n \"id\": \"demo\", \"origins\": [], \"k_anonymity\": 5, \"max_envelope_epsilon\": 1, \
            \"daily_epsilon\": 1, \"schedule\": {\"interval_hours\": 24, \"delay_seconds\": [1, 5]}, \
            \"metrics\": [{\"name\": \"segment.lifecycle\", \"epsilon\": 0.5}] } ";
        let (shop, text) = validate_put("demo", body, &model()).unwrap();
        assert_eq!(config::parse_shop(text.as_bytes()).unwrap(), shop);
        assert!(text.contains("\"campaigns\":[]"), "{text}");
        assert!(!text.contains('\n'));
    }

    #[test]
    fn answers_have_the_documented_statuses() {
        let demo = &config::seed_shops()[0];
        assert_eq!(put_answer(true, demo).unwrap().status, 201);
        assert_eq!(put_answer(false, demo).unwrap().status, 200);
        assert_eq!(delete_answer(true).unwrap().status, 200);
        assert_eq!(delete_answer(false).unwrap_err().answer().status, 404);
        assert_eq!(shop_answer(None).unwrap_err().answer().status, 404);
        let listed: serde_json::Value =
            serde_json::from_str(&list_answer(config::seed_shops()).unwrap().body).unwrap();
        assert_eq!(listed["shops"][0]["id"], "demo");
    }
}
