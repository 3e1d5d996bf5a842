//! How long an SMS is: its encoding, its length in that encoding and how many parts
//! (segments) a provider splits it into.
//!
//! One SMS carries 140 octets: 160 GSM-7 septets or 70 UCS-2 units. A longer message is
//! sent in parts that each give 6 octets to a header, leaving 153 septets or 67 units.

use std::fmt;
use std::str::FromStr;

use crate::validation::Invalid;

/// The longest message accepted, in segments.
pub const MAX_SEGMENTS: usize = 6;

/// How a message's text is carried over the air.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "diesel", derive(diesel::AsExpression, diesel::FromSqlRow))]
#[cfg_attr(feature = "diesel", diesel(sql_type = diesel::sql_types::Text))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema), schema(as = SmsEncoding))]
pub enum Encoding {
    /// The GSM 03.38 7-bit alphabet: 160 characters in one SMS.
    #[serde(rename = "GSM-7")]
    Gsm7,
    /// UTF-16 code units, used when any character is outside GSM-7: 70 in one SMS.
    #[serde(rename = "UCS-2")]
    Ucs2,
}

impl Encoding {
    /// The name shown to users: `GSM-7` or `UCS-2`.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Gsm7 => "GSM-7",
            Encoding::Ucs2 => "UCS-2",
        }
    }

    /// The most characters a message sent as a single SMS can have.
    pub fn single_segment_limit(self) -> usize {
        match self {
            Encoding::Gsm7 => 160,
            Encoding::Ucs2 => 70,
        }
    }

    /// The characters each part of a longer (concatenated) message carries.
    pub fn part_limit(self) -> usize {
        match self {
            Encoding::Gsm7 => 153,
            Encoding::Ucs2 => 67,
        }
    }

    /// The most characters a message of [`MAX_SEGMENTS`] parts can have.
    pub fn max_characters(self) -> usize {
        MAX_SEGMENTS * self.part_limit()
    }
}

