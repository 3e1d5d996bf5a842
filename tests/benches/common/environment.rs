//! What the benches read from their environment. Shared by the benches through `#[path]`.

#![allow(dead_code, reason = "each bench uses a part of this module")]
#![allow(clippy::print_stdout, reason = "a benchmark says why it skips")]

/// `NEXTAL_TEST_DATABASE_URL` when it names a PostgreSQL server; otherwise says that
/// `bench` is skipped.
pub fn postgres_server_or_skip(bench: &str) -> Option<String> {
    let url = std::env::var("NEXTAL_TEST_DATABASE_URL")
        .ok()
        .filter(|url| url.starts_with("postgres://") || url.starts_with("postgresql://"));
    if url.is_none() {
        println!(
            "{bench} benchmark: skipped; set NEXTAL_TEST_DATABASE_URL to a PostgreSQL server, \
             e.g. postgres://postgres@127.0.0.1:5432/postgres"
        );
    }
    url
}

/// The positive number in variable `name`, else `default`.
pub fn positive_number<T: std::str::FromStr + PartialOrd + Default>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse::<T>().ok())
        .filter(|value| *value > T::default())
        .unwrap_or(default)
}
