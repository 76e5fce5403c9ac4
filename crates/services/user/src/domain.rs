//! The user service's domain: a registration parsed once from `POST /users`, into values that
//! cannot be invalid (a name, an e-mail address, a membership level), and user ids.

use tracemart_contracts::{MembershipLevel, NewUser, UserId};

use crate::error::UserError;

/// Most characters of a name.
const MAX_NAME: usize = 100;
/// Most characters of an e-mail address, of its local part, of its domain's labels.
const MAX_EMAIL: usize = 254;
const MAX_LOCAL_PART: usize = 64;
const MAX_LABEL: usize = 63;
/// What a dot-atom local part may hold besides letters, digits and inner dots (RFC 5322).
const LOCAL_SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~";

/// A valid `POST /users` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Registration {
    pub(crate) name: PersonName,
    pub(crate) email: Email,
    pub(crate) level: MembershipLevel,
}

impl TryFrom<NewUser> for Registration {
    type Error = UserError;

    fn try_from(new: NewUser) -> Result<Self, UserError> {
        Ok(Self {
            name: PersonName::parse(&new.name)?,
            email: Email::parse(&new.email)?,
            level: new.membership_level.unwrap_or_default(),
        })
    }
}

/// A user's name: 1 to 100 characters (not bytes), not all blank, no control characters;
/// kept without the blanks around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PersonName(String);

impl PersonName {
    pub(crate) fn parse(raw: &str) -> Result<Self, UserError> {
        let length = raw.chars().count();
        if length == 0 || length > MAX_NAME || raw.trim().is_empty() {
            return Err(invalid(format!(
                "name must be 1 to {MAX_NAME} characters, not all blank"
            )));
        }
        if raw.chars().any(char::is_control) {
            return Err(invalid("name must not hold control characters"));
        }
        Ok(Self(raw.trim().to_owned()))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// An e-mail address of the usual form: one `@`; before it a dot-atom (letters, digits,
/// `!#$%&'*+-/=?^_`{|}~`, dots only between them) of at most 64 characters; after it a
/// domain of two or more labels (letters, digits, hyphens inside), each at most 63; at most
/// 254 characters in all. No spaces, no quoted local parts, no address literals: rare in
/// sign-ups, and each a way to slip text past a naive reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Email(String);

impl Email {
    pub(crate) fn parse(raw: &str) -> Result<Self, UserError> {
        if Self::is_valid(raw) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(invalid(
                "email must be an e-mail address (local@example.com: one @, a domain with a dot, no spaces, at most 254 characters)",
            ))
        }
    }

    fn is_valid(raw: &str) -> bool {
        let Some((local, domain)) = raw.split_once('@') else {
            return false;
        };
        raw.len() <= MAX_EMAIL
            && local.len() <= MAX_LOCAL_PART
            && local.split('.').all(|atom| {
                !atom.is_empty()
                    && atom
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || LOCAL_SPECIALS.contains(c))
            })
            && domain.split('.').count() >= 2
            && domain.split('.').all(|label| {
                (1..=MAX_LABEL).contains(&label.len())
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// A user id from a path: a positive integer, else 400.
pub(crate) fn parse_user_id(raw: &str) -> Result<UserId, UserError> {
    UserId::parse(raw).ok_or_else(|| UserError::InvalidId(raw.chars().take(64).collect()))
}

fn invalid(message: impl Into<String>) -> UserError {
    UserError::InvalidField(message.into())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn e_mail_addresses_of_the_usual_form_are_accepted() {
        for ok in [
            "kim@example.com",
            "a@b.co",
            "first.last+tag@mail.example.org",
            "{|}~!#$%&'*/=?^_`-@x.io",
            "A@B.CO",
            "u@1.2.3.4",
            &format!("{}@{}.com", "l".repeat(64), "d".repeat(63)),
        ] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn what_is_not_an_e_mail_address_is_refused() {
        let long = format!("{}@{}.com", "l".repeat(10), "d.".repeat(125));
        for bad in [
            "not-an-email@@example.com",
            "two@at@example.com",
            "no-at-sign.example.com",
            "@example.com",
            "local@",
            "local@localhost",
            "local@.example.com",
            "local@example..com",
            "local@example.com.",
            "local@-example.com",
            "local@exa_mple.com",
            ".local@example.com",
            "lo..cal@example.com",
            "lo cal@example.com",
            " kim@example.com",
            "kim@example.com ",
            "\"quoted\"@example.com",
            "kim@[127.0.0.1]",
            "kïm@example.com",
            "",
            &format!("{}@example.com", "l".repeat(65)),
            &format!("l@{}.com", "d".repeat(64)),
            &long,
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_are_counted_in_characters_trimmed_and_free_of_control_characters() {
        assert_eq!(PersonName::parse("  Kim ").unwrap().as_str(), "Kim");
        assert!(
            PersonName::parse(&"é".repeat(100)).is_ok(),
            "100 characters, 200 bytes"
        );
        for bad in ["", "   ", "\u{2003}", "Kim\u{0}", "a\nb", &"x".repeat(101)] {
            assert!(PersonName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn user_ids_are_positive_integers() {
        assert_eq!(parse_user_id("7").unwrap(), UserId(7));
        for bad in ["0", "-7", "7.0", "x", ""] {
            assert!(parse_user_id(bad).is_err(), "{bad:?}");
        }
    }
}
