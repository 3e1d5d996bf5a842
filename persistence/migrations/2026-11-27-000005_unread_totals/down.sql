DROP TABLE sms_unread_totals;
