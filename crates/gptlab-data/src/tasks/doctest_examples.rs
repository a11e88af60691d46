//! A docstring's `>>>` examples, read as `doctest` reads them, and the asserts they become
//! when an example is a direct call with literal arguments and a one-line literal output
//! (`gptlab data doctests`; [`super::doctests`] says which functions are mined).

use super::pysrc::{self, Kind, Scan, Token};

/// One `>>>` example: its source (continuation lines joined by newlines) and expected output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    pub source: String,
    pub want: String,
}

/// The examples of a docstring's value, as `doctest` finds them.
pub fn examples(doc: &str) -> Vec<Example> {
    let lines: Vec<&str> = doc.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).collect();
    let prompt_at = |l: &str, marker: &str| -> Option<(usize, String)> {
        let t = l.trim_start();
        let rest = t.strip_prefix(marker)?;
        if !(rest.is_empty() || rest.starts_with(' ')) {
            return None;
        }
        Some((l.len() - t.len(), rest.strip_prefix(' ').unwrap_or(rest).to_string()))
    };
    let mut out = vec![];
    let mut i = 0;
    while i < lines.len() {
        let Some((indent, first)) = prompt_at(lines[i], ">>>") else {
            i += 1;
            continue;
        };
        let mut source = vec![first];
        i += 1;
        while i < lines.len() {
            match prompt_at(lines[i], "...") {
                Some((ind, more)) if ind == indent => {
                    source.push(more);
                    i += 1;
                }
                _ => break,
            }
        }
        let mut want = vec![];
        while i < lines.len() && !lines[i].trim().is_empty() && prompt_at(lines[i], ">>>").is_none() {
            let l = lines[i];
            let strip = l.len() - l.trim_start().len();
            want.push(l[strip.min(indent)..].to_string());
            i += 1;
        }
        out.push(Example { source: source.join("\n"), want: want.join("\n") });
    }
    out
}

/// Whether `toks` (a whole expression) is a literal: numbers, non-f strings, brackets,
/// commas, colons, signs, True/False/None, and (with `kwargs`) `name=` at the top level.
fn literal(s: &Scan, toks: &[Token], kwargs: bool) -> bool {
    let mut depth = 0i32;
    for (i, t) in toks.iter().enumerate() {
        let text = s.text(t);
        let ok = match t.kind {
            Kind::Number => true,
            Kind::Str => !pysrc::string_parts(text).0.to_ascii_lowercase().contains('f'),
            Kind::Name => matches!(text, "True" | "False" | "None") || (kwargs && depth == 0 && toks.get(i + 1).is_some_and(|n| s.text(n) == "=")),
            Kind::Op => match text {
                "(" | "[" | "{" => {
                    depth += 1;
                    true
                }
                ")" | "]" | "}" => {
                    depth -= 1;
                    true
                }
                "," | ":" | "-" | "+" => true,
                "=" => kwargs && depth == 0 && i > 0 && toks[i - 1].kind == Kind::Name,
                _ => false,
            },
        };
        if !ok {
            return false;
        }
    }
    !toks.is_empty()
}

