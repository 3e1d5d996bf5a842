//! ClickSend and Twilio: HTTP clients and webhook parsing behind one `SmsProvider`
//! trait. No database access.
