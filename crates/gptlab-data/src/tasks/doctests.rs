//! Problems mined from a code corpus: top-level Python functions whose docstrings carry
//! doctests become HumanEval problems (`gptlab data doctests`), the way Codex's authors turned
//! real code into evaluation material.
//!
//! For each Python file of `corpus.jsonl` (as `gptlab data code` writes it), the file is
//! scanned ([`super::pysrc`]) into logical lines, and every `def` is looked at:
//! - only **top-level**, plain (not `async`, not decorated) functions with a docstring whose
//!   first statement is a string literal qualify; methods and nested functions are counted
//!   and skipped;
//! - each `>>>` example of the docstring (with its `...` continuation lines, and the expected
//!   output up to a blank line or the next `>>>`, as `doctest` reads them) is used when it is
//!   a **direct call of the function with literal arguments** (numbers, strings, lists,
//!   tuples, dicts, sets, True/False/None, keyword arguments) and its expected output is one
//!   line holding a literal: it becomes `assert candidate(<args>) == <expected>`. Other
//!   examples (other expressions, names as arguments, exceptions, no output, several output
//!   lines, `SKIP`/`ELLIPSIS`-style directives) are counted by reason and left out. A
//!   function with no usable example is skipped;
//! - **the prompt** is the imports the function needs + its signature + its docstring, as
//!   written in the file. Needed imports are the file's column-0 `import`/`from` statements
//!   that bind a name the function uses (plus any `from __future__` and `import *` lines). A
//!   function that uses a name the file defines in any other way (another function, a class,
//!   a module-level assignment, an import inside `try:`) is skipped (`uses_module_names`)
//!   rather than given the whole file; so is one that calls `print` (its doctest output would
//!   be what it prints, not what it returns). With [`Context::File`] (`--context file`) the
//!   prompt is instead the whole file up to the function + signature + docstring, and only a
//!   function using a module name first bound *after* it is skipped (`uses_later_names`);
//! - **the canonical solution** is the body after the docstring, up to the function's last
//!   statement; **the test** is `def check(candidate):` with the asserts.
//!
//! Problems with a prompt already written (the same function in two files) are skipped as
//! duplicates. Task ids are `Doctest/<path>/<function>`.

use super::pyscope::*;
use super::doctest_examples::{assert_for, examples};
use super::pysrc::{self, Kind};
use super::{write_problems, Problem};
use crate::{Error, Result};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

/// What a mined problem's prompt holds before the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Context {
    /// The column-0 imports the function uses; functions using other module names are skipped.
    #[default]
    Imports,
    /// The whole file before the function; functions using module names bound after it are skipped.
    File,
}

/// Counts of `gptlab data doctests`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DoctestReport {
    /// Corpus records read, and those that are Python.
    pub records: usize,
    pub python_files: usize,
    /// Python files the scanner could not read (an unterminated string, a stray backslash).
    pub unscannable_files: usize,
    /// Every `def`, at any depth, and those at the top level.
    pub functions_seen: usize,
    pub top_level_functions: usize,
    /// `def`s (any depth) whose docstring holds a `>>>` example.
    pub with_doctests: usize,
    pub problems_written: usize,
    /// `>>>` examples of the functions that got as far as having their examples read, and
    /// those that became asserts.
    pub examples_seen: usize,
    pub examples_used: usize,
    /// Functions with doctests that did not become problems, by reason.
    pub skipped_functions: BTreeMap<&'static str, usize>,
    /// Examples that did not become asserts, by reason.
    pub skipped_examples: BTreeMap<&'static str, usize>,
    pub context: Context,
    pub prompt: &'static str,
}

const PROMPT_IMPORTS: &str = "the column-0 imports the function uses (and any __future__ or star imports), then its signature and docstring as written; functions using other module-level names are skipped";
const PROMPT_FILE: &str = "the whole file before the function, then its signature and docstring as written; functions using module-level names bound after them are skipped";

fn skip(r: &mut DoctestReport, why: &'static str) {
    *r.skipped_functions.entry(why).or_default() += 1;
}

