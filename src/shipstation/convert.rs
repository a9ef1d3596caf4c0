//! ShipStation's V1 records ⇄ domain types: the only place that knows V1's field names.

use rust_decimal::prelude::ToPrimitive;
use serde_json::Value;

use super::error::ShipStationError;
use super::types::{
    status, Address, AdvancedOptions, CustomsItem, Fulfillment, InternationalOptions, ItemOption,
    Order, OrderItem, PacificTime, Shipment as V1Shipment, Weight,
};
use crate::domain::ports::FulfilmentError;
use crate::domain::{
    legacy_order_day, Customs, CustomsLine, Money, OrderKey, OutboundLine, OutboundOrder,
    OutboundStatus, PostalAddress, Quantity, RemoteOrder, Shipment, ShipmentSource,
};

impl From<ShipStationError> for FulfilmentError {
    fn from(e: ShipStationError) -> Self {
        let message = e.to_string();
        // Transience is the client's own verdict (`is_transient`), decided in one place.
        match e {
            ShipStationError::Unauthorized { .. } => FulfilmentError::Unauthorized(message),
            e if e.is_transient() => FulfilmentError::Transient {
                retry_after: e.retry_after(),
                message,
            },
            _ => FulfilmentError::Refused(message),
        }
    }
}

fn address(a: &PostalAddress) -> Address {
    Address {
        name: a.name.clone(),
        company: a.company.clone(),
        street1: a.street[0].clone(),
        street2: a.street[1].clone(),
        street3: a.street[2].clone(),
        city: a.city.clone(),
        state: a.state.clone(),
        postal_code: a.postal_code.clone(),
        country: a.country.clone(),
        phone: a.phone.clone(),
        residential: a.residential,
        address_verified: None,
    }
}

fn number(d: rust_decimal::Decimal) -> f64 {
    d.to_f64().unwrap_or_default()
}

/// V1 reads every time as Pacific wall time and shows its date: a calendar date goes as midnight
/// Pacific of that very date, so ShipStation shows the ERP's date (never the evening before).
fn pacific_day(d: chrono::NaiveDate) -> PacificTime {
    PacificTime(super::pacific::from_wall(
        d.and_time(chrono::NaiveTime::MIN),
    ))
}

fn international(c: &Customs) -> InternationalOptions {
    InternationalOptions {
        contents: Some(c.contents.clone()),
        customs_items: c
            .lines
            .iter()
            .map(|l| CustomsItem {
                description: l.description.clone(),
                quantity: l.quantity,
                value: number(l.unit_value.0),
                harmonized_tariff_code: l.hs_code.clone(),
                country_of_origin: l.country_of_origin.clone(),
            })
            .collect(),
        non_delivery: Some(c.non_delivery.clone()),
    }
}

fn customs(i: &InternationalOptions) -> Customs {
    Customs {
        contents: i.contents.clone().unwrap_or_default(),
        non_delivery: i.non_delivery.clone().unwrap_or_default(),
        lines: i
            .customs_items
            .iter()
            .map(|c| CustomsLine {
                description: c.description.clone(),
                quantity: c.quantity,
                unit_value: Money(decimal(c.value)),
                hs_code: c.harmonized_tariff_code.clone(),
                country_of_origin: c.country_of_origin.clone(),
            })
            .collect(),
    }
}

/// The V1 order for an outbound order (a whole-order upsert by orderKey).
pub fn order(o: &OutboundOrder) -> Order {
    Order {
        order_id: None,
        order_number: o.number.clone(),
        order_key: Some(o.key.to_string()),
        order_date: o.order_date.map(pacific_day),
        order_status: match o.status {
            OutboundStatus::AwaitingShipment => status::AWAITING_SHIPMENT,
            OutboundStatus::OnHold => status::ON_HOLD,
            OutboundStatus::Cancelled => status::CANCELLED,
        }
        .into(),
        customer_username: o.customer.clone(),
        customer_email: o.email.clone(),
        bill_to: address(&o.bill_to),
        ship_to: address(&o.ship_to),
        items: o
            .lines
            .iter()
            .map(|l| OrderItem {
                order_item_id: None,
                line_item_key: l.line_key.clone(),
                sku: l.sku.clone(),
                name: l.name.clone(),
                quantity: l.quantity,
                unit_price: Some(number(l.unit_price.0)),
                tax_amount: None,
                weight: l.weight_lb.map(|w| Weight {
                    value: number(w.0),
                    units: "pounds".into(),
                }),
                warehouse_location: l.warehouse_location.clone(),
                options: l
                    .options
                    .iter()
                    .map(|(name, value)| ItemOption {
                        name: name.clone(),
                        value: value.clone(),
                    })
                    .collect(),
                adjustment: l.adjustment,
                upc: l.upc.clone(),
            })
            .collect(),
        amount_paid: None,
        tax_amount: None,
        shipping_amount: o.shipping_amount.map(|m| number(m.0)),
        customer_notes: o.customer_notes.clone(),
        internal_notes: o.internal_notes.clone(),
        requested_shipping_service: o.requested_service.clone(),
        carrier_code: o.carrier_code.clone(),
        service_code: o.service_code.clone(),
        ship_by_date: o.ship_by_date.map(pacific_day),
        hold_until_date: None,
        advanced_options: Some(AdvancedOptions {
            warehouse_id: o.warehouse_id,
            store_id: o.store_id,
            custom_field1: o.custom_fields[0].clone(),
            custom_field2: o.custom_fields[1].clone(),
            custom_field3: o.custom_fields[2].clone(),
            source: o.source.clone(),
            ..Default::default()
        }),
        international_options: o.customs.as_ref().map(international),
        order_total: None,
        create_date: None,
        modify_date: None,
        ship_date: None,
    }
}

