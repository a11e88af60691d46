//! The task families of `gptlab data tasks`: what one family instance is ([`Spec`]), the
//! Python values its tests are written in ([`Py`]), helpers the families share, and the table
//! of every family ([`FAMILIES`]).
//!
//! A family is one small programming task (sum the even numbers of a list, run-length encode a
//! string, invert a dict...) and a function that draws one *instance* of it from an [`Rng`]:
//! a function name and argument names from a few variants, a docstring from at least three
//! phrasings, any constant of the task (a threshold, a shift, a modulus), the canonical body,
//! and test cases. The expected value of every case is computed here, in Rust, by a reference
//! implementation written to agree with the Python body (the CLI test runs each canonical
//! body against its asserts in the real sandbox), and edge cases (empty input, one element,
//! zero) are always among them. The families themselves live in [`super::fam_lists`],
//! [`super::fam_strings`], [`super::fam_numbers`] and [`super::fam_dicts`].

use gptlab_core::rng::Rng;
use serde::Serialize;

use super::{fam_dicts, fam_lists, fam_numbers, fam_strings};

/// A Python value, printed as Python's `repr` prints it (strings are kept ASCII by the
/// generators, so the quoting rules below are all `repr` needs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Py {
    Bool(bool),
    Int(i64),
    Str(String),
    List(Vec<Py>),
    /// Keys and values in insertion order (Python dicts keep it, and `repr` shows it).
    Dict(Vec<(Py, Py)>),
}

impl Py {
    pub fn ints(v: &[i64]) -> Py {
        Py::List(v.iter().map(|&x| Py::Int(x)).collect())
    }
    pub fn strs<S: AsRef<str>>(v: &[S]) -> Py {
        Py::List(v.iter().map(|s| Py::Str(s.as_ref().to_string())).collect())
    }
    pub fn str(s: impl Into<String>) -> Py {
        Py::Str(s.into())
    }
    /// A `Dict[str, int]` from pairs in order.
    pub fn str_int_dict<S: AsRef<str>>(v: &[(S, i64)]) -> Py {
        Py::Dict(v.iter().map(|(k, x)| (Py::str(k.as_ref()), Py::Int(*x))).collect())
    }

    /// Python's `repr` of the value.
    pub fn repr(&self) -> String {
        match self {
            Py::Bool(true) => "True".into(),
            Py::Bool(false) => "False".into(),
            Py::Int(i) => i.to_string(),
            Py::Str(s) => repr_str(s),
            Py::List(v) => format!("[{}]", v.iter().map(Py::repr).collect::<Vec<_>>().join(", ")),
            Py::Dict(v) => format!("{{{}}}", v.iter().map(|(k, x)| format!("{}: {}", k.repr(), x.repr())).collect::<Vec<_>>().join(", ")),
        }
    }
}

/// `repr(s)`: single quotes unless the string holds a `'` and no `"`.
pub fn repr_str(s: &str) -> String {
    let q = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(q);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push(q);
    out
}

/// One test case: the arguments of a call and the value it must return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    pub args: Vec<Py>,
    pub expected: Py,
}

impl Case {
    pub fn new(args: Vec<Py>, expected: Py) -> Self {
        Self { args, expected }
    }
    /// `name(arg, ...)` with the arguments as Python literals.
    pub fn call(&self, name: &str) -> String {
        format!("{name}({})", self.args.iter().map(Py::repr).collect::<Vec<_>>().join(", "))
    }
}

/// One drawn instance of a family, before it is laid out as a prompt (see `super::render`).
#[derive(Debug, Clone)]
pub struct Spec {
    /// The function's name (the problem's `entry_point`).
    pub func: String,
    /// Argument names and their type annotations (`List[int]`, `str`, ...).
    pub params: Vec<(String, &'static str)>,
    pub ret: &'static str,
    /// The docstring's description, one paragraph, not yet wrapped.
    pub doc: String,
    /// Which of the family's `phrasings` docstring phrasings `doc` is.
    pub phrasing: usize,
    pub phrasings: usize,
    /// The canonical solution: the function body, each line indented four spaces, ending in `\n`.
    pub body: String,
    /// The asserts of `check(candidate)`, edge cases first.
    pub cases: Vec<Case>,
    /// Cases that may be shown in the docstring as `>>>` examples.
    pub examples: Vec<Case>,
}

/// The kinds of family, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    List,
    String,
    Arithmetic,
    Dict,
}

