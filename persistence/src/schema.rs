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

diesel::joinable!(users -> organizations (organization_id));
diesel::joinable!(sessions -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(organizations, users, sessions);
