//! The bodies of a provider's panels, whose field names its descriptor gives (`username`
//! or `account_sid`, `api_key` or `auth_token`): read and written here so that one set
//! of handlers serves every provider. They read and answer exactly as a derived
//! `#[serde(deny_unknown_fields)]` struct named `{Provider}Settings` /
//! `{Provider}{Secret}` would, errors included, so the contract is unchanged.

use std::fmt;

use chrono::{DateTime, Utc};
use nextal_providers::Descriptor;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserializer, Serialize, Serializer};

use crate::routes::schemas::utc;
use crate::services::integrations::IntegrationView;

/// The Edit panel: every field is required, and null clears a value.
#[derive(Debug)]
pub struct SettingsBody {
    pub active: bool,
    pub phone_number: Option<String>,
    pub username: Option<String>,
}

/// Reads a [`SettingsBody`] for `descriptor`'s provider.
pub struct SettingsSeed(pub &'static Descriptor);

/// Reads the secret panel's one field for `descriptor`'s provider. The value is held
/// only until it is sealed; it is never logged.
pub struct SecretSeed(pub &'static Descriptor);

/// The schema name of the Edit panel's body, as the document names it.
pub fn settings_name(descriptor: &Descriptor) -> String {
    format!("{}Settings", descriptor.display_name())
}

/// The schema name of the secret panel's body: the display name and the secret field in
/// Pascal case (`{Provider}AuthToken` for an `auth_token`).
pub fn secret_name(descriptor: &Descriptor) -> String {
    let pascal: String = descriptor
        .secret
        .field
        .split('_')
        .flat_map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase())
                .into_iter()
                .chain(chars)
        })
        .collect();
    format!("{}{pascal}", descriptor.display_name())
}

/// A key of one of these bodies: its index in `fields`, or serde's "unknown field".
struct Key<'a>(&'a [&'static str]);

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_identifier(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("field identifier")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<usize, E> {
        self.0
            .iter()
            .position(|field| *field == key)
            .ok_or_else(|| E::custom(unknown_field(key, self.0)))
    }
}

/// serde's own wording, which `unknown_field` only gives for a `'static` list.
fn unknown_field(key: &str, fields: &[&str]) -> String {
    let quoted: Vec<String> = fields.iter().map(|field| format!("`{field}`")).collect();
    let expected = match quoted.as_slice() {
        [] => return format!("unknown field `{key}`, there are no fields"),
        [one] => one.clone(),
        [a, b] => format!("{a} or {b}"),
        many => format!("one of {}", many.join(", ")),
    };
    format!("unknown field `{key}`, expected {expected}")
}

/// A body of `fields`, read into one slot each.
trait Shape<'de>: Sized {
    /// The struct's name in errors.
    fn name(&self) -> String;
    /// The field names, in declaration order.
    fn fields(&self) -> Vec<&'static str>;
    /// Reads field `index`'s value from a map.
    fn read_value<A: MapAccess<'de>>(&mut self, index: usize, map: &mut A) -> Result<(), A::Error>;
    /// Reads field `index`'s value from a sequence; `false` when it has ended.
    fn read_element<A: SeqAccess<'de>>(
        &mut self,
        index: usize,
        seq: &mut A,
    ) -> Result<bool, A::Error>;
    /// Whether field `index` has been read.
    fn has(&self, index: usize) -> bool;
}

struct ShapeVisitor<S>(S);

impl<'de, S: Shape<'de>> Visitor<'de> for ShapeVisitor<S> {
    type Value = S;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "struct {}", self.0.name())
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<S, A::Error> {
        let fields = self.0.fields();
        while let Some(index) = map.next_key_seed(Key(&fields))? {
            if self.0.has(index) {
                return Err(de::Error::duplicate_field(fields[index]));
            }
            self.0.read_value(index, &mut map)?;
        }
        match (0..fields.len()).find(|index| !self.0.has(*index)) {
            Some(index) => Err(de::Error::missing_field(fields[index])),
            None => Ok(self.0),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<S, A::Error> {
        let count = self.0.fields().len();
        for index in 0..count {
            if !self.0.read_element(index, &mut seq)? {
                let plural = if count == 1 { "" } else { "s" };
                let expected = format!("struct {} with {count} element{plural}", self.0.name());
                return Err(de::Error::invalid_length(index, &expected.as_str()));
            }
        }
        Ok(self.0)
    }
}

fn read_struct<'de, D: Deserializer<'de>, S: Shape<'de>>(
    deserializer: D,
    shape: S,
) -> Result<S, D::Error> {
    // The name only appears in errors, which `expecting` words from the shape.
    deserializer.deserialize_struct("", &[], ShapeVisitor(shape))
}

