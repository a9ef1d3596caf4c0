-- The Sage item-warehouse quantities the inventory sync last read. Every run compares each of them
-- with ShipStation, because what ShipStation's open orders allocate changes without any Sage change
-- (README, "What the connector changes in ShipStation": the quantity pushed adds those allocations back).
CREATE TABLE inventory_sage_levels (
    connection_id  bigint      NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    item_code      text        NOT NULL,
    warehouse_code text        NOT NULL,
    -- The domain StockLevel as JSON (quantities as decimal text).
    level          jsonb       NOT NULL,
    read_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, item_code, warehouse_code)
);
