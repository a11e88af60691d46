//! List families: sum of evens, reverse, running max, count occurrences, dedupe keeping order,
//! rotate by k, pairwise differences, filter above a threshold, chunk into k-sized pieces,
//! cumulative sum, index of the maximum. Each draws names, a docstring phrasing and any
//! constant, and computes its cases with a Rust reference (see [`super::families`]).

use super::families::{int_in, int_list, phrase, pick, spec, Case, Py, Spec, LIST_NAMES};
use gptlab_core::rng::Rng;

const LIST: &str = "List[int]";

/// Three random lists for the check and two for the docstring.
fn random_lists(r: &mut Rng, lo: i64, hi: i64) -> (Vec<Vec<i64>>, Vec<Vec<i64>>) {
    let check = (0..3).map(|_| int_list(r, 3, 8, lo, hi)).collect();
    let shown = (0..2).map(|_| int_list(r, 2, 5, lo, hi)).collect();
    (check, shown)
}

pub fn sum_evens(r: &mut Rng) -> Spec {
    let f = pick(r, &["sum_evens", "sum_of_evens", "even_sum", "total_even"]);
    let a = pick(r, LIST_NAMES);
    let doc = phrase(
        r,
        &[
            "Return the sum of the even numbers in {a}.",
            "Given a list of integers {a}, add up the elements that are even and return the total. An empty list gives 0.",
            "Compute the total of all even values in the list {a} (odd values are ignored).",
            "Sum only the even integers of {a}; return 0 when there are none.",
        ],
        &[("a", a)],
    );
    let body = format!("    return sum(x for x in {a} if x % 2 == 0)\n");
    let (mut inputs, shown) = random_lists(r, -20, 30);
    inputs.splice(0..0, [vec![], vec![1, 3, 5], vec![4]]);
    spec(f, vec![(a.into(), LIST)], "int", doc, body, inputs, shown, |xs| Case::new(vec![Py::ints(&xs)], Py::Int(xs.iter().filter(|x| *x % 2 == 0).sum())))
}

pub fn reverse_list(r: &mut Rng) -> Spec {
    let f = pick(r, &["reverse_list", "reversed_copy", "backwards", "flip_list"]);
    let a = pick(r, LIST_NAMES);
    let doc = phrase(
        r,
        &[
            "Return a new list with the elements of {a} in reverse order.",
            "Reverse the list {a}: the last element comes first. Do not modify the input.",
            "Given {a}, return its elements from last to first.",
        ],
        &[("a", a)],
    );
    let body = format!("    return {a}[::-1]\n");
    let (mut inputs, shown) = random_lists(r, -9, 50);
    inputs.splice(0..0, [vec![], vec![7]]);
    spec(f, vec![(a.into(), LIST)], LIST, doc, body, inputs, shown, |xs| {
        let rev: Vec<i64> = xs.iter().rev().copied().collect();
        Case::new(vec![Py::ints(&xs)], Py::ints(&rev))
    })
}

pub fn running_max(r: &mut Rng) -> Spec {
    let f = pick(r, &["running_max", "prefix_max", "max_so_far", "cumulative_max"]);
    let a = pick(r, LIST_NAMES);
    let doc = phrase(
        r,
        &[
            "Return a list whose i-th element is the largest value among the first i + 1 elements of {a}.",
            "For each position of {a}, give the maximum seen so far (including that position).",
            "Compute the running maximum of {a}: element i of the result is max({a}[:i + 1]). An empty list gives an empty list.",
        ],
        &[("a", a)],
    );
    let body = format!(
        "    result = []\n    best = None\n    for x in {a}:\n        if best is None or x > best:\n            best = x\n        result.append(best)\n    return result\n"
    );
    let (mut inputs, shown) = random_lists(r, -30, 30);
    inputs.splice(0..0, [vec![], vec![-5], vec![5, 4, 3]]);
    spec(f, vec![(a.into(), LIST)], LIST, doc, body, inputs, shown, |xs| {
        let mut out = vec![];
        for &x in &xs {
            let m = out.last().map_or(x, |&b: &i64| b.max(x));
            out.push(m);
        }
        Case::new(vec![Py::ints(&xs)], Py::ints(&out))
    })
}

