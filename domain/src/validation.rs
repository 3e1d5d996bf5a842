//! Collecting every problem with an input at once, so a form shows all of them.

use std::fmt;

/// Why a single value was refused, in words a user can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

impl Invalid {
    /// An explanation of why the value was refused.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One refused field of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field's path in the request body, e.g. `email` or `candidate_ids[3]`.
    pub field: String,
    /// Why it was refused.
    pub message: String,
}

/// Every refused field of a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} invalid field(s)", .0.len())]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    /// A single refused field.
    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }
}

/// Gathers parse results field by field; `finish` reports all failures together.
#[derive(Debug, Default)]
pub struct Validation {
    errors: Vec<FieldError>,
}

impl Validation {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the outcome of parsing `field`, keeping the value when it was valid.
    pub fn check<T>(&mut self, field: &str, parsed: Result<T, Invalid>) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(Invalid(message)) => {
                self.errors.push(FieldError {
                    field: field.to_owned(),
                    message,
                });
                None
            }
        }
    }

    /// Parses an optional field: absent stays absent, present must be valid.
    pub fn check_optional<T, R>(
        &mut self,
        field: &str,
        raw: Option<R>,
        parse: impl FnOnce(R) -> Result<T, Invalid>,
    ) -> Option<T> {
        raw.and_then(|raw| self.check(field, parse(raw)))
    }

    /// Ok when nothing was refused.
    pub fn finish(self) -> Result<(), ValidationErrors> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors(self.errors))
        }
    }
}

/// Trims `raw` and checks its length in characters lies in `min..=max`.
pub(crate) fn bounded_text(raw: &str, min: usize, max: usize) -> Result<String, Invalid> {
    let trimmed = raw.trim();
    let length = trimmed.chars().count();
    if length < min {
        return Err(Invalid::new(if min == 1 {
            "must not be empty".to_owned()
        } else {
            format!("must be at least {min} characters")
        }));
    }
    if length > max {
        return Err(Invalid::new(format!("must be at most {max} characters")));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(Invalid::new("must not contain control characters"));
    }
    Ok(trimmed.to_owned())
}

/// Declares a name-like text type (a title, a person's name): trimmed, 1 to `$max`
/// characters, no control characters.
macro_rules! bounded_text_type {
    ($(#[$doc:meta])* $name:ident, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            /// Longest accepted value, in characters.
            pub const MAX_LENGTH: usize = $max;

            /// Trimmed, 1 to [`Self::MAX_LENGTH`] characters, no control characters.
            pub fn parse(raw: &str) -> Result<Self, $crate::validation::Invalid> {
                $crate::validation::bounded_text(raw, 1, Self::MAX_LENGTH).map(Self)
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The text, owned.
            pub fn into_inner(self) -> String {
                self.0
            }
        }
    };
}
pub(crate) use bounded_text_type;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_every_failure() {
        let mut validation = Validation::new();
        let kept = validation.check("a", Ok::<_, Invalid>(1));
        validation.check::<i32>("b", Err(Invalid::new("bad b")));
        validation.check::<i32>("c", Err(Invalid::new("bad c")));
        assert_eq!(kept, Some(1));
        let errors = validation.finish().expect_err("two failures");
        assert_eq!(
            errors
                .0
                .iter()
                .map(|e| e.field.as_str())
                .collect::<Vec<_>>(),
            ["b", "c"]
        );
    }

    #[test]
    fn bounded_text_trims_and_limits() {
        assert_eq!(bounded_text("  Ann ", 1, 3).as_deref(), Ok("Ann"));
        assert!(bounded_text("   ", 1, 3).is_err());
        assert!(bounded_text("Anna", 1, 3).is_err());
        assert!(bounded_text("a\u{0}b", 1, 10).is_err());
    }
}
