//! Dict families: invert a dict, count words into a dict, merge two dicts summing values, the
//! keys with the largest value, keep the entries at or above a threshold, group words by
//! length. The references build their dicts in the insertion order the Python bodies do, so
//! the `repr` shown in a docstring example is exactly what Python prints.

use super::families::{distinct_words, int_in, phrase, pick, sentence, spec, two_names, Case, Py, Spec, DICT_NAMES, STR_NAMES};
use gptlab_core::rng::Rng;

const DICT: &str = "Dict[str, int]";

/// A dict of `lo..=hi` distinct words of [`VOCAB`](super::families::VOCAB) to values in `vlo..=vhi`.
fn word_dict(r: &mut Rng, lo: i64, hi: i64, vlo: i64, vhi: i64) -> Vec<(String, i64)> {
    let n = int_in(r, lo, hi) as usize;
    distinct_words(r, n).into_iter().map(|w| (w.to_string(), int_in(r, vlo, vhi))).collect()
}

fn owned(v: &[(&str, i64)]) -> Vec<(String, i64)> {
    v.iter().map(|(k, x)| (k.to_string(), *x)).collect()
}

pub fn invert_dict(r: &mut Rng) -> Spec {
    let f = pick(r, &["invert_dict", "invert", "swap_keys_values", "reverse_mapping"]);
    let d = pick(r, DICT_NAMES);
    let doc = phrase(
        r,
        &[
            "Return a new dict that maps each value of {d} to its key (the values of {d} are all different).",
            "Invert the mapping {d}: keys become values and values become keys.",
            "Given a dict {d} with distinct values, build the reverse lookup from value to key.",
        ],
        &[("d", d)],
    );
    let body = format!("    return {{v: k for k, v in {d}.items()}}\n");
    let draw = |r: &mut Rng| {
        let mut v = word_dict(r, 2, 5, 0, 0);
        let mut vals: Vec<i64> = (1..=30).collect();
        r.shuffle(&mut vals);
        for (e, x) in v.iter_mut().zip(vals) {
            e.1 = x;
        }
        v
    };
    let mut check = vec![vec![], owned(&[("a", 1)])];
    for _ in 0..3 {
        check.push(draw(r));
    }
    let shown = (0..2).map(|_| draw(r)).collect();
    spec(f, vec![(d.into(), DICT)], "Dict[int, str]", doc, body, check, shown, |m| {
        let inv = Py::Dict(m.iter().map(|(k, x)| (Py::Int(*x), Py::str(k))).collect());
        Case::new(vec![Py::str_int_dict(&m)], inv)
    })
}

pub fn word_count(r: &mut Rng) -> Spec {
    let f = pick(r, &["word_count", "count_words", "word_frequencies", "tally_words"]);
    let s = pick(r, STR_NAMES);
    let doc = phrase(
        r,
        &[
            "Return a dict mapping each word of {s} (words are separated by whitespace) to the number of times it occurs.",
            "Count the occurrences of every whitespace-separated word in {s} and return them as a dictionary.",
            "Build a word -> count table for the text {s}; an empty text gives an empty dict.",
        ],
        &[("s", s)],
    );
    let body = format!("    counts = {{}}\n    for w in {s}.split():\n        counts[w] = counts.get(w, 0) + 1\n    return counts\n");
    let draw = |r: &mut Rng| {
        let words = distinct_words(r, 3);
        let n = int_in(r, 3, 8);
        (0..n).map(|_| pick(r, &words)).collect::<Vec<_>>().join(" ")
    };
    let mut check = vec![String::new(), "one".to_string(), "a  a a".to_string()];
    for _ in 0..3 {
        check.push(draw(r));
    }
    let shown = (0..2).map(|_| draw(r)).collect();
    spec(f, vec![(s.into(), "str")], DICT, doc, body, check, shown, |t| {
        let mut counts: Vec<(String, i64)> = vec![];
        for w in t.split_whitespace() {
            match counts.iter_mut().find(|(k, _)| k == w) {
                Some(e) => e.1 += 1,
                None => counts.push((w.to_string(), 1)),
            }
        }
        Case::new(vec![Py::Str(t)], Py::str_int_dict(&counts))
    })
}

fn merge(a: &[(String, i64)], b: &[(String, i64)]) -> Vec<(String, i64)> {
    let mut out = a.to_vec();
    for (k, v) in b {
        match out.iter_mut().find(|(x, _)| x == k) {
            Some(e) => e.1 += v,
            None => out.push((k.clone(), *v)),
        }
    }
    out
}

pub fn merge_sum(r: &mut Rng) -> Spec {
    let f = pick(r, &["merge_sum", "merge_counts", "add_dicts", "combine_totals"]);
    let (a, b) = two_names(r, &[("a", "b"), ("first", "second"), ("d1", "d2"), ("left", "right")]);
    let doc = phrase(
        r,
        &[
            "Merge the dicts {a} and {b} into a new dict; a key found in both gets the sum of its two values.",
            "Return the combination of {a} and {b} where values of shared keys are added together. The inputs are not modified.",
            "Add the counts of {b} to those of {a} (keys missing from {a} start at 0) and return the result as a new dictionary.",
        ],
        &[("a", &a), ("b", &b)],
    );
    let body = format!("    result = dict({a})\n    for k, v in {b}.items():\n        result[k] = result.get(k, 0) + v\n    return result\n");
    let draw = |r: &mut Rng| {
        let x = word_dict(r, 1, 4, 1, 9);
        let mut y = word_dict(r, 1, 3, 1, 9);
        let shared = r.below(2) == 1;
        if let Some(first) = x.first() {
            if shared && !y.iter().any(|(k, _)| *k == first.0) {
                if let Some(e) = y.first_mut() {
                    e.0 = first.0.clone(); // a shared key
                }
            }
        }
        (x, y)
    };
    let mut check = vec![(vec![], vec![]), (owned(&[("x", 1)]), vec![]), (vec![], owned(&[("y", 2)])), (owned(&[("k", 3)]), owned(&[("k", 4)]))];
    for _ in 0..3 {
        check.push(draw(r));
    }
    let shown = (0..2).map(|_| draw(r)).collect();
    spec(f, vec![(a.clone(), DICT), (b.clone(), DICT)], DICT, doc, body, check, shown, |(x, y)| {
        let m = merge(&x, &y);
        Case::new(vec![Py::str_int_dict(&x), Py::str_int_dict(&y)], Py::str_int_dict(&m))
    })
}

