//! What Python source binds and uses, for the doctest miner: the names an `import` binds,
//! the names a statement binds or reads (f-string fields included), a function's parameters,
//! where each top-level `def` and its docstring and body are, and a file's module scope.
//! All of it works on [`super::pysrc`]'s logical lines and tokens.

use super::pysrc::{self, Kind, Logical, Scan, Token, KEYWORDS};
use std::collections::{HashMap, HashSet};

/// An `import`/`from` statement: its text, the names it binds, and its kind.
#[derive(Debug, Clone)]
pub(super) struct Import {
    pub(super) text: String,
    pub(super) names: Vec<String>,
    pub(super) star: bool,
    pub(super) future: bool,
    /// Its first line (0-based).
    pub(super) line: usize,
}

/// The names an `import`/`from` statement binds (and whether it is a star import).
pub(super) fn import_names(s: &Scan, toks: &[Token]) -> (Vec<String>, bool) {
    let texts: Vec<&str> = toks.iter().map(|t| s.text(t)).collect();
    let items: &[&str] = match texts.first() {
        Some(&"import") => &texts[1..],
        Some(&"from") => match texts.iter().position(|t| *t == "import") {
            Some(p) => &texts[p + 1..],
            None => return (vec![], false),
        },
        _ => return (vec![], false),
    };
    let is_from = texts.first() == Some(&"from");
    let mut names = vec![];
    let mut star = false;
    for item in items.split(|t| *t == ",") {
        let item: Vec<&str> = item.iter().copied().filter(|t| !matches!(*t, "(" | ")")).collect();
        if item == ["*"] {
            star = true;
        } else if let Some(p) = item.iter().position(|t| *t == "as") {
            if let Some(n) = item.get(p + 1) {
                names.push(n.to_string());
            }
        } else if let Some(first) = item.first() {
            // `import a.b` binds `a`; `from m import x` binds `x`
            if is_from || !first.is_empty() {
                names.push(first.to_string());
            }
        }
    }
    (names, star)
}

/// Names a statement binds: assignment, augmented-assignment and walrus targets, `for`
/// targets (comprehensions too), `as` names, `lambda` parameters, `def`/`class` names and
/// imports. A target's subscript or attribute (`a[i] = `, `a.b = `) binds nothing.
pub(super) fn bindings(s: &Scan, toks: &[Token], out: &mut HashSet<String>) {
    let text = |i: usize| toks.get(i).map(|t| s.text(t)).unwrap_or("");
    match text(0) {
        "import" | "from" => {
            out.extend(import_names(s, toks).0);
            return;
        }
        "def" | "class" => {
            out.insert(text(1).to_string());
        }
        "async" if text(1) == "def" => {
            out.insert(text(2).to_string());
        }
        _ => {}
    }
    // plain and chained assignment: everything before the last top-level `=`
    let mut depth = 0;
    let mut last_eq = None;
    for (i, t) in toks.iter().enumerate() {
        match s.text(t) {
            "(" | "[" | "{" => depth += 1,
            ")" | "]" | "}" => depth -= 1,
            "=" if depth == 0 => last_eq = Some(i),
            _ => {}
        }
    }
    let is_target = |i: usize| {
        toks[i].kind == Kind::Name && !KEYWORDS.contains(&text(i)) && (i == 0 || text(i - 1) != ".") && !matches!(text(i + 1), "." | "[" | "(")
    };
    if let Some(e) = last_eq {
        let mut sq = 0;
        for i in 0..e {
            match text(i) {
                "[" => sq += 1,
                "]" => sq -= 1,
                _ => {}
            }
            if sq == 0 && is_target(i) {
                out.insert(text(i).to_string());
            }
        }
    }
    // augmented (`x += 1`) and annotated (`x: int = 0`) assignment
    if toks.first().is_some_and(|t| t.kind == Kind::Name) && !KEYWORDS.contains(&text(0)) {
        let op = text(1);
        if op == ":" || (op.len() >= 2 && op.ends_with('=') && !matches!(op, "==" | "!=" | "<=" | ">=")) {
            out.insert(text(0).to_string());
        }
    }
    for i in 0..toks.len() {
        let t = text(i);
        if text(i + 1) == ":=" && toks[i].kind == Kind::Name {
            out.insert(t.to_string());
        }
        if t == "as" && toks.get(i + 1).is_some_and(|n| n.kind == Kind::Name) {
            out.insert(text(i + 1).to_string());
        }
        if t == "for" {
            let mut j = i + 1;
            while j < toks.len() && text(j) != "in" {
                if is_target(j) {
                    out.insert(text(j).to_string());
                }
                j += 1;
            }
        }
        if t == "lambda" {
            let mut j = i + 1;
            while j < toks.len() && text(j) != ":" {
                if toks[j].kind == Kind::Name && matches!(text(j - 1), "lambda" | "," | "*" | "**") {
                    out.insert(text(j).to_string());
                }
                j += 1;
            }
        }
    }
}

