-- A consumer's sweep plan goes with the consumer (as its foreign key did: Job/0008).
CREATE OR REPLACE FUNCTION bmm.drop_sweep_plan() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM bmm.sweep_plan WHERE consumer = OLD.name;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE TRIGGER consumer_sweep_plan AFTER DELETE ON bmm.consumer
FOR EACH ROW EXECUTE FUNCTION bmm.drop_sweep_plan();