pub fn keys_with_max(r: &mut Rng) -> Spec {
    let f = pick(r, &["keys_with_max", "argmax_keys", "top_keys", "most_common_keys"]);
    let d = pick(r, DICT_NAMES);
    let doc = phrase(
        r,
        &[
            "Return the sorted list of the keys of {d} whose value is the largest value in {d} ([] for an empty dict).",
            "Find every key of {d} that maps to the maximum value, and return those keys in alphabetical order.",
            "Which keys of the dict {d} have the highest value? Return them sorted; an empty dict has none.",
        ],
        &[("d", d)],
    );
    let body = format!("    if not {d}:\n        return []\n    best = max({d}.values())\n    return sorted(k for k, v in {d}.items() if v == best)\n");
    let mut check = vec![vec![], owned(&[("a", 1)]), owned(&[("b", 2), ("a", 2), ("c", 1)])];
    for _ in 0..3 {
        check.push(word_dict(r, 2, 6, 0, 4));
    }
    let shown = (0..2).map(|_| word_dict(r, 2, 4, 0, 3)).collect();
    spec(f, vec![(d.into(), DICT)], "List[str]", doc, body, check, shown, |m| {
        let best = m.iter().map(|(_, v)| *v).max();
        let mut keys: Vec<&str> = m.iter().filter(|(_, v)| Some(*v) == best).map(|(k, _)| k.as_str()).collect();
        keys.sort_unstable();
        Case::new(vec![Py::str_int_dict(&m)], Py::strs(&keys))
    })
}

pub fn filter_dict(r: &mut Rng) -> Spec {
    let f = pick(r, &["filter_dict", "at_least", "keep_big_values", "entries_above"]);
    let d = pick(r, DICT_NAMES);
    let t = int_in(r, 0, 10);
    let ts = t.to_string();
    let doc = phrase(
        r,
        &[
            "Return a new dict with the entries of {d} whose value is at least {t}, in the same order.",
            "Keep only the key/value pairs of {d} with a value greater than or equal to {t}.",
            "Drop from a copy of {d} every entry whose value is below {t} and return the copy.",
        ],
        &[("d", d), ("t", &ts)],
    );
    let body = format!("    return {{k: v for k, v in {d}.items() if v >= {t}}}\n");
    let mut check = vec![vec![], owned(&[("at", t)]), owned(&[("below", t - 1)])];
    for _ in 0..3 {
        check.push(word_dict(r, 2, 6, t - 5, t + 5));
    }
    let shown = (0..2).map(|_| word_dict(r, 2, 4, t - 3, t + 3)).collect();
    spec(f, vec![(d.into(), DICT)], DICT, doc, body, check, shown, move |m| {
        let kept: Vec<(String, i64)> = m.iter().filter(|(_, v)| *v >= t).cloned().collect();
        Case::new(vec![Py::str_int_dict(&m)], Py::str_int_dict(&kept))
    })
}

pub fn group_by_length(r: &mut Rng) -> Spec {
    let f = pick(r, &["group_by_length", "bucket_by_length", "words_by_length", "length_groups"]);
    let w = pick(r, &["words", "strings", "names", "tokens"]);
    let doc = phrase(
        r,
        &[
            "Group the strings of {w} by their length: return a dict mapping each length to the list of strings of that length, in their original order.",
            "Return a dictionary whose keys are the lengths occurring in {w} and whose values list the words with that length (in input order).",
            "Bucket {w} by len(): every length seen maps to the words having it, keeping the order they appear in {w}.",
        ],
        &[("w", w)],
    );
    let body = format!("    groups = {{}}\n    for item in {w}:\n        groups.setdefault(len(item), []).append(item)\n    return groups\n");
    let draw = |r: &mut Rng| sentence(r, 2, 6).split(' ').map(str::to_string).collect::<Vec<String>>();
    let mut check: Vec<Vec<String>> = vec![vec![], vec![String::new()], vec!["ab".into(), "cd".into(), "e".into()]];
    for _ in 0..3 {
        check.push(draw(r));
    }
    let shown = (0..2).map(|_| draw(r)).collect();
    spec(f, vec![(w.into(), "List[str]")], "Dict[int, List[str]]", doc, body, check, shown, |ws| {
        let mut groups: Vec<(usize, Vec<String>)> = vec![];
        for x in &ws {
            match groups.iter_mut().find(|(n, _)| *n == x.len()) {
                Some(g) => g.1.push(x.clone()),
                None => groups.push((x.len(), vec![x.clone()])),
            }
        }
        let out = Py::Dict(groups.into_iter().map(|(n, v)| (Py::Int(n as i64), Py::strs(&v))).collect());
        Case::new(vec![Py::strs(&ws)], out)
    })
}
