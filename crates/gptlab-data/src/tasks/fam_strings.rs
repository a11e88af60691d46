//! String families: vowel count, reverse the words, capitalize the words, is palindrome,
//! remove digits, run-length encode, Caesar shift by k, longest word, acronym. Strings are
//! ASCII, so the Rust references and Python's `str` methods agree character for character.

use super::families::{int_in, letters, phrase, pick, sentence, spec, Case, Py, Spec, STR_NAMES};
use gptlab_core::rng::Rng;

/// A string family's check inputs (edge cases, then `n` drawn by `draw`) and two shown ones.
fn inputs(r: &mut Rng, edge: &[&str], n: usize, draw: impl Fn(&mut Rng) -> String) -> (Vec<String>, Vec<String>) {
    let mut check: Vec<String> = edge.iter().map(|s| s.to_string()).collect();
    for _ in 0..n {
        check.push(draw(r));
    }
    let shown = (0..2).map(|_| draw(r)).collect();
    (check, shown)
}

fn one(s: String) -> Vec<Py> {
    vec![Py::Str(s)]
}

pub fn count_vowels(r: &mut Rng) -> Spec {
    let f = pick(r, &["count_vowels", "vowel_count", "num_vowels", "how_many_vowels"]);
    let s = pick(r, STR_NAMES);
    let doc = phrase(
        r,
        &[
            "Return the number of vowels (a, e, i, o, u, in either case) in {s}.",
            "Count how many characters of {s} are vowels; upper-case vowels count too.",
            "Given a string {s}, return how many of its letters are one of aeiou or AEIOU.",
        ],
        &[("s", s)],
    );
    let body = format!("    return sum(1 for c in {s} if c.lower() in 'aeiou')\n");
    let (check, shown) = inputs(r, &["", "rhythm", "AEIOU"], 3, |r| letters(r, 3, 12, "abcdeEfghiIjklmnoOpqrstuvwxyz"));
    spec(f, vec![(s.into(), "str")], "int", doc, body, check, shown, |t| {
        let n = t.chars().filter(|c| "aeiou".contains(c.to_ascii_lowercase())).count() as i64;
        Case::new(one(t), Py::Int(n))
    })
}

pub fn reverse_words(r: &mut Rng) -> Spec {
    let f = pick(r, &["reverse_words", "words_backwards", "flip_words", "reverse_word_order"]);
    let s = pick(r, STR_NAMES);
    let doc = phrase(
        r,
        &[
            "Return the words of {s} in reverse order, separated by single spaces.",
            "Reverse the order of the words in the sentence {s} (words are separated by whitespace; the result uses one space between words).",
            "Given {s}, split it into words and join them back last-to-first with a single space.",
        ],
        &[("s", s)],
    );
    let body = format!("    return ' '.join({s}.split()[::-1])\n");
    let (check, shown) = inputs(r, &["", "hello", "  two   spaces "], 3, |r| sentence(r, 2, 6));
    spec(f, vec![(s.into(), "str")], "str", doc, body, check, shown, |t| {
        let out = t.split_whitespace().rev().collect::<Vec<_>>().join(" ");
        Case::new(one(t), Py::Str(out))
    })
}

