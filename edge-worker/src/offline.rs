//! The worker's answer to a request without the runtime: the same checks
//! (`http::check`), body limit and route handlers, with the model and the
//! clock passed in, and no storage — a valid envelope is prepared exactly as
//! for ingest and answered as a first sight (202), aggregates are published
//! from an empty day. The HTTP fuzz target (`edge-worker/fuzz`) and the
//! native property test below drive it: any request gives a JSON answer and
//! never a panic.

use cove_engine::bundle::Model;

use crate::aggregate_store::Tallies;
use crate::api_error::ApiError;
use crate::http::{self, Answer, Incoming, Route, Settings};

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
    let checked = http::check(incoming, settings, today)?;
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

    fn settings() -> Settings {
        Settings {
            public_origins: vec!["http://127.0.0.1:8787".into()],
            dashboard_tokens: vec![(
                "demo".into(),
                http::token_digest("a-dashboard-token-of-32-chars-00"),
            )],
        }
    }

    /// Checks the invariant: a status this API uses, a JSON body (an object
    /// with code and message when it is an error), the security headers.
    fn check_answer(answer: &Answer) {
        assert!(
            [200, 202, 204, 400, 401, 403, 404, 405, 408, 409, 413, 415, 421, 422, 429]
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
            (0u32..u32::MAX, any::<u32>()).prop_map(|(day, cell)| {
                let json = format!(r#"{{"v":1,"day":{day},"nonce":"{day:08x}000000000000000000000000","reports":[{{"metric":"segment.lifecycle","cell":{cell}}}]}}"#);
                format!("{json:1024}").into_bytes()
            }),
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
        ) {
            let incoming = Incoming {
                method,
                url: format!("http://127.0.0.1:8787{path}"),
                headers,
            };
            check_answer(&answer(&incoming, &body, model(), &settings(), NOW));
        }
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
