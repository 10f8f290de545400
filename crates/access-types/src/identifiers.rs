//! Identifiers people type: email addresses, phone numbers, user ids and one-time codes.
//!
//! This module is the ONE owner of their rules. The server parses with it before it sends,
//! verifies, rate-limits or compares with a flow's whitelist / blacklist (and when it saves
//! those lists); the kiosk parses with it before it calls the API. So both sides refuse the
//! same input with the same code, and everything that compares identifiers sees one normal
//! form:
//!
//! | type | normal form | refused with |
//! |---|---|---|
//! | [`Email`] | trimmed, lower-cased (local part too, see [`Email::parse`]) | `INVALID_EMAIL` |
//! | [`PhoneE164`] | E.164 (`+442079460958`), checked against the country's numbering plan | `INVALID_PHONE` |
//! | [`OtpCode`] | 6 ASCII digits (spaces, hyphens, full-width / other Unicode digits accepted) | `INVALID_OTP_FORMAT` |
//! | [`UserId`] | trimmed, otherwise as given (compared ASCII-case-insensitively in lists) | `INVALID_REQUEST` |
//! | [`ListEntry`] | one of the above, for `security.identifiers` | the code of the kind it looks like |

use std::borrow::Cow;
use std::fmt;

use crate::{Channel, ErrorCode};

impl Channel {
    /// `raw` in the normal form of this channel's identifier: an [`Email`] for email, a
    /// [`PhoneE164`] for SMS and WhatsApp.
    pub fn identifier(self, raw: &str) -> Result<String, IdentifierError> {
        Ok(match self {
            Self::Email => Email::parse(raw)?.into_string(),
            Self::Sms | Self::Whatsapp => PhoneE164::parse(raw)?.into_string(),
        })
    }
}

/// Why a typed identifier was refused. `code()` is the API's error code for it (stable).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentifierError {
    #[error("not a valid email address: {0}")]
    InvalidEmail(&'static str),
    #[error("not a valid phone number: {0}")]
    InvalidPhone(&'static str),
    #[error("a code is {OTP_LEN} digits")]
    InvalidOtpFormat,
    #[error("not a valid user id: {0}")]
    InvalidUserId(&'static str),
}

impl IdentifierError {
    /// The API error code (400 for all of them).
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidEmail(_) => ErrorCode::InvalidEmail,
            Self::InvalidPhone(_) => ErrorCode::InvalidPhone,
            Self::InvalidOtpFormat => ErrorCode::InvalidOtpFormat,
            Self::InvalidUserId(_) => ErrorCode::InvalidRequest,
        }
    }

    /// A short reason, for `details.reason`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::InvalidEmail(r) | Self::InvalidPhone(r) | Self::InvalidUserId(r) => r,
            Self::InvalidOtpFormat => "a code is 6 digits",
        }
    }
}