/// The problems of one Python source; `seen` holds the prompts already written (duplicates
/// are skipped), `ids` the task ids.
pub fn mine_source(path: &str, src: &str, context: Context, r: &mut DoctestReport, seen: &mut HashSet<String>, ids: &mut HashSet<String>) -> Vec<Problem> {
    r.python_files += 1;
    let Ok(s) = pysrc::scan(src) else {
        r.unscannable_files += 1;
        return vec![];
    };
    let lines: Vec<&str> = src.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).collect();
    let source = |a: usize, b: usize| -> String { lines[a..=b.min(lines.len() - 1)].iter().map(|l| format!("{l}\n")).collect() };
    let defs = find_defs(&s);
    let mut module: Option<(Vec<Import>, HashMap<String, usize>)> = None;
    let mut out = vec![];
    for d in &defs {
        r.functions_seen += 1;
        if d.indent == 0 {
            r.top_level_functions += 1;
        }
        let Some(doc_at) = d.doc else { continue };
        let doc_line = &s.logical[doc_at];
        if !pysrc::string_parts(s.text(&s.toks(doc_line)[0])).1.contains(">>>") {
            continue;
        }
        r.with_doctests += 1;
        if d.indent > 0 {
            skip(r, "method_or_nested");
            continue;
        }
        if d.is_async {
            skip(r, "async");
            continue;
        }
        if d.decorated {
            skip(r, "decorated");
            continue;
        }
        let Some(doc) = doc_value(&s, doc_line) else {
            skip(r, "docstring_escape");
            continue;
        };
        if d.end <= doc_at + 1 {
            skip(r, "no_body");
            continue;
        }
        let exs = examples(&doc);
        r.examples_seen += exs.len();
        let mut asserts = vec![];
        for ex in &exs {
            match assert_for(ex, &d.name) {
                Ok(a) => asserts.push(a),
                Err(why) => *r.skipped_examples.entry(why).or_default() += 1,
            }
        }
        if asserts.is_empty() {
            skip(r, "no_usable_doctest");
            continue;
        }
        // the names the function uses that it does not bind itself
        let header = s.toks(&s.logical[d.at]);
        let mut used = HashSet::new();
        let mut bound = params(&s, header);
        let mut globals = HashSet::new();
        references(&s, header, &mut used);
        for l in &s.logical[doc_at + 1..d.end] {
            let toks = s.toks(l);
            references(&s, toks, &mut used);
            bindings(&s, toks, &mut bound);
            if toks.first().is_some_and(|t| matches!(s.text(t), "global" | "nonlocal")) {
                globals.extend(toks[1..].iter().filter(|t| t.kind == Kind::Name).map(|t| s.text(t).to_string()));
            }
        }
        let free: Vec<&String> = used.iter().filter(|n| (!bound.contains(*n) || globals.contains(*n)) && **n != d.name).collect();
        if free.iter().any(|n| n.as_str() == "print") {
            skip(r, "prints_output");
            continue;
        }
        let (imports, names) = module.get_or_insert_with(|| module_scope(&s));
        let def_line = s.logical[d.at].line;
        let head = match context {
            Context::Imports => {
                if free.iter().any(|n| names.contains_key(*n)) {
                    skip(r, "uses_module_names");
                    continue;
                }
                let mut head = String::new();
                for imp in imports.iter().filter(|i| i.future) {
                    head.push_str(&format!("{}\n", imp.text));
                }
                for imp in imports.iter().filter(|i| !i.future && (i.star || i.names.iter().any(|n| free.contains(&n)))) {
                    head.push_str(&format!("{}\n", imp.text));
                }
                if !head.is_empty() {
                    head.push_str("\n\n");
                }
                head
            }
            Context::File => {
                let first_bound = |n: &String| names.get(n).copied().into_iter().chain(imports.iter().filter(|i| i.names.contains(n)).map(|i| i.line)).min();
                if free.iter().any(|n| first_bound(n).is_some_and(|l| l >= def_line)) {
                    skip(r, "uses_later_names");
                    continue;
                }
                if def_line == 0 { String::new() } else { source(0, def_line - 1) }
            }
        };
        let prompt = format!("{head}{}", source(def_line, doc_line.end_line));
        let last = s.logical[d.end - 1].end_line;
        let body = source(doc_line.end_line + 1, last);
        if !seen.insert(prompt.clone()) {
            skip(r, "duplicate");
            continue;
        }
        let base = format!("Doctest/{}/{}", path.trim_start_matches('/'), d.name);
        let mut task_id = base.clone();
        let mut n = 2;
        while !ids.insert(task_id.clone()) {
            task_id = format!("{base}#{n}");
            n += 1;
        }
        r.examples_used += asserts.len();
        r.problems_written += 1;
        let test = format!("\n\ndef check(candidate):\n{}", asserts.concat());
        out.push(Problem { task_id, prompt, entry_point: d.name.clone(), canonical_solution: body, test, completion: None });
    }
    out
}

