//! Property tests of the domain's parsers of outside input: phone numbers, templates
//! and their merge fields, SMS segment counting, and quiet hours.
//!
//! Each property runs a small default number of cases so that the whole file stays
//! within seconds in a debug build (phone parsing, slow unoptimised, gets the fewest).
//! proptest's own knob sets every property's count instead, for a longer hunt:
//!
//! ```sh
//! PROPTEST_CASES=100000 cargo test -p nextal-domain --test properties
//! ```
//!
//! A failure prints the shrunk input; once fixed, keep it as a plain `#[test]` beside
//! the code it broke (failures are not saved to proptest-regressions files). Found so
//! far: `phone::tests::an_international_number_is_read_by_its_own_countrys_rules`,
//! `phone::tests::separators_may_stand_between_any_digits` and
//! `segments::tests::a_character_of_two_never_straddles_two_parts`.

use std::sync::LazyLock;

use chrono::{DateTime, TimeDelta, Utc};
use nextal_domain::{
    ClockTime, CountryCode, Encoding, MAX_SEGMENTS, MergeField, MergeValues, MessageBody,
    PhoneNumber, QuietHours, Segmentation, Template, Timezone, segment,
};
use proptest::prelude::*;
use proptest::sample::select;

/// The cases of one property: `PROPTEST_CASES` when set, otherwise `default`.
fn config(default: u32) -> ProptestConfig {
    let from_env = ProptestConfig::default();
    let cases = if std::env::var_os("PROPTEST_CASES").is_some() {
        from_env.cases
    } else {
        default
    };
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..from_env
    }
}

// ---------------------------------------------------------------------------------------
// Phone numbers
// ---------------------------------------------------------------------------------------

/// A region of the numbering plan with one of its example numbers.
#[derive(Debug, Clone)]
struct Example {
    country: CountryCode,
    calling_code: u16,
    /// The national significant number, digits only.
    national: String,
}

/// Every example number the numbering plan's metadata gives, for every region the
/// domain accepts as a country: numbers libphonenumber itself calls valid, so most of
/// the generated input parses and the properties about parsed numbers are exercised.
static EXAMPLES: LazyLock<Vec<Example>> = LazyLock::new(|| {
    let mut examples = Vec::new();
    for metadata in phonenumber::metadata::DATABASE.iter() {
        let Ok(country) = CountryCode::parse(metadata.id()) else {
            continue;
        };
        let descriptors = metadata.descriptors();
        for descriptor in [
            descriptors.fixed_line(),
            descriptors.mobile(),
            descriptors.toll_free(),
            descriptors.voip(),
        ]
        .into_iter()
        .flatten()
        {
            if let Some(national) = descriptor.example() {
                examples.push(Example {
                    country,
                    calling_code: metadata.country_code(),
                    national: national.to_owned(),
                });
            }
        }
    }
    assert!(
        examples.len() > 500,
        "the numbering plan has example numbers"
    );
    examples
});

fn example() -> impl Strategy<Value = Example> {
    select(EXAMPLES.clone())
}

fn country() -> impl Strategy<Value = CountryCode> {
    example().prop_map(|example| example.country)
}

/// `+` and digits with the separators people type between them.
fn phone_like() -> impl Strategy<Value = String> {
    "[+]?[-0-9 ().+/x#*]{0,36}"
}

/// `+<calling code> <national number>` with a separator, possibly none, after each
/// digit of the national number (not inside the calling code, which nobody splits and
/// phonenumber does not read when split).
fn spaced_international() -> impl Strategy<Value = (Example, String, String)> {
    example().prop_flat_map(|example| {
        let separators = prop::collection::vec(
            select(vec!["", "", "", " ", "-", "."]),
            example.national.len() + 1,
        );
        (Just(example), separators).prop_map(|(example, separators)| {
            let compact = format!("+{}{}", example.calling_code, example.national);
            let mut spaced = format!("+{}", example.calling_code);
            let mut separators = separators.into_iter();
            spaced.push_str(separators.next().unwrap_or_default());
            for (digit, separator) in example.national.chars().zip(separators) {
                spaced.push(digit);
                spaced.push_str(separator);
            }
            (example, compact, spaced)
        })
    })
}

