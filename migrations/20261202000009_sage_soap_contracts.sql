-- The customer's eBusiness Web Services contract (operations, SOAPActions, element namespaces,
-- member order), read from its ?wsdl at `connection add` / `connection test`, used by every SOAP
-- call instead of assumptions. One per connection; replaced when read again.
CREATE TABLE sage_soap_contracts (
    connection_id bigint      PRIMARY KEY REFERENCES connections (id) ON DELETE CASCADE,
    contract      jsonb       NOT NULL,
    read_at       timestamptz NOT NULL
);

-- A date-only ship date as ShipStation gave it (a label's `shipDate`), written back to Sage as that
-- very date whatever the site's zone.
ALTER TABLE shipments ADD COLUMN ship_day date;
