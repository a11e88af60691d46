//! Arithmetic families: gcd, digit sum, is prime, factorial modulo m, clamp into [lo, hi],
//! count the multiples of k, Collatz steps, reverse the digits. Inputs are small enough that
//! every intermediate value fits an `i64`, so the references agree with Python's big ints.

use super::families::{int_in, phrase, pick, spec, two_names, Case, Py, Spec, INT_NAMES};
use gptlab_core::rng::Rng;

/// Check inputs (edge cases, then `n` drawn) and two shown ones, for one integer argument.
fn ints(r: &mut Rng, edge: &[i64], n: usize, lo: i64, hi: i64) -> (Vec<i64>, Vec<i64>) {
    let mut check = edge.to_vec();
    for _ in 0..n {
        check.push(int_in(r, lo, hi));
    }
    let shown = (0..2).map(|_| int_in(r, lo, hi)).collect();
    (check, shown)
}

pub fn gcd(r: &mut Rng) -> Spec {
    let f = pick(r, &["gcd", "greatest_common_divisor", "hcf", "common_divisor"]);
    let (a, b) = two_names(r, &[("a", "b"), ("x", "y"), ("m", "n"), ("p", "q")]);
    let doc = phrase(
        r,
        &[
            "Return the greatest common divisor of the non-negative integers {a} and {b}; gcd(0, 0) is 0.",
            "Compute the largest integer that divides both {a} and {b} (both are >= 0; if one is 0 the answer is the other).",
            "Find the highest common factor of {a} and {b} using Euclid's algorithm.",
        ],
        &[("a", &a), ("b", &b)],
    );
    let body = format!("    while {b}:\n        {a}, {b} = {b}, {a} % {b}\n    return {a}\n");
    let mut check = vec![(0, 0), (0, 7), (12, 18), (17, 5)];
    for _ in 0..3 {
        let g = int_in(r, 1, 9);
        check.push((g * int_in(r, 0, 20), g * int_in(r, 1, 20)));
    }
    let shown = (0..2).map(|_| (int_in(r, 2, 60), int_in(r, 2, 60))).collect();
    spec(f, vec![(a.clone(), "int"), (b.clone(), "int")], "int", doc, body, check, shown, |(x, y)| {
        let (mut p, mut q) = (x, y);
        while q != 0 {
            (p, q) = (q, p % q);
        }
        Case::new(vec![Py::Int(x), Py::Int(y)], Py::Int(p))
    })
}

pub fn digit_sum(r: &mut Rng) -> Spec {
    let f = pick(r, &["digit_sum", "sum_of_digits", "add_digits", "digits_total"]);
    let n = pick(r, INT_NAMES);
    let doc = phrase(
        r,
        &[
            "Return the sum of the decimal digits of {n}; the sign of a negative number is ignored.",
            "Add up the digits of the integer {n} (use its absolute value).",
            "Compute the digit sum of abs({n}), e.g. 123 -> 6.",
        ],
        &[("n", n)],
    );
    let body = format!("    return sum(int(d) for d in str(abs({n})))\n");
    let (check, shown) = ints(r, &[0, 7, -45], 3, -99_999, 999_999);
    spec(f, vec![(n.into(), "int")], "int", doc, body, check, shown, |x| {
        let s: i64 = x.unsigned_abs().to_string().bytes().map(|b| i64::from(b - b'0')).sum();
        Case::new(vec![Py::Int(x)], Py::Int(s))
    })
}

fn prime(n: i64) -> bool {
    n >= 2 && (2..).take_while(|i| i * i <= n).all(|i| n % i != 0)
}

pub fn is_prime(r: &mut Rng) -> Spec {
    let f = pick(r, &["is_prime", "prime", "check_prime", "is_a_prime"]);
    let n = pick(r, INT_NAMES);
    let doc = phrase(
        r,
        &[
            "Return True if {n} is a prime number and False otherwise. Numbers below 2 are not prime.",
            "Decide whether the integer {n} has exactly two positive divisors (1 and itself).",
            "Check if {n} is prime: it must be at least 2 and divisible by no number between 2 and its square root.",
        ],
        &[("n", n)],
    );
    let body = format!("    if {n} < 2:\n        return False\n    i = 2\n    while i * i <= {n}:\n        if {n} % i == 0:\n            return False\n        i += 1\n    return True\n");
    let (mut check, shown) = ints(r, &[0, 1, 2, -7, 9, 97], 2, 2, 400);
    // at least one prime and one composite beyond the edge cases
    let p = (int_in(r, 100, 500)..).find(|&x| prime(x)).unwrap_or(503);
    check.push(p);
    check.push(p * int_in(r, 2, 3));
    spec(f, vec![(n.into(), "int")], "bool", doc, body, check, shown, |x| Case::new(vec![Py::Int(x)], Py::Bool(prime(x))))
}

pub fn factorial_mod(r: &mut Rng) -> Spec {
    let f = pick(r, &["factorial_mod", "fact_mod", "factorial_modulo", "mod_factorial"]);
    let n = pick(r, INT_NAMES);
    let m = *pick(r, &[&7i64, &11, &13, &97, &1000, &1_000_000_007]);
    let ms = m.to_string();
    let doc = phrase(
        r,
        &[
            "Return {n}! (the factorial of {n}) modulo {m}. 0! is 1.",
            "Compute the product 1 * 2 * ... * {n}, reduced modulo {m}, for a non-negative integer {n}.",
            "Give the remainder of the factorial of {n} when divided by {m}.",
        ],
        &[("n", n), ("m", &ms)],
    );
    let body = format!("    result = 1\n    for i in range(2, {n} + 1):\n        result = result * i % {m}\n    return result % {m}\n");
    let (check, shown) = ints(r, &[0, 1, 5], 3, 2, 30);
    spec(f, vec![(n.into(), "int")], "int", doc, body, check, shown, move |x| {
        let mut acc: i64 = 1 % m;
        for i in 2..=x {
            acc = acc * i % m;
        }
        Case::new(vec![Py::Int(x)], Py::Int(acc))
    })
}

