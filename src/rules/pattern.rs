//! A `matches:` condition's regex, searched the cheapest way for the text at hand.
//!
//! Why two compiled forms of one pattern: a regex's literal prefilter (Teddy,
//! Rabin-Karp) pays off on long text, but most lead fields a rule matches are short
//! (titles, emails, companies), and there the prefilter's setup costs more than the
//! search it saves. Measured with callgrind on the starter's title and email patterns,
//! per search: about 540 instructions with the prefilter against 285 without on 16
//! bytes, 1,470 against 540 on 64 (BENCHMARKS.md, issue 14, session 6).
//!
//! Short text is searched first with a third form, a DFA built in full when the rules
//! load: a lazy DFA fetches its cache and checks for unbuilt states on every search,
//! about a third of a search of twenty bytes (461 instructions against 292 on the heavy
//! folder's titles and emails; BENCHMARKS.md, issue 14, session 11). All forms are the
//! same regex, so they always agree; only the search differs.

use regex::{Regex, RegexBuilder};
use regex_automata::dfa::{Automaton, StartKind, dense};
use regex_automata::meta;
use regex_automata::nfa::thompson;
use regex_automata::{Input, util::syntax};

/// Texts shorter than this are searched without the prefilter.
const SHORT_TEXT: usize = 64;

/// The most memory a pattern's full DFA may take, and its construction: a pattern whose
/// DFA would be larger goes without one (the lazy DFA of `short` then searches).
const DFA_SIZE_LIMIT: usize = 64 * 1024;

/// A compiled `matches:` pattern.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    /// The pattern with the regex crate's defaults: its prefilter, for long text.
    long: Regex,
    /// The same pattern without a prefilter, for short text.
    short: meta::Regex,
    /// The same pattern as a DFA built in full when the rules load, for short text:
    /// no cache to fetch, no state to build during a search. `None` when it would be
    /// too large. A pattern with a Unicode word boundary (`\b` without `(?-u)`) gets
    /// one that treats `\b` as ASCII's and gives up on the first byte beyond ASCII;
    /// `short` then searches that text.
    dfa: Option<Box<dense::DFA<Vec<u32>>>>,
}

impl Pattern {
    /// Compiles `pattern` with a compiled-size limit of `size_limit` bytes.
    ///
    /// # Errors
    /// The regex crate's error for an invalid or too large pattern, so messages stay
    /// those users already see.
    pub(crate) fn new(pattern: &str, size_limit: usize) -> Result<Self, regex::Error> {
        let long = RegexBuilder::new(pattern).size_limit(size_limit).build()?;
        let short = meta::Regex::builder()
            .syntax(syntax::Config::new())
            .configure(
                meta::Config::new()
                    .auto_prefilter(false)
                    .nfa_size_limit(Some(size_limit)),
            )
            .build(pattern)
            // The same pattern and limits compiled a moment ago: a failure here would be a
            // difference between the two crates' defaults, reported as the regex crate's
            // error would be.
            .map_err(|e| regex::Error::Syntax(e.to_string()))?;
        Ok(Pattern {
            long,
            short,
            dfa: full_dfa(pattern),
        })
    }

    /// Whether the pattern matches anywhere in `text`.
    pub(crate) fn is_match(&self, text: &str) -> bool {
        if text.len() >= SHORT_TEXT {
            return self.long.is_match(text);
        }
        // `earliest`: any match will do, so the search may stop at the first.
        let input = Input::new(text).earliest(true);
        if let Some(dfa) = &self.dfa
            && let Ok(found) = dfa.try_search_fwd(&input)
        {
            return found.is_some();
        }
        self.short.search_half(&input).is_some()
    }
}

