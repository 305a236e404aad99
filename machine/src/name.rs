//! Validated names: parse once at the edge, pass the type inside.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize};

use crate::limits::NAME_LEN_MAX;

/// Why a string is not a valid name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameError {
    /// The name is empty.
    Empty,
    /// The name is longer than [`NAME_LEN_MAX`] bytes.
    TooLong { len: usize },
    /// The name holds a character outside `[A-Za-z0-9._-]`.
    BadCharacter { character: char },
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => write!(f, "name is empty"),
            NameError::TooLong { len } => {
                write!(f, "name is {len} bytes long, the limit is {NAME_LEN_MAX}")
            }
            NameError::BadCharacter { character } => write!(
                f,
                "name contains {character:?}; allowed are letters, digits, '.', '_' and '-'"
            ),
        }
    }
}

fn validate(raw: &str) -> Result<(), NameError> {
    if raw.is_empty() {
        return Err(NameError::Empty);
    }
    if raw.len() > NAME_LEN_MAX {
        return Err(NameError::TooLong { len: raw.len() });
    }
    match raw
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        Some(character) => Err(NameError::BadCharacter { character }),
        None => Ok(()),
    }
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// Always matches `[A-Za-z0-9._-]{1,128}`; cheap to clone.
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Parses a raw string, refusing anything outside the name syntax.
            pub fn new(raw: &str) -> Result<Self, NameError> {
                validate(raw)?;
                Ok($name(raw.into()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&*self.0, f)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                $name::new(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

name_type!(
    /// The name of a log.
    LogName
);
name_type!(
    /// The name of a consumer group, unique within its log.
    GroupName
);
name_type!(
    /// The name a consumer gives itself; leases and waiters are held in it.
    ConsumerName
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_spec_alphabet_and_refuses_the_rest() {
        assert!(LogName::new("orders.v1_eu-west").is_ok());
        assert!(LogName::new(&"a".repeat(NAME_LEN_MAX)).is_ok());
        assert_eq!(LogName::new(""), Err(NameError::Empty));
        assert_eq!(
            LogName::new(&"a".repeat(NAME_LEN_MAX + 1)),
            Err(NameError::TooLong {
                len: NAME_LEN_MAX + 1
            })
        );
        assert_eq!(
            GroupName::new("a/b"),
            Err(NameError::BadCharacter { character: '/' })
        );
        assert_eq!(
            ConsumerName::new("é"),
            Err(NameError::BadCharacter { character: 'é' })
        );
    }

    #[test]
    fn deserializing_validates() {
        let parsed: Result<LogName, _> = serde_json::from_str("\"bad name\"");
        assert!(parsed.is_err());
        let parsed: LogName = serde_json::from_str("\"good\"").unwrap();
        assert_eq!(parsed.as_str(), "good");
    }
}