/// `gptlab data doctests`: reads `corpus` (JSON Lines of `{path, text, lang, ...}`), mines
/// every Python record, writes the problems to `out` (atomically) and returns the counts.
pub fn mine_corpus(corpus: &Path, out: &Path, context: Context) -> Result<DoctestReport> {
    let text = gptlab_core::fsio::read_text(corpus)?;
    let prompt = match context {
        Context::Imports => PROMPT_IMPORTS,
        Context::File => PROMPT_FILE,
    };
    let mut r = DoctestReport { context, prompt, ..Default::default() };
    let (mut seen, mut ids) = (HashSet::new(), HashSet::new());
    let mut problems = vec![];
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |msg: String| Error::Line { path: corpus.to_path_buf(), line: i + 1, msg };
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| bad(format!("invalid JSON: {e}")))?;
        r.records += 1;
        let path = v.get("path").and_then(|p| p.as_str()).ok_or_else(|| bad("missing string field `path`".into()))?;
        let src = v.get("text").and_then(|p| p.as_str()).ok_or_else(|| bad("missing string field `text`".into()))?;
        let python = match v.get("lang").and_then(|l| l.as_str()) {
            Some(l) => l == "python",
            None => path.ends_with(".py"),
        };
        if python {
            problems.extend(mine_source(path, src, context, &mut r, &mut seen, &mut ids));
        }
    }
    if r.records == 0 {
        return Err(Error::Empty(corpus.to_path_buf()));
    }
    write_problems(out, &problems)?;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mine(src: &str) -> (Vec<Problem>, DoctestReport) {
        let mut r = DoctestReport::default();
        let ps = mine_source("m.py", src, Context::Imports, &mut r, &mut HashSet::new(), &mut HashSet::new());
        (ps, r)
    }

    const SRC: &str = r#"#!/usr/bin/env python3
"""Module doc.

>>> add(1, 2)
3
"""
from __future__ import annotations
import math
import os, re as regex
from collections import (
    Counter,
    OrderedDict,
)
try:
    import json
except ImportError:
    json = None

LIMIT = 10


def add(a: int,
        b: int = 0) -> int:
    """Add two numbers.

    >>> add(1, 2)
    3
    >>> add(-1,
    ...     1)
    0
    """
    # a comment before the body
    return a + b



def hyp(x, y):
	'''Length of the hypotenuse (tab-indented).

	>>> hyp(3, 4)
	5.0
	>>> hyp(*[3, 4])
	5.0
	'''
	s = f"{x!r:>{y}}"
	return math.sqrt(x * x + y * y)


def count(text):
    r"""Letters by count, raw docstring with a \d in it.

    >>> count("aab")
    {'a': 2, 'b': 1}
    >>> sorted(count("ba"))
    ['a', 'b']
    """
    c = Counter(text)
    text = """a string
at column 0 inside the body"""
    return dict(c)


def capped(n):
    """
    >>> capped(50)
    10
    """
    return min(n, LIMIT)


def dumps(x):
    """
    >>> dumps(1)
    '1'
    """
    return json.dumps(x)


def no_usable(x):
    """Only non-call examples.

    >>> y = no_usable(2)
    >>> y
    4
    """
    return x * 2


def noisy(x):
    """
    >>> noisy(1)
    1
    """
    print(x)


class Box:
    def size(self):
        """
        >>> Box().size()
        1
        """
        return 1

    def method(self, n):
        """
        >>> method(None, 2)
        2
        """
        return n


@staticmethod
def decorated(x):
    """
    >>> decorated(1)
    1
    """
    return x


def outer(x):
    def inner(y):
        """
        >>> inner(1)
        1
        """
        return y
    return inner(x)


def shadow(LIMIT):
    """A parameter named like a module constant is local.

    >>> shadow(3)
    4
    """
    total = LIMIT + 1
    return total
if __name__ == "__main__":
    print(add(1, 2))