impl FromStr for Encoding {
    type Err = Invalid;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw {
            "GSM-7" => Ok(Encoding::Gsm7),
            "UCS-2" => Ok(Encoding::Ucs2),
            _ => Err(Invalid::new("must be `GSM-7` or `UCS-2`")),
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a text is sent: its encoding, its length in that encoding and its segment count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Segmentation {
    /// GSM-7 when every character is in the GSM 03.38 tables, otherwise UCS-2.
    pub encoding: Encoding,
    /// The length in septets (GSM-7, extension characters count 2) or UTF-16 code units
    /// (UCS-2, emoji count 2).
    pub characters: usize,
    /// How many SMS the text is sent as; 0 for empty text.
    pub segments: usize,
}

/// Works out the encoding, length and segment count of `text`.
///
/// Segments are 1 up to 160 septets / 70 units. Longer text is cut into parts of at
/// most 153 septets / 67 units, `ceil(length / 153)` / `ceil(length / 67)` of them
/// unless a character of two (an extension character's escape pair, an emoji's
/// surrogate pair) would straddle two parts: it is never split, so it opens the next
/// part and that part holds 152 / 66.
pub fn segment(text: &str) -> Segmentation {
    let encoding = if text.chars().all(|c| gsm7_septets(c).is_some()) {
        Encoding::Gsm7
    } else {
        Encoding::Ucs2
    };
    let width = |c: char| match encoding {
        // Every character has a width here: the text was found to be GSM-7.
        Encoding::Gsm7 => gsm7_septets(c).unwrap_or(1),
        Encoding::Ucs2 => c.len_utf16(),
    };
    let characters: usize = text.chars().map(width).sum();
    let segments = if characters == 0 {
        0
    } else if characters <= encoding.single_segment_limit() {
        1
    } else {
        // Counting by `ceil(length / part)` alone said 2 for 66 á, an emoji and 66 á
        // (134 units), which splitters that keep characters whole send as 3 parts.
        let (mut parts, mut used) = (1, 0);
        for width in text.chars().map(width) {
            if used + width > encoding.part_limit() {
                parts += 1;
                used = 0;
            }
            used += width;
        }
        parts
    };
    Segmentation {
        encoding,
        characters,
        segments,
    }
}

/// The septets `c` takes in GSM-7: 1 in the basic table, 2 in the extension table
/// (escape + code), `None` when GSM-7 cannot carry it.
fn gsm7_septets(c: char) -> Option<usize> {
    match c {
        // GSM 03.38 basic table, in code order (0x1B, the escape, is not a character).
        '@'
        | '£'
        | '$'
        | '¥'
        | 'è'
        | 'é'
        | 'ù'
        | 'ì'
        | 'ò'
        | 'Ç'
        | '\n'
        | 'Ø'
        | 'ø'
        | '\r'
        | 'Å'
        | 'å'
        | 'Δ'
        | '_'
        | 'Φ'
        | 'Γ'
        | 'Λ'
        | 'Ω'
        | 'Π'
        | 'Ψ'
        | 'Σ'
        | 'Θ'
        | 'Ξ'
        | 'Æ'
        | 'æ'
        | 'ß'
        | 'É'
        | ' '
        | '!'
        | '"'
        | '#'
        | '¤'
        | '%'
        | '&'
        | '\''
        | '('
        | ')'
        | '*'
        | '+'
        | ','
        | '-'
        | '.'
        | '/'
        | '0'..='9'
        | ':'
        | ';'
        | '<'
        | '='
        | '>'
        | '?'
        | '¡'
        | 'A'..='Z'
        | 'Ä'
        | 'Ö'
        | 'Ñ'
        | 'Ü'
        | '§'
        | '¿'
        | 'a'..='z'
        | 'ä'
        | 'ö'
        | 'ñ'
        | 'ü'
        | 'à' => Some(1),
        // GSM 03.38 extension table.
        '\x0C' | '^' | '{' | '}' | '\\' | '[' | '~' | ']' | '|' | '€' => Some(2),
        _ => None,
    }
}

/// The text of an outbound SMS: not blank and at most [`MAX_SEGMENTS`] segments long.
/// The text is kept exactly as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageBody(String);

impl MessageBody {
    /// Accepts text with something other than white space, of at most 6 segments
    /// (up to 918 GSM-7 or 402 UCS-2 characters).
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        if text.trim().is_empty() {
            return Err(Invalid::new("must not be empty"));
        }
        let segmentation = segment(text);
        if segmentation.segments > MAX_SEGMENTS {
            return Err(Invalid::new(format!(
                "is {} segments long ({} {} characters); the most is {MAX_SEGMENTS} segments: \
                 up to {} GSM-7 or {} UCS-2 characters",
                segmentation.segments,
                group_thousands(segmentation.characters),
                segmentation.encoding,
                group_thousands(Encoding::Gsm7.max_characters()),
                group_thousands(Encoding::Ucs2.max_characters()),
            )));
        }
        Ok(Self(text.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text, owned.
    pub fn into_inner(self) -> String {
        self.0
    }

    /// The text's encoding, length and segment count.
    pub fn segmentation(&self) -> Segmentation {
        segment(&self.0)
    }
}

/// `1001` as `1,001`.
fn group_thousands(n: usize) -> String {
    let digits = n.to_string();
    let first = match digits.len() % 3 {
        0 => 3,
        short => short,
    };
    let (head, tail) = digits.split_at(first);
    let mut grouped = head.to_owned();
    for group in tail.as_bytes().chunks(3) {
        grouped.push(',');
        grouped.extend(group.iter().map(|&digit| char::from(digit)));
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The basic table exactly as provider-facts.md lists it, ESC left out.
    const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡\
        ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
    const EXTENSION: &str = "\x0C^{}\\[~]|€";
    /// A character outside GSM-7 that is one UTF-16 unit.
    const UCS2_CHAR: &str = "á";

    fn seg(encoding: Encoding, characters: usize, segments: usize) -> Segmentation {
        Segmentation {
            encoding,
            characters,
            segments,
        }
    }

    #[test]
    fn encoding_names() {
        assert_eq!(Encoding::Gsm7.as_str(), "GSM-7");
        assert_eq!(Encoding::Ucs2.as_str(), "UCS-2");
        assert_eq!(Encoding::Ucs2.to_string(), "UCS-2");
        assert_eq!(Encoding::Gsm7.max_characters(), 918);
        assert_eq!(Encoding::Ucs2.max_characters(), 402);
    }

    #[test]
    fn encodings_deserialize_by_their_names() {
        use serde::Deserialize;
        use serde::de::IntoDeserializer;
        use serde::de::value::{Error, StrDeserializer};
        for encoding in [Encoding::Gsm7, Encoding::Ucs2] {
            let raw: StrDeserializer<'_, Error> = encoding.as_str().into_deserializer();
            assert_eq!(Encoding::deserialize(raw), Ok(encoding));
        }
    }

    #[test]
    fn basic_table_has_127_characters_of_one_septet() {
        assert_eq!(BASIC.chars().count(), 127);
        for c in BASIC.chars() {
            assert_eq!(gsm7_septets(c), Some(1), "{c:?}");
        }
        assert_eq!(segment(BASIC), seg(Encoding::Gsm7, 127, 1));
    }

    #[test]
    fn extension_characters_count_two_septets() {
        for c in EXTENSION.chars() {
            assert_eq!(gsm7_septets(c), Some(2), "{c:?}");
        }
        assert_eq!(segment(EXTENSION), seg(Encoding::Gsm7, 20, 1));
        assert_eq!(segment(&"€".repeat(80)), seg(Encoding::Gsm7, 160, 1));
        assert_eq!(segment(&"€".repeat(81)), seg(Encoding::Gsm7, 162, 2));
        assert_eq!(
            segment(&format!("{}{{", "a".repeat(159))),
            seg(Encoding::Gsm7, 161, 2)
        );
    }

    #[test]
    fn characters_outside_the_tables_force_ucs2() {
        for c in [
            '`', 'á', 'í', 'ó', 'ú', 'ê', 'â', 'À', 'ç', '‘', '’', '“', '”', '\x1B', '\t',
        ] {
            assert_eq!(gsm7_septets(c), None, "{c:?}");
        }
        // One curly quote turns the whole message into UCS-2; extension chars then count 1.
        assert_eq!(segment("It’s {ok} €5"), seg(Encoding::Ucs2, 12, 1));
    }

    #[test]
    fn empty_text_has_no_segments() {
        assert_eq!(segment(""), seg(Encoding::Gsm7, 0, 0));
    }

    #[test]
    fn gsm7_boundaries() {
        let a = |n: usize| segment(&"a".repeat(n));
        assert_eq!(a(1), seg(Encoding::Gsm7, 1, 1));
        assert_eq!(a(160), seg(Encoding::Gsm7, 160, 1));
        assert_eq!(a(161), seg(Encoding::Gsm7, 161, 2));
        assert_eq!(a(306), seg(Encoding::Gsm7, 306, 2));
        assert_eq!(a(307), seg(Encoding::Gsm7, 307, 3));
        assert_eq!(a(459), seg(Encoding::Gsm7, 459, 3));
        assert_eq!(a(460), seg(Encoding::Gsm7, 460, 4));
        assert_eq!(a(918), seg(Encoding::Gsm7, 918, 6));
        assert_eq!(a(919), seg(Encoding::Gsm7, 919, 7));
    }

    #[test]
    fn ucs2_boundaries() {
        let u = |n: usize| segment(&UCS2_CHAR.repeat(n));
        assert_eq!(u(70), seg(Encoding::Ucs2, 70, 1));
        assert_eq!(u(71), seg(Encoding::Ucs2, 71, 2));
        assert_eq!(u(134), seg(Encoding::Ucs2, 134, 2));
        assert_eq!(u(135), seg(Encoding::Ucs2, 135, 3));
        assert_eq!(u(201), seg(Encoding::Ucs2, 201, 3));
        assert_eq!(u(202), seg(Encoding::Ucs2, 202, 4));
        assert_eq!(u(402), seg(Encoding::Ucs2, 402, 6));
        assert_eq!(u(403), seg(Encoding::Ucs2, 403, 7));
    }

    #[test]
    fn a_character_of_two_never_straddles_two_parts() {
        // Found by the property tests, which count against a splitter that keeps each
        // character whole. 152 septets, then a € that would need septets 153 and 154.
        let gsm = format!("{}€{}", "a".repeat(152), "a".repeat(152));
        assert_eq!(segment(&gsm), seg(Encoding::Gsm7, 306, 3));
        assert_eq!(segment(&"€".repeat(153)), seg(Encoding::Gsm7, 306, 3));
        let ucs2 = format!("{}😀{}", UCS2_CHAR.repeat(66), UCS2_CHAR.repeat(66));
        assert_eq!(segment(&ucs2), seg(Encoding::Ucs2, 134, 3));
        // Where the pair fits, the count is the plain one.
        let fits = format!("{}😀{}", UCS2_CHAR.repeat(65), UCS2_CHAR.repeat(67));
        assert_eq!(segment(&fits), seg(Encoding::Ucs2, 134, 2));
    }

    #[test]
    fn emoji_count_two_units() {
        assert_eq!(segment("😀"), seg(Encoding::Ucs2, 2, 1));
        assert_eq!(segment("Hi 😀"), seg(Encoding::Ucs2, 5, 1));
        assert_eq!(segment(&"😀".repeat(35)), seg(Encoding::Ucs2, 70, 1));
        assert_eq!(segment(&"😀".repeat(36)), seg(Encoding::Ucs2, 72, 2));
    }

    #[test]
    fn bodies_keep_their_text() {
        let body = MessageBody::parse("  Hi Ann,\nsee you at 10? ").expect("valid");
        assert_eq!(body.as_str(), "  Hi Ann,\nsee you at 10? ");
        assert_eq!(body.segmentation(), seg(Encoding::Gsm7, 25, 1));
        assert_eq!(body.into_inner(), "  Hi Ann,\nsee you at 10? ");
    }

    #[test]
    fn blank_bodies_are_refused() {
        for blank in ["", "   ", "\n\r\t "] {
            assert_eq!(
                MessageBody::parse(blank),
                Err(Invalid::new("must not be empty")),
                "{blank:?}"
            );
        }
    }

    #[test]
    fn bodies_are_at_most_six_segments() {
        assert!(MessageBody::parse(&"a".repeat(918)).is_ok());
        assert_eq!(
            MessageBody::parse(&"a".repeat(919)),
            Err(Invalid::new(
                "is 7 segments long (919 GSM-7 characters); the most is 6 segments: \
                 up to 918 GSM-7 or 402 UCS-2 characters"
            ))
        );
        assert_eq!(
            MessageBody::parse(&"a".repeat(1001)),
            Err(Invalid::new(
                "is 7 segments long (1,001 GSM-7 characters); the most is 6 segments: \
                 up to 918 GSM-7 or 402 UCS-2 characters"
            ))
        );
        assert!(MessageBody::parse(&UCS2_CHAR.repeat(402)).is_ok());
        assert_eq!(
            MessageBody::parse(&UCS2_CHAR.repeat(403)),
            Err(Invalid::new(
                "is 7 segments long (403 UCS-2 characters); the most is 6 segments: \
                 up to 918 GSM-7 or 402 UCS-2 characters"
            ))
        );
        // A part holds 76 € (152 septets) or 33 emoji (66 units): a character of two is
        // never split between parts.
        assert!(MessageBody::parse(&"€".repeat(456)).is_ok());
        assert!(MessageBody::parse(&"€".repeat(457)).is_err());
        assert!(MessageBody::parse(&"😀".repeat(198)).is_ok());
        assert!(MessageBody::parse(&"😀".repeat(199)).is_err());
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(group_thousands(0), "0");
        assert_eq!(group_thousands(999), "999");
        assert_eq!(group_thousands(1001), "1,001");
        assert_eq!(group_thousands(1_234_567), "1,234,567");
    }
}