macro_rules! string_newtype {
    ($t:ident) => {
        impl $t {
            /// The normal form.
            pub fn as_str(&self) -> &str {
                &self.0
            }
            pub fn into_string(self) -> String {
                self.0
            }
        }
        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl std::str::FromStr for $t {
            type Err = IdentifierError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.0
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Email
// ---------------------------------------------------------------------------------------------

/// An email address in its one normal form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);
string_newtype!(Email);

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Email {
    /// RFC 5321's limit on a forward path.
    pub const MAX_LEN: usize = 254;

    /// Checks the syntax with the `email_address` crate and normalises: surrounding whitespace
    /// trimmed, then the whole address lower-cased.
    ///
    /// Why `email_address` and not `lettre::Address`: `lettre::Address` validates with this
    /// very crate (`is_valid_local_part` / `is_valid_domain`), so the rules are the ones the
    /// server's SMTP transport applies; but lettre is an SMTP client, and this module is shared
    /// with the kiosk, which must not link one. The parser is asked for a domain with a dot (no
    /// `user@localhost`), no `[192.0.2.1]` literal and no `Name <addr>` display form: none of
    /// those is something a person types at a kiosk.
    ///
    /// The local part is lower-cased too. RFC 5321 lets a server treat it case-sensitively, but
    /// the mail providers people use do not, and people type their address in any case; what
    /// matters more is that one person is one identifier everywhere it is compared (rate-limit
    /// keys, a blacklist: `Bad@Example.com` must not slip past `bad@example.com`, the verify
    /// call, the token's `sub`). The cost, a code sent to the lower-cased spelling of a mailbox
    /// on a rare case-sensitive server, is the smaller risk. The server did this before too.
    pub fn parse(raw: &str) -> Result<Self, IdentifierError> {
        use email_address::{EmailAddress, Error as E, Options};
        let bad = IdentifierError::InvalidEmail;
        let s = raw.trim();
        if s.is_empty() {
            return Err(bad("empty"));
        }
        if s.len() > Self::MAX_LEN {
            return Err(bad("longer than 254 characters"));
        }
        // The parser lets any non-ASCII character through; a kiosk address has no business
        // holding an ideographic space, a zero-width joiner or a right-to-left override.
        if s.chars()
            .any(|c| c.is_whitespace() || c.is_control() || is_invisible(c))
        {
            return Err(bad("contains a space or an invisible character"));
        }
        let options = Options::default()
            .with_required_tld()
            .without_domain_literal()
            .without_display_text();
        EmailAddress::parse_with_options(s, options).map_err(|e| {
            bad(match e {
                E::MissingSeparator => "no @",
                E::LocalPartEmpty => "nothing before the @",
                E::LocalPartTooLong => "more than 64 characters before the @",
                E::DomainEmpty => "nothing after the @",
                E::DomainTooFew => "the domain needs a dot, e.g. example.com",
                E::DomainTooLong | E::SubDomainTooLong => "the domain is too long",
                E::SubDomainEmpty | E::DomainInvalidSeparator => "misplaced dot in the domain",
                E::UnsupportedDomainLiteral => "an IP address is not accepted as the domain",
                E::UnsupportedDisplayName | E::MissingDisplayName | E::MissingEndBracket => {
                    "just the address, without a name or <>"
                }
                _ => "invalid character",
            })
        })?;
        // The parser takes any RFC 5322 atom as a domain label (`exa!mple.com`); a domain mail
        // can be delivered to is a host name: letters (any script), digits and hyphens.
        let domain = s.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
        if !domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '.')
        {
            return Err(bad("the domain may hold only letters, digits, - and ."));
        }
        Ok(Self(s.to_lowercase()))
    }

    /// The part after the `@`.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }
}

// ---------------------------------------------------------------------------------------------
// Phone
// ---------------------------------------------------------------------------------------------

/// A phone number in E.164 (`+` and the digits, no spaces), valid in its country's numbering
/// plan.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneE164(String);
string_newtype!(PhoneE164);

impl fmt::Display for PhoneE164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PhoneE164 {
    /// Longest input looked at: far more than any formatted number, short enough that nothing
    /// pathological reaches the parser.
    const MAX_INPUT: usize = 64;

    /// Parses a number typed in international form, with any usual formatting:
    /// `+44 (0)20 7946 0958`, `+1 415-555-0199`, `0049 30 123456`, `+81 3.1234.5678`,
    /// full-width or other Unicode digits. The leading `00` (the international call prefix of
    /// most of the world) counts as `+`. Numbers without a country code are refused: a kiosk
    /// has no single home country to assume. Letters are refused (no vanity numbers, no
    /// extensions: a code cannot be sent to either).
    ///
    /// The number is checked with the `phonenumber` crate (Google libphonenumber's metadata):
    /// unknown country codes and numbers outside their country's plan (`+1 123`, `+1 555 0100`)
    /// are refused, before anything is sent.
    pub fn parse(raw: &str) -> Result<Self, IdentifierError> {
        let bad = IdentifierError::InvalidPhone;
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(bad("empty"));
        }
        let mut s = String::with_capacity(raw.len());
        for c in raw.chars() {
            let mapped = if let Some(d) = decimal_digit(c) {
                (b'0' + d) as char
            } else if c == '+' || c == '\u{FF0B}' {
                '+'
            } else if c.is_whitespace() || is_invisible(c) {
                ' '
            } else if is_dash(c) {
                '-'
            } else {
                match c {
                    '.' | '/' | '\u{FF0E}' | '\u{FF0F}' => '.',
                    '(' | '\u{FF08}' => '(',
                    ')' | '\u{FF09}' => ')',
                    _ => {
                        return Err(bad("use only digits, spaces, +, -, . and parentheses"));
                    }
                }
            };
            s.push(mapped);
            if s.len() > Self::MAX_INPUT {
                return Err(bad("too long"));
            }
        }
        let s = match s.strip_prefix("00") {
            Some(rest) => format!("+{rest}"),
            None => s,
        };
        let Some(rest) = s.strip_prefix('+') else {
            return Err(bad(
                "start with + and the country code, e.g. +44 20 7946 0958",
            ));
        };
        if rest.contains('+') {
            return Err(bad("a + only at the start"));
        }
        if !rest.bytes().any(|b| b.is_ascii_digit()) {
            return Err(bad("no digits"));
        }
        let n = phonenumber::parse(None, &s).map_err(|e| {
            bad(match e {
                phonenumber::ParseError::InvalidCountryCode => "unknown country code",
                phonenumber::ParseError::TooShortNsn
                | phonenumber::ParseError::TooShortAfterIdd => "too short",
                phonenumber::ParseError::TooLong => "too long",
                _ => "not a phone number",
            })
        })?;
        if n.extension().is_some() {
            return Err(bad("no extensions"));
        }
        if !phonenumber::is_valid(&n) {
            return Err(bad("no such number in its country's numbering plan"));
        }
        let e164 = n.format().mode(phonenumber::Mode::E164).to_string();
        // E.164 is `+` and at most 15 digits; anything else is a bug in the formatting above.
        let digits = e164.strip_prefix('+').unwrap_or("");
        if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("not a phone number"));
        }
        Ok(Self(e164))
    }
}