pub fn capitalize_words(r: &mut Rng) -> Spec {
    let f = pick(r, &["capitalize_words", "title_words", "upper_first_letters", "capitalize_each"]);
    let s = pick(r, STR_NAMES);
    let doc = phrase(
        r,
        &[
            "Return {s} with the first letter of every word in upper case; words are separated by single spaces and the other letters are unchanged.",
            "Capitalize each space-separated word of {s} (only its first character changes).",
            "Make the first character of every word in {s} upper-case, keeping the spacing and the rest of each word as they are.",
        ],
        &[("s", s)],
    );
    let body = format!("    return ' '.join(w[:1].upper() + w[1:] for w in {s}.split(' '))\n");
    let (check, shown) = inputs(r, &["", "a", "already Up", "two  spaces"], 3, |r| sentence(r, 1, 5));
    spec(f, vec![(s.into(), "str")], "str", doc, body, check, shown, |t| {
        let out = t
            .split(' ')
            .map(|w| {
                let mut c = w.chars();
                match c.next() {
                    Some(first) => format!("{}{}", first.to_ascii_uppercase(), c.as_str()),
                    None => String::new(),
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
        Case::new(one(t), Py::Str(out))
    })
}

pub fn is_palindrome(r: &mut Rng) -> Spec {
    let f = pick(r, &["is_palindrome", "palindrome", "reads_same_backwards", "check_palindrome"]);
    let s = pick(r, &["s", "word", "text", "string"]);
    let ignore_case = r.below(2) == 1;
    let doc = if ignore_case {
        phrase(
            r,
            &[
                "Return True if {s} reads the same forwards and backwards, ignoring upper/lower case, and False otherwise.",
                "Check whether {s} is a palindrome when case is ignored ('Aba' counts). The empty string is a palindrome.",
                "Decide if the lower-cased {s} is equal to its own reverse.",
            ],
            &[("s", s)],
        )
    } else {
        phrase(
            r,
            &[
                "Return True if {s} reads the same forwards and backwards (case matters), and False otherwise.",
                "Check whether {s} is a palindrome, comparing characters exactly. The empty string is a palindrome.",
                "Decide if {s} is equal to its own reverse.",
            ],
            &[("s", s)],
        )
    };
    let body = if ignore_case { format!("    t = {s}.lower()\n    return t == t[::-1]\n") } else { format!("    return {s} == {s}[::-1]\n") };
    let draw = |r: &mut Rng| {
        let half = letters(r, 1, 4, "abcdxyz");
        let mid = if r.below(2) == 1 { letters(r, 1, 1, "abc") } else { String::new() };
        let mut w = format!("{half}{mid}{}", half.chars().rev().collect::<String>());
        if r.below(3) == 0 {
            w.push('q'); // usually no longer a palindrome
        }
        w
    };
    let (check, shown) = inputs(r, &["", "a", "Aba", "ab"], 3, draw);
    spec(f, vec![(s.into(), "str")], "bool", doc, body, check, shown, move |t| {
        let u = if ignore_case { t.to_ascii_lowercase() } else { t.clone() };
        let pal = u.chars().eq(u.chars().rev());
        Case::new(one(t), Py::Bool(pal))
    })
}

pub fn remove_digits(r: &mut Rng) -> Spec {
    let f = pick(r, &["remove_digits", "strip_digits", "drop_numbers", "letters_only"]);
    let s = pick(r, STR_NAMES);
    let doc = phrase(
        r,
        &[
            "Return {s} with every digit character removed.",
            "Delete the characters 0-9 from {s} and return what is left, in order.",
            "Given a string {s}, build a copy that keeps all characters except the decimal digits.",
        ],
        &[("s", s)],
    );
    let body = format!("    return ''.join(c for c in {s} if not c.isdigit())\n");
    let (check, shown) = inputs(r, &["", "12345", "abc"], 3, |r| letters(r, 3, 10, "ab1c2x9 y0z"));
    spec(f, vec![(s.into(), "str")], "str", doc, body, check, shown, |t| {
        let out: String = t.chars().filter(|c| !c.is_ascii_digit()).collect();
        Case::new(one(t), Py::Str(out))
    })
}

pub fn run_length_encode(r: &mut Rng) -> Spec {
    let f = pick(r, &["run_length_encode", "rle", "compress_runs", "encode_runs"]);
    let s = pick(r, STR_NAMES);
    let doc = phrase(
        r,
        &[
            "Run-length encode {s}: each run of a repeated character becomes the character followed by the length of the run, e.g. 'aaab' -> 'a3b1'.",
            "Compress {s} by replacing every maximal block of equal characters with that character and its count. The empty string encodes to ''.",
            "Return the run-length encoding of {s}, writing each character of a run once followed by how many times it repeats (always, even for 1).",
        ],
        &[("s", s)],
    );
    let body = format!(
        "    if not {s}:\n        return ''\n    parts = []\n    current = {s}[0]\n    count = 1\n    for c in {s}[1:]:\n        if c == current:\n            count += 1\n        else:\n            parts.append(current + str(count))\n            current = c\n            count = 1\n    parts.append(current + str(count))\n    return ''.join(parts)\n"
    );
    let (check, shown) = inputs(r, &["", "a", "zzzz"], 3, |r| letters(r, 3, 10, "aaabbc"));
    spec(f, vec![(s.into(), "str")], "str", doc, body, check, shown, |t| {
        let mut out = String::new();
        let cs: Vec<char> = t.chars().collect();
        let mut i = 0;
        while i < cs.len() {
            let mut j = i;
            while j < cs.len() && cs[j] == cs[i] {
                j += 1;
            }
            out.push(cs[i]);
            out.push_str(&(j - i).to_string());
            i = j;
        }
        Case::new(one(t), Py::Str(out))
    })
}

pub fn caesar_shift(r: &mut Rng) -> Spec {
    let f = pick(r, &["caesar_shift", "caesar", "shift_letters", "rotate_letters"]);
    let s = pick(r, STR_NAMES);
    let k = int_in(r, 1, 25);
    let ks = k.to_string();
    let doc = phrase(
        r,
        &[
            "Shift every lowercase letter of {s} forward by {k} places in the alphabet, wrapping from 'z' back to 'a'; other characters are unchanged.",
            "Apply a Caesar cipher with shift {k} to the lowercase letters a-z of {s} and return the result (anything else is copied as is).",
            "Return {s} with each letter from a to z replaced by the letter {k} positions after it (cyclically).",
        ],
        &[("s", s), ("k", &ks)],
    );
    let body = format!("    return ''.join(chr((ord(c) - ord('a') + {k}) % 26 + ord('a')) if 'a' <= c <= 'z' else c for c in {s})\n");
    let (check, shown) = inputs(r, &["", "xyz", "hello, world!"], 3, |r| sentence(r, 1, 3));
    spec(f, vec![(s.into(), "str")], "str", doc, body, check, shown, move |t| {
        let out: String = t.chars().map(|c| if c.is_ascii_lowercase() { (b'a' + ((c as u8 - b'a') as i64 + k).rem_euclid(26) as u8) as char } else { c }).collect();
        Case::new(one(t), Py::Str(out))
    })
}

pub fn longest_word(r: &mut Rng) -> Spec {
    let f = pick(r, &["longest_word", "find_longest_word", "longest", "biggest_word"]);
    let s = pick(r, STR_NAMES);
    let doc = phrase(
        r,
        &[
            "Return the longest word of {s} (words are separated by whitespace); if several are equally long, return the first. Return '' when there are no words.",
            "Find the word with the most characters in the sentence {s}, preferring the earliest on ties, or '' if {s} has no words.",
            "Split {s} into words and give back the first one of maximal length (the empty string for an empty sentence).",
        ],
        &[("s", s)],
    );
    let body = format!("    words = {s}.split()\n    if not words:\n        return ''\n    return max(words, key=len)\n");
    let (check, shown) = inputs(r, &["", "one", "ab cd"], 3, |r| sentence(r, 2, 6));
    spec(f, vec![(s.into(), "str")], "str", doc, body, check, shown, |t| {
        let mut best = "";
        for w in t.split_whitespace() {
            if w.len() > best.len() {
                best = w;
            }
        }
        let out = best.to_string();
        Case::new(one(t), Py::Str(out))
    })
}

pub fn acronym(r: &mut Rng) -> Spec {
    let f = pick(r, &["acronym", "initials", "make_acronym", "first_letters"]);
    let s = pick(r, STR_NAMES);
    let doc = phrase(
        r,
        &[
            "Return the acronym of {s}: the first letter of each word, in upper case.",
            "Build a string from the initial character of every whitespace-separated word of {s}, upper-cased.",
            "Given a phrase {s}, return its initials as capital letters ('' for an empty phrase).",
        ],
        &[("s", s)],
    );
    let body = format!("    return ''.join(w[0].upper() for w in {s}.split())\n");
    let (check, shown) = inputs(r, &["", "hello", " portable  network graphics "], 3, |r| sentence(r, 2, 5));
    spec(f, vec![(s.into(), "str")], "str", doc, body, check, shown, |t| {
        let out: String = t.split_whitespace().filter_map(|w| w.chars().next()).map(|c| c.to_ascii_uppercase()).collect();
        Case::new(one(t), Py::Str(out))
    })
}