pub fn count_occurrences(r: &mut Rng) -> Spec {
    let f = pick(r, &["count_occurrences", "count_of", "occurrences", "how_many"]);
    let a = pick(r, LIST_NAMES);
    let t = pick(r, &["target", "item", "wanted", "key"]);
    let doc = phrase(
        r,
        &[
            "Return how many times {t} appears in {a}.",
            "Count the elements of {a} that are equal to {t}.",
            "Given a list {a} and a value {t}, return the number of occurrences of {t} in the list (0 if it is absent).",
        ],
        &[("a", a), ("t", t)],
    );
    let body = format!("    return {a}.count({t})\n");
    let mut inputs: Vec<(Vec<i64>, i64)> = vec![(vec![], 3), (vec![1, 2, 1, 1], 1), (vec![4, 5], 6)];
    for _ in 0..3 {
        let xs = int_list(r, 4, 9, 0, 5);
        let v = int_in(r, 0, 5);
        inputs.push((xs, v));
    }
    let shown = (0..2).map(|_| (int_list(r, 3, 6, 0, 4), int_in(r, 0, 4))).collect();
    spec(f, vec![(a.into(), LIST), (t.into(), "int")], "int", doc, body, inputs, shown, |(xs, v)| {
        let n = xs.iter().filter(|&&x| x == v).count() as i64;
        Case::new(vec![Py::ints(&xs), Py::Int(v)], Py::Int(n))
    })
}

pub fn dedupe(r: &mut Rng) -> Spec {
    let f = pick(r, &["dedupe", "unique_in_order", "remove_duplicates", "distinct_values"]);
    let a = pick(r, LIST_NAMES);
    let doc = phrase(
        r,
        &[
            "Return the elements of {a} without duplicates, keeping the order of their first occurrence.",
            "Remove repeated values from {a}: each value is kept once, where it first appears.",
            "Given {a}, return a list of its distinct elements in the order they are first seen.",
        ],
        &[("a", a)],
    );
    let body = format!("    seen = set()\n    result = []\n    for x in {a}:\n        if x not in seen:\n            seen.add(x)\n            result.append(x)\n    return result\n");
    let (mut inputs, shown) = random_lists(r, 0, 6);
    inputs.splice(0..0, [vec![], vec![2, 2, 2], vec![3, 1, 2]]);
    spec(f, vec![(a.into(), LIST)], LIST, doc, body, inputs, shown, |xs| {
        let mut out: Vec<i64> = vec![];
        for &x in &xs {
            if !out.contains(&x) {
                out.push(x);
            }
        }
        Case::new(vec![Py::ints(&xs)], Py::ints(&out))
    })
}

pub fn rotate_left(r: &mut Rng) -> Spec {
    let f = pick(r, &["rotate_left", "rotate", "shift_left", "rotated"]);
    let a = pick(r, LIST_NAMES);
    let k = int_in(r, 1, 5);
    let ks = k.to_string();
    let doc = phrase(
        r,
        &[
            "Rotate {a} to the left by {k} positions: the first {k} elements move to the end (the shift wraps around for short lists). An empty list stays empty.",
            "Return {a} rotated left by {k}, so that element {k} (modulo the length) comes first.",
            "Move every element of {a} {k} places towards the front, wrapping the ones that fall off around to the back.",
        ],
        &[("a", a), ("k", &ks)],
    );
    let body = format!("    if not {a}:\n        return []\n    k = {k} % len({a})\n    return {a}[k:] + {a}[:k]\n");
    let (mut inputs, shown) = random_lists(r, 0, 40);
    let exact: Vec<i64> = (1..=k).collect();
    inputs.splice(0..0, [vec![], vec![9], exact]);
    spec(f, vec![(a.into(), LIST)], LIST, doc, body, inputs, shown, move |xs| {
        let out = if xs.is_empty() {
            vec![]
        } else {
            let s = (k as usize) % xs.len();
            [&xs[s..], &xs[..s]].concat()
        };
        Case::new(vec![Py::ints(&xs)], Py::ints(&out))
    })
}

pub fn pairwise_diffs(r: &mut Rng) -> Spec {
    let f = pick(r, &["pairwise_differences", "diffs", "consecutive_differences", "deltas"]);
    let a = pick(r, LIST_NAMES);
    let doc = phrase(
        r,
        &[
            "Return the differences between consecutive elements of {a}: element i of the result is {a}[i + 1] - {a}[i].",
            "For each neighbouring pair of {a}, subtract the earlier value from the later one; return the list of those differences.",
            "Compute the list of steps between successive numbers in {a}. A list with fewer than two elements has no steps.",
        ],
        &[("a", a)],
    );
    let body = format!("    return [{a}[i + 1] - {a}[i] for i in range(len({a}) - 1)]\n");
    let (mut inputs, shown) = random_lists(r, -15, 15);
    inputs.splice(0..0, [vec![], vec![5], vec![1, 1]]);
    spec(f, vec![(a.into(), LIST)], LIST, doc, body, inputs, shown, |xs| {
        let d: Vec<i64> = xs.windows(2).map(|w| w[1] - w[0]).collect();
        Case::new(vec![Py::ints(&xs)], Py::ints(&d))
    })
}