// ---------------------------------------------------------------------------------------------
// One-time code
// ---------------------------------------------------------------------------------------------

/// Digits in a one-time code.
pub const OTP_LEN: usize = 6;

/// A one-time code as typed, normalised to its 6 ASCII digits. `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct OtpCode(String);
string_newtype!(OtpCode);

impl fmt::Debug for OtpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OtpCode(******)")
    }
}

impl OtpCode {
    /// `123456`, `123 456`, `123-456`, `１２３４５６`, `١٢٣٤٥٦` (and any other Unicode decimal
    /// digits, spaces of any kind, hyphens and dashes of any kind) are the same code. Anything
    /// else, or a number of digits other than 6, is `INVALID_OTP_FORMAT`: a typing slip, which
    /// the server refuses without counting it as a wrong code.
    pub fn parse(raw: &str) -> Result<Self, IdentifierError> {
        let mut s = String::with_capacity(OTP_LEN);
        for c in raw.chars() {
            if let Some(d) = decimal_digit(c) {
                if s.len() == OTP_LEN {
                    return Err(IdentifierError::InvalidOtpFormat);
                }
                s.push((b'0' + d) as char);
            } else if !(c.is_whitespace() || is_dash(c) || is_invisible(c)) {
                return Err(IdentifierError::InvalidOtpFormat);
            }
        }
        if s.len() == OTP_LEN {
            Ok(Self(s))
        } else {
            Err(IdentifierError::InvalidOtpFormat)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// User id
// ---------------------------------------------------------------------------------------------

/// An enrolled person's id (face login), as the server accepts it: 1 to 128 bytes, no control
/// characters. Trimmed; otherwise kept as given.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserId(String);
string_newtype!(UserId);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl UserId {
    pub const MAX_LEN: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, IdentifierError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(IdentifierError::InvalidUserId("empty"));
        }
        if raw.len() > Self::MAX_LEN {
            return Err(IdentifierError::InvalidUserId("longer than 128 bytes"));
        }
        if s.chars().any(|c| c.is_control() || is_invisible(c)) {
            return Err(IdentifierError::InvalidUserId(
                "contains a control or invisible character",
            ));
        }
        Ok(Self(s.to_string()))
    }
}

// ---------------------------------------------------------------------------------------------
// Whitelist / blacklist entries
// ---------------------------------------------------------------------------------------------

/// One entry of a flow's `security.identifiers`: an email, a phone number or a user id (the
/// identifiers a login can have, see the spec), in the normal form of its kind so that it is
/// compared with exactly what a login is compared by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ListEntry {
    Email(Email),
    Phone(PhoneE164),
    UserId(UserId),
}

