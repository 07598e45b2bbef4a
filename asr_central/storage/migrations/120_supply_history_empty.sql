-- The days a supply was empty (0 % left; a waste bottle with no room), for the service
-- page's question "did this order line's supply run out before its parcel came?": a
-- small index of those days alone, which the per-line check probes (storage/service_record.py).
CREATE INDEX supply_history_empty ON supply_history (device_serial, supply_index, day)
    WHERE remaining_percent <= 0;
