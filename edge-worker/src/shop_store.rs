//! Where the shops' configurations live: [`ShopStore`], one Durable Object
//! (SQLite) named `config::SHOP_STORE_NAME`, and the isolate's short cache of
//! what it holds.
//!
//! Storage: `shops(id, config)`, each `config` a shop's JSON as
//! `admin::validate_put` wrote it, and `meta(key)`. A store that has never
//! held shops copies the compiled-in seed (`config::seed_shops`, from
//! `shops.json`) on its first use and records `seeded`, in one synchronous
//! block, so the seed is copied once: deleting every shop later leaves the
//! store empty rather than bringing the seed back.
//!
//! Every shop request needs its shop's configuration before `http::check`
//! runs, so reads go through a cache in the isolate that is trusted for
//! [`CACHE_MILLIS`]: a change made through another isolate is seen within
//! that time; one made through this isolate at once ([`invalidate`]). A row
//! that no longer passes `config::parse_shop` (rules tightened by a later
//! version) is logged and left out, and the other shops are served.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use serde::{Deserialize, Serialize};
use worker::{
    durable_object, DurableObject, Env, Method, Request, Response, Result, SqlStorageValue, State,
};

use crate::aggregate_store::count;
use crate::api_error::ApiError;
use crate::config::{self, ShopConfig, SHOP_STORE_BINDING, SHOP_STORE_NAME};

/// How long a read of the store is trusted by the isolate that made it.
pub const CACHE_MILLIS: u64 = 10_000;

/// The most shops the store holds (a new one past this is refused, 409).
pub const MAX_SHOPS: usize = 1_000;

/// Whether a shop has this id (a `count`).
const SHOP_EXISTS: &str = "SELECT COUNT(*) AS n FROM shops WHERE id = ?";

/// One stored shop: its id and its configuration's JSON.
#[derive(Debug, Serialize, Deserialize)]
pub struct StoredShop {
    /// The shop's id.
    pub id: String,
    /// The configuration, as `admin::validate_put` serialised it.
    pub config: String,
}

/// `POST /delete` of the [`ShopStore`].
#[derive(Debug, Serialize, Deserialize)]
pub struct DeleteShop {
    /// The shop's id.
    pub id: String,
}

/// Every shop's configuration, in one object.
#[durable_object]
pub struct ShopStore {
    state: State,
    seeded: Cell<bool>,
}

impl ShopStore {
    /// Creates the tables and copies the seed once, with no await in between,
    /// so the runtime commits all of it or none.
    fn ensure_seeded(&self) -> Result<()> {
        if self.seeded.get() {
            return Ok(());
        }
        let sql = self.state.storage().sql();
        sql.exec(
            "CREATE TABLE IF NOT EXISTS shops (id TEXT PRIMARY KEY, config TEXT NOT NULL)",
            None,
        )?;
        sql.exec(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY)",
            None,
        )?;
        if count(
            &sql,
            "SELECT COUNT(*) AS n FROM meta WHERE key = 'seeded'",
            None,
        )? == 0
        {
            for shop in config::seed_shops() {
                sql.exec(
                    "INSERT OR IGNORE INTO shops (id, config) VALUES (?, ?)",
                    vec![
                        SqlStorageValue::String(shop.id.clone()),
                        SqlStorageValue::String(serde_json::to_string(shop)?),
                    ],
                )?;
            }
            sql.exec("INSERT INTO meta (key) VALUES ('seeded')", None)?;
        }
        self.seeded.set(true);
        Ok(())
    }

    fn list(&self) -> Result<Response> {
        let rows: Vec<StoredShop> = self
            .state
            .storage()
            .sql()
            .exec("SELECT id, config FROM shops ORDER BY id", None)?
            .to_array()?;
        Response::from_json(&rows)
    }

    /// Stores a shop the worker validated; validated again here, so nothing
    /// reaches the table that `config::parse_shop` refuses.
    fn put(&self, shop: StoredShop) -> Result<Response> {
        let valid = config::parse_shop(shop.config.as_bytes()).is_ok_and(|c| c.id == shop.id);
        if !valid {
            return Response::error("not a valid shop configuration", 400);
        }
        let sql = self.state.storage().sql();
        let id = SqlStorageValue::String(shop.id);
        let created = count(&sql, SHOP_EXISTS, vec![id.clone()])? == 0;
        if created && count(&sql, "SELECT COUNT(*) AS n FROM shops", None)? >= MAX_SHOPS as u64 {
            return Response::error("too many shops", 409);
        }
        sql.exec(
            "INSERT INTO shops (id, config) VALUES (?, ?) \
             ON CONFLICT (id) DO UPDATE SET config = excluded.config",
            vec![id, SqlStorageValue::String(shop.config)],
        )?;
        Response::from_json(&serde_json::json!({ "created": created }))
    }

    fn delete(&self, id: String) -> Result<Response> {
        let sql = self.state.storage().sql();
        let id = SqlStorageValue::String(id);
        let deleted = count(&sql, SHOP_EXISTS, vec![id.clone()])? > 0;
        sql.exec("DELETE FROM shops WHERE id = ?", vec![id])?;
        Response::from_json(&serde_json::json!({ "deleted": deleted }))
    }
}

