//! V1 webhook subscriptions. `GET /webhooks` appears in public client code both as a bare array
//! and as `{"webhooks": [...]}`, with PascalCase fields (`WebHookID`, `HookType`, `Url`) — both
//! shapes are read, and anything else is an error, never "no subscriptions" (which would
//! subscribe again on every poll).

use std::collections::BTreeMap;

use serde_json::Value;

use super::error::ShipStationError;
use super::V1Client;
use crate::domain::{Subscription, Subscriptions};

/// One listed subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub id: i64,
    pub event: String,
    pub url: String,
}

fn field<'a>(v: &'a Value, names: &[&str]) -> &'a Value {
    names
        .iter()
        .map(|n| &v[*n])
        .find(|x| !x.is_null())
        .unwrap_or(&Value::Null)
}

/// The subscriptions of a `GET /webhooks` answer (records without an id, event or URL are not
/// subscriptions the connector could have made, and are left out).
pub fn parse_list(answer: &Value) -> Result<Vec<Listed>, ShipStationError> {
    let list = match answer {
        Value::Array(a) => a,
        Value::Object(o) => match o.get("webhooks") {
            Some(Value::Array(a)) => a,
            Some(Value::Null) => return Ok(vec![]),
            _ => return Err(unreadable(answer)),
        },
        _ => return Err(unreadable(answer)),
    };
    Ok(list
        .iter()
        .filter_map(|h| {
            Some(Listed {
                id: field(h, &["WebHookID", "webhook_id", "id"]).as_i64()?,
                event: field(h, &["HookType", "event"]).as_str()?.to_string(),
                url: field(h, &["Url", "url", "target_url"])
                    .as_str()?
                    .to_string(),
            })
        })
        .collect())
}

/// URLs compared as URLs (a server may write the host in another case or drop a default port).
fn same_url(a: &str, b: &str) -> bool {
    match (url::Url::parse(a), url::Url::parse(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

fn unreadable(answer: &Value) -> ShipStationError {
    let shape = match answer {
        Value::Object(o) => format!(
            "an object with {}",
            o.keys().take(5).cloned().collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string().chars().take(40).collect::<String>(),
    };
    ShipStationError::Malformed {
        what: "GET /webhooks".into(),
        message: format!("neither a list of webhooks nor {{\"webhooks\": [...]}}: {shape}"),
    }
}

/// Keep each event subscribed to `target_url` exactly once: an existing subscription is reused
/// (its id returned for the caller to remember); extra copies of it, and a remembered one of
/// ours that points at another URL (our base URL or token changed), are removed.
pub async fn ensure(
    v1: &V1Client,
    target_url: &str,
    events: &[&str],
    label: &str,
    known: &BTreeMap<String, i64>,
) -> Result<Subscriptions, ShipStationError> {
    let listed = parse_list(&v1.list_webhooks().await?)?;
    let mut out = Subscriptions::default();
    for event in events {
        let mut same: Vec<&Listed> = listed
            .iter()
            .filter(|h| h.event == *event && same_url(&h.url, target_url))
            .collect();
        // The remembered one first, so it is the one kept.
        same.sort_by_key(|h| Some(h.id) != known.get(*event).copied());
        if let Some(remembered) = known.get(*event) {
            let outdated = listed
                .iter()
                .find(|h| h.id == *remembered && !same_url(&h.url, target_url));
            if let Some(h) = outdated {
                v1.unsubscribe_webhook(h.id).await?;
                out.removed.push(h.id);
            }
        }
        match same.split_first() {
            Some((keep, extra)) => {
                for h in extra {
                    v1.unsubscribe_webhook(h.id).await?;
                    out.removed.push(h.id);
                }
                out.subscriptions.push(Subscription {
                    event: event.to_string(),
                    id: keep.id,
                    created: false,
                });
            }
            None => {
                let id = v1.subscribe_webhook(target_url, event, None, label).await?;
                out.subscriptions.push(Subscription {
                    event: event.to_string(),
                    id,
                    created: true,
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn both_list_shapes_are_read_and_others_refused() {
        let hook = json!({"WebHookID": 7, "HookType": "SHIP_NOTIFY", "Url": "https://x/y", "Active": true});
        let want = vec![Listed {
            id: 7,
            event: "SHIP_NOTIFY".into(),
            url: "https://x/y".into(),
        }];
        assert_eq!(parse_list(&json!([hook])).unwrap(), want);
        assert_eq!(parse_list(&json!({"webhooks": [hook]})).unwrap(), want);
        assert_eq!(parse_list(&json!({"webhooks": null})).unwrap(), vec![]);
        assert!(parse_list(&json!({"hooks": []})).is_err());
        assert!(parse_list(&json!("ok")).is_err());
    }
}