/// `pattern` as a full DFA for unanchored searches, or `None` when it would pass
/// [`DFA_SIZE_LIMIT`] (or cannot be built: `short` and `long` search it then).
fn full_dfa(pattern: &str) -> Option<Box<dense::DFA<Vec<u32>>>> {
    dense::Builder::new()
        .syntax(syntax::Config::new())
        // A large NFA (Unicode classes such as `\w`) makes a large DFA: refused early.
        .thompson(thompson::Config::new().nfa_size_limit(Some(DFA_SIZE_LIMIT / 4)))
        .configure(
            dense::DFA::config()
                .start_kind(StartKind::Unanchored)
                .unicode_word_boundary(true)
                .dfa_size_limit(Some(DFA_SIZE_LIMIT))
                .determinize_size_limit(Some(DFA_SIZE_LIMIT)),
        )
        .build(pattern)
        .ok()
        // Boxed: a DFA's own fields are about 800 bytes, and a `Pattern` sits in every
        // condition's enum.
        .map(Box::new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LIMIT: usize = 1 << 20;

    /// Patterns of the kinds rule folders use: case-insensitive alternations between
    /// word boundaries, anchors, classes, Unicode.
    const PATTERNS: &[&str] = &[
        r"(?i)\b(vp|vice president|director|head|chief|c[eft]o|founder|owner)\b",
        r"(?i)@(gmail|yahoo|hotmail|outlook|aol|icloud)\.com\s*$",
        r"(?i)\bstudent\b",
        r"^\+?[0-9 ()-]{7,}$",
        r"é|ß|\p{Greek}",
        r"",
        r"a*",
        r"(?m)^x$",
    ];

    #[test]
    fn both_forms_agree_on_short_and_long_text() {
        let texts = [
            "Chief Technology Officer",
            "keiko7@AOL.com  ",
            "Studentin",
            "a student, later the head of research at a company with a long name and more",
            "+1 (555) 010-9999",
            "Ωmega",
            "",
        ];
        for pattern in PATTERNS {
            let compiled = Pattern::new(pattern, LIMIT).unwrap();
            let reference = Regex::new(pattern).unwrap();
            for text in texts {
                assert_eq!(
                    compiled.is_match(text),
                    reference.is_match(text),
                    "{pattern} {text:?}"
                );
                assert_eq!(compiled.long.is_match(text), compiled.short_match(text));
            }
        }
    }

    #[test]
    fn an_invalid_or_oversized_pattern_gives_the_regex_crates_error() {
        for pattern in ["(unclosed", "a{5000}{5000}"] {
            let expected = RegexBuilder::new(pattern)
                .size_limit(LIMIT)
                .build()
                .unwrap_err();
            let got = Pattern::new(pattern, LIMIT).unwrap_err();
            assert_eq!(got.to_string(), expected.to_string());
        }
    }

    impl Pattern {
        fn short_match(&self, text: &str) -> bool {
            self.short
                .search_half(&Input::new(text).earliest(true))
                .is_some()
        }

        /// The full DFA's answer, `None` when there is none or it gave up on the text.
        fn dfa_match(&self, text: &str) -> Option<bool> {
            let dfa = self.dfa.as_ref()?;
            let found = dfa.try_search_fwd(&Input::new(text).earliest(true)).ok()?;
            Some(found.is_some())
        }
    }

    #[test]
    fn patterns_of_the_shipped_kind_get_a_full_dfa_and_large_ones_do_not() {
        let title = Pattern::new(PATTERNS[0], LIMIT).unwrap();
        assert_eq!(title.dfa_match("Chief Technology Officer"), Some(true));
        assert_eq!(title.dfa_match("Chiefly technical"), Some(false));
        // The Unicode word boundary: beyond ASCII the DFA gives up, and `short` answers.
        assert_eq!(title.dfa_match("Chef d'équipe"), None);
        assert!(Pattern::new(PATTERNS[1], LIMIT).unwrap().dfa.is_some());
        // Unicode `\w` on both sides of a literal: a DFA far over the limit.
        let large = Pattern::new(r"\w+@\w+\.\w+", LIMIT).unwrap();
        assert!(large.dfa.is_none());
        assert!(large.is_match("ann@example.com"));
    }

    proptest! {
        /// Over texts of every length around the switch, and of any characters, the
        /// short form and the full DFA answer as the regex crate does.
        #[test]
        fn the_short_form_agrees_with_the_regex_crate(
            which in 0..PATTERNS.len(),
            text in "[a-zA-Z@. é\u{3a9}0-9+()-]{0,80}",
        ) {
            let pattern = PATTERNS[which];
            let compiled = Pattern::new(pattern, LIMIT).unwrap();
            let reference = compiled.long.is_match(&text);
            prop_assert_eq!(compiled.short_match(&text), reference);
            if let Some(found) = compiled.dfa_match(&text) {
                prop_assert_eq!(found, reference);
            }
            prop_assert_eq!(compiled.is_match(&text), reference);
        }
    }
}