/// The shape of E.164: `+`, a non-zero digit, at most 15 digits in all.
fn is_e164(text: &str) -> bool {
    text.strip_prefix('+').is_some_and(|digits| {
        (2..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn phone_parsing_never_panics(raw in any::<String>(), country in country()) {
        let _ = PhoneNumber::parse(&raw, country);
    }

    #[test]
    fn phone_parsing_never_panics_on_phone_like_text(raw in phone_like(), country in country()) {
        let _ = PhoneNumber::parse(&raw, country);
    }

    /// A parsed number is E.164 and reads back, in any country, as itself: what is
    /// stored is a fixed point of parsing.
    #[test]
    fn a_parsed_number_reparses_from_its_e164_text_to_itself(
        raw in prop_oneof![
            phone_like(),
            spaced_international().prop_map(|(_, _, spaced)| spaced),
        ],
        country in country(),
        other in country(),
    ) {
        if let Ok(number) = PhoneNumber::parse(&raw, country) {
            prop_assert!(is_e164(number.as_str()), "{number}");
            prop_assert_eq!(number.to_string(), number.as_str());
            let again = PhoneNumber::parse(number.as_str(), other);
            prop_assert_eq!(again.as_ref(), Ok(&number));
            // Idempotent: normalising the normal form changes nothing.
            prop_assert_eq!(again.map(|n| n.as_str().to_owned()), Ok(number.as_str().to_owned()));
        }
    }

    /// Spaces, dashes and dots between the digits do not change the number (within the
    /// 32-character cap on raw input, beyond which any text is refused).
    #[test]
    fn separators_do_not_change_the_number(
        (example, compact, spaced) in spaced_international(),
        padding in "[ \t]{0,2}",
    ) {
        let typed = format!("{padding}{spaced}{padding}");
        let expected = PhoneNumber::parse(&compact, example.country);
        let parsed = PhoneNumber::parse(&typed, example.country);
        if spaced.len() > 32 {
            prop_assert!(parsed.is_err(), "{typed:?} is over the cap");
        } else {
            prop_assert_eq!(parsed, expected, "{:?} vs {:?}", typed, compact);
        }
    }

    /// A number written the national way of its own country (as libphonenumber formats
    /// it, with separators moved about) reads as that same number or is refused; it
    /// never becomes another number. (phonenumber 0.3 formats one example, a Rwandan
    /// fixed line, without the trunk 0 its own parser then needs: refused, not misread.)
    #[test]
    fn a_national_number_never_reads_as_another_number(
        example in example(),
        separators in prop::collection::vec(select(vec!["", "", " ", "-"]), 32),
    ) {
        let compact = format!("+{}{}", example.calling_code, example.national);
        if let Ok(number) = PhoneNumber::parse(&compact, example.country) {
            let parsed = phonenumber::parse(None, number.as_str())
                .expect("an accepted number is readable");
            let formatted = parsed.format().mode(phonenumber::Mode::National).to_string();
            let digits = formatted.chars().filter(char::is_ascii_digit);
            let respaced: String = digits
                .zip(separators)
                .flat_map(|(digit, separator)| std::iter::once(digit).chain(separator.chars()))
                .collect();
            for national in [formatted, respaced] {
                let read = PhoneNumber::parse(&national, example.country);
                prop_assert!(
                    read.is_err() || read.as_ref() == Ok(&number),
                    "national form {:?} of {} read as {:?}", national, number, read
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Templates and merge fields
// ---------------------------------------------------------------------------------------

fn merge_values() -> impl Strategy<Value = MergeValues> {
    (
        any::<String>(),
        any::<String>(),
        any::<Option<String>>(),
        any::<String>(),
        any::<String>(),
    )
        .prop_map(|(first, last, job, recruiter, organization)| MergeValues {
            candidate_first_name: first,
            candidate_last_name: last,
            job_title: job,
            recruiter_first_name: recruiter,
            organization_name: organization,
        })
}

/// Text built from the pieces the template parser cares about: braces, spaces, field
/// names (known and not) and ordinary characters, so that placeholders, stray braces
/// and unclosed ones all come up often.
fn brace_heavy() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        select(vec![
            "{",
            "{{",
            "}",
            "}}",
            " ",
            "\t",
            ".",
            "candidate.first_name",
            "job.title",
            "organization.name",
            "x",
            "é",
            "😀",
            "\n",
        ])
        .prop_map(str::to_owned),
        any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(token, 0..40).prop_map(|tokens| tokens.concat())
}

/// `text` with every `{{` narrowed to `{` until none is left.
fn without_placeholders(mut text: String) -> String {
    while text.contains("{{") {
        text = text.replace("{{", "{");
    }
    text
}

/// A piece of literal text that cannot open or close a placeholder.
fn literal() -> impl Strategy<Value = String> {
    "[^{}]{0,12}"
}

/// A known field written as a placeholder, with optional white space inside.
fn placeholder() -> impl Strategy<Value = (MergeField, String)> {
    (select(MergeField::ALL.to_vec()), "[ \t]{0,2}", "[ \t]{0,2}").prop_map(
        |(field, before, after)| (field, format!("{{{{{before}{}{after}}}}}", field.name())),
    )
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn template_parsing_and_rendering_never_panic(
        body in prop_oneof![any::<String>(), brace_heavy()],
        values in merge_values(),
    ) {
        if let Ok(template) = Template::parse(&body) {
            let _ = template.render(&values);
            let _ = template.fields();
        }
    }

    /// Text without `{{` is all literal: accepted when not blank and not too long, and
    /// rendered exactly as written, whatever the values.
    #[test]
    fn text_without_placeholders_renders_unchanged(
        text in prop_oneof![any::<String>(), brace_heavy()].prop_map(without_placeholders),
        values in merge_values(),
    ) {
        let parsed = Template::parse(&text);
        if text.trim().is_empty() || text.chars().count() > Template::MAX_LENGTH {
            prop_assert!(parsed.is_err());
        } else {
            let template = parsed.expect("literal text is a template");
            prop_assert_eq!(template.render(&values), text.clone());
            prop_assert_eq!(template.source(), text);
            prop_assert!(template.fields().is_empty());
        }
    }

    /// Every known placeholder is replaced by its value, literal text is kept, values
    /// are inserted verbatim (a value that looks like a placeholder is not expanded), and
    /// `fields` lists the fields used once each, in order of first use.
    #[test]
    fn every_known_field_is_replaced_by_its_value(
        pieces in prop::collection::vec((literal(), placeholder()), 1..8),
        tail in literal(),
        values in merge_values(),
    ) {
        let mut body = String::new();
        let mut expected = String::new();
        let mut used: Vec<MergeField> = Vec::new();
        for (text, (field, written)) in &pieces {
            body.push_str(text);
            body.push_str(written);
            expected.push_str(text);
            expected.push_str(values.get(*field));
            if !used.contains(field) {
                used.push(*field);
            }
        }
        body.push_str(&tail);
        expected.push_str(&tail);

        let template = Template::parse(&body).expect("known fields only");
        prop_assert_eq!(template.render(&values), expected);
        prop_assert_eq!(template.fields(), used);
        // The canonical source parses back to the same template.
        prop_assert_eq!(Template::parse(&template.source()), Ok(template));
    }

    /// A placeholder naming no known field makes the template invalid, and the error
    /// lists each unknown placeholder (trimmed, once) and the known fields.
    #[test]
    fn unknown_fields_are_reported(
        known in prop::collection::vec((literal(), placeholder()), 0..4),
        unknown in prop::collection::vec((literal(), "[ ]{0,2}", "[a-z_.A-Z0-9]{0,16}", "[ ]{0,2}"), 1..4),
    ) {
        let mut body = String::new();
        for (text, (_, written)) in &known {
            body.push_str(text);
            body.push_str(written);
        }
        let mut reported: Vec<String> = Vec::new();
        for (text, before, name, after) in &unknown {
            body.push_str(text);
            body.push_str(&format!("{{{{{before}{name}{after}}}}}"));
            if MergeField::from_name(name).is_none() {
                let placeholder = format!("{{{{{name}}}}}");
                if !reported.contains(&placeholder) {
                    reported.push(placeholder);
                }
            }
        }
        let parsed = Template::parse(&body);
        if reported.is_empty() {
            prop_assert!(parsed.is_ok(), "{body:?}");
        } else {
            let message = parsed.expect_err("an unknown field").to_string();
            let plural = if reported.len() == 1 { "" } else { "s" };
            let prefix = format!("unknown merge field{plural} {}; known fields: ", reported.join(", "));
            prop_assert!(message.starts_with(&prefix), "{message:?} for {body:?}");
            for field in MergeField::ALL {
                prop_assert!(message.contains(&field.to_string()));
            }
        }
    }

    /// Whatever parses has a canonical source that parses to the same template and
    /// renders the same text.
    #[test]
    fn the_canonical_source_is_a_fixed_point(body in brace_heavy(), values in merge_values()) {
        if let Ok(template) = Template::parse(&body) {
            let again = Template::parse(&template.source()).expect("the source parses");
            prop_assert_eq!(again.render(&values), template.render(&values));
            prop_assert_eq!(again.source(), template.source());
            prop_assert_eq!(again, template);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Segments
// ---------------------------------------------------------------------------------------

/// The GSM 03.38 basic table (escape left out) and extension table, as
/// provider-facts.md lists them.
const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡\
    ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM_EXTENSION: &str = "\x0C^{}\\[~]|€";

fn basic_char() -> impl Strategy<Value = char> {
    select(GSM_BASIC.chars().collect::<Vec<_>>())
}

fn extension_char() -> impl Strategy<Value = char> {
    select(GSM_EXTENSION.chars().collect::<Vec<_>>())
}

/// A character GSM-7 cannot carry that is one UTF-16 unit.
fn ucs2_bmp_char() -> impl Strategy<Value = char> {
    any::<char>().prop_map(|c| {
        if c.len_utf16() == 1 && !GSM_BASIC.contains(c) && !GSM_EXTENSION.contains(c) {
            c
        } else {
            'á'
        }
    })
}

/// A character outside the basic multilingual plane: two UTF-16 units.
fn astral_char() -> impl Strategy<Value = char> {
    (0x1_0000u32..=0x10_FFFF).prop_map(|code| char::from_u32(code).unwrap_or('😀'))
}

/// Text mixing the four kinds of character, long enough to cross the six-segment cap.
fn sms_text(max: usize) -> impl Strategy<Value = String> {
    let c = prop_oneof![
        8 => basic_char(),
        2 => extension_char(),
        1 => ucs2_bmp_char(),
        1 => astral_char(),
    ];
    prop::collection::vec(c, 0..max).prop_map(String::from_iter)
}

/// Text of one kind only, so that it stays in one encoding.
fn gsm_text(max: usize) -> impl Strategy<Value = String> {
    let c = prop_oneof![4 => basic_char(), 1 => extension_char()];
    prop::collection::vec(c, 0..max).prop_map(String::from_iter)
}

/// The reference count: each character's width in the text's encoding, then parts of
/// 153 septets or 67 units filled in order, a character never split between two parts
/// (an escape pair or a surrogate pair that does not fit opens the next part).
fn reference(text: &str) -> Segmentation {
    let gsm = text
        .chars()
        .all(|c| GSM_BASIC.contains(c) || GSM_EXTENSION.contains(c));
    let (encoding, widths): (Encoding, Vec<usize>) = if gsm {
        let width = |c: char| if GSM_EXTENSION.contains(c) { 2 } else { 1 };
        (Encoding::Gsm7, text.chars().map(width).collect())
    } else {
        (Encoding::Ucs2, text.chars().map(char::len_utf16).collect())
    };
    let characters: usize = widths.iter().sum();
    let segments = if characters == 0 {
        0
    } else if characters <= encoding.single_segment_limit() {
        1
    } else {
        let mut parts = 1;
        let mut used = 0;
        for width in widths {
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

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn segmenting_never_panics_and_matches_the_reference(
        text in prop_oneof![any::<String>(), sms_text(1200)],
    ) {
        prop_assert_eq!(segment(&text), reference(&text), "{:?}", text);
    }

    /// n basic GSM-7 characters: one SMS up to 160, then parts of 153.
    #[test]
    fn basic_gsm_text_is_one_segment_up_to_160_then_parts_of_153(
        text in prop::collection::vec(basic_char(), 1..1200).prop_map(String::from_iter),
    ) {
        let n = text.chars().count();
        let expected = if n <= 160 { 1 } else { n.div_ceil(153) };
        prop_assert_eq!(segment(&text), Segmentation { encoding: Encoding::Gsm7, characters: n, segments: expected });
    }

    /// One character outside GSM-7 turns the whole text into UCS-2: one SMS up to 70
    /// units, then parts of 67.
    #[test]
    fn ucs2_text_is_one_segment_up_to_70_then_parts_of_67(
        gsm in gsm_text(500),
        at in any::<prop::sample::Index>(),
        other in ucs2_bmp_char(),
    ) {
        let mut chars: Vec<char> = gsm.chars().collect();
        chars.insert(at.index(chars.len() + 1), other);
        let text = String::from_iter(chars);
        let units = text.chars().count();
        let expected = if units <= 70 { 1 } else { units.div_ceil(67) };
        prop_assert_eq!(segment(&text), Segmentation { encoding: Encoding::Ucs2, characters: units, segments: expected });
    }

    /// An extension character costs two septets wherever it goes in GSM-7 text.
    #[test]
    fn extension_characters_count_double(
        gsm in gsm_text(400),
        at in any::<prop::sample::Index>(),
        extension in extension_char(),
        basic in basic_char(),
    ) {
        let chars: Vec<char> = gsm.chars().collect();
        let at = at.index(chars.len() + 1);
        let with = |c: char| {
            let mut chars = chars.clone();
            chars.insert(at, c);
            segment(&String::from_iter(chars))
        };
        let before = segment(&gsm);
        prop_assert_eq!(with(extension).encoding, Encoding::Gsm7);
        prop_assert_eq!(with(extension).characters, before.characters + 2);
        prop_assert_eq!(with(basic).characters, before.characters + 1);
    }

    /// Adding a character anywhere never lowers the segment count (nor the length in
    /// the text's encoding, as long as the encoding stays the same).
    #[test]
    fn adding_a_character_never_decreases_the_count(
        text in sms_text(1100),
        at in any::<prop::sample::Index>(),
        c in prop_oneof![basic_char(), extension_char(), ucs2_bmp_char(), astral_char()],
    ) {
        let mut chars: Vec<char> = text.chars().collect();
        chars.insert(at.index(chars.len() + 1), c);
        let longer = String::from_iter(chars);
        let (before, after) = (segment(&text), segment(&longer));
        prop_assert!(after.segments >= before.segments, "{:?} -> {:?}", before, after);
        if after.encoding == before.encoding {
            prop_assert!(after.characters > before.characters);
        }
    }

    /// A body is accepted exactly when it is not blank and fits in six segments, and is
    /// kept as given.
    #[test]
    fn message_bodies_are_accepted_up_to_six_segments(text in prop_oneof![sms_text(1100), "[ \t\r\n]{0,4}"]) {
        let segmentation = segment(&text);
        match MessageBody::parse(&text) {
            Ok(body) => {
                prop_assert!(!text.trim().is_empty());
                prop_assert!(segmentation.segments <= MAX_SEGMENTS);
                prop_assert_eq!(body.segmentation(), segmentation);
                prop_assert_eq!(body.into_inner(), text);
            }
            Err(_) => prop_assert!(text.trim().is_empty() || segmentation.segments > MAX_SEGMENTS),
        }
    }
}

/// A quiet-hours window from two different minutes of the day.
fn quiet_hours() -> impl Strategy<Value = QuietHours> {
    (0u32..1440, 1u32..1440).prop_map(|(start, length)| {
        let time = |minutes: u32| {
            ClockTime::parse(&format!("{:02}:{:02}", minutes / 60 % 24, minutes % 60))
                .expect("a valid time")
        };
        QuietHours::new(time(start), time(start + length)).expect("different times")
    })
}

/// An instant between 2020 and 2040, to the second.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    (1_577_836_800i64..2_208_988_800)
        .prop_map(|seconds| DateTime::from_timestamp(seconds, 0).expect("in range"))
}

proptest! {
    #![proptest_config(config(256))]

    /// Held or not agrees with the wall clock; a held send is released after it, within
    /// a day (and a daylight-saving hour), never before.
    #[test]
    fn a_held_send_is_released_after_it_within_a_day(
        quiet in quiet_hours(),
        at in instant(),
        zone in select(vec!["UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe", "America/Santiago", "Asia/Kolkata"]),
    ) {
        let zone = Timezone::parse(zone).expect("a zone");
        let local = at.with_timezone(&zone.as_str().parse::<chrono_tz::Tz>().expect("a zone")).time();
        match quiet.held_until(zone, at) {
            Some(until) => {
                prop_assert!(quiet.contains(local));
                prop_assert!(until > at);
                prop_assert!(until - at <= TimeDelta::hours(25));
            }
            None => prop_assert!(!quiet.contains(local)),
        }
    }

    /// Where clocks never change, a held send is released exactly when the wall clock
    /// reads the window's end, and every minute until then is quiet.
    #[test]
    fn without_daylight_saving_the_window_ends_on_the_dot(quiet in quiet_hours(), at in instant()) {
        if let Some(until) = quiet.held_until(Timezone::DEFAULT, at) {
            prop_assert_eq!(until.time(), quiet.end().time());
            let mut minute = at;
            while minute < until {
                prop_assert!(quiet.contains(minute.time()));
                minute += TimeDelta::minutes(1);
            }
        }
    }
}