/// A task family: its name (in task ids `Gen/<name>/<n>` and in `--held-out`), kind, and the
/// function that draws one instance.
pub struct Family {
    pub name: &'static str,
    pub category: Category,
    pub make: fn(&mut Rng) -> Spec,
}

/// Every family, in the order they are generated and reported.
pub const FAMILIES: &[Family] = &[
    Family { name: "sum_evens", category: Category::List, make: fam_lists::sum_evens },
    Family { name: "reverse_list", category: Category::List, make: fam_lists::reverse_list },
    Family { name: "running_max", category: Category::List, make: fam_lists::running_max },
    Family { name: "count_occurrences", category: Category::List, make: fam_lists::count_occurrences },
    Family { name: "dedupe", category: Category::List, make: fam_lists::dedupe },
    Family { name: "rotate_left", category: Category::List, make: fam_lists::rotate_left },
    Family { name: "pairwise_diffs", category: Category::List, make: fam_lists::pairwise_diffs },
    Family { name: "filter_above", category: Category::List, make: fam_lists::filter_above },
    Family { name: "chunk_list", category: Category::List, make: fam_lists::chunk_list },
    Family { name: "cumulative_sum", category: Category::List, make: fam_lists::cumulative_sum },
    Family { name: "index_of_max", category: Category::List, make: fam_lists::index_of_max },
    Family { name: "count_vowels", category: Category::String, make: fam_strings::count_vowels },
    Family { name: "reverse_words", category: Category::String, make: fam_strings::reverse_words },
    Family { name: "capitalize_words", category: Category::String, make: fam_strings::capitalize_words },
    Family { name: "is_palindrome", category: Category::String, make: fam_strings::is_palindrome },
    Family { name: "remove_digits", category: Category::String, make: fam_strings::remove_digits },
    Family { name: "run_length_encode", category: Category::String, make: fam_strings::run_length_encode },
    Family { name: "caesar_shift", category: Category::String, make: fam_strings::caesar_shift },
    Family { name: "longest_word", category: Category::String, make: fam_strings::longest_word },
    Family { name: "acronym", category: Category::String, make: fam_strings::acronym },
    Family { name: "gcd", category: Category::Arithmetic, make: fam_numbers::gcd },
    Family { name: "digit_sum", category: Category::Arithmetic, make: fam_numbers::digit_sum },
    Family { name: "is_prime", category: Category::Arithmetic, make: fam_numbers::is_prime },
    Family { name: "factorial_mod", category: Category::Arithmetic, make: fam_numbers::factorial_mod },
    Family { name: "clamp", category: Category::Arithmetic, make: fam_numbers::clamp },
    Family { name: "count_multiples", category: Category::Arithmetic, make: fam_numbers::count_multiples },
    Family { name: "collatz_steps", category: Category::Arithmetic, make: fam_numbers::collatz_steps },
    Family { name: "reverse_integer", category: Category::Arithmetic, make: fam_numbers::reverse_integer },
    Family { name: "invert_dict", category: Category::Dict, make: fam_dicts::invert_dict },
    Family { name: "word_count", category: Category::Dict, make: fam_dicts::word_count },
    Family { name: "merge_sum", category: Category::Dict, make: fam_dicts::merge_sum },
    Family { name: "keys_with_max", category: Category::Dict, make: fam_dicts::keys_with_max },
    Family { name: "filter_dict", category: Category::Dict, make: fam_dicts::filter_dict },
    Family { name: "group_by_length", category: Category::Dict, make: fam_dicts::group_by_length },
];

/// The families held out of `train.jsonl` unless `--held-out` says otherwise: one of each kind.
pub const DEFAULT_HELD_OUT: &[&str] = &["running_max", "run_length_encode", "collatz_steps", "merge_sum"];

/// The family called `name`.
pub fn family(name: &str) -> Option<&'static Family> {
    FAMILIES.iter().find(|f| f.name == name)
}

// ---- helpers the families share -------------------------------------------------------

