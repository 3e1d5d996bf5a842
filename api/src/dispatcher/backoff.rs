//! How long to wait before trying a message again.

use std::time::Duration;

/// First retry delay.
const BASE: Duration = Duration::from_secs(2);
/// Longest delay between two tries before jitter: with it at most 18 s, so a message
/// goes out within 20 s of its provider recovering.
const CAP: Duration = Duration::from_secs(15);

/// Exponential backoff with ±20 % jitter after `attempts` tries, never shorter than the
/// provider's `Retry-After`.
pub fn retry_delay(attempts: i32, retry_after: Option<Duration>) -> Duration {
    let exponent = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(16);
    let exponential = BASE.saturating_mul(1 << exponent).min(CAP);
    // Jitter spreads retries of a whole batch so they do not hit the provider at once.
    let jitter = 0.8 + rand::random::<f64>() * 0.4;
    let delay = exponential.mul_f64(jitter);
    retry_after.map_or(delay, |wait| delay.max(wait))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_then_stop_at_the_cap() {
        let within = |attempts, low: f64, high: f64| {
            let delay = retry_delay(attempts, None).as_secs_f64();
            assert!((low..=high).contains(&delay), "{attempts}: {delay}");
        };
        within(1, 1.6, 2.4);
        within(2, 3.2, 4.8);
        within(4, 12.0, 18.0);
        within(5, 12.0, 18.0);
        within(1000, 12.0, 18.0);
    }

    #[test]
    fn retry_after_is_honoured() {
        assert!(retry_delay(1, Some(Duration::from_secs(90))) >= Duration::from_secs(90));
    }
}
