//! Opt-out and opt-in keywords in a candidate's reply.
//!
//! Only a reply that is exactly one keyword counts (case and surrounding white space
//! ignored), as carriers and SMS providers treat it: "STOP" opts out, "Please stop
//! texting me" is a message for the recruiter to read.

/// What a reply asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentChange {
    /// No more SMS.
    OptOut,
    /// SMS welcome again.
    OptIn,
}

/// Replies that opt a candidate out.
pub const OPT_OUT_KEYWORDS: [&str; 6] = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"];
/// Replies that opt a candidate back in.
pub const OPT_IN_KEYWORDS: [&str; 3] = ["START", "UNSTOP", "YES"];

impl ConsentChange {
    /// The change `reply` asks for, if it is a single keyword.
    pub fn from_reply(reply: &str) -> Option<Self> {
        let word = reply.trim();
        let is = |keyword: &&str| word.eq_ignore_ascii_case(keyword);
        if OPT_OUT_KEYWORDS.iter().any(is) {
            Some(ConsentChange::OptOut)
        } else if OPT_IN_KEYWORDS.iter().any(is) {
            Some(ConsentChange::OptIn)
        } else {
            None
        }
    }

    /// True for an opt-out.
    pub fn opts_out(self) -> bool {
        self == ConsentChange::OptOut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_message_keywords_in_any_case() {
        for reply in [
            "STOP",
            "stop",
            " Stop\n",
            "\tstopall ",
            "Unsubscribe",
            "cancel",
            "END",
            "quit",
        ] {
            assert_eq!(
                ConsentChange::from_reply(reply),
                Some(ConsentChange::OptOut),
                "{reply:?}"
            );
        }
        for reply in ["START", "start ", "Unstop", "yes"] {
            assert_eq!(
                ConsentChange::from_reply(reply),
                Some(ConsentChange::OptIn),
                "{reply:?}"
            );
        }
    }

    #[test]
    fn keywords_inside_a_sentence_do_not_count() {
        for reply in [
            "STOP PLEASE",
            "please stop",
            "stopped",
            "yes please",
            "",
            "   ",
            "S T O P",
        ] {
            assert_eq!(ConsentChange::from_reply(reply), None, "{reply:?}");
        }
    }
}
