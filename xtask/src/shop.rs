//! `cargo xtask shop`: a worker's shops through its admin API
//! (`/v1/admin/shops`, see `edge-worker/src/admin.rs`), so a shop or a
//! storefront origin is added without a rebuild.
//!
//! The token comes from `COVE_ADMIN_TOKEN` (never from the command line,
//! where `ps` shows it). The worker validates every change; this command only
//! reads the shop, edits its `origins` and writes it back. `--url` is the
//! worker's address: `https://…` for a deployed worker (xtask's `ureq` has
//! rustls with the webpki roots for this command), `http://…` for a local
//! `wrangler dev`.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::Value;

const USAGE: &str = "usage: COVE_ADMIN_TOKEN=... cargo xtask shop <command> --url http://HOST:PORT

commands:
  list                         every shop: id and registered origins
  show ID                      one shop's configuration (JSON)
  put FILE.json                create or replace the shop the file describes
  add-origin ID ORIGIN         register a storefront origin (https://shop.example)
  remove-origin ID ORIGIN      unregister it
  delete ID                    delete the shop (its aggregates stay)";

/// The environment variable holding the admin token.
const TOKEN_VAR: &str = "COVE_ADMIN_TOKEN";

const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// One parsed `cargo xtask shop` command.
#[derive(Debug, PartialEq)]
enum Command {
    List,
    Show(String),
    Put(String),
    AddOrigin(String, String),
    RemoveOrigin(String, String),
    Delete(String),
}

/// Runs `cargo xtask shop ARGS`.
pub fn shop(args: &[String]) -> Result<()> {
    let (command, url) = parse(args)?;
    let token = std::env::var(TOKEN_VAR)
        .ok()
        .filter(|token| !token.is_empty())
        .with_context(|| format!("set {TOKEN_VAR} to the worker's ADMIN_TOKEN\n\n{USAGE}"))?;
    let admin = Admin::new(&url, token);
    match command {
        Command::List => {
            let listed = admin.call("GET", "", None)?;
            for shop in listed["shops"].as_array().into_iter().flatten() {
                let origins: Vec<&str> = shop["origins"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                println!(
                    "{}\torigins: {}",
                    shop["id"].as_str().unwrap_or("?"),
                    if origins.is_empty() {
                        "(none)".to_string()
                    } else {
                        origins.join(", ")
                    }
                );
            }
        }
        Command::Show(id) => {
            let shop = admin.call("GET", &id, None)?;
            println!("{}", serde_json::to_string_pretty(&shop)?);
        }
        Command::Put(file) => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {file}"))?;
            let shop: Value =
                serde_json::from_str(&text).with_context(|| format!("{file} is not JSON"))?;
            let id = shop["id"]
                .as_str()
                .with_context(|| format!("{file} has no string \"id\""))?
                .to_string();
            check_id(&id)?;
            admin.call("PUT", &id, Some(&text))?;
            println!("stored shop {id}");
        }
        Command::AddOrigin(id, origin) => change_origin(&admin, &id, &origin, true)?,
        Command::RemoveOrigin(id, origin) => change_origin(&admin, &id, &origin, false)?,
        Command::Delete(id) => {
            admin.call("DELETE", &id, None)?;
            println!("deleted shop {id}");
        }
    }
    Ok(())
}

/// Reads the shop, adds or removes `origin` (one trailing `/` dropped: a
/// browser's `Origin` has none), and writes it back (the worker validates the
/// result).
fn change_origin(admin: &Admin, id: &str, origin: &str, add: bool) -> Result<()> {
    let origin = origin.strip_suffix('/').unwrap_or(origin);
    let shop = admin.call("GET", id, None)?;
    match with_origin(shop, origin, add)? {
        None if add => println!("{origin} is already registered for shop {id}"),
        None => bail!("{origin} is not registered for shop {id}"),
        Some(changed) => {
            admin.call("PUT", id, Some(&changed.to_string()))?;
            let done = if add {
                "registered for"
            } else {
                "removed from"
            };
            println!("{origin} {done} shop {id}");
        }
    }
    Ok(())
}

fn parse(args: &[String]) -> Result<(Command, String)> {
    let mut url = None;
    let mut words = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--url" => url = Some(rest.next().context("--url needs a value")?.clone()),
            "-h" | "--help" => bail!("{USAGE}"),
            _ => words.push(arg.as_str()),
        }
    }
    let command = match words.as_slice() {
        ["list"] => Command::List,
        ["show", id] => Command::Show(id.to_string()),
        ["put", file] => Command::Put(file.to_string()),
        ["add-origin", id, origin] => Command::AddOrigin(id.to_string(), origin.to_string()),
        ["remove-origin", id, origin] => Command::RemoveOrigin(id.to_string(), origin.to_string()),
        ["delete", id] => Command::Delete(id.to_string()),
        _ => bail!("{USAGE}"),
    };
    let url = url.with_context(|| format!("--url is required\n\n{USAGE}"))?;
    let url = url.trim_end_matches('/').to_string();
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        bail!("--url must be the worker's address, https://… (or http://… for a local worker)");
    }
    if let Command::Show(id)
    | Command::AddOrigin(id, _)
    | Command::RemoveOrigin(id, _)
    | Command::Delete(id) = &command
    {
        check_id(id)?;
    }
    Ok((command, url))
}