/// The assert line for `ex`, or why there is none.
pub(crate) fn assert_for(ex: &Example, func: &str) -> std::result::Result<String, &'static str> {
    if let Some(d) = ex.source.find("doctest:") {
        let directive = &ex.source[d + "doctest:".len()..];
        let harmless = directive.split(|c: char| c == ',' || c.is_whitespace()).filter(|w| w.starts_with('+') || w.starts_with('-')).all(|w| matches!(&w[1..], "NORMALIZE_WHITESPACE" | "DONT_ACCEPT_BLANKLINE"));
        if !harmless {
            return Err("directive");
        }
    }
    if ex.want.trim().is_empty() {
        return Err("no_output");
    }
    if ex.want.starts_with("Traceback (") {
        return Err("exception");
    }
    if ex.want.contains('\n') {
        return Err("multiline_output");
    }
    let Ok(src) = pysrc::scan(&ex.source) else { return Err("not_a_call") };
    let t = &src.tokens;
    if src.logical.len() != 1 || t.len() < 3 || src.text(&t[0]) != func || src.text(&t[1]) != "(" || src.text(&t[t.len() - 1]) != ")" {
        return Err("not_a_call");
    }
    // the call's parenthesis must close at the very end (not `f(1)(2)` or `f(1) + f(2)`)
    let mut depth = 0;
    for (i, tok) in t.iter().enumerate().skip(1) {
        match src.text(tok) {
            "(" | "[" | "{" => depth += 1,
            ")" | "]" | "}" => depth -= 1,
            _ => {}
        }
        if depth == 0 && i != t.len() - 1 {
            return Err("not_a_call");
        }
    }
    let args = &t[2..t.len() - 1];
    if !args.is_empty() && !literal(&src, args, true) {
        return Err("args_not_literal");
    }
    let want = ex.want.trim();
    let Ok(w) = pysrc::scan(want) else { return Err("output_not_literal") };
    if w.logical.len() != 1 || !literal(&w, &w.tokens, false) {
        return Err("output_not_literal");
    }
    let args_text = &ex.source[t[1].end..t[t.len() - 1].start];
    Ok(format!("    assert candidate({args_text}) == {want}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_are_read_as_doctest_reads_them() {
        let doc = "Doc.\n\n    >>> f(1,\n    ...   2)\n    3\n    >>> f(0, 0)\n    0\n    >>> g()\n\n    >>>f(9)\n    text\n    >>> [1,\n    ... 2]\n    [1,\n     2]\n";
        let ex = examples(doc);
        assert_eq!(ex.len(), 4, "{ex:?}");
        assert_eq!(ex[0], Example { source: "f(1,\n  2)".into(), want: "3".into() });
        assert_eq!(ex[1].want, "0");
        assert_eq!(ex[2], Example { source: "g()".into(), want: "".into() });
        assert_eq!(ex[3].want, "[1,\n 2]");
    }

    #[test]
    fn only_literal_direct_calls_become_asserts() {
        let e = |s: &str, w: &str| assert_for(&Example { source: s.into(), want: w.into() }, "f");
        assert_eq!(e("f(1, 'a', x=[2, -3.5], y={'k': (1,)})", "{1: None}").as_deref(), Ok("    assert candidate(1, 'a', x=[2, -3.5], y={'k': (1,)}) == {1: None}\n"));
        assert_eq!(e("f()", "True"), Ok("    assert candidate() == True\n".into()));
        assert_eq!(e("f(1,\n  2)", "3"), Ok("    assert candidate(1,\n  2) == 3\n".into()));
        assert_eq!(e("f(x)", "1"), Err("args_not_literal"));
        assert_eq!(e("f(1) + 1", "2"), Err("not_a_call"));
        assert_eq!(e("f(1)(2)", "2"), Err("not_a_call"));
        assert_eq!(e("g(1)", "2"), Err("not_a_call"));
        assert_eq!(e("x = f(1)", "2"), Err("not_a_call"));
        assert_eq!(e("print(f(1))", "2"), Err("not_a_call"));
        assert_eq!(e("f(1)", "Fraction(1, 2)"), Err("output_not_literal"));
        assert_eq!(e("f(1)", "[1,\n 2]"), Err("multiline_output"));
        assert_eq!(e("f(1)", ""), Err("no_output"));
        assert_eq!(e("f(0)", "Traceback (most recent call last):"), Err("exception"));
        assert_eq!(e("f(1)  # doctest: +ELLIPSIS", "[1, ...]"), Err("directive"));
        assert_eq!(e("f(16)  #doctest:+SKIP", "b'x'"), Err("directive"));
        assert_eq!(e("f(1) # doctest: +NORMALIZE_WHITESPACE, +SKIP", "1"), Err("directive"));
        assert_eq!(e("f(1)  # doctest: +NORMALIZE_WHITESPACE", "[1, 2]"), Ok("    assert candidate(1) == [1, 2]\n".into()));
        assert_eq!(e("f(f'{1}')", "1"), Err("args_not_literal"));
    }
}
