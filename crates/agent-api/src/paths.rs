//! The agent's routes, as the server mounts them (`{co}`, `{no}`, `{inv}`, `{package}` are path
//! parameters) and as the client fills them in.

pub const HEALTH: &str = "/v1/health";
pub const CHANGED_ORDERS: &str = "/v1/companies/{co}/sales-orders/changed";
pub const ORDERS_EXIST: &str = "/v1/companies/{co}/sales-orders/exists";
pub const ONE_ORDER: &str = "/v1/companies/{co}/sales-orders/{no}";
pub const ORDER_INVOICES: &str = "/v1/companies/{co}/sales-orders/{no}/invoices";
pub const ITEMS_LOOKUP: &str = "/v1/companies/{co}/items/lookup";
pub const CHANGED_ITEM_WAREHOUSES: &str = "/v1/companies/{co}/item-warehouses/changed";
pub const INVOICE_TRACKING: &str = "/v1/companies/{co}/invoices/{inv}/tracking";
pub const INVOICE_PACKAGE: &str = "/v1/companies/{co}/invoices/{inv}/tracking/{package}";

/// Every route (the OpenAPI document lists exactly these).
pub const ALL: &[&str] = &[
    HEALTH,
    CHANGED_ORDERS,
    ORDERS_EXIST,
    ONE_ORDER,
    ORDER_INVOICES,
    ITEMS_LOOKUP,
    CHANGED_ITEM_WAREHOUSES,
    INVOICE_TRACKING,
    INVOICE_PACKAGE,
];

/// A route with its parameters filled in (each value percent-encoded as one path segment).
pub fn fill(route: &str, params: &[(&str, &str)]) -> String {
    let mut out = route.to_string();
    for (name, value) in params {
        out = out.replace(&format!("{{{name}}}"), &encode_segment(value));
    }
    out
}

fn encode_segment(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn fills_and_encodes_segments() {
        assert_eq!(
            super::fill(super::ORDER_INVOICES, &[("co", "ABC"), ("no", "00/42 x")]),
            "/v1/companies/ABC/sales-orders/00%2F42%20x/invoices"
        );
    }
}
