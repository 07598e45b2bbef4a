-- A contact's own time zone (an IANA name): their mail's days and digest hour follow it.
-- NULL: central's mail.time_zone.
ALTER TABLE contacts ADD COLUMN time_zone TEXT;