pub fn filter_above(r: &mut Rng) -> Spec {
    let f = pick(r, &["filter_above", "greater_than", "above_threshold", "keep_large"]);
    let a = pick(r, LIST_NAMES);
    let t = int_in(r, -5, 12);
    let ts = t.to_string();
    let doc = phrase(
        r,
        &[
            "Return the elements of {a} that are greater than {t}, in their original order.",
            "Keep only the values of {a} strictly above {t}.",
            "Filter {a}: drop every number less than or equal to {t} and return the rest.",
        ],
        &[("a", a), ("t", &ts)],
    );
    let body = format!("    return [x for x in {a} if x > {t}]\n");
    let (mut inputs, shown) = random_lists(r, -10, 20);
    inputs.splice(0..0, [vec![], vec![t], vec![t + 1, t - 1]]);
    spec(f, vec![(a.into(), LIST)], LIST, doc, body, inputs, shown, move |xs| {
        let out: Vec<i64> = xs.iter().copied().filter(|&x| x > t).collect();
        Case::new(vec![Py::ints(&xs)], Py::ints(&out))
    })
}

pub fn chunk_list(r: &mut Rng) -> Spec {
    let f = pick(r, &["chunk_list", "chunks", "split_into_chunks", "batched"]);
    let a = pick(r, LIST_NAMES);
    let k = int_in(r, 2, 4);
    let ks = k.to_string();
    let doc = phrase(
        r,
        &[
            "Split {a} into consecutive pieces of {k} elements; the last piece may be shorter.",
            "Return a list of lists: {a} cut into chunks of size {k}, in order.",
            "Group the elements of {a} {k} at a time (the final group holds whatever is left over).",
        ],
        &[("a", a), ("k", &ks)],
    );
    let body = format!("    return [{a}[i:i + {k}] for i in range(0, len({a}), {k})]\n");
    let (mut inputs, shown) = random_lists(r, 0, 30);
    let exact: Vec<i64> = (1..=k).collect();
    inputs.splice(0..0, [vec![], vec![3], exact]);
    spec(f, vec![(a.into(), LIST)], "List[List[int]]", doc, body, inputs, shown, move |xs| {
        let out = Py::List(xs.chunks(k as usize).map(Py::ints).collect());
        Case::new(vec![Py::ints(&xs)], out)
    })
}

pub fn cumulative_sum(r: &mut Rng) -> Spec {
    let f = pick(r, &["cumulative_sum", "running_total", "prefix_sums", "partial_sums"]);
    let a = pick(r, LIST_NAMES);
    let doc = phrase(
        r,
        &[
            "Return the running totals of {a}: element i of the result is the sum of {a}[0] through {a}[i].",
            "Compute the prefix sums of {a}.",
            "Given a list of integers {a}, return a list of the same length where each entry is the sum of all entries up to and including that position.",
        ],
        &[("a", a)],
    );
    let body = format!("    total = 0\n    result = []\n    for x in {a}:\n        total += x\n        result.append(total)\n    return result\n");
    let (mut inputs, shown) = random_lists(r, -10, 25);
    inputs.splice(0..0, [vec![], vec![4], vec![-1, 1]]);
    spec(f, vec![(a.into(), LIST)], LIST, doc, body, inputs, shown, |xs| {
        let out: Vec<i64> = xs.iter().scan(0, |s, &x| {
            *s += x;
            Some(*s)
        }).collect();
        Case::new(vec![Py::ints(&xs)], Py::ints(&out))
    })
}

pub fn index_of_max(r: &mut Rng) -> Spec {
    let f = pick(r, &["index_of_max", "argmax", "position_of_largest", "max_index"]);
    let a = pick(r, LIST_NAMES);
    let doc = phrase(
        r,
        &[
            "Return the index of the largest element of {a} (the first one if it occurs more than once), or -1 for an empty list.",
            "Find where the maximum of {a} is: return its first position, and -1 if {a} is empty.",
            "Give the smallest index i such that {a}[i] is the maximum of {a}; an empty list has no maximum, so return -1.",
        ],
        &[("a", a)],
    );
    let body = format!("    if not {a}:\n        return -1\n    best = 0\n    for i in range(1, len({a})):\n        if {a}[i] > {a}[best]:\n            best = i\n    return best\n");
    let (mut inputs, shown) = random_lists(r, -5, 9);
    inputs.splice(0..0, [vec![], vec![-3], vec![2, 7, 7]]);
    spec(f, vec![(a.into(), LIST)], "int", doc, body, inputs, shown, |xs| {
        let mut best: i64 = -1;
        for (i, &x) in xs.iter().enumerate() {
            if best < 0 || x > xs[best as usize] {
                best = i as i64;
            }
        }
        Case::new(vec![Py::ints(&xs)], Py::Int(best))
    })
}