fn postal(a: &Address) -> PostalAddress {
    PostalAddress {
        name: a.name.clone(),
        company: a.company.clone(),
        street: [a.street1.clone(), a.street2.clone(), a.street3.clone()],
        city: a.city.clone(),
        state: a.state.clone(),
        postal_code: a.postal_code.clone(),
        country: a.country.clone(),
        phone: a.phone.clone(),
        residential: a.residential,
    }
}

fn decimal(f: f64) -> rust_decimal::Decimal {
    rust_decimal::Decimal::try_from(f).unwrap_or_default()
}

/// An order payload stored by an earlier release (the V1 order itself) read back as an outbound
/// order, so orders in flight across an upgrade still post and cancel. `None`: not a V1 order.
pub fn outbound_from_v1(v: &Value) -> Option<OutboundOrder> {
    let o: Order = serde_json::from_value(v.clone()).ok()?;
    let adv = o.advanced_options.clone().unwrap_or_default();
    Some(OutboundOrder {
        key: OrderKey::parse(o.order_key.as_deref()?)?,
        number: o.order_number.clone(),
        // Stored by 0.1: the site's midnight as an instant.
        order_date: o.order_date.map(|t| legacy_order_day(t.0)),
        ship_by_date: o.ship_by_date.map(|t| {
            t.0.with_timezone(&chrono_tz::America::Los_Angeles)
                .date_naive()
        }),
        status: match o.order_status.as_str() {
            status::ON_HOLD => OutboundStatus::OnHold,
            status::CANCELLED => OutboundStatus::Cancelled,
            _ => OutboundStatus::AwaitingShipment,
        },
        customer: o.customer_username.clone(),
        email: o.customer_email.clone(),
        bill_to: postal(&o.bill_to),
        ship_to: postal(&o.ship_to),
        lines: o
            .items
            .iter()
            .map(|i| OutboundLine {
                line_key: i.line_item_key.clone(),
                sku: i.sku.clone(),
                name: i.name.clone(),
                quantity: i.quantity,
                unit_price: Money(decimal(i.unit_price.unwrap_or_default())),
                weight_lb: i
                    .weight
                    .as_ref()
                    .filter(|w| w.units == "pounds")
                    .map(|w| Quantity(decimal(w.value))),
                warehouse_location: i.warehouse_location.clone(),
                options: i
                    .options
                    .iter()
                    .map(|o| (o.name.clone(), o.value.clone()))
                    .collect(),
                adjustment: i.adjustment,
                upc: i.upc.clone(),
            })
            .collect(),
        shipping_amount: o.shipping_amount.map(|a| Money(decimal(a))),
        customer_notes: o.customer_notes.clone(),
        internal_notes: o.internal_notes.clone(),
        requested_service: o.requested_shipping_service.clone(),
        carrier_code: o.carrier_code.clone(),
        service_code: o.service_code.clone(),
        warehouse_id: adv.warehouse_id,
        store_id: adv.store_id,
        custom_fields: [adv.custom_field1, adv.custom_field2, adv.custom_field3],
        source: adv.source,
        customs: o.international_options.as_ref().map(customs),
    })
}

/// An order as ShipStation holds it (read leniently: only the lineage fields matter here).
pub fn remote_order(o: &Value) -> RemoteOrder {
    let adv = &o["advancedOptions"];
    RemoteOrder {
        id: o["orderId"].as_i64().unwrap_or_default(),
        key: o["orderKey"].as_str().map(str::to_string),
        number: o["orderNumber"].as_str().map(str::to_string),
        merged_ids: adv["mergedIds"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_i64)
            .collect(),
        parent_id: adv["parentId"].as_i64(),
    }
}

/// The V1 order for an outbound order, as JSON (what a re-post merges over ShipStation's copy).
pub fn order_json(o: &OutboundOrder) -> Value {
    serde_json::to_value(order(o)).unwrap_or(Value::Null)
}