impl ListEntry {
    /// Which kind an entry is, by its shape:
    /// - starts with `+`: a phone number, which must be valid (`INVALID_PHONE` otherwise);
    /// - a valid email address: an email;
    /// - digits with spaces or parentheses between them (`415 555 0199`, `(030) 123456`): a
    ///   phone number typed without its country code, refused (`INVALID_PHONE`) rather than
    ///   kept as a user id that no login would ever match; `0044 20 7946 0958` is accepted;
    /// - anything else that is a valid user id (`obama`, `E-1042`, `004512`, `jane@acme`): a
    ///   user id;
    /// - else refused: `INVALID_EMAIL` if it has an `@`, `INVALID_REQUEST` otherwise.
    pub fn parse(raw: &str) -> Result<Self, IdentifierError> {
        let s = raw.trim();
        if s.starts_with('+') || s.starts_with('\u{FF0B}') {
            return PhoneE164::parse(s).map(Self::Phone);
        }
        let email_err = match Email::parse(s) {
            Ok(e) => return Ok(Self::Email(e)),
            Err(e) => e,
        };
        if looks_like_spaced_phone(s) {
            return PhoneE164::parse(s).map(Self::Phone);
        }
        // Email addresses have no spaces; user ids might ("Front desk"), but not one with an @.
        let user = if s.contains('@') && s.chars().any(char::is_whitespace) {
            Err(email_err.clone())
        } else {
            UserId::parse(s)
        };
        match user {
            Ok(u) => Ok(Self::UserId(u)),
            Err(_) if s.contains('@') => Err(email_err),
            Err(e) => Err(e),
        }
    }

    /// The normal form.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Email(e) => e.as_str(),
            Self::Phone(p) => p.as_str(),
            Self::UserId(u) => u.as_str(),
        }
    }

    /// The normal form of a stored entry for comparing: entries saved before the lists were
    /// checked may be unnormalised (`+1 415-555-0199`, ` Bad@Example.com`), so they are
    /// normalised here too; one that does not parse at all is compared trimmed, as it always
    /// was.
    pub fn normalize_stored(raw: &str) -> Cow<'_, str> {
        match Self::parse(raw) {
            Ok(e) => Cow::Owned(e.as_str().to_owned()),
            Err(_) => Cow::Borrowed(raw.trim()),
        }
    }
}

/// Whether `identifier` (an [`Email`], a [`PhoneE164`] or a user id, in normal form) is one of
/// `entries` (a flow's `security.identifiers`). ASCII case is ignored, for user ids (emails and
/// phones are already in one case).
pub fn list_contains(entries: &[String], identifier: &str) -> bool {
    let id = identifier.trim();
    entries.iter().any(|e| {
        // Normalised entries (everything saved since lists are checked) match without parsing;
        // a phone number's parse costs ~10 us, so old entries are parsed only when they could
        // be the number.
        e.eq_ignore_ascii_case(id)
            || (could_normalise_to(e, id)
                && ListEntry::normalize_stored(e).eq_ignore_ascii_case(id))
    })
}