"#;

    #[test]
    fn mines_top_level_functions_and_skips_the_rest() {
        let (ps, r) = mine(SRC);
        let ids: Vec<&str> = ps.iter().map(|p| p.task_id.as_str()).collect();
        assert_eq!(ids, vec!["Doctest/m.py/add", "Doctest/m.py/hyp", "Doctest/m.py/count", "Doctest/m.py/shadow"], "{r:?}");
        let add = &ps[0];
        assert_eq!(add.prompt, "from __future__ import annotations\n\n\ndef add(a: int,\n        b: int = 0) -> int:\n    \"\"\"Add two numbers.\n\n    >>> add(1, 2)\n    3\n    >>> add(-1,\n    ...     1)\n    0\n    \"\"\"\n");
        assert_eq!(add.canonical_solution, "    # a comment before the body\n    return a + b\n");
        assert_eq!(add.test, "\n\ndef check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(-1,\n    1) == 0\n");
        assert_eq!(add.entry_point, "add");
        let hyp = &ps[1];
        assert!(hyp.prompt.starts_with("from __future__ import annotations\nimport math\n\n\ndef hyp(x, y):\n\t'''Length"), "{}", hyp.prompt);
        assert_eq!(hyp.canonical_solution, "\ts = f\"{x!r:>{y}}\"\n\treturn math.sqrt(x * x + y * y)\n");
        assert_eq!(hyp.test, "\n\ndef check(candidate):\n    assert candidate(3, 4) == 5.0\n");
        let count = &ps[2];
        assert!(count.prompt.contains("from collections import (\n    Counter,\n    OrderedDict,\n)\n\n\ndef count(text):\n    r\"\"\"Letters"), "{}", count.prompt);
        assert!(!count.prompt.contains("import os"));
        assert!(count.canonical_solution.ends_with("at column 0 inside the body\"\"\"\n    return dict(c)\n"), "{}", count.canonical_solution);
        assert_eq!(count.test, "\n\ndef check(candidate):\n    assert candidate(\"aab\") == {'a': 2, 'b': 1}\n");
        assert_eq!(ps[3].test, "\n\ndef check(candidate):\n    assert candidate(3) == 4\n");
        assert_eq!(r.functions_seen, 13);
        assert_eq!(r.top_level_functions, 10);
        assert_eq!(r.with_doctests, 12);
        assert_eq!(r.problems_written, 4);
        let sk = |k: &str| r.skipped_functions.get(k).copied().unwrap_or(0);
        assert_eq!(sk("method_or_nested"), 3);
        assert_eq!(sk("decorated"), 1);
        assert_eq!(sk("uses_module_names"), 2, "capped uses LIMIT, dumps a json bound inside try: {r:?}");
        assert_eq!(sk("no_usable_doctest"), 1);
        assert_eq!(sk("prints_output"), 1);
        assert_eq!(r.skipped_examples.get("args_not_literal"), Some(&1));
        assert_eq!(r.skipped_examples.get("not_a_call"), Some(&2));
        assert_eq!(r.skipped_examples.get("no_output"), Some(&1));
        assert_eq!(r.examples_used, 5);
        // the same function again in another file is a duplicate, and ids stay unique
        let mut r2 = DoctestReport::default();
        let (mut seen, mut ids) = (HashSet::new(), HashSet::new());
        let a = mine_source("m.py", SRC, Context::Imports, &mut r2, &mut seen, &mut ids);
        let b = mine_source("m.py", &SRC.replace("Add two numbers", "Add two integers"), Context::Imports, &mut r2, &mut seen, &mut ids);
        assert_eq!((a.len(), b.len()), (4, 1));
        assert_eq!(b[0].task_id, "Doctest/m.py/add#2");
        assert_eq!(r2.skipped_functions.get("duplicate"), Some(&3));
    }

    #[test]
    fn file_context_keeps_what_comes_before() {
        let src = "import math\n\ndef early(x):\n    \"\"\"\n    >>> early(2)\n    4\n    \"\"\"\n    return helper(x)\nK = 2\ndef helper(x):\n    return x * K\ndef late(x):\n    \"\"\"\n    >>> late(3)\n    6\n    \"\"\"\n    return math.floor(x * K)\n";
        let mut r = DoctestReport::default();
        let ps = mine_source("/abs/m.py", src, Context::File, &mut r, &mut HashSet::new(), &mut HashSet::new());
        assert_eq!(ps.len(), 1, "{r:?}");
        assert_eq!(ps[0].task_id, "Doctest/abs/m.py/late");
        assert!(ps[0].prompt.starts_with("import math\n\ndef early(x):\n") && ps[0].prompt.contains("K = 2\ndef helper(x):\n    return x * K\ndef late(x):\n"), "{}", ps[0].prompt);
        assert_eq!(ps[0].canonical_solution, "    return math.floor(x * K)\n");
        assert_eq!(r.skipped_functions.get("uses_later_names"), Some(&1));
        let (ps, r) = mine(src);
        assert!(ps.is_empty());
        assert_eq!(r.skipped_functions.get("uses_module_names"), Some(&2));
    }

    #[test]
    fn bad_sources_and_escapes() {
        let (ps, r) = mine("def f(x):\n    '''\n    >>> f(1)\n    1\n");
        assert!(ps.is_empty());
        assert_eq!(r.unscannable_files, 1);
        // an escaped docstring is decoded before its examples are read
        let (ps, _) = mine("def f(s):\n    \"\"\"\n    >>> f('a\\\\nb')\n    3\n    \"\"\"\n    return len(s)\n");
        assert_eq!(ps[0].test, "\n\ndef check(candidate):\n    assert candidate('a\\nb') == 3\n");
        let (ps, r) = mine("def f(s):\n    \"\"\"\\N{BULLET}\n    >>> f(1)\n    1\n    \"\"\"\n    return s\n");
        assert!(ps.is_empty());
        assert_eq!(r.skipped_functions.get("docstring_escape"), Some(&1));
        // a one-line def has no docstring; a docstring-only function has no body
        let (ps, r) = mine("def f(x): return x\n\ndef g(x):\n    \"\"\"\n    >>> g(1)\n    1\n    \"\"\"\n\nx = 1\n");
        assert!(ps.is_empty());
        assert_eq!((r.functions_seen, r.with_doctests), (2, 1));
        assert_eq!(r.skipped_functions.get("no_body"), Some(&1));
    }
}
