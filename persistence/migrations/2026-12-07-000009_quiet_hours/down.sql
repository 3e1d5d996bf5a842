ALTER TABLE organizations DROP COLUMN quiet_hours_end;
ALTER TABLE organizations DROP COLUMN quiet_hours_start;