/// A cheap necessary condition for `normalize_stored(entry) == id` when `id` is a phone number
/// (`+` and digits): normalising a phone number drops formatting and prefixes in front of the
/// national number, never its last digits, so those must already be the same.
fn could_normalise_to(entry: &str, id: &str) -> bool {
    let Some(id_digits) = id.strip_prefix('+') else {
        return true;
    };
    if id_digits.len() < 4 || !id_digits.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    let tail = entry
        .chars()
        .rev()
        .filter_map(decimal_digit)
        .take(4)
        .map(|d| b'0' + d);
    tail.eq(id_digits.bytes().rev().take(4))
}

/// Digits separated by spaces / parentheses (and perhaps `-` `.` `/`), e.g. `415 555 0199`.
fn looks_like_spaced_phone(s: &str) -> bool {
    let mut digits = 0;
    let mut spaced = false;
    for c in s.chars() {
        if decimal_digit(c).is_some() {
            digits += 1;
        } else if c.is_whitespace() || matches!(c, '(' | ')' | '\u{FF08}' | '\u{FF09}') {
            spaced = true;
        } else if !(is_dash(c) || matches!(c, '.' | '/')) {
            return false;
        }
    }
    spaced && digits >= 3
}

// ---------------------------------------------------------------------------------------------
// Characters
// ---------------------------------------------------------------------------------------------

/// The zero of every run of ten Unicode decimal digits (general category Nd): each run is
/// `zero..=zero + 9` with values 0 to 9. From the Unicode 14 database (Python's `unicodedata`:
/// all 660 Nd characters), plus Kawi (U+11F50) and Nag Mundari (U+1E4F0) of Unicode 15.
const DIGIT_ZEROS: &[u32] = &[
    0x0030, 0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6,
    0x0D66, 0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80,
    0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0,
    0xFF10, 0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0,
    0x11650, 0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x11F50, 0x16A60,
    0x16AC0, 0x16B50, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E4F0,
    0x1E950, 0x1FBF0,
];

/// The value of a Unicode decimal digit (`'7'`, `'７'`, `'٧'`, `'७'`, ...); `None` for anything
/// else, superscripts and circled numbers included (they are not decimal digits).
pub fn decimal_digit(c: char) -> Option<u8> {
    let cp = c as u32;
    if c.is_ascii_digit() {
        return Some((cp - 0x30) as u8);
    }
    if c.is_ascii() {
        return None;
    }
    // The last zero at or below `cp`.
    let i = DIGIT_ZEROS.partition_point(|&z| z <= cp);
    let zero = *DIGIT_ZEROS.get(i.checked_sub(1)?)?;
    (cp - zero < 10).then(|| (cp - zero) as u8)
}

/// Hyphens, dashes and minus signs people type or paste between digit groups (Unicode Pd, the
/// minus sign, and the long vowel mark a Japanese keyboard gives for `-`).
fn is_dash(c: char) -> bool {
    matches!(
        c,
        '-' | '\u{2010}'
            ..='\u{2015}'
                | '\u{2212}'
                | '\u{FE58}'
                | '\u{FE63}'
                | '\u{FF0D}'
                | '\u{30FC}'
                | '\u{FF70}'
    )
}