/// Names for a list-of-integers argument.
pub const LIST_NAMES: &[&str] = &["nums", "numbers", "values", "arr", "items", "data", "lst", "xs"];
/// Names for a string argument (bodies never use these as locals).
pub const STR_NAMES: &[&str] = &["s", "text", "string", "line", "phrase", "sentence"];
/// Names for an integer argument.
pub const INT_NAMES: &[&str] = &["n", "num", "number", "value", "x"];
/// Names for a dict argument.
pub const DICT_NAMES: &[&str] = &["d", "mapping", "table", "lookup", "data"];
/// Short lowercase words for sentences and dict keys.
pub const VOCAB: &[&str] = &[
    "apple", "river", "stone", "cloud", "bread", "tiger", "lamp", "ocean", "pixel", "maple", "queen", "sun", "echo", "iris", "kite", "orbit", "zebra", "unit", "amber", "data", "fox", "yak",
    "moon", "idea", "owl", "eagle", "cat", "dog", "tree", "sky",
];

/// One of `options`, uniformly.
pub fn pick<'a, T: ?Sized>(r: &mut Rng, options: &[&'a T]) -> &'a T {
    options[r.below(options.len() as u64) as usize]
}

/// An integer in `lo..=hi`.
pub fn int_in(r: &mut Rng, lo: i64, hi: i64) -> i64 {
    lo + r.below((hi - lo + 1) as u64) as i64
}

/// A list of `len_lo..=len_hi` integers in `lo..=hi`.
pub fn int_list(r: &mut Rng, len_lo: i64, len_hi: i64, lo: i64, hi: i64) -> Vec<i64> {
    let n = int_in(r, len_lo, len_hi);
    (0..n).map(|_| int_in(r, lo, hi)).collect()
}

/// `n` distinct words of [`VOCAB`], in a random order.
pub fn distinct_words(r: &mut Rng, n: usize) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = VOCAB.to_vec();
    r.shuffle(&mut v);
    v.truncate(n);
    v
}

/// A random lowercase word of `lo..=hi` letters.
pub fn letters(r: &mut Rng, lo: i64, hi: i64, alphabet: &str) -> String {
    let a: Vec<char> = alphabet.chars().collect();
    let n = int_in(r, lo, hi);
    (0..n).map(|_| a[r.below(a.len() as u64) as usize]).collect()
}

/// `count` words of [`VOCAB`] joined by single spaces.
pub fn sentence(r: &mut Rng, lo: i64, hi: i64) -> String {
    let n = int_in(r, lo, hi);
    (0..n).map(|_| pick(r, VOCAB)).collect::<Vec<_>>().join(" ")
}

/// Two different names from `options`.
pub fn two_names(r: &mut Rng, options: &[(&'static str, &'static str)]) -> (String, String) {
    let (a, b) = options[r.below(options.len() as u64) as usize];
    (a.to_string(), b.to_string())
}

/// One of `templates` with each `{key}` replaced by its value; also which template it was.
pub fn phrase(r: &mut Rng, templates: &[&str], vars: &[(&str, &str)]) -> (String, usize, usize) {
    let i = r.below(templates.len() as u64) as usize;
    let mut s = templates[i].to_string();
    for (k, v) in vars {
        s = s.replace(&format!("{{{k}}}"), v);
    }
    (s, i, templates.len())
}

/// Cases without repeats, in first-seen order.
pub fn distinct(cases: Vec<Case>) -> Vec<Case> {
    let mut out: Vec<Case> = Vec::with_capacity(cases.len());
    for c in cases {
        if !out.iter().any(|o| o.args == c.args) {
            out.push(c);
        }
    }
    out
}

/// Builds a [`Spec`]; `case` maps an input to its case, `inputs` are the check's (edge cases
/// first) and `example_inputs` the docstring's.
#[allow(clippy::too_many_arguments)]
pub fn spec<I>(
    func: &str,
    params: Vec<(String, &'static str)>,
    ret: &'static str,
    doc: (String, usize, usize),
    body: String,
    inputs: Vec<I>,
    example_inputs: Vec<I>,
    case: impl Fn(I) -> Case,
) -> Spec {
    let (doc, phrasing, phrasings) = doc;
    Spec {
        func: func.to_string(),
        params,
        ret,
        doc,
        phrasing,
        phrasings,
        body,
        cases: distinct(inputs.into_iter().map(&case).collect()),
        examples: distinct(example_inputs.into_iter().map(&case).collect()),
    }
}