pub fn clamp(r: &mut Rng) -> Spec {
    let f = pick(r, &["clamp", "clip", "bound", "limit_range"]);
    let n = pick(r, INT_NAMES);
    let lo = int_in(r, -20, 10);
    let hi = lo + int_in(r, 1, 30);
    let (los, his) = (lo.to_string(), hi.to_string());
    let doc = phrase(
        r,
        &[
            "Clamp {n} into the range [{lo}, {hi}]: return {lo} if it is smaller, {hi} if it is larger, and {n} itself otherwise.",
            "Return the value of the interval from {lo} to {hi} (inclusive) that is closest to {n}.",
            "Limit {n} so that it is at least {lo} and at most {hi}.",
        ],
        &[("n", n), ("lo", &los), ("hi", &his)],
    );
    let body = format!("    return max({lo}, min({hi}, {n}))\n");
    let (check, shown) = ints(r, &[lo, hi, lo - 1, hi + 1], 3, lo - 15, hi + 15);
    spec(f, vec![(n.into(), "int")], "int", doc, body, check, shown, move |x| Case::new(vec![Py::Int(x)], Py::Int(x.clamp(lo, hi))))
}

pub fn count_multiples(r: &mut Rng) -> Spec {
    let f = pick(r, &["count_multiples", "multiples_up_to", "how_many_multiples", "num_divisible"]);
    let n = pick(r, INT_NAMES);
    let k = int_in(r, 2, 9);
    let ks = k.to_string();
    let doc = phrase(
        r,
        &[
            "Return how many of the integers 1, 2, ..., {n} are divisible by {k} (0 when {n} < 1).",
            "Count the multiples of {k} between 1 and {n} inclusive.",
            "How many numbers from 1 up to and including {n} leave no remainder when divided by {k}?",
        ],
        &[("n", n), ("k", &ks)],
    );
    let body = format!("    return sum(1 for i in range(1, {n} + 1) if i % {k} == 0)\n");
    let (check, shown) = ints(r, &[0, -5, k, k - 1], 3, 1, 200);
    spec(f, vec![(n.into(), "int")], "int", doc, body, check, shown, move |x| Case::new(vec![Py::Int(x)], Py::Int(if x < 1 { 0 } else { x / k })))
}

pub fn collatz_steps(r: &mut Rng) -> Spec {
    let f = pick(r, &["collatz_steps", "collatz_length", "steps_to_one", "hailstone_steps"]);
    let n = pick(r, INT_NAMES);
    let doc = phrase(
        r,
        &[
            "Return how many Collatz steps it takes {n} (>= 1) to reach 1: an even number is halved, an odd one becomes 3 * {n} + 1.",
            "Count the steps of the hailstone sequence from {n} down to 1, where each step maps x to x // 2 if x is even and to 3 * x + 1 if it is odd. For 1 the answer is 0.",
            "Starting from the positive integer {n}, repeatedly halve it when even or triple it and add one when odd; return the number of steps until it equals 1.",
        ],
        &[("n", n)],
    );
    let body = format!("    steps = 0\n    while {n} != 1:\n        if {n} % 2 == 0:\n            {n} = {n} // 2\n        else:\n            {n} = 3 * {n} + 1\n        steps += 1\n    return steps\n");
    let (check, shown) = ints(r, &[1, 2, 3, 27], 3, 4, 100);
    spec(f, vec![(n.into(), "int")], "int", doc, body, check, shown, |x| {
        let (mut v, mut steps) = (x, 0);
        while v != 1 {
            v = if v % 2 == 0 { v / 2 } else { 3 * v + 1 };
            steps += 1;
        }
        Case::new(vec![Py::Int(x)], Py::Int(steps))
    })
}

pub fn reverse_integer(r: &mut Rng) -> Spec {
    let f = pick(r, &["reverse_integer", "reverse_digits", "flip_number", "mirror_number"]);
    let n = pick(r, INT_NAMES);
    let doc = phrase(
        r,
        &[
            "Return the integer whose decimal digits are those of {n} in reverse order, keeping the sign (so -120 gives -21).",
            "Reverse the digits of {n}; leading zeros of the result disappear and a negative number stays negative.",
            "Write {n} backwards digit by digit and return it as an int with the same sign as {n}.",
        ],
        &[("n", n)],
    );
    let body = format!("    sign = -1 if {n} < 0 else 1\n    return sign * int(str(abs({n}))[::-1])\n");
    let (check, shown) = ints(r, &[0, 5, 1200, -120], 3, -99_999, 99_999);
    spec(f, vec![(n.into(), "int")], "int", doc, body, check, shown, |x| {
        let rev: String = x.unsigned_abs().to_string().chars().rev().collect();
        let m = rev.parse::<i64>().unwrap_or(0);
        let v = if x < 0 { -m } else { m };
        Case::new(vec![Py::Int(x)], Py::Int(v))
    })
}