impl DurableObject for ShopStore {
    fn new(state: State, _env: Env) -> Self {
        ShopStore {
            state,
            seeded: Cell::new(false),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        match (req.method(), req.path().as_str()) {
            (Method::Get, "/shops") => {
                self.ensure_seeded()?;
                self.list()
            }
            (Method::Post, "/put") => {
                let shop: StoredShop = req.json().await?;
                self.ensure_seeded()?;
                self.put(shop)
            }
            (Method::Post, "/delete") => {
                let request: DeleteShop = req.json().await?;
                self.ensure_seeded()?;
                self.delete(request.id)
            }
            _ => Response::error("no such shop-store operation", 404),
        }
    }
}

/// What this isolate last read from the store.
struct Cached {
    loaded_at_millis: u64,
    shops: Rc<Vec<Rc<ShopConfig>>>,
}

thread_local! {
    static CACHE: RefCell<Option<Cached>> = const { RefCell::new(None) };
    /// Bumped by every write through this isolate: a read that started
    /// before a write does not fill the cache after it.
    static GENERATION: Cell<u64> = const { Cell::new(0) };
}

fn now_millis() -> u64 {
    worker::Date::now().as_millis()
}

/// Forgets the cached shops (after a write through this isolate).
pub fn invalidate() {
    GENERATION.with(|generation| generation.set(generation.get() + 1));
    CACHE.with(|cache| cache.borrow_mut().take());
}

/// The shop with this id, from the cache while it is fresh, else from the
/// store (and then cached).
pub async fn find(
    env: &worker::Env,
    id: &str,
) -> std::result::Result<Option<Rc<ShopConfig>>, ApiError> {
    let now = now_millis();
    let fresh = CACHE.with(|cache| {
        cache
            .borrow()
            .as_ref()
            .filter(|cached| now.saturating_sub(cached.loaded_at_millis) < CACHE_MILLIS)
            .map(|cached| Rc::clone(&cached.shops))
    });
    let shops = match fresh {
        Some(shops) => shops,
        None => {
            let generation = GENERATION.with(Cell::get);
            let shops: Rc<Vec<Rc<ShopConfig>>> =
                Rc::new(load(env).await?.into_iter().map(Rc::new).collect());
            if GENERATION.with(Cell::get) == generation {
                CACHE.with(|cache| {
                    *cache.borrow_mut() = Some(Cached {
                        loaded_at_millis: now,
                        shops: Rc::clone(&shops),
                    })
                });
            }
            shops
        }
    };
    Ok(shops.iter().find(|shop| shop.id == id).cloned())
}

/// Every shop the store holds, read now (the admin API's reads).
pub async fn load(env: &worker::Env) -> std::result::Result<Vec<ShopConfig>, ApiError> {
    let mut response = store_request(env, Method::Get, "/shops", None).await?;
    if response.status_code() != 200 {
        return Err(ApiError::Unavailable(format!(
            "the shop store answered {}",
            response.status_code()
        )));
    }
    let rows: Vec<StoredShop> = response.json().await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| match config::parse_shop(row.config.as_bytes()) {
            Ok(shop) if shop.id == row.id => Some(shop),
            _ => {
                crate::log_error(&format!(
                    "shop store: the stored configuration of shop {} is not valid; it is not served",
                    row.id
                ));
                None
            }
        })
        .collect())
}

/// Stores a validated configuration; true when the shop is new.
pub async fn put(
    env: &worker::Env,
    id: &str,
    config_text: &str,
) -> std::result::Result<bool, ApiError> {
    let body = serde_json::to_string(&StoredShop {
        id: id.to_string(),
        config: config_text.to_string(),
    })
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut response = store_request(env, Method::Post, "/put", Some(body)).await?;
    invalidate();
    match response.status_code() {
        200 => Ok(flag(&mut response, "created").await?),
        409 => Err(ApiError::TooManyShops { limit: MAX_SHOPS }),
        status => Err(ApiError::Internal(format!(
            "the shop store answered {status} to a put"
        ))),
    }
}

/// Deletes a shop; true when it existed.
pub async fn delete(env: &worker::Env, id: &str) -> std::result::Result<bool, ApiError> {
    let body = serde_json::to_string(&DeleteShop { id: id.to_string() })
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut response = store_request(env, Method::Post, "/delete", Some(body)).await?;
    invalidate();
    match response.status_code() {
        200 => Ok(flag(&mut response, "deleted").await?),
        status => Err(ApiError::Internal(format!(
            "the shop store answered {status} to a delete"
        ))),
    }
}

async fn flag(response: &mut Response, name: &str) -> std::result::Result<bool, ApiError> {
    let value: serde_json::Value = response.json().await?;
    Ok(value[name].as_bool().unwrap_or(false))
}

async fn store_request(
    env: &worker::Env,
    method: Method,
    path: &str,
    body: Option<String>,
) -> std::result::Result<Response, ApiError> {
    let unavailable = |error: worker::Error| ApiError::Unavailable(format!("shop store: {error}"));
    let namespace = env
        .durable_object(SHOP_STORE_BINDING)
        .map_err(unavailable)?;
    let stub = namespace
        .id_from_name(SHOP_STORE_NAME)
        .and_then(|id| id.get_stub())
        .map_err(unavailable)?;
    let mut init = worker::RequestInit::new();
    init.with_method(method).with_body(body.map(Into::into));
    let request = Request::new_with_init(&format!("https://shop-store{path}"), &init)?;
    stub.fetch_with_request(request).await.map_err(unavailable)
}
