-- Every webhook delivery as received, with its verification result (bad ones are kept too,
-- never acted on), and what processing it led to.
CREATE TABLE webhook_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    connection_id   bigint REFERENCES connections (id) ON DELETE SET NULL,
    connection_name text        NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    api             text        NOT NULL CHECK (api IN ('v1', 'v2')),
    event           text,
    resource_url    text,
    verified        boolean     NOT NULL,
    -- accepted (acted on), ignored (verified, nothing to do), rejected (not verified / bad input)
    result          text        NOT NULL CHECK (result IN ('accepted', 'ignored', 'rejected')),
    reason          text,
    http_status     integer     NOT NULL,
    body            text,
    workflow_id     bigint,
    processed_at    timestamptz,
    shipments_found integer
);
CREATE INDEX webhook_deliveries_recent ON webhook_deliveries (connection_id, received_at DESC);

-- Shipments (labels) and fulfillments (mark-as-shipped) seen in ShipStation, by webhook or poll.
-- One row per ShipStation record, so a record seen twice is applied once.
CREATE TABLE shipments (
    connection_id   bigint      NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    source          text        NOT NULL CHECK (source IN ('label', 'fulfillment')),
    external_id     bigint      NOT NULL,
    ss_order_id     bigint      NOT NULL,
    order_key       text,
    order_number    text,
    tracking_number text,
    carrier_code    text,
    service_code    text,
    ship_date       timestamptz,
    voided          boolean     NOT NULL DEFAULT false,
    is_return       boolean     NOT NULL DEFAULT false,
    -- The Sage sales orders this shipment belongs to (several when orders were merged).
    sales_orders    text[],
    estimated_delivery date,
    eta_source      text,
    seen_by         text[]      NOT NULL DEFAULT '{}',
    raw             jsonb       NOT NULL,
    first_seen_at   timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, source, external_id)
);
CREATE INDEX shipments_by_sales_order ON shipments USING gin (sales_orders);

-- Merged and split orders in ShipStation: which Sage orders a ShipStation order stands for.
CREATE TABLE order_lineage (
    connection_id  bigint      NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    ss_order_id    bigint      NOT NULL,
    sales_order_no text        NOT NULL,
    relation       text        NOT NULL CHECK (relation IN ('merged', 'split')),
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, ss_order_id, sales_order_no)
);
CREATE INDEX order_lineage_by_sales_order ON order_lineage (connection_id, sales_order_no);

-- Order workflows by the ShipStation order they posted (shipment matching, lineage).
CREATE INDEX workflows_by_shipstation_order ON workflows (connection_id, ((context->>'shipstation_order_id')))
    WHERE kind = 'order';
