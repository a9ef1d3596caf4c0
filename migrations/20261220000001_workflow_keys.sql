-- The business key's uniqueness moves off the hot table. A status change is never a HOT update
-- (status is in the partial indexes' predicates), so every index of `workflows` gets an entry on
-- every claim and every completion; the unique (kind, connection_id, business_key) index was two of
-- the ~12 WAL records a step wrote. `workflow_keys` is written once per workflow and never updated:
-- it guards uniqueness and serves every lookup by key or by kind + connection (its primary key's
-- prefix). `workflows` keeps the three columns as an immutable copy for reads.
CREATE TABLE workflow_keys (
    kind          text   NOT NULL,
    connection_id bigint NOT NULL,
    business_key  text   NOT NULL,
    workflow_id   bigint NOT NULL,
    PRIMARY KEY (kind, connection_id, business_key)
);

INSERT INTO workflow_keys (kind, connection_id, business_key, workflow_id)
SELECT kind, connection_id, business_key, id FROM workflows;

ALTER TABLE workflows DROP CONSTRAINT workflows_business_key;

-- Every insert into `workflows` claims its key first; a row whose key is taken is skipped, which is
-- what `ON CONFLICT (kind, connection_id, business_key) DO NOTHING` did (a concurrent insert of the
-- same key waits for the other transaction, as with the unique index). The identity default is
-- filled in before BEFORE triggers run, so NEW.id is the row's id.
CREATE FUNCTION workflows_claim_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO workflow_keys (kind, connection_id, business_key, workflow_id)
    VALUES (NEW.kind, NEW.connection_id, NEW.business_key, NEW.id)
    ON CONFLICT DO NOTHING;
    IF FOUND THEN
        RETURN NEW;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER workflows_claim_key BEFORE INSERT ON workflows
    FOR EACH ROW EXECUTE FUNCTION workflows_claim_key();

-- A deleted workflow (purge, retention) frees its key, as the unique index did.
CREATE FUNCTION workflows_free_keys() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM workflow_keys k USING gone g
     WHERE k.kind = g.kind AND k.connection_id = g.connection_id
       AND k.business_key = g.business_key AND k.workflow_id = g.id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER workflows_free_keys AFTER DELETE ON workflows
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION workflows_free_keys();

-- The key columns are a copy of the key row: they never change.
CREATE FUNCTION workflows_key_is_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a workflow''s kind, connection and business key never change (workflow %)', OLD.id;
END;
$$;
CREATE TRIGGER workflows_key_is_immutable BEFORE UPDATE OF kind, connection_id, business_key ON workflows
    FOR EACH ROW WHEN (OLD.kind IS DISTINCT FROM NEW.kind OR OLD.connection_id IS DISTINCT FROM NEW.connection_id
                       OR OLD.business_key IS DISTINCT FROM NEW.business_key)
    EXECUTE FUNCTION workflows_key_is_immutable();
