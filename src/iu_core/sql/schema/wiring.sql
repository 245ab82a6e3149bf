-- What ties the tables to the functions: every trigger, and the registration
-- of the built-in internal consumer. Applied on a fresh install after the
-- function files (a trigger needs its function; a registration its regprocedure).

-- The built-in internal consumer: structure events -> iu_tree_change_log.
INSERT INTO iu_internal_consumer (consumer_name, consumer, description) VALUES
    ('fn_iu_structure_consumer', 'fn_iu_structure_consumer(uuid, jsonb)'::regprocedure,
     'Projects structure_op_applied / structure_piece_deprecated events into iu_tree_change_log.');

-- Routes: the guard (a live row only while the gate is open and the route allowlisted).
CREATE TRIGGER trg_iu_outbound_route_delivery_guard
    BEFORE INSERT OR UPDATE ON iu_outbound_route
    FOR EACH ROW EXECUTE FUNCTION fn_iu_outbound_route_delivery_guard();

-- Consumers: the registered function must be (uuid, jsonb) -> integer.
CREATE TRIGGER trg_iu_internal_consumer_check
    BEFORE INSERT OR UPDATE ON iu_internal_consumer
    FOR EACH ROW EXECUTE FUNCTION fn_iu_internal_consumer_check();

-- Append-only tables refuse UPDATE.
CREATE TRIGGER trg_iu_tree_change_log_append_only
    BEFORE UPDATE ON iu_tree_change_log
    FOR EACH ROW EXECUTE FUNCTION fn_iu_refuse_update();
CREATE TRIGGER trg_iu_operator_audit_append_only
    BEFORE UPDATE ON iu_operator_audit
    FOR EACH ROW EXECUTE FUNCTION fn_iu_refuse_update();

-- Fan-out without gaps: one delivery per matching route, in the event's own transaction.
CREATE TRIGGER trg_event_outbox_fan_out
    AFTER INSERT ON event_outbox
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION fn_iu_delivery_fan_out();

-- Wake the workers when the switches or the routes change; clean up after a removed route.
CREATE TRIGGER trg_dot_config_wake_worker
    AFTER INSERT OR UPDATE ON dot_config
    FOR EACH STATEMENT EXECUTE FUNCTION fn_iu_delivery_wake();
CREATE TRIGGER trg_iu_outbound_route_wake_worker
    AFTER INSERT OR UPDATE ON iu_outbound_route
    FOR EACH STATEMENT EXECUTE FUNCTION fn_iu_delivery_wake();
CREATE TRIGGER trg_iu_outbound_route_removed
    AFTER DELETE ON iu_outbound_route
    FOR EACH ROW EXECUTE FUNCTION fn_iu_delivery_route_removed();

-- The operator audit trail.
CREATE TRIGGER trg_iu_outbound_route_audit
    AFTER INSERT OR UPDATE OR DELETE ON iu_outbound_route
    FOR EACH ROW EXECUTE FUNCTION fn_iu_operator_audit();
CREATE TRIGGER trg_dot_config_audit
    AFTER INSERT OR UPDATE OR DELETE ON dot_config
    FOR EACH ROW EXECUTE FUNCTION fn_iu_operator_audit();
CREATE TRIGGER trg_iu_internal_consumer_audit
    AFTER INSERT OR UPDATE OR DELETE ON iu_internal_consumer
    FOR EACH ROW EXECUTE FUNCTION fn_iu_operator_audit();
