-- The organization's quiet hours, wall-clock times 'HH:MM' read in each candidate's
-- local time; both NULL when it has none.
ALTER TABLE organizations ADD COLUMN quiet_hours_start TEXT;
ALTER TABLE organizations ADD COLUMN quiet_hours_end TEXT;
