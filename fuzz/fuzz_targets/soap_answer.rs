//! Sage eBusiness Web Services answers: the XML parser, fault extraction and the sales order
//! reader, with one property: every name in an order we read can be written back as an element
//! (the encoder writes the order's field names as element names).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ml_connector::sage100::faults::FaultTexts;
use ml_connector::sage100::soap::{read_answer, SalesOrder};
use ml_connector::xml;

const STATUSES: [u16; 4] = [200, 500, 400, 302];
const OPS: [&str; 3] = ["GetSalesOrder", "GetContractInformation", "GetCustomer"];

fuzz_target!(|data: &[u8]| {
    let (pick, rest) = mlc_fuzz::choose(data, STATUSES.len() * OPS.len());
    let status = STATUSES[pick % STATUSES.len()];
    let op = OPS[pick / STATUSES.len()];
    let text = String::from_utf8_lossy(rest);
    if let Ok(tree) = xml::parse(&text) {
        // Clone and drop both walk the whole tree.
        let copy = tree.clone();
        assert_eq!(copy, tree);
    }
    let Ok(Some(result)) = read_answer(op, status, &text, &FaultTexts::default()) else {
        return;
    };
    let order = SalesOrder::from_result(&result);
    let names = order
        .fields
        .keys()
        .chain(order.lines.iter().flat_map(|line| line.keys()));
    for name in names {
        let written = format!("<{name}>v</{name}>");
        if let Err(e) = xml::parse(&written) {
            panic!("a name read from Sage is written back as malformed XML ({e}): {written}");
        }
    }
});
