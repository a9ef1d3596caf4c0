//! Webhook bodies and what a V1 delivery leads us to read: the V1 payload and its resource_url
//! allow-list (a property: an accepted URL is https on port 443 of an ssapi*.shipstation.com
//! host), V2 event bodies, and the V1 shipment/fulfillment pages fetched from resource_url.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ml_connector::shipstation::convert;
use ml_connector::shipstation::types::{Page, WebhookPayload};
use ml_connector::shipstation::webhook::ResourcePolicy;

fuzz_target!(|data: &[u8]| {
    let (pick, rest) = mlc_fuzz::choose(data, 4);
    match pick {
        0 => {
            let Ok(p) = serde_json::from_slice::<WebhookPayload>(rest) else {
                return;
            };
            if let Ok(url) = ResourcePolicy::production().check(&p.resource_url) {
                let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
                assert_eq!(url.scheme(), "https", "{url}");
                assert!(host.ends_with(".shipstation.com"), "{url}");
                assert!(host.starts_with("ssapi"), "{url}");
                assert_eq!(url.port_or_known_default(), Some(443), "{url}");
            }
            let sim = ResourcePolicy::simulated("shipstation.test", ([127, 0, 0, 1], 9).into(), 3);
            if let Ok(url) = sim.check(&p.resource_url) {
                let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
                assert!(host.ends_with(".shipstation.test"), "{url}");
                assert_eq!(
                    url.port_or_known_default(),
                    Some(9),
                    "the simulator's port: {url}"
                );
            }
        }
        1 => {
            // What the V2 intake reads of a verified body.
            let v: serde_json::Value = serde_json::from_slice(rest).unwrap_or_default();
            let _ = v["event"].as_str().map(|e| e.chars().take(100).count());
        }
        2 => {
            // Records are read one by one (a bad one is skipped with its reason, not the page).
            if let Ok(page) = serde_json::from_slice::<Page<serde_json::Value>>(rest) {
                for s in page.items {
                    let _ = convert::label(s);
                }
            }
        }
        _ => {
            if let Ok(page) = serde_json::from_slice::<Page<serde_json::Value>>(rest) {
                for f in page.items {
                    let _ = convert::fulfillment(f);
                }
            }
        }
    }
});