/// A label's record carries its order's key and lineage (`advancedOptions`) when ShipStation
/// includes them; fulfillments never do.
pub fn lineage(raw: &Value, id: i64) -> Option<RemoteOrder> {
    let key = raw.get("orderKey").and_then(Value::as_str)?;
    let adv = raw.get("advancedOptions")?;
    Some(RemoteOrder {
        id,
        key: Some(key.to_string()),
        number: raw
            .get("orderNumber")
            .and_then(Value::as_str)
            .map(str::to_string),
        merged_ids: adv["mergedIds"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_i64)
            .collect(),
        parent_id: adv["parentId"].as_i64(),
    })
}

/// A typed record, or what is wrong with it (naming the field).
fn read<T: serde::de::DeserializeOwned>(raw: &Value) -> Result<T, String> {
    serde_path_to_error::deserialize(raw.clone()).map_err(|e| {
        let path = e.path().to_string();
        format!("{path}: {}", e.into_inner())
    })
}

/// A label record; an `Err` names why it is not an order's shipment or cannot be read.
pub fn label(raw: Value) -> Result<Shipment, String> {
    let s: V1Shipment = read(&raw)?;
    let Some(order_id) = s.order_id else {
        return Err("a label without an order (orderId null): nothing to write back".into());
    };
    Ok(Shipment {
        source: ShipmentSource::Label,
        external_id: s.shipment_id,
        remote_order_id: order_id,
        order: lineage(&raw, order_id),
        order_key: s.order_key,
        order_number: s.order_number,
        tracking_number: s.tracking_number,
        carrier_code: s.carrier_code,
        service_code: s.service_code,
        created_at: s.create_date.map(|t| t.0),
        ship_date: s.ship_date.map(|t| t.at),
        ship_day: s.ship_date.and_then(|t| t.day),
        voided: s.voided,
        voided_at: s.void_date.map(|t| t.0),
        is_return: s.is_return_label,
        raw,
    })
}

/// A fulfillment record (an order marked shipped); an `Err` names why it cannot be read.
pub fn fulfillment(raw: Value) -> Result<Shipment, String> {
    let f: Fulfillment = read(&raw)?;
    Ok(Shipment {
        source: ShipmentSource::Fulfillment,
        external_id: f.fulfillment_id,
        remote_order_id: f.order_id,
        order: None,
        order_key: None,
        order_number: f.order_number,
        tracking_number: f.tracking_number,
        carrier_code: f.carrier_code,
        service_code: None,
        created_at: f.create_date.map(|t| t.0),
        ship_date: f.ship_date.map(|t| t.at),
        ship_day: f.ship_date.and_then(|t| t.day),
        voided: f.voided,
        voided_at: None,
        is_return: false,
        raw,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A payload exactly as the previous release stored it in an order workflow's context.
    #[test]
    fn a_payload_stored_by_the_previous_release_posts_the_same_order() {
        let stored = serde_json::json!({
            "orderId": null, "orderNumber": "0000042", "orderKey": "sage100:ABC:0000042",
            "orderDate": "2026-11-25T22:00:00.0000000", "orderStatus": "on_hold",
            "customerUsername": "ABF", "customerEmail": "buyer@abf.example",
            "billTo": {"name": "ABF Accounts", "street1": "1 Main", "city": "Austin", "country": "US"},
            "shipTo": {"name": "ABF", "street1": "100 Commerce St", "city": "Austin", "state": "TX",
                       "postalCode": "78701", "country": "US", "residential": false},
            "items": [{"lineItemKey": "000001", "sku": "WID-100", "name": "Widget", "quantity": 4,
                       "unitPrice": 12.5, "weight": {"value": 2.5, "units": "pounds"},
                       "warehouseLocation": "Warehouse 000",
                       "options": [{"name": "GL Account", "value": "4000-00"}], "adjustment": false}],
            "shippingAmount": 12.5, "internalNotes": "Deliver to dock 3",
            "requestedShippingService": "UPS GROUND", "carrierCode": "ups", "serviceCode": "ups_ground",
            "advancedOptions": {"warehouseId": 11001, "storeId": 21002, "customField1": "0000042",
                                "customField2": "PO-77", "source": "Sage 100"}
        });
        let outbound = outbound_from_v1(&stored).expect("a V1 order");
        assert_eq!(outbound.status, OutboundStatus::OnHold);
        let mut again = serde_json::to_value(order(&outbound)).unwrap();
        let before =
            serde_json::to_value(serde_json::from_value::<Order>(stored).unwrap()).unwrap();
        // 0.1 sent Chicago's midnight, which ShipStation showed as the evening before; the order
        // now goes out on its Sage date (2026-11-26), and everything else is the same.
        assert_eq!(again["orderDate"], "2026-11-26 00:00:00");
        again["orderDate"] = before["orderDate"].clone();
        assert_eq!(again, before, "the same V1 order goes out");
        assert!(outbound_from_v1(&serde_json::json!({"key": "x"})).is_none());
    }
}