/// Names referenced by `toks` (not attributes, keywords or keyword-argument names), f-string
/// replacement fields included.
pub(super) fn references(s: &Scan, toks: &[Token], out: &mut HashSet<String>) {
    let mut depth = 0;
    for (i, t) in toks.iter().enumerate() {
        let text = s.text(t);
        match t.kind {
            Kind::Op => match text {
                "(" | "[" | "{" => depth += 1,
                ")" | "]" | "}" => depth -= 1,
                _ => {}
            },
            Kind::Name => {
                let after_dot = i > 0 && s.text(&toks[i - 1]) == ".";
                let kwarg = depth > 0 && toks.get(i + 1).is_some_and(|n| s.text(n) == "=");
                if !after_dot && !kwarg && !KEYWORDS.contains(&text) {
                    out.insert(text.to_string());
                }
            }
            Kind::Str => {
                let (prefix, body) = pysrc::string_parts(text);
                if prefix.to_ascii_lowercase().contains('f') {
                    for field in fstring_fields(body) {
                        if let Ok(sub) = pysrc::scan(&field) {
                            references(&sub, &sub.tokens, out);
                        }
                    }
                }
            }
            Kind::Number => {}
        }
    }
}

/// The expressions in an f-string body's `{...}` fields (conversion and format spec cut off).
pub(super) fn fstring_fields(body: &str) -> Vec<String> {
    let mut out = vec![];
    let b: Vec<char> = body.chars().collect();
    let mut i = 0;
    while i < b.len() {
        if b[i] == '{' {
            if b.get(i + 1) == Some(&'{') {
                i += 2;
                continue;
            }
            let mut depth = 1;
            let mut j = i + 1;
            let mut expr = String::new();
            let mut in_expr = true;
            while j < b.len() && depth > 0 {
                match b[j] {
                    '{' | '[' | '(' => depth += 1,
                    '}' | ']' | ')' => depth -= 1,
                    '!' | ':' if depth == 1 && b.get(j + 1) != Some(&'=') => in_expr = false,
                    _ => {}
                }
                if depth > 0 && in_expr {
                    expr.push(b[j]);
                }
                j += 1;
            }
            out.push(expr);
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// The parameter names of a `def` line.
pub(super) fn params(s: &Scan, toks: &[Token]) -> HashSet<String> {
    let mut out = HashSet::new();
    let Some(open) = toks.iter().position(|t| s.text(t) == "(") else { return out };
    let mut depth = 0;
    for i in open..toks.len() {
        let t = s.text(&toks[i]);
        match t {
            "(" | "[" | "{" => depth += 1,
            ")" | "]" | "}" => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            _ => {}
        }
        if depth == 1 && toks[i].kind == Kind::Name && matches!(s.text(&toks[i - 1]), "(" | "," | "*" | "**") {
            out.insert(t.to_string());
        }
    }
    out
}

/// Where a function's docstring and body are: logical-line indices into [`Scan::logical`].
pub(super) struct Def {
    pub(super) at: usize,
    pub(super) name: String,
    pub(super) indent: usize,
    pub(super) is_async: bool,
    pub(super) decorated: bool,
    /// The docstring's logical line, if the first statement of the body is a plain string.
    pub(super) doc: Option<usize>,
    /// One past the body's last logical line.
    pub(super) end: usize,
}

/// The index of the `:` that ends a `def` header (after the parameters and any `->`).
pub(super) fn header_colon(s: &Scan, toks: &[Token]) -> Option<usize> {
    let mut depth = 0;
    for (i, t) in toks.iter().enumerate() {
        match s.text(t) {
            "(" | "[" | "{" => depth += 1,
            ")" | "]" | "}" => depth -= 1,
            ":" if depth == 0 => return Some(i),
            _ => {}
        }
    }
    None
}

pub(super) fn find_defs(s: &Scan) -> Vec<Def> {
    let mut out = vec![];
    for (k, l) in s.logical.iter().enumerate() {
        let toks = s.toks(l);
        let is_async = toks.first().is_some_and(|t| s.text(t) == "async");
        let d = usize::from(is_async);
        if toks.get(d).map(|t| s.text(t)) != Some("def") {
            continue;
        }
        let name = toks.get(d + 1).map(|t| s.text(t).to_string()).unwrap_or_default();
        let end = s.logical[k + 1..].iter().position(|m| m.indent <= l.indent).map_or(s.logical.len(), |p| k + 1 + p);
        let one_liner = header_colon(s, toks).is_some_and(|c| c + 1 < toks.len());
        let doc = if !one_liner && end > k + 1 {
            let first = &s.logical[k + 1];
            let ft = s.toks(first);
            let plain = ft.len() == 1 && ft[0].kind == Kind::Str && !pysrc::string_parts(s.text(&ft[0])).0.to_ascii_lowercase().contains(['f', 'b']);
            plain.then_some(k + 1)
        } else {
            None
        };
        let decorated = k > 0 && s.logical[k - 1].indent == l.indent && s.toks(&s.logical[k - 1]).first().is_some_and(|t| s.text(t) == "@");
        out.push(Def { at: k, name, indent: l.indent, is_async, decorated, doc, end });
    }
    out
}

/// The docstring's value (escapes decoded unless raw); `None` when an escape is not decoded.
pub(super) fn doc_value(s: &Scan, l: &Logical) -> Option<String> {
    let (prefix, body) = pysrc::string_parts(s.text(&s.toks(l)[0]));
    if prefix.to_ascii_lowercase().contains('r') {
        Some(body.to_string())
    } else {
        pysrc::unescape(body)
    }
}

/// What the module binds outside function and class bodies: includable column-0 imports,
/// and every other name with the first line that binds it.
pub(super) fn module_scope(s: &Scan) -> (Vec<Import>, HashMap<String, usize>) {
    let (mut imports, mut names) = (vec![], HashMap::new());
    let mut block: Vec<usize> = vec![]; // indents of the enclosing def/class headers
    for l in &s.logical {
        while block.last().is_some_and(|&d| d >= l.indent) {
            block.pop();
        }
        let toks = s.toks(l);
        let head = toks.first().map(|t| s.text(t)).unwrap_or("");
        let inside = !block.is_empty();
        let is_def = matches!(head, "def" | "class") || (head == "async" && toks.get(1).is_some_and(|t| s.text(t) == "def"));
        if is_def {
            block.push(l.indent);
        }
        if inside {
            continue;
        }
        let mut bound = HashSet::new();
        if matches!(head, "import" | "from") && l.indent == 0 {
            let (imported, star) = import_names(s, toks);
            let text = s.src[toks[0].start..toks[toks.len() - 1].end].to_string();
            let future = head == "from" && toks.get(1).is_some_and(|t| s.text(t) == "__future__");
            imports.push(Import { text, names: imported, star, future, line: l.line });
        } else if is_def {
            let n = if head == "async" { 2 } else { 1 };
            if let Some(t) = toks.get(n) {
                bound.insert(s.text(t).to_string());
            }
        } else {
            bindings(s, toks, &mut bound);
        }
        for n in bound {
            names.entry(n).or_insert(l.line);
        }
    }
    (imports, names)
}
