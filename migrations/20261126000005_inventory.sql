-- The adjustments an inventory run planned, applied one by one: a run that stops resumes with the
-- rows still pending, and nothing applied is sent twice.
CREATE TABLE inventory_adjustments (
    workflow_id           bigint      NOT NULL,
    sku                   text        NOT NULL,
    inventory_location_id text        NOT NULL,
    warehouse_code        text        NOT NULL,
    quantity              bigint      NOT NULL,
    previous              bigint,
    applied_at            timestamptz,
    -- ShipStation refused this SKU (e.g. unknown there): reported, not retried.
    error                 text,
    PRIMARY KEY (workflow_id, sku, inventory_location_id)
);
CREATE INDEX inventory_adjustments_pending ON inventory_adjustments (workflow_id) WHERE applied_at IS NULL AND error IS NULL;