/// Characters that show as nothing: soft hyphen, zero-width space / joiners, direction marks and
/// overrides, word joiner, byte-order mark.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digit_table_is_sorted_and_every_run_is_numeric() {
        assert!(DIGIT_ZEROS.windows(2).all(|w| w[0] + 10 <= w[1]));
        for &z in DIGIT_ZEROS {
            for i in 0..10 {
                let c = char::from_u32(z + i).unwrap();
                assert!(c.is_numeric(), "U+{:04X}", z + i);
                assert_eq!(decimal_digit(c), Some(i as u8), "U+{:04X}", z + i);
            }
        }
        for c in ['a', '²', '½', '①', 'Ⅻ', ' ', '\u{0669}' /* ٩ */] {
            let expect = (c == '\u{0669}').then_some(9);
            assert_eq!(decimal_digit(c), expect, "{c:?}");
        }
    }

    #[test]
    fn phones_from_many_countries_normalise_to_e164() {
        let mut failed = Vec::new();
        for (typed, e164) in [
            // The two of the issue.
            ("+44 (0)20 7946 0958", "+442079460958"),
            ("+1 415-555-0199", "+14155550199"),
            // United Kingdom, other spellings.
            ("+44 20 7946 0958", "+442079460958"),
            ("+442079460958", "+442079460958"),
            ("0044 20 7946 0958", "+442079460958"),
            ("+44 7911 123456", "+447911123456"),
            // United States / Canada.
            ("+1 (415) 555-0199", "+14155550199"),
            ("+1.415.555.0199", "+14155550199"),
            ("  +14155550199\t", "+14155550199"),
            ("+1 416 555 0123", "+14165550123"),
            // Germany: mobile and Berlin landline, with the trunk 0 in parentheses.
            ("+49 151 12345678", "+4915112345678"),
            ("+49 (0)30 123456", "+4930123456"),
            ("0049-30-123456", "+4930123456"),
            // France, Spain, Italy (landline keeps its leading 0), Netherlands.
            ("+33 6 12 34 56 78", "+33612345678"),
            ("+33 (0)1 23 45 67 89", "+33123456789"),
            ("+34 612 34 56 78", "+34612345678"),
            ("+39 06 1234 5678", "+390612345678"),
            ("+39 312 345 6789", "+393123456789"),
            ("+31 6 12345678", "+31612345678"),
            // Colombia, Mexico, Brazil, Argentina.
            ("+57 301 234 5678", "+573012345678"),
            ("+52 55 1234 5678", "+525512345678"),
            ("+55 11 91234-5678", "+5511912345678"),
            ("+54 9 11 2345-6789", "+5491123456789"),
            // India, Japan, Australia, South Africa, Nigeria.
            ("+91 98765 43210", "+919876543210"),
            ("+81 3-1234-5678", "+81312345678"),
            ("+81 90 1234 5678", "+819012345678"),
            ("+61 2 9876 5432", "+61298765432"),
            ("+61 412 345 678", "+61412345678"),
            ("+27 82 123 4567", "+27821234567"),
            ("+234 803 123 4567", "+2348031234567"),
            // Full-width and Arabic-Indic digits, full-width plus, non-breaking spaces.
            ("＋４４ ２０ ７９４６ ０９５８", "+442079460958"),
            ("+٤٤ ٢٠ ٧٩٤٦ ٠٩٥٨", "+442079460958"),
            ("+1\u{00A0}415\u{2011}555\u{2011}0199", "+14155550199"),
        ] {
            match PhoneE164::parse(typed) {
                Ok(p) if p.as_str() == e164 => {
                    // Idempotent: the normal form parses to itself.
                    assert_eq!(PhoneE164::parse(e164).as_ref(), Ok(&p));
                }
                other => failed.push(format!("{typed:?} -> {other:?}, expected {e164}")),
            }
        }
        assert!(failed.is_empty(), "{failed:#?}");
    }

    #[test]
    fn impossible_and_malformed_phones_are_refused() {
        let mut failed = Vec::new();
        for typed in [
            "",
            "   ",
            "+",
            "+1 123",
            "+99 12345678",
            "+1 415 555 CALL",
            "+1 415 555 0199 ext. 12",
            "+1 415 555 0199;ext=12",
            "+14155550199#",
            "tel:+14155550199",
            "4155550199",
            "020 7946 0958",
            "0151 1234",
            "+0123456789",
            "+12ab4567890",
            "+1 +415 555 0199",
            "+44 20 7946 095",
            "+44 20 7946 09581234",
            "+1 415 555 0199 1234 5678 9012 3456",
            "+49 151",
            "+1 (000) 000-0000",
            "+1 555 0100",
            "phone",
            "+１２３",
            "+1-800-FLOWERS",
        ] {
            match PhoneE164::parse(typed) {
                Err(e) if e.code().as_str() == "INVALID_PHONE" => {}
                other => failed.push(format!("{typed:?} -> {other:?}")),
            }
        }
        assert!(failed.is_empty(), "{failed:#?}");
        let long = format!("+44 20 7946 0958{}", " ".repeat(100));
        assert!(PhoneE164::parse(&long).is_ok(), "trailing space is trimmed");
        let long = format!("+44{}20 7946 0958", " ".repeat(100));
        assert!(PhoneE164::parse(&long).is_err());
    }

    #[test]
    fn emails_normalise_one_way() {
        for (typed, norm) in [
            ("a@example.com", "a@example.com"),
            (" A@Example.COM ", "a@example.com"),
            (
                "\tJohn.Smith@Mail.Example.co.UK\n",
                "john.smith@mail.example.co.uk",
            ),
            ("first+tag@example.org", "first+tag@example.org"),
            ("o'brien@example.ie", "o'brien@example.ie"),
            ("ÜBER@Bücher.DE", "über@bücher.de"),
            ("\u{3000}ana@example.com\u{3000}", "ana@example.com"),
            ("x@sub-domain.example.travel", "x@sub-domain.example.travel"),
        ] {
            let e = Email::parse(typed).unwrap_or_else(|e| panic!("{typed:?}: {e}"));
            assert_eq!(e.as_str(), norm, "{typed:?}");
            assert_eq!(Email::parse(norm).unwrap(), e);
        }
        assert_eq!(
            Email::parse("X@Example.com").unwrap().domain(),
            "example.com"
        );
    }

    #[test]
    fn invalid_emails_are_refused() {
        let long_local = format!("{}@example.com", "a".repeat(65));
        let long = format!("a@{}.com", "b".repeat(260));
        for typed in [
            "",
            "  ",
            "nope",
            "a@b",
            "a b@c.de",
            "a@b c.de",
            "@example.com",
            "a@",
            "a@@example.com",
            "a@example..com",
            "a@.example.com",
            "a@example.com.",
            "a@-example.com",
            "a@[192.0.2.1]",
            "Ana <ana@example.com>",
            "a\u{200B}b@example.com",
            "a\u{3000}b@example.com",
            "ana@exa\u{202E}mple.com",
            "a,b@example.com",
            "a@exam_ple.com",
            "a@exa!mple.com",
            &long_local,
            &long,
        ] {
            let e = Email::parse(typed).expect_err(typed);
            assert_eq!(e.code(), ErrorCode::InvalidEmail, "{typed:?}");
            assert_eq!(e.code().as_str(), "INVALID_EMAIL");
        }
    }

    #[test]
    fn codes_in_every_format_are_the_same_code() {
        for typed in [
            "123456",
            " 123456 ",
            "123 456",
            "123-456",
            "12 34 56",
            "1-2-3-4-5-6",
            "123\u{2013}456",
            "123\u{2212}456",
            "123\u{00A0}456",
            "１２３４５６",
            "１２３－４５６",
            "１２３ー４５６",
            "１２３\u{3000}４５６",
            "١٢٣٤٥٦",
            "۱۲۳۴۵۶",
            "१२३४५६",
            "১২৩৪৫৬",
            "๑๒๓๔๕๖",
            "\u{200B}123456\u{FEFF}",
            "12３4５6",
        ] {
            let c = OtpCode::parse(typed).unwrap_or_else(|e| panic!("{typed:?}: {e}"));
            assert_eq!(c.as_str(), "123456", "{typed:?}");
        }
        assert_eq!(OtpCode::parse("000000").unwrap().as_str(), "000000");
        assert_eq!(
            format!("{:?}", OtpCode::parse("123456").unwrap()),
            "OtpCode(******)"
        );
    }

    #[test]
    fn codes_that_are_not_six_digits_are_a_format_error() {
        for typed in [
            "",
            "   ",
            "12345",
            "1234567",
            "123 4567",
            "12345a",
            "abcdef",
            "123.456",
            "123_456",
            "123/456",
            "+123456",
            "①②③④⑤⑥",
            "¹²³⁴⁵⁶",
            "12345６7",
            "123456\n7",
        ] {
            let e = OtpCode::parse(typed).expect_err(typed);
            assert_eq!(e, IdentifierError::InvalidOtpFormat, "{typed:?}");
            assert_eq!(e.code().as_str(), "INVALID_OTP_FORMAT");
        }
        let long = "1".repeat(10_000);
        assert!(OtpCode::parse(&long).is_err());
    }

    #[test]
    fn list_entries_take_the_normal_form_of_their_kind() {
        let cases = [
            ("+1 415-555-0199", "+14155550199"),
            (" +44 (0)20 7946 0958 ", "+442079460958"),
            ("0044 20 7946 0958", "+442079460958"),
            (" Bad@Example.COM", "bad@example.com"),
            ("obama", "obama"),
            (" E-1042 ", "E-1042"),
            ("004512", "004512"),
            ("jane@acme", "jane@acme"),
            ("Front desk", "Front desk"),
        ];
        for (typed, norm) in cases {
            let e = ListEntry::parse(typed).unwrap_or_else(|e| panic!("{typed:?}: {e}"));
            assert_eq!(e.as_str(), norm, "{typed:?}");
        }
        assert!(matches!(
            ListEntry::parse("+1 415-555-0199"),
            Ok(ListEntry::Phone(_))
        ));
        assert!(matches!(
            ListEntry::parse("a@example.com"),
            Ok(ListEntry::Email(_))
        ));
        assert!(matches!(
            ListEntry::parse("obama"),
            Ok(ListEntry::UserId(_))
        ));
        for (typed, code) in [
            ("+1 123", "INVALID_PHONE"),
            ("+1 415 555 01", "INVALID_PHONE"),
            ("415 555 0199", "INVALID_PHONE"),
            ("(030) 123456", "INVALID_PHONE"),
            ("bad @example.com", "INVALID_EMAIL"),
            ("", "INVALID_REQUEST"),
            ("   ", "INVALID_REQUEST"),
            ("a\u{0007}b", "INVALID_REQUEST"),
        ] {
            let e = ListEntry::parse(typed).expect_err(typed);
            assert_eq!(e.code().as_str(), code, "{typed:?}");
        }
        assert!(ListEntry::parse(&"u".repeat(129)).is_err());
    }

    #[test]
    fn lists_match_old_unnormalised_entries_too() {
        let old: Vec<String> = [
            "+1 415-555-0199",
            "+44 (0)20 7946 0958",
            "＋３３ ６ １２ ３４ ５６ ７８",
            " Bad@Example.com ",
            "Obama",
            "not valid +",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert!(list_contains(&old, "+14155550199"));
        assert!(list_contains(&old, "+442079460958"));
        assert!(list_contains(&old, "+33612345678"));
        assert!(list_contains(&old, "bad@example.com"));
        assert!(list_contains(&old, "obama"));
        assert!(list_contains(&old, "not valid +"));
        assert!(!list_contains(&old, "+14155550198"));
        assert!(!list_contains(&old, "good@example.com"));
        assert!(!list_contains(&[], "obama"));
    }
}