struct Settings {
    descriptor: &'static Descriptor,
    active: Option<bool>,
    phone_number: Option<Option<String>>,
    username: Option<Option<String>>,
}

impl<'de> Shape<'de> for Settings {
    fn name(&self) -> String {
        settings_name(self.descriptor)
    }

    fn fields(&self) -> Vec<&'static str> {
        vec!["active", "phone_number", self.descriptor.username.field]
    }

    fn read_value<A: MapAccess<'de>>(&mut self, index: usize, map: &mut A) -> Result<(), A::Error> {
        match index {
            0 => self.active = Some(map.next_value()?),
            1 => self.phone_number = Some(map.next_value()?),
            _ => self.username = Some(map.next_value()?),
        }
        Ok(())
    }

    fn read_element<A: SeqAccess<'de>>(
        &mut self,
        index: usize,
        seq: &mut A,
    ) -> Result<bool, A::Error> {
        Ok(match index {
            0 => seq.next_element()?.map(|value| self.active = Some(value)),
            1 => seq
                .next_element()?
                .map(|value| self.phone_number = Some(value)),
            _ => seq.next_element()?.map(|value| self.username = Some(value)),
        }
        .is_some())
    }

    fn has(&self, index: usize) -> bool {
        match index {
            0 => self.active.is_some(),
            1 => self.phone_number.is_some(),
            _ => self.username.is_some(),
        }
    }
}

impl<'de> DeserializeSeed<'de> for SettingsSeed {
    type Value = SettingsBody;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<SettingsBody, D::Error> {
        let empty = Settings {
            descriptor: self.0,
            active: None,
            phone_number: None,
            username: None,
        };
        let read = read_struct(deserializer, empty)?;
        Ok(SettingsBody {
            active: read.active.unwrap_or_default(),
            phone_number: read.phone_number.flatten(),
            username: read.username.flatten(),
        })
    }
}

struct Secret {
    descriptor: &'static Descriptor,
    value: Option<String>,
}

impl<'de> Shape<'de> for Secret {
    fn name(&self) -> String {
        secret_name(self.descriptor)
    }

    fn fields(&self) -> Vec<&'static str> {
        vec![self.descriptor.secret.field]
    }

    fn read_value<A: MapAccess<'de>>(&mut self, _: usize, map: &mut A) -> Result<(), A::Error> {
        self.value = Some(map.next_value()?);
        Ok(())
    }

    fn read_element<A: SeqAccess<'de>>(&mut self, _: usize, seq: &mut A) -> Result<bool, A::Error> {
        self.value = seq.next_element()?;
        Ok(self.value.is_some())
    }

    fn has(&self, _: usize) -> bool {
        self.value.is_some()
    }
}

impl<'de> DeserializeSeed<'de> for SecretSeed {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        let empty = Secret {
            descriptor: self.0,
            value: None,
        };
        Ok(read_struct(deserializer, empty)?.value.unwrap_or_default())
    }
}

/// A provider's card: the integration with its webhook URLs, fields named by the
/// descriptor, in the documented order.
pub struct Card<'a> {
    pub descriptor: &'static Descriptor,
    pub view: &'a IntegrationView,
    pub public_url: &'a str,
}

