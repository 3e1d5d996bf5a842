//! The one Diesel schema for both backends, in portable SQL types: ids and JSON are
//! `Text`, timestamps are UTC `Timestamp`s set from Rust.

diesel::table! {
    organizations (id) {
        id -> Text,
        name -> Text,
        default_country -> Text,
        timezone -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        daily_send_cap -> Nullable<Integer>,
        quiet_hours_start -> Nullable<Text>,
        quiet_hours_end -> Nullable<Text>,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        organization_id -> Text,
        email -> Text,
        password_hash -> Text,
        first_name -> Text,
        last_name -> Text,
        role -> Text,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        token_hash -> Binary,
        user_id -> Text,
        organization_id -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    login_throttle (key) {
        key -> Text,
        failures -> Integer,
        window_started_at -> Timestamp,
    }
}

diesel::table! {
    instance_bootstrap (id) {
        id -> Integer,
        created_at -> Timestamp,
    }
}

diesel::table! {
    integrations (id) {
        id -> Text,
        organization_id -> Text,
        provider -> Text,
        active -> Bool,
        phone_number -> Nullable<Text>,
        username -> Nullable<Text>,
        secret -> Nullable<Binary>,
        secret_set_at -> Nullable<Timestamp>,
        webhook_token -> Binary,
        webhook_token_hash -> Binary,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Text,
        organization_id -> Text,
        actor_user_id -> Nullable<Text>,
        action -> Text,
        target -> Text,
        details -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    jobs (id) {
        id -> Text,
        organization_id -> Text,
        title -> Text,
        stages -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    candidates (id) {
        id -> Text,
        organization_id -> Text,
        job_id -> Nullable<Text>,
        stage -> Nullable<Text>,
        first_name -> Text,
        last_name -> Text,
        phone -> Nullable<Text>,
        email -> Nullable<Text>,
        sms_opted_out -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        not_mobile_phone -> Nullable<Text>,
    }
}

diesel::table! {
    sms_templates (id) {
        id -> Text,
        organization_id -> Text,
        name -> Text,
        body -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    sms_threads (id) {
        id -> Text,
        organization_id -> Text,
        phone -> Text,
        candidate_id -> Nullable<Text>,
        unread_count -> Integer,
        last_message_at -> Nullable<Timestamp>,
        last_message_preview -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        candidate_ambiguous -> Bool,
        assignee_id -> Nullable<Text>,
        needs_reply -> Bool,
    }
}

diesel::table! {
    sms_batch_chunks (batch_id, seq) {
        batch_id -> Text,
        seq -> Integer,
        organization_id -> Text,
        provider -> Text,
        from_number -> Text,
        template_id -> Nullable<Text>,
        sent_by -> Text,
        messages -> Text,
        queued -> Integer,
        scheduled -> Integer,
        created_at -> Timestamp,
    }
}

diesel::table! {
    sms_batches (id) {
        id -> Text,
        organization_id -> Text,
        created_by -> Text,
        requested -> Integer,
        accepted -> Integer,
        skipped -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    sms_messages (id) {
        id -> Text,
        organization_id -> Text,
        thread_id -> Text,
        candidate_id -> Nullable<Text>,
        batch_id -> Nullable<Text>,
        direction -> Text,
        body -> Text,
        encoding -> Text,
        segments -> Integer,
        status -> Text,
        status_reason -> Nullable<Text>,
        provider -> Text,
        from_number -> Text,
        to_number -> Text,
        provider_message_id -> Nullable<Text>,
        price -> Nullable<Text>,
        sent_by -> Nullable<Text>,
        template_id -> Nullable<Text>,
        send_at -> Timestamp,
        next_attempt_at -> Timestamp,
        attempts -> Integer,
        lease_expires_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        status_checked_at -> Nullable<Timestamp>,
        failure_reason -> Nullable<Text>,
        provider_error_code -> Nullable<Text>,
    }
}

diesel::table! {
    sms_message_events (id) {
        id -> Text,
        message_id -> Text,
        status -> Text,
        detail -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    idempotency_keys (organization_id, key) {
        organization_id -> Text,
        key -> Text,
        request_hash -> Binary,
        response_status -> Integer,
        response_body -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Text,
        organization_id -> Text,
        provider -> Text,
        kind -> Text,
        provider_message_id -> Nullable<Text>,
        content_type -> Nullable<Text>,
        payload -> Text,
        outcome -> Text,
        received_at -> Timestamp,
    }
}

diesel::table! {
    sms_unread_totals (organization_id) {
        organization_id -> Text,
        unread -> BigInt,
    }
}

diesel::table! {
    sms_daily_sends (organization_id, day) {
        organization_id -> Text,
        day -> Date,
        sent -> Integer,
    }
}

diesel::table! {
    consent_events (id) {
        id -> Text,
        organization_id -> Text,
        candidate_id -> Text,
        opted_out -> Bool,
        source -> Text,
        message_id -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    provider_sync (integration_id) {
        integration_id -> Text,
        synced_until -> Timestamp,
        lease_expires_at -> Nullable<Timestamp>,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(users -> organizations (organization_id));
diesel::joinable!(sessions -> users (user_id));

diesel::joinable!(candidates -> jobs (job_id));
diesel::joinable!(sms_messages -> sms_threads (thread_id));

diesel::allow_tables_to_appear_in_same_query!(
    organizations,
    users,
    sessions,
    integrations,
    jobs,
    candidates,
    sms_threads,
    sms_messages,
);