/// A shop id as the worker accepts it, checked before it goes into a URL.
fn check_id(id: &str) -> Result<()> {
    let valid = !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !valid {
        bail!("a shop id is 1 to 64 characters of [A-Za-z0-9-], not '{id}'");
    }
    Ok(())
}

/// The shop with `origin` added to (or removed from) its `origins`; `None`
/// when nothing changes. The worker checks the result.
fn with_origin(mut shop: Value, origin: &str, add: bool) -> Result<Option<Value>> {
    let origins = shop["origins"]
        .as_array_mut()
        .context("the worker's answer has no origins list")?;
    let present = origins.iter().position(|o| o.as_str() == Some(origin));
    match (add, present) {
        (true, Some(_)) | (false, None) => return Ok(None),
        (true, None) => origins.push(Value::String(origin.to_string())),
        (false, Some(index)) => {
            origins.remove(index);
        }
    }
    Ok(Some(shop))
}

/// The admin API of one worker.
struct Admin {
    agent: ureq::Agent,
    base: String,
    token: String,
}

impl Admin {
    fn new(url: &str, token: String) -> Admin {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(REQUEST_TIMEOUT))
            .build()
            .into();
        Admin {
            agent,
            base: format!("{url}/v1/admin/shops"),
            token,
        }
    }

    /// One call on the collection (`id` empty) or a shop; the JSON answer,
    /// or the worker's `code: message` as the error.
    fn call(&self, method: &str, id: &str, body: Option<&str>) -> Result<Value> {
        let url = if id.is_empty() {
            self.base.clone()
        } else {
            format!("{}/{id}", self.base)
        };
        let bearer = format!("Bearer {}", self.token);
        let response = match (method, body) {
            ("GET", None) => self.agent.get(&url).header("authorization", &bearer).call(),
            ("DELETE", None) => self
                .agent
                .delete(&url)
                .header("authorization", &bearer)
                .call(),
            ("PUT", Some(body)) => self
                .agent
                .put(&url)
                .header("authorization", &bearer)
                .header("content-type", "application/json")
                .send(body),
            _ => bail!("no such admin call: {method}"),
        };
        let mut response = response.with_context(|| format!("{method} {url}"))?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if !(200..300).contains(&status) {
            let code = value["code"].as_str().unwrap_or("error");
            let message = value["message"].as_str().unwrap_or("(no message)");
            bail!("{method} {url}: {status} {code}: {message}");
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn commands_parse_and_ids_are_checked_before_any_url_is_built() {
        let url = "--url http://127.0.0.1:8787/";
        let ok = |text: &str| parse(&args(&format!("{text} {url}")));
        assert_eq!(
            ok("list").unwrap(),
            (Command::List, "http://127.0.0.1:8787".into())
        );
        assert_eq!(
            ok("add-origin demo https://shop.example").unwrap().0,
            Command::AddOrigin("demo".into(), "https://shop.example".into())
        );
        for bad in [
            "show ../../v1/health",
            "delete a/b",
            "add-origin a?b https://x.example",
            "show",
            "frobnicate",
            "list extra",
        ] {
            assert!(ok(bad).is_err(), "{bad}");
        }
        assert!(parse(&args("list")).is_err(), "no --url");
        assert!(
            parse(&args("list --url cove.example")).is_err(),
            "no scheme"
        );
        assert!(
            parse(&args("list --url ftp://cove.example")).is_err(),
            "not HTTP"
        );
        assert_eq!(
            parse(&args("list --url https://cove.example/")).unwrap().1,
            "https://cove.example"
        );
    }

    #[test]
    fn origins_are_added_once_and_removed_when_present() {
        let shop = serde_json::json!({ "id": "demo", "origins": ["https://a.example"] });
        let added = with_origin(shop.clone(), "https://b.example", true)
            .unwrap()
            .unwrap();
        assert_eq!(
            added["origins"],
            serde_json::json!(["https://a.example", "https://b.example"])
        );
        assert_eq!(
            with_origin(shop.clone(), "https://a.example", true).unwrap(),
            None
        );
        let removed = with_origin(shop.clone(), "https://a.example", false)
            .unwrap()
            .unwrap();
        assert_eq!(removed["origins"], serde_json::json!([]));
        assert_eq!(with_origin(shop, "https://b.example", false).unwrap(), None);
        assert!(with_origin(serde_json::json!({}), "https://a.example", true).is_err());
    }
}
