//! The worker's answer to a request without the runtime: the same checks
//! (`http::check`), body limit and route handlers, with the model and the
//! clock passed in, and no storage — a valid envelope is prepared exactly as
//! for ingest and answered as a first sight (202), aggregates are published
//! from an empty day, and the shops are the compiled-in seed, which the admin
//! API reads and which a valid `PUT` or a `DELETE` is answered against but
//! does not change. The HTTP fuzz target (`edge-worker/fuzz`) and the
//! native property test below drive it: any request gives a JSON answer and
//! never a panic.

use cove_engine::bundle::Model;

use crate::aggregate_store::Tallies;
use crate::api_error::ApiError;
use crate::http::{self, AdminAction, Answer, Incoming, Route, Settings};
use crate::{admin, config};

/// Answers `incoming` with `body` the way the worker would, storage aside.
pub fn answer(
    incoming: &Incoming,
    body: &[u8],
    model: &Model,
    settings: &Settings,
    now: i64,
) -> Answer {
    serve(incoming, body, model, settings, now).unwrap_or_else(|error| error.answer())
}

fn serve(
    incoming: &Incoming,
    body: &[u8],
    model: &Model,
    settings: &Settings,
    now: i64,
) -> Result<Answer, ApiError> {
    let today = (now.max(0) / 86_400) as u32;
    let seed = config::seed_shops();
    let seeded = |id: &str| seed.iter().find(|shop| shop.id == id);
    let shop = http::shop_query(incoming).and_then(|id| seeded(&id));
    let checked = http::check(incoming, settings, today, shop)?;
    let limit = checked.route.body_limit();
    if body.len() > limit {
        return Err(ApiError::TooLarge { limit });
    }
    let shop = || {
        checked
            .shop
            .ok_or_else(|| ApiError::Internal("a shop route without a shop".into()))
    };
    let registry = |shop: &crate::config::ShopConfig| {
        shop.registry(model)
            .map_err(|e| ApiError::Internal(format!("shop {}: {e}", shop.id)))
    };
    match checked.route {
        Route::Health => Answer::json(200, &serde_json::json!({ "status": "ok" })),
        Route::Score => crate::score::answer(body),
        Route::Recommend => crate::recommend::answer(model, body, now),
        Route::Config => crate::registry::answer(&registry(shop()?)?),
        Route::Reports => {
            let shop = shop()?;
            let country = crate::trending::normalise_country(
                &incoming.header("cf-ipcountry").unwrap_or_default(),
            );
            let prepared = crate::reports::prepare(shop, &registry(shop)?, body, today, &country)?;
            Answer::json(202, &serde_json::json!({ "accepted": prepared.n_reports }))
        }
        Route::Aggregates { day } => {
            let shop = shop()?;
            let empty = Tallies::default();
            crate::aggregates::publish_json(shop, &registry(shop)?, model, day, &empty)
        }
        Route::Preflight => Ok(http::preflight()),
        Route::AdminList => admin::list_answer(seed),
        Route::AdminShop { id, action } => match action {
            AdminAction::Get => admin::shop_answer(seeded(&id)),
            AdminAction::Put => {
                let (shop, _) = admin::validate_put(&id, body, model)?;
                admin::put_answer(seeded(&id).is_none(), &shop)
            }
            AdminAction::Delete => admin::delete_answer(seeded(&id).is_some()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cove_engine::testing::{synthetic_bundle, SyntheticSpec};
    use proptest::prelude::*;

    const NOW: i64 = 1_765_000_000;

    fn model() -> &'static Model {
        static MODEL: std::sync::OnceLock<Model> = std::sync::OnceLock::new();
        MODEL.get_or_init(|| {
            let built = synthetic_bundle(&SyntheticSpec::default());
            Model::from_bytes(&built.manifest, &built.tensors).unwrap()
        })
    }

    const ADMIN_TOKEN: &str = "an-admin-token-of-at-least-32-chars";

    fn settings() -> Settings {
        Settings {
            public_origins: vec!["http://127.0.0.1:8787".into()],
            dashboard_tokens: vec![(
                "demo".into(),
                http::token_digest("a-dashboard-token-of-32-chars-00"),
            )],
            admin_token: Some(http::token_digest(ADMIN_TOKEN)),
        }
    }

    /// Checks the invariant: a status this API uses, a JSON body (an object
    /// with code and message when it is an error), the security headers.
    fn check_answer(answer: &Answer) {
        assert!(
            [200, 201, 202, 204, 400, 401, 403, 404, 405, 408, 409, 413, 415, 421, 422, 429, 503]
                .contains(&answer.status),
            "status {} for {}",
            answer.status,
            answer.body
        );
        if answer.status != 204 {
            let value: serde_json::Value = serde_json::from_str(&answer.body).expect("a JSON body");
            if answer.status >= 400 {
                assert!(
                    value["code"].is_string() && value["message"].is_string(),
                    "{value}"
                );
            }
        }
        let headers = answer.headers(None);
        assert!(headers
            .iter()
            .any(|(n, v)| *n == "x-content-type-options" && v == "nosniff"));
    }

    fn method() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("GET".to_string()),
            Just("POST".to_string()),
            Just("OPTIONS".to_string()),
            Just("PUT".to_string()),
            Just("DELETE".to_string()),
            "[A-Z]{1,8}",
        ]
    }

    fn path() -> impl Strategy<Value = String> {
        let known = prop_oneof![
            Just("/v1/health"),
            Just("/v1/score"),
            Just("/v1/recommend?shop=demo"),
            Just("/v1/config?shop=demo"),
            Just("/v1/reports?shop=demo"),
            Just("/v1/aggregates?shop=demo"),
            Just("/v1/aggregates?shop=demo&day=20425"),
            Just("/v1/config?shop=demo&shop=demo"),
            Just("/v1/bundles/%2e%2e/x"),
            Just("/v1/admin/shops"),
            Just("/v1/admin/shops/demo"),
            Just("/v1/admin/shops/other-shop"),
            Just("/v1/admin/shops/%2e%2e"),
            Just("/v1/admin/shops/"),
        ];
        (known, "[ -~]{0,12}", any::<bool>()).prop_map(|(base, tail, append)| {
            if append {
                format!("{base}{tail}")
            } else {
                base.to_string()
            }
        })
    }

    fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
        let one = prop_oneof![
            Just(("content-type".to_string(), "application/json".to_string())),
            Just(("content-type".to_string(), "application/jsonx".to_string())),
            Just(("origin".to_string(), "http://localhost:8787".to_string())),
            Just(("origin".to_string(), "https://evil.example".to_string())),
            Just((
                "authorization".to_string(),
                "Bearer a-dashboard-token-of-32-chars-00".to_string()
            )),
            Just(("cf-ipcountry".to_string(), "GB".to_string())),
            Just(("authorization".to_string(), format!("Bearer {ADMIN_TOKEN}"))),
            ("[a-z-]{1,12}", "[ -~]{0,24}").prop_map(|(k, v)| (k, v)),
            "[ -~]{0,24}".prop_map(|v| ("content-length".to_string(), v)),
        ];
        proptest::collection::vec(one, 0..5)
    }

    fn body() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..2048),
            "[ -~]{0,300}".prop_map(String::into_bytes),
            (0u64..u64::MAX, 0usize..4).prop_map(|(k, items)| {
                let items: Vec<String> = (0..items).map(|i| format!(r#"{{"id":"{i}","weight":{k}}}"#)).collect();
                format!(r#"{{"k":{k},"items":[{}]}}"#, items.join(",")).into_bytes()
            }),
            (0u64..u64::MAX).prop_map(|k| format!(r#"{{"dim":2,"k":{k},"user":[1,0],"items":[[1,0]]}}"#).into_bytes()),
            (shop_id(), proptest::collection::vec("[ -~]{0,40}", 0..3), 0u32..200).prop_map(|(id, origins, k)| {
                let mut shop = serde_json::to_value(&config::seed_shops()[0]).unwrap();
                shop["id"] = serde_json::json!(id);
                shop["origins"] = serde_json::json!(origins);
                shop["k_anonymity"] = serde_json::json!(k);
                serde_json::to_vec(&shop).unwrap()
            }),
            (0u32..u32::MAX, any::<u32>()).prop_map(|(day, cell)| {
                let json = format!(r#"{{"v":1,"day":{day},"nonce":"{day:08x}000000000000000000000000","reports":[{{"metric":"segment.lifecycle","cell":{cell}}}]}}"#);
                format!("{json:1024}").into_bytes()
            }),
        ]
    }

    fn shop_id() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("demo".to_string()),
            Just("other-shop".to_string()),
            "[ -~]{0,8}"
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

        #[test]
        fn any_request_gets_a_json_answer_and_never_a_panic(
            method in method(),
            path in path(),
            headers in headers(),
            body in body(),
            admin_on in any::<bool>(),
        ) {
            let incoming = Incoming {
                method,
                url: format!("http://127.0.0.1:8787{path}"),
                headers,
            };
            let mut settings = settings();
            if !admin_on {
                settings.admin_token = None;
            }
            check_answer(&answer(&incoming, &body, model(), &settings, NOW));
        }
    }

    /// One admin call through `answer`: its status and body.
    fn admin(method: &str, path: &str, token: Option<&str>, body: &[u8]) -> (u16, String) {
        let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
        if let Some(token) = token {
            headers.push(("authorization".into(), format!("Bearer {token}")));
        }
        let incoming = Incoming {
            method: method.into(),
            url: format!("http://127.0.0.1:8787{path}"),
            headers,
        };
        let answer = answer(&incoming, body, model(), &settings(), NOW);
        check_answer(&answer);
        (answer.status, answer.body)
    }

    #[test]
    fn the_admin_api_answers_with_the_token_only() {
        let demo = serde_json::to_vec(&config::seed_shops()[0]).unwrap();
        let renamed = String::from_utf8(demo.clone())
            .unwrap()
            .replacen("\"demo\"", "\"new-shop\"", 1)
            .into_bytes();
        let token = Some(ADMIN_TOKEN);
        let wrong = Some("not-the-admin-token-but-just-as-long!");
        type Case<'a> = (&'a str, &'a str, Option<&'a str>, &'a [u8], u16);
        let cases: &[Case] = &[
            ("GET", "/v1/admin/shops", token, b"", 200),
            ("GET", "/v1/admin/shops", None, b"", 401),
            ("GET", "/v1/admin/shops", wrong, b"", 401),
            ("POST", "/v1/admin/shops", token, b"", 405),
            ("GET", "/v1/admin/shops/demo", token, b"", 200),
            ("GET", "/v1/admin/shops/nope", token, b"", 404),
            ("GET", "/v1/admin/shops/demo", wrong, b"", 401),
            ("PUT", "/v1/admin/shops/demo", token, &demo, 200),
            ("PUT", "/v1/admin/shops/new-shop", token, &renamed, 201),
            ("PUT", "/v1/admin/shops/new-shop", token, &demo, 400),
            ("PUT", "/v1/admin/shops/demo", None, &demo, 401),
            ("PUT", "/v1/admin/shops/demo", token, b"{", 400),
            (
                "PUT",
                "/v1/admin/shops/demo",
                token,
                &[b' '; 16 * 1024 + 1],
                413,
            ),
            ("DELETE", "/v1/admin/shops/demo", token, b"", 200),
            ("DELETE", "/v1/admin/shops/nope", token, b"", 404),
            ("DELETE", "/v1/admin/shops/demo", wrong, b"", 401),
            ("PATCH", "/v1/admin/shops/demo", token, b"", 405),
            ("GET", "/v1/admin/shops/a%2Fb", token, b"", 400),
            ("GET", "/v1/admin/shops/a.b", token, b"", 400),
            ("GET", "/v1/admin/shops/demo/x", token, b"", 400),
            ("GET", "/v1/admin/shops/", token, b"", 400),
            ("GET", "/v1/admin/other", token, b"", 404),
        ];
        for (method, path, token, body, want) in cases {
            let (status, text) = admin(method, path, *token, body);
            assert_eq!(status, *want, "{method} {path} {token:?}: {text}");
        }
        let (_, listed) = admin("GET", "/v1/admin/shops", token, b"");
        let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
        assert_eq!(listed["shops"][0]["origins"][0], "http://127.0.0.1:8787");
    }

    #[test]
    fn without_the_admin_secret_the_admin_api_is_off() {
        let mut settings = settings();
        settings.admin_token = None;
        let incoming = Incoming {
            method: "GET".into(),
            url: "http://127.0.0.1:8787/v1/admin/shops".into(),
            headers: vec![("authorization".into(), format!("Bearer {ADMIN_TOKEN}"))],
        };
        let answer = answer(&incoming, b"", model(), &settings, NOW);
        assert_eq!(answer.status, 503);
        assert!(answer.body.contains("ADMIN_TOKEN"), "{}", answer.body);
    }

    #[test]
    fn a_refused_origin_is_told_how_to_register_without_its_origin_echoed() {
        let incoming = Incoming {
            method: "GET".into(),
            url: "http://127.0.0.1:8787/v1/config?shop=demo".into(),
            headers: vec![("origin".into(), "https://zzmarker.example".into())],
        };
        let answer = answer(&incoming, b"", model(), &settings(), NOW);
        assert_eq!(answer.status, 403);
        assert!(
            answer.body.contains("not registered for shop demo"),
            "{}",
            answer.body
        );
        assert!(
            answer
                .body
                .contains("cargo xtask shop add-origin demo <origin>"),
            "{}",
            answer.body
        );
        assert!(!answer.body.contains("zzmarker"), "{}", answer.body);
        assert!(answer
            .headers(None)
            .iter()
            .all(|(name, _)| !name.starts_with("access-control")));
    }

    #[test]
    fn a_valid_envelope_is_prepared_and_a_re_dated_one_is_refused() {
        let day = (NOW / 86_400) as u32;
        let envelope = |day: u32, nonce_day: u32| {
            let json = format!(
                r#"{{"v":1,"day":{day},"nonce":"{nonce_day:08x}0123456789abcdef01234567","reports":[{{"metric":"segment.lifecycle","cell":1}}]}}"#
            );
            format!("{json:1024}").into_bytes()
        };
        let incoming = Incoming {
            method: "POST".into(),
            url: "http://127.0.0.1:8787/v1/reports?shop=demo".into(),
            headers: vec![("content-type".into(), "application/json".into())],
        };
        assert_eq!(
            answer(&incoming, &envelope(day, day), model(), &settings(), NOW).status,
            202
        );
        assert_eq!(
            answer(
                &incoming,
                &envelope(day, day - 1),
                model(),
                &settings(),
                NOW
            )
            .status,
            422
        );
    }
}