impl Serialize for Card<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let descriptor = self.descriptor;
        let row = &self.view.row;
        let urls = self.view.webhook_urls(self.public_url);
        let set_at: Option<DateTime<Utc>> = row.secret_set_at.map(utc);
        let mut card = serializer.serialize_map(Some(8))?;
        card.serialize_entry("provider", descriptor.slug())?;
        card.serialize_entry("active", &row.active)?;
        card.serialize_entry("phone_number", &row.phone_number)?;
        card.serialize_entry(descriptor.username.field, &row.username)?;
        card.serialize_entry(&descriptor.secret_set_field(), &row.secret.is_some())?;
        card.serialize_entry(&format!("{}_at", descriptor.secret_set_field()), &set_at)?;
        card.serialize_entry("updated_at", &utc(row.updated_at))?;
        card.serialize_entry(
            "webhooks",
            &Webhooks {
                descriptor,
                inbound: &urls.inbound,
                status: &urls.status,
            },
        )?;
        card.end()
    }
}

struct Webhooks<'a> {
    descriptor: &'static Descriptor,
    inbound: &'a str,
    status: &'a str,
}

impl Serialize for Webhooks<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut webhooks = serializer.serialize_map(Some(2))?;
        webhooks.serialize_entry("inbound_url", self.inbound)?;
        webhooks.serialize_entry(self.descriptor.status_url_field, self.status)?;
        webhooks.end()
    }
}

/// The saved integration, and the provider that was switched off to activate it.
#[derive(Serialize)]
pub struct Saved<'a> {
    pub integration: Card<'a>,
    pub deactivated: Option<String>,
}

#[cfg(test)]
mod tests {
    use nextal_providers::registry;

    use super::*;
    use crate::error::ApiError;
    use crate::extract::parse_seed;

    fn refusal(error: ApiError) -> (String, String) {
        match error {
            ApiError::Validation(errors) => {
                (errors.0[0].field.clone(), errors.0[0].message.clone())
            }
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn settings_are_read_by_each_providers_field_names() {
        for provider in registry() {
            let descriptor = provider.descriptor();
            let username = descriptor.username.field;
            let body = format!(r#"{{"active": true, "phone_number": null, "{username}": "u"}}"#);
            let read = parse_seed(body.as_bytes(), SettingsSeed(descriptor)).expect("valid");
            assert!(read.active);
            assert_eq!(read.phone_number, None);
            assert_eq!(read.username.as_deref(), Some("u"));
            let secret = format!(r#"{{"{}": "s3cret-value"}}"#, descriptor.secret.field);
            let read = parse_seed(secret.as_bytes(), SecretSeed(descriptor)).expect("valid");
            assert_eq!(read, "s3cret-value");
        }
    }

    /// Worded as serde's derive words them, which the contract's 422s carried.
    #[test]
    fn refusals_read_as_a_derived_structs_would() {
        for provider in registry() {
            let descriptor = provider.descriptor();
            let username = descriptor.username.field;
            let secret = descriptor.secret.field;
            let settings = |body: String| {
                refusal(parse_seed(body.as_bytes(), SettingsSeed(descriptor)).expect_err("refused"))
            };
            assert_eq!(
                settings(format!(r#"{{"active": true, "{secret}": "x"}}"#)),
                (
                    secret.to_owned(),
                    format!(
                        "unknown field `{secret}`, expected one of `active`, `phone_number`, `{username}`"
                    )
                )
            );
            assert_eq!(
                settings(r#"{"active": true, "phone_number": null}"#.to_owned()),
                (username.to_owned(), format!("missing field `{username}`"))
            );
            assert_eq!(
                settings(r#"{"active": true, "active": false}"#.to_owned()).1,
                "duplicate field `active`"
            );
            assert_eq!(
                settings("5".to_owned()).1,
                format!(
                    "invalid type: integer `5`, expected struct {}",
                    settings_name(descriptor)
                )
            );
            let panel = |body: &str| {
                refusal(parse_seed(body.as_bytes(), SecretSeed(descriptor)).expect_err("refused"))
            };
            assert_eq!(
                panel(r#"{"other": "x"}"#).1,
                format!("unknown field `other`, expected `{secret}`")
            );
            assert_eq!(
                panel("[]").1,
                format!(
                    "invalid length 0, expected struct {} with 1 element",
                    secret_name(descriptor)
                )
            );
        }
    }
}
